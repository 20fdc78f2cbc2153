"""One IPMI 2.0 / RMCP+ BMC per simulated node (pyghmi's BMC server), on 127.0.0.1.

A BMC answers only while its node's power supply has power (its host's `bmc_answers`, a
`BmcHost` of hacert.labsim.devices.contracts: labsim's World, netlab's oob.Power):
when it goes dark, incoming packets are dropped and its sessions forgotten, so
clients time out exactly as with a real BMC that lost power.

pyghmi notes (see NOTES-protocols.md): the server always answers with cipher
suite 3, so an open-session request for other algorithms is refused with status
0x11 (pyghmi's client then falls back cleanly); sockets are AF_INET6 bound to
the IPv4-mapped loopback address, because pyghmi's I/O thread wakes itself by
sending to its first socket over IPv6.
"""

from __future__ import annotations

import threading
import traceback

import pyghmi.ipmi.bmc as bmc
import pyghmi.ipmi.private.serversession as serversession
import pyghmi.ipmi.private.session as ipmisession

import hacert.drivers.pyghmi_io  # noqa: F401  (installs the race-free socket I/O)
from hacert.labsim.devices.contracts import BmcHost, ObservedBmcHost

_STATUS_NO_CIPHER_MATCH = 0x11


class _SimServerSession(serversession.ServerSession):
    """A client session of a simulated BMC: silent while the BMC is dark."""

    k1 = None
    """The integrity key, known once RAKP 3 is taken. pyghmi's server sets it only then, and its packet
    handler reads it for every authenticated packet: one that arrives before the handshake ends (a
    client's retransmission after it gave up on a login, say) raised AttributeError and killed the
    thread that serves every BMC of the lab. pyghmi drops such a packet when the key is None."""

    def create_open_session_response(self, request):  # type: ignore[no-untyped-def]
        data = bytearray(request)
        wanted = (data[12], data[20], data[28]) if len(data) >= 32 else (1, 1, 1)
        if wanted != (1, 1, 1):
            self.clientsessionid = data[4:8]
            return bytearray([data[0], _STATUS_NO_CIPHER_MATCH, 0, 0]) + self.clientsessionid
        return super().create_open_session_response(request)

    def process_pktqueue(self) -> None:
        if getattr(self.bmc, "dark", lambda: False)():
            self.pktqueue.clear()
            return
        super().process_pktqueue()

    def _handle_ipmi_packet(self, data, sockaddr=None, qent=None):  # type: ignore[no-untyped-def]
        # A new login (IPMI 1.5 header, sequence and session id 0) from a client address this BMC has a
        # session with: the client reused its UDP port. pyghmi then forgets every session of that address,
        # the other BMCs' of this process too, and their clients' logins and commands go unanswered (one
        # client socket talks to several BMCs: pyghmi's client shares its sockets). Forget only ours.
        if (qent is not None and len(data) >= 13 and data[4] in (0, 2) and bytes(data[5:13]) == bytes(8)
                and qent[2] in ipmisession.Session.bmc_handlers):
            handlers = ipmisession.Session.bmc_handlers.get(sockaddr)
            if isinstance(handlers, dict) and handlers.get(self.bmc.port) is self:
                del handlers[self.bmc.port]
                if not handlers:
                    ipmisession.Session.bmc_handlers.pop(sockaddr, None)
            server = ipmisession.Session.bmc_handlers[qent[2]][0]
            server.pktqueue.append(qent)
            server.process_pktqueue()
            return None
        return super()._handle_ipmi_packet(data, sockaddr=sockaddr, qent=qent)

    def sessionless_data(self, data, sockaddr):  # type: ignore[no-untyped-def]
        # pyghmi's Session routes a packet from a client it has no session for to
        # sessionless_data, which only its server class has: hand it to our BMC,
        # or the BMC's I/O thread dies with an AttributeError and every BMC goes dark.
        return self.bmc.sessionless_data(data, sockaddr)


serversession.ServerSession = _SimServerSession  # type: ignore[misc]


class SimBmc(bmc.Bmc):
    def __init__(self, world: BmcHost, node: str, user: str, password: str, port: int,
                 address: str = "::ffff:127.0.0.1"):
        """`address`: an IPv4-mapped IPv6 address (pyghmi's sockets are AF_INET6)."""
        self.world = world
        self.node = node
        super().__init__({user: password}, port=port, address=address)
        self.port = self.serversocket.getsockname()[1]  # port 0 → the one the OS chose
        ipmisession.Session.bmc_handlers[self.serversocket] = {0: self}

    def dark(self) -> bool:
        return not self.world.bmc_answers(self.node) or self.world.device_faults.active("bmc_dark", self.node)

    def process_pktqueue(self) -> None:
        if self.dark():
            self.pktqueue.clear()
            self.forget_sessions()
            return
        super().process_pktqueue()

    def forget_sessions(self) -> None:
        for key, handlers in list(ipmisession.Session.bmc_handlers.items()):
            session = handlers.get(self.port) if isinstance(handlers, dict) else None
            if isinstance(session, _SimServerSession) and session.bmc is self:
                del handlers[self.port]
                if not handlers:
                    ipmisession.Session.bmc_handlers.pop(key, None)

    # ------------------------------------------------------------ chassis

    def get_power_state(self) -> str:
        return "on" if self.world.chassis_on(self.node) else "off"

    def _control(self, action: str) -> int:
        try:
            self.world.chassis_control(self.node, action)
        except RuntimeError:
            return 0xD5  # cannot execute: no power
        return 0

    def power_on(self) -> int:
        return self._control("on")

    def power_off(self) -> int:
        return self._control("off")

    def power_cycle(self) -> int:
        if not self.world.chassis_on(self.node):
            return 0xD5  # IPMI: cycle with the chassis off is refused
        return self._control("cycle")

    def power_reset(self) -> int:
        return self._control("reset")

    def power_shutdown(self) -> int:
        return self._control("off")

    def cold_reset(self) -> None:
        pass

    def get_boot_device(self) -> str:
        return "default"

    def set_boot_device(self, bootdevice):  # type: ignore[no-untyped-def]
        return None

    def get_system_guid(self):  # type: ignore[no-untyped-def]
        return self.uuid


class BmcServers:
    """All BMCs of one world, served by one pyghmi event loop thread."""

    def __init__(self, world: ObservedBmcHost, ports: dict[str, int], user: str, password: str):
        self.world = world
        self.bmcs = {node: SimBmc(world, node, user, password, port) for node, port in ports.items()}
        self.ports = {node: b.port for node, b in self.bmcs.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="labsim-bmc", daemon=True)
        world.subscribe(self._on_event)

    def _on_event(self, record: dict) -> None:
        if record["kind"] == "bmc" and not record["answers"] and record["node"] in self.bmcs:
            self.bmcs[record["node"]].forget_sessions()

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        # one thread serves every BMC of the lab: a packet that trips pyghmi must cost that packet, not
        # leave every BMC dark for the rest of the run (it goes to the lab's log, once per kind)
        reported: set[str] = set()
        while not self._stop.is_set():
            try:
                ipmisession.Session.wait_for_rsp(timeout=1.0)
            except Exception as exc:  # noqa: BLE001
                kind = f"{type(exc).__name__}: {exc}"
                if kind not in reported:
                    reported.add(kind)
                    traceback.print_exc()
                    print(f"labsim: a BMC packet was dropped ({kind}); the BMCs go on answering", flush=True)

    def stop(self) -> None:
        # pyghmi's loop cannot be woken and its I/O thread selects on the sockets:
        # both are daemon threads that end with the process, sockets included
        self._stop.set()
