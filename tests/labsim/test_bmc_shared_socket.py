"""Several simulated BMCs in one process, one client socket talking to two of them (pyghmi's client
shares its UDP sockets among BMCs, so the harness does exactly this): a new login to one BMC from that
socket must not make the other forget its session with the same socket.

pyghmi's server forgets every session of a client address when that address starts a new login with
one BMC; its clients' next RMCP+ messages to the other BMC then go unanswered and both BMCs look dark
to the harness at once. The packets here are IPMI's own (RMCP, IPMI 1.5 and RMCP+ session headers),
built byte by byte."""

from __future__ import annotations

import os
import socket
import struct
from typing import Iterator

import pytest

USER, PASSWORD = b"admin", "shared-socket-test"
RMCP = b"\x06\x00\xff\x07"


class AlwaysOn:
    """A stand-in BmcHost: every BMC powered, its chassis on, no device fault."""

    class _Faults:
        def active(self, name: str, target: str) -> bool:
            return False

    device_faults = _Faults()

    def bmc_answers(self, node: str) -> bool:
        return True

    def chassis_on(self, node: str) -> bool:
        return True

    def subscribe(self, callback: object) -> None:
        pass


@pytest.fixture
def two_bmcs() -> Iterator[tuple[int, int]]:
    """Two simulated BMCs served as labsim serves them: one thread, labsim's own loop."""
    import pyghmi.ipmi.private.session as ipmisession

    from hacert.labsim.devices.bmc import BmcServers

    servers = BmcServers(AlwaysOn(), {"node-a": 0, "node-b": 0}, USER.decode(), PASSWORD)  # type: ignore[arg-type]
    servers.start()
    try:
        yield servers.ports["node-a"], servers.ports["node-b"]
    finally:
        servers.stop()
        for bmc in servers.bmcs.values():
            bmc.forget_sessions()
            ipmisession.Session.bmc_handlers.pop(bmc.serversocket, None)


def rmcpplus(payload_type: int, payload: bytes) -> bytes:
    """An RMCP+ (IPMI 2.0) packet outside a session: auth type 6, session id and sequence 0."""
    return RMCP + bytes([0x06, payload_type]) + bytes(8) + struct.pack("<H", len(payload)) + payload


def open_session_request(console_id: bytes) -> bytes:
    algorithms = (bytes([0, 0, 0, 8, 1, 0, 0, 0])  # RAKP-HMAC-SHA1
                  + bytes([1, 0, 0, 8, 1, 0, 0, 0])  # HMAC-SHA1-96
                  + bytes([2, 0, 0, 8, 1, 0, 0, 0]))  # AES-CBC-128
    return rmcpplus(0x10, bytes([0x01, 0x04, 0, 0]) + console_id + algorithms)


def rakp1(managed_id: bytes) -> bytes:
    return rmcpplus(0x12, bytes([0x02, 0, 0, 0]) + managed_id + os.urandom(16) + bytes([0x14, 0, 0, len(USER)]) + USER)


GET_CHANNEL_AUTH = RMCP + bytes([0x00]) + bytes(8) + bytes([0x09, 0x20, 0x18, 0xC8, 0x81, 0x00, 0x38, 0x8E, 0x04, 0xB5])
"""IPMI 1.5, sequence and session id 0: Get Channel Authentication Capabilities, how every login begins."""


def exchange(sock: socket.socket, port: int, packet: bytes) -> bytes | None:
    sock.sendto(packet, ("127.0.0.1", port))
    try:
        answer, _ = sock.recvfrom(4096)
    except socket.timeout:
        return None
    return answer


def payload_type(answer: bytes) -> int:
    return answer[5] & 0x3F


def test_a_new_login_to_one_bmc_keeps_the_other_bmcs_session_with_the_same_socket(two_bmcs: tuple[int, int]) -> None:
    port_a, port_b = two_bmcs
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3.0)
        opened = {}
        for port, console_id in ((port_a, b"\x11\x00\x00\xa0"), (port_b, b"\x22\x00\x00\xb0")):
            answer = exchange(sock, port, open_session_request(console_id))
            assert answer is not None and payload_type(answer) == 0x11, f"no RMCP+ Open Session Response from {port}"
            body = answer[16:]
            assert body[1] == 0, f"open session refused by {port}: status 0x{body[1]:02x}"
            opened[port] = body[8:12]  # the BMC's session id for us
        # the client starts a new login with BMC a from the same socket
        assert exchange(sock, port_a, GET_CHANNEL_AUTH) is not None, "BMC a did not answer a new login"
        # BMC b's session with this socket goes on: RAKP message 1 gets its RAKP message 2
        answer = exchange(sock, port_b, rakp1(opened[port_b]))
        assert answer is not None, "BMC b forgot its session when the same client began a login with BMC a"
        assert payload_type(answer) == 0x13 and answer[17] == 0, answer.hex()


def authenticated_ipmi(session_id: bytes) -> bytes:
    """An RMCP+ IPMI message marked authenticated (payload type 0x40), inside the BMC's session
    `session_id`, with a made-up 12-byte integrity code."""
    message = bytes([0x20, 0x18, 0xC8, 0x81, 0x04, 0x01, 0x7A])  # Get Chassis Status
    return (RMCP + bytes([0x06, 0x40]) + session_id + struct.pack("<I", 1) + struct.pack("<H", len(message))
            + message + bytes([0xFF, 0xFF, 0x02, 0x07]) + os.urandom(12))


def rakp2_from(sock: socket.socket, port: int, console_id: bytes) -> bytes | None:
    """Open a session with the BMC at `port` and send RAKP 1: its RAKP 2, or None when it is silent."""
    answer = exchange(sock, port, open_session_request(console_id))
    if answer is None:
        return None
    return exchange(sock, port, rakp1(answer[16:][8:12]))


def test_an_authenticated_packet_before_the_handshake_ends_leaves_every_bmc_answering(two_bmcs: tuple[int, int]) -> None:
    """A client that gave up on a login half-way may still send into that session (pyghmi retransmits).
    pyghmi's server reads the session's integrity key, set only by RAKP 3, and its serving thread died
    of the AttributeError: every BMC of the lab went dark for the rest of the run."""
    port_a, port_b = two_bmcs
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3.0)
        answer = exchange(sock, port_a, open_session_request(b"\x33\x00\x00\xc0"))
        assert answer is not None and answer[16:][1] == 0, "BMC a refused to open a session"
        sock.sendto(authenticated_ipmi(answer[16:][8:12]), ("127.0.0.1", port_a))  # no RAKP: no key yet
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as fresh:
        fresh.settimeout(3.0)
        for port, console_id in ((port_b, b"\x44\x00\x00\xd0"), (port_a, b"\x55\x00\x00\xe0")):
            answer = rakp2_from(fresh, port, console_id)
            assert answer is not None, f"the BMC at {port} fell silent after a stray packet to BMC a's half-open session"
            assert payload_type(answer) == 0x13 and answer[17] == 0, answer.hex()


def test_a_packet_that_trips_the_bmc_server_costs_that_packet_only(two_bmcs: tuple[int, int],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever else in pyghmi's server may raise: labsim's serving loop drops that packet, logs it, and
    every BMC answers the next one."""
    from hacert.labsim.devices.bmc import SimBmc

    port_a, port_b = two_bmcs
    original = SimBmc.sessionless_data
    tripped: list[int] = []

    def trips_once(self: SimBmc, data: object, sockaddr: object) -> object:
        if not tripped:
            tripped.append(self.port)
            raise RuntimeError("a packet pyghmi cannot take")
        return original(self, data, sockaddr)

    monkeypatch.setattr(SimBmc, "sessionless_data", trips_once)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        assert exchange(sock, port_a, GET_CHANNEL_AUTH) is None, "the tripping packet was answered"
        assert tripped == [port_a]
        sock.settimeout(3.0)
        for port in (port_a, port_b):
            assert exchange(sock, port, GET_CHANNEL_AUTH) is not None, f"the BMC at {port} fell silent after one bad packet"
