"""pyghmi's socket I/O without its blocking-mode race; importing this module installs it.

pyghmi (1.6) sends with `sock.setblocking(True); sock.sendto(...)` from the thread
that answers or asks, and its I/O thread drains every socket with
`sock.setblocking(False); sock.recvfrom(...)` until nothing is left. Both calls
release the GIL, so a send on a socket the I/O thread is draining can turn the
socket back to blocking between the two steps of the drain: the I/O thread then
sleeps in recvfrom on that socket until some packet arrives there. Every other
socket of the process goes unserved meanwhile: in netlab, all BMCs fell silent
for a minute, from a status query to one BMC until the next one (a 60 s monitor),
while a fence of another node was waiting on its BMC.

The replacements never change a socket's mode: the drain asks for a
non-blocking receive per call (MSG_DONTWAIT), the send is a plain sendto.

A second race, in a failed login: `Session._mark_broken` (run by whichever
thread handles the BMC's refusal) marks the session broken and only then
stores why. The thread waiting in the login sees `broken` in between and
reads the reason before it exists: `AttributeError: ... 'errormsg'` instead
of pyghmi's "Incorrect password provided". A wrong password then read as a
harness bug (CI, on a loaded machine, twice in a row). The replacement stores
the reason first.
"""

from __future__ import annotations

import socket
from typing import Any

from pyghmi.ipmi.private import session as _session


def _recv_without_waiting(sock: Any, size: int) -> tuple[bytes, Any] | None:
    if hasattr(sock, "fd"):  # pyghmi's eventlet wrapping, as its own code allows for
        sock = sock.fd
    try:
        return sock.recvfrom(size, socket.MSG_DONTWAIT)
    except OSError:
        return None


def _send(sock: Any, packet: bytes, sockaddr: Any) -> None:
    if hasattr(sock, "fd"):
        sock = sock.fd
    try:
        sock.sendto(packet, sockaddr)
    except OSError:
        pass  # UDP: lost like any datagram; the IPMI peer retransmits


def _reason_before_broken(original: Any) -> Any:
    def mark_broken(self: Any, error: Any = None) -> None:
        self.errormsg = error
        original(self, error)

    mark_broken.__wrapped__ = original  # type: ignore[attr-defined]
    return mark_broken


PYGHMI_RECVFROM = _session._io_recvfrom
"""pyghmi's own drain step, kept for the test that shows the race."""

_session._io_recvfrom = _recv_without_waiting
_session._io_sendto = _send
if not hasattr(_session.Session._mark_broken, "__wrapped__"):
    _session.Session._mark_broken = _reason_before_broken(_session.Session._mark_broken)
