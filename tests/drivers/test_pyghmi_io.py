"""pyghmi's I/O thread must never sleep on one socket while others wait (drivers/pyghmi_io.py)."""

from __future__ import annotations

import socket
import threading
from typing import Any, Callable, Iterator

import pytest
from pyghmi.ipmi.private import session as ipmi_session

from hacert.drivers import pyghmi_io

STUCK_AFTER_S = 1.0


class SentToWhileDrained(socket.socket):
    """A socket on which another thread's send lands in the middle of each drain step:
    right after the I/O thread made it non-blocking, it is blocking again."""

    def setblocking(self, flag: bool) -> None:
        super().setblocking(flag)
        if not flag:
            super().setblocking(True)


@pytest.fixture
def loopback_pair() -> Iterator[tuple[SentToWhileDrained, socket.socket]]:
    drained = SentToWhileDrained(socket.AF_INET, socket.SOCK_DGRAM)
    drained.bind(("127.0.0.1", 0))
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    yield drained, peer
    drained.close()
    peer.close()


def run_with_deadline(call: Callable[[], Any]) -> tuple[bool, list[Any]]:
    """(returned within STUCK_AFTER_S, [its result])"""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(call()), daemon=True)
    worker.start()
    worker.join(STUCK_AFTER_S)
    return not worker.is_alive(), result


def test_pyghmis_own_drain_step_sleeps_on_a_socket_made_blocking_by_a_send(loopback_pair: Any) -> None:
    """The model of the race is faithful: pyghmi's step hangs until a datagram comes."""
    drained, peer = loopback_pair
    returned, _ = run_with_deadline(lambda: pyghmi_io.PYGHMI_RECVFROM(drained, 3000))
    assert not returned, "pyghmi's drain step returned: the interleaving was not reproduced"
    peer.sendto(b"wake", drained.getsockname())  # lets the stuck thread go


def test_the_installed_drain_returns_at_once_whatever_the_sockets_mode(loopback_pair: Any) -> None:
    drained, peer = loopback_pair
    assert ipmi_session._io_recvfrom is not pyghmi_io.PYGHMI_RECVFROM, "the replacement is not installed"
    returned, result = run_with_deadline(lambda: ipmi_session._io_graball([drained], {}))
    assert returned and result == [[]], "the I/O thread slept on an empty socket"
    peer.sendto(b"\x06\x00\xff\x07rest", drained.getsockname())
    returned, result = run_with_deadline(lambda: ipmi_session._io_recvfrom(drained, 3000))
    assert returned and result[0][0] == b"\x06\x00\xff\x07rest" and result[0][1] == peer.getsockname()


def test_a_send_leaves_the_sockets_mode_as_it_was(loopback_pair: Any) -> None:
    drained, peer = loopback_pair
    peer.setblocking(False)
    ipmi_session._io_sendto(peer, b"answer", drained.getsockname())
    assert peer.getblocking() is False
    assert drained.recvfrom(100)[0] == b"answer"
