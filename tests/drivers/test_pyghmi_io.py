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


_UNSET = object()


class RefusedLogin(ipmi_session.Session):
    """A pyghmi session as it stands when the BMC refuses its login, built without the
    network; it notes what a thread waiting in the login would read for the reason at
    the moment the session turns broken."""

    reason_seen_when_broken: list[Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> "RefusedLogin":
        return object.__new__(cls)

    def __init__(self, sock: socket.socket) -> None:
        self.reason_seen_when_broken = []
        self.bmc, self.userid, self.password, self.port, self.kgo = "127.0.0.1", b"admin", b"wrong", 623, None
        self.lastpayload = self.onlogpayload = self._customkeepalives = None
        self.logged = 0
        self.logging = True
        self.cleaningup = self.nowait = False
        self.logonwaiters = []
        self.socket = sock
        self.socketpool = {sock: 2}
        self.allsockaddrs = []
        self.broken = False

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "broken" and value:
            self.reason_seen_when_broken.append(self.__dict__.get("errormsg", _UNSET))
        object.__setattr__(self, name, value)


def test_a_refused_login_has_its_reason_before_it_reads_as_broken(loopback_pair: Any) -> None:
    """pyghmi marked a refused session broken before storing why: a login waiting on it read
    `errormsg` too early (AttributeError in CI, for a wrong password)."""
    session = RefusedLogin(loopback_pair[1])
    session._mark_broken("Incorrect password provided")
    assert session.reason_seen_when_broken == ["Incorrect password provided"]
    assert session.broken and session.errormsg == "Incorrect password provided"
