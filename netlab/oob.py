"""Out-of-band devices of netlab: the simulated lab's BMC and APC PDU code, acting on netlab nodes.

`Power` answers the World queries and actions that labsim's endpoints call
(bmc_answers, chassis_on, chassis_control, outlets, outlet_on, outlet_name, outlet_load,
set_outlet, lock, started, device_faults). The BMC and PDU sockets are made in
netlab's management namespace, on the devices' own addresses; the harness
reaches them through the loopback relays (relay.py).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import hacert.drivers.pyghmi_io  # noqa: F401  (installs the race-free socket I/O)
from hacert.model.inventory import Inventory

from .config import Plan
from .nodes import NodePower
from . import events, ns


class _NoFaults:
    def active(self, name: str, target: str | None = None) -> bool:
        return False


class Power:
    """The power model: PDU outlets feed nodes; a node's BMC answers while any of its outlets is on."""

    OUTLET_REBOOT_OFF = 2.0  # seconds an outlet stays off on an APC 'reboot' command

    def __init__(self, inventory: Inventory, nodes: dict[str, NodePower], switches: Any = None) -> None:
        """`switches` (hacert.netlab.switches.Switches) is told when an outlet feeding a switch changes."""
        self.inventory = inventory
        self.nodes = nodes
        self.switches = switches
        self.lock = threading.RLock()
        self.started = time.time()
        self.device_faults = _NoFaults()
        self._outlets: dict[tuple[str, int], bool] = {}
        self._names: dict[tuple[str, int], str] = {}
        self._feeds: dict[tuple[str, int], list[str]] = {}
        for pdu in inventory.pdus:
            for n in range(1, pdu.outlets + 1):
                self._outlets[(pdu.name, n)] = True
                self._names[(pdu.name, n)] = f"Outlet {n}"
        for node in inventory.nodes:
            for ref in node.power:
                self._names[(ref.pdu, ref.outlet)] = ref.name
                self._feeds.setdefault((ref.pdu, ref.outlet), []).append(node.name)
        self._switch_feeds: dict[tuple[str, int], list[str]] = {}
        for sw in inventory.switches:
            if sw.power.method == "pdu" and sw.power.pdu and sw.power.outlet:
                key = (sw.power.pdu, sw.power.outlet)
                self._names[key] = sw.power.name or self._names[key]
                self._switch_feeds.setdefault(key, []).append(sw.name)

    # ------------------------------------------------------------ queries (labsim World API)

    def has_power(self, node: str) -> bool:
        refs = self.inventory.node(node).power
        return not refs or any(self._outlets[(r.pdu, r.outlet)] for r in refs)

    def bmc_answers(self, node: str) -> bool:
        with self.lock:
            return self.has_power(node)

    def chassis_on(self, node: str) -> bool:
        return self.nodes[node].state != "off"

    def outlets(self, pdu: str) -> list[int]:
        return sorted(n for (p, n) in self._outlets if p == pdu)

    def outlet_on(self, pdu: str, n: int) -> bool:
        with self.lock:
            return self._outlets[(pdu, n)]

    def outlet_name(self, pdu: str, n: int) -> str:
        return self._names.get((pdu, n), f"Outlet {n}")

    def outlet_load(self, pdu: str, n: int) -> float:
        """Amps through the outlet (the PDU's metered outlet table): 1.6 per running node it feeds,
        0.1 for one whose chassis is off, 0.4 per switch it feeds; 0 while the outlet is off."""
        key = (pdu, n)
        with self.lock:
            if not self._outlets.get(key, False):
                return 0.0
            nodes = list(self._feeds.get(key, []))
            switches = len(self._switch_feeds.get(key, []))
        load = sum(1.6 if self.nodes[node].state != "off" else 0.1 for node in nodes if node in self.nodes)
        return round(load + 0.4 * switches, 1)

    # ------------------------------------------------------------ actions

    def chassis_control(self, node: str, action: str) -> None:
        if not self.bmc_answers(node):
            raise RuntimeError(f"{node}'s BMC has no power")
        events.emit("chassis", node=node, action=action)
        if action in ("cycle", "reset"):
            action = "reset"
        self.nodes[node].request(action)

    def set_outlet(self, pdu: str, n: int, action: str) -> None:
        key = (pdu, n)
        if key not in self._outlets:
            raise KeyError(f"{pdu} has no outlet {n}")
        events.emit("outlet", pdu=pdu, outlet=n, action=action)
        if action == "reboot":
            self._switch(key, False)
            threading.Timer(self.OUTLET_REBOOT_OFF, self._switch, (key, True)).start()
        else:
            self._switch(key, action == "on")

    def _switch(self, key: tuple[str, int], on: bool) -> None:
        with self.lock:
            if self._outlets[key] == on:
                return
            self._outlets[key] = on
            fed = list(self._feeds.get(key, []))
            if self.switches is not None:
                for sw in self._switch_feeds.get(key, []):
                    self.switches.set_power(sw, on)
        for node in fed:
            if not on and not self.has_power(node):
                self.nodes[node].request("off")
            elif on and self.has_power(node):
                self.nodes[node].request("on")  # power restore policy: always on (a no-op if it is)


class Bmcs:
    """One pyghmi BMC per node (labsim's SimBmc) on its own address in the management netns."""

    def __init__(self, plan: Plan, power: Power, user: str, password: str) -> None:
        import pyghmi.ipmi.bmc as pyghmi_bmc
        import pyghmi.ipmi.private.session as ipmisession

        from hacert.labsim.bmc import SimBmc

        class NetlabBmc(SimBmc):
            def __init__(self, node: str, address: str) -> None:
                self.world = power  # type: ignore[assignment]
                self.node = node
                pyghmi_bmc.Bmc.__init__(self, {user: password}, port=623, address=f"::ffff:{address}")
                self.port = 623
                ipmisession.Session.bmc_handlers[self.serversocket] = {0: self}

        self._session = ipmisession.Session
        with ns.in_netns(plan.mgmt_ns):
            self.bmcs = {n: NetlabBmc(n, plan.bmc_ip(n)) for n in plan.nodes}
        self._stop = threading.Event()
        threading.Thread(target=self._serve, name="netlab-bmc", daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._session.wait_for_rsp(timeout=1.0)

    def stop(self) -> None:
        self._stop.set()


class RedfishBmcs:
    """labsim's Redfish BMC (HTTPS) for each node whose inventory says `bmc: {protocol: redfish}`, on
    the node's BMC address, port 443, in the management netns: the nodes' real fence_redfish reach it
    there, the harness through a loopback TCP relay."""

    PORT = 443

    def __init__(self, plan: Plan, power: Power, nodes: list[str], user: str, password: str) -> None:
        from hacert.labsim.redfish import RedfishServers

        sockets: dict[str, socket.socket] = {}
        for node in nodes:
            sock = ns.netns_socket(plan.mgmt_ns, socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((plan.bmc_ip(node), self.PORT))
            sockets[node] = sock
        self.servers = RedfishServers(power, {n: self.PORT for n in nodes}, user, password, plan.workdir,  # type: ignore[arg-type]
                                      sockets=sockets, addresses={n: plan.bmc_ip(n) for n in nodes}, emit=events.emit)
        self.servers.start()

    def endpoint(self, node: str, host: str, port: int) -> dict[str, Any]:
        return {**self.servers.endpoint(node), "host": host, "port": port}

    def systems_uri(self, node: str) -> str:
        return self.servers.systems_uri(node)

    def stop(self) -> None:
        self.servers.stop()


class Agents:
    """labsim's SNMP agents (APC PDUs, IF-MIB switches) on the devices' own addresses."""

    def __init__(self, plan: Plan, devices: dict[str, tuple[object, str]], community_ro: str, community_rw: str,
                 world: object) -> None:
        """devices: name -> (labsim Device, address in the management netns)."""
        from hacert.labsim.snmp import SnmpAgents

        bound = {}
        for name, (device, address) in devices.items():
            sock = ns.netns_socket(plan.mgmt_ns, socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((address, 161))
            bound[name] = (device, sock)
        self.agents = SnmpAgents(world, bound, community_ro, community_rw)  # type: ignore[arg-type]
        self.agents.start()

    def stop(self) -> None:
        self.agents.stop()


def wake_socket(netns: str) -> None:
    """pyghmi's I/O thread is woken by a datagram its FIRST socket sends to itself on
    loopback: make that first socket a loopback one inside the management netns, so
    the wake-ups stay there (a BMC socket on its own address could not be reached so)."""
    import pyghmi.ipmi.private.session as ipmisession

    with ns.in_netns(netns):
        info = socket.getaddrinfo("::ffff:127.0.0.1", 0, 0, socket.SOCK_DGRAM)[0]
        ipmisession.Session._assignsocket(info)
