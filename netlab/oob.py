"""Out-of-band devices of netlab: the emulators of hacert.labsim.devices (the BMC, the APC PDU
agent and the one power model), acting on netlab nodes.

`Power` is their host on this side (contracts.BmcHost and PduHost) and the power model's
listener (contracts.PowerListener): a node that loses its last feed is switched off, one whose
power returns is switched on (restore on AC power), a switch's outlet powers it off or boots it.
The BMC and PDU sockets are made in netlab's management namespace, on the devices' own
addresses; the harness reaches them through the loopback relays (relay.py).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import hacert.drivers.pyghmi_io  # noqa: F401  (installs the race-free socket I/O)
from hacert.labsim.devices.contracts import DeviceHost, NoFaults, PowerListener
from hacert.labsim.devices.power import PowerModel
from hacert.labsim.devices.scheduler import Scheduler
from hacert.model.inventory import Inventory

from .config import Plan
from .nodes import NodePower
from .switches import Switches
from . import events, ns

if TYPE_CHECKING:
    from hacert.labsim.devices.snmp import Device


class Power(PowerListener):
    """The BMCs' and PDUs' host: netlab's nodes and switches under the one power model."""

    OUTLET_REBOOT_OFF = 2.0  # seconds an outlet stays off on an APC 'reboot' command

    def __init__(self, inventory: Inventory, nodes: dict[str, NodePower], switches: Switches | None = None) -> None:
        """`switches` is told when an outlet feeding a switch changes."""
        self.inventory = inventory
        self.nodes = nodes
        self.switches = switches
        self.lock = threading.RLock()
        self.started = time.time()
        self.device_faults = NoFaults()
        self.scheduler = Scheduler(self.lock)
        # a netlab BMC answers the moment its node has power (bmc_boot 0)
        self.model = PowerModel(inventory, self, self.scheduler, self.lock, outlet_reboot=self.OUTLET_REBOOT_OFF,
                                bmc_boot=0.0, node_running=self._running, switch_running=self._switch_running)
        self.scheduler.start()

    def _running(self, node: str) -> bool:
        return node in self.nodes and self.nodes[node].state != "off"

    def _switch_running(self, sw: str) -> bool:
        return self.switches is None or self.switches.switch_state(sw) != "off"

    # ------------------------------------------------------------ BmcHost, PduHost

    def has_power(self, node: str) -> bool:
        return self.model.powered(node)

    def bmc_answers(self, node: str) -> bool:
        return self.model.bmc_answers(node)

    def chassis_on(self, node: str) -> bool:
        return self.nodes[node].state != "off"

    def outlets(self, pdu: str) -> list[int]:
        return self.model.outlets(pdu)

    def outlet_on(self, pdu: str, n: int) -> bool:
        return self.model.outlet_on(pdu, n)

    def outlet_name(self, pdu: str, n: int) -> str:
        return self.model.outlet_name(pdu, n)

    def outlet_load(self, pdu: str, n: int) -> float:
        """Amps through the outlet (the PDU's metered outlet table; hacert.labsim.devices.power)."""
        return self.model.outlet_load(pdu, n)

    def chassis_control(self, node: str, action: str) -> None:
        if not self.bmc_answers(node):
            raise RuntimeError(f"{node}'s BMC has no power")
        events.emit("chassis", node=node, action=action)
        if action in ("cycle", "reset"):
            action = "reset"
        self.nodes[node].request(action)

    def set_outlet(self, pdu: str, n: int, action: str) -> None:
        if n not in self.model.outlets(pdu):
            raise KeyError(f"{pdu} has no outlet {n}")
        events.emit("outlet", pdu=pdu, outlet=n, action=action)
        self.model.set_outlet(pdu, n, action)

    # ------------------------------------------------------------ PowerListener (under self.lock)

    def outlet_switched(self, pdu: str, outlet: int, on: bool) -> None:
        pass  # the event log has the PDU's command (set_outlet)

    def bmc_changed(self, node: str, answers: bool) -> None:
        pass

    def node_power(self, node: str, powered: bool) -> None:
        if node in self.nodes:  # the node's power worker does it; request() returns at once
            self.nodes[node].request("on" if powered else "off")  # power restore policy: always on

    def switch_power(self, switch: str, powered: bool) -> None:
        if self.switches is not None:
            self.switches.set_power(switch, powered)


class Bmcs:
    """One pyghmi BMC per node (labsim's SimBmc) on its own address in the management netns."""

    def __init__(self, plan: Plan, power: Power, user: str, password: str) -> None:
        import pyghmi.ipmi.private.session as ipmisession

        from hacert.labsim.devices.bmc import SimBmc

        self._session = ipmisession.Session
        with ns.in_netns(plan.mgmt_ns):
            self.bmcs = {n: SimBmc(power, n, user, password, 623, address=f"::ffff:{plan.bmc_ip(n)}") for n in plan.nodes}
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

    def __init__(self, plan: Plan, devices: dict[str, tuple[Device, str]], community_ro: str, community_rw: str,
                 world: DeviceHost) -> None:
        """devices: name -> (labsim Device, address in the management netns)."""
        from hacert.labsim.devices.snmp import SnmpAgents

        bound = {}
        for name, (device, address) in devices.items():
            sock = ns.netns_socket(plan.mgmt_ns, socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((address, 161))
            bound[name] = (device, sock)
        self.agents = SnmpAgents(world, bound, community_ro, community_rw)
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
