"""The one model of the simulated lab's power and network (World); its jobs are the mixins of
events.py, nodes.py, network.py and reach.py, its parts in records.py.

Power: PDU outlets feed nodes and switches. A node whose outlets are all off is
"off" and its BMC is dark; when power returns the BMC answers after
`timing.bmc_boot` and, if the chassis was on, the node boots (restore on AC
power). Network: node NICs are cabled to switch ports; a NIC has carrier when
its node has power, the NIC is administratively up, the switch is signalling
link and the port is administratively up. Each node's bonds (hacert.labsim.devices.bonding)
poll carrier like the kernel's miimon and choose the active slave. Whether an
address answers a ping follows from all of that (`reachable`).

Everything runs under `self.lock`: protocol endpoints and shell commands call
in from their threads, timers fire on `self.scheduler`.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from hacert.model.inventory import Inventory, SimTiming
from hacert.labsim.core import EventLog, ShellIO
from hacert.labsim.devices.bonding import BondModel
from hacert.labsim.devices.contracts import PowerListener
from hacert.labsim.devices.power import PowerModel
from hacert.labsim.devices.scheduler import Scheduler
from hacert.labsim.device_faults import DeviceFaults
from hacert.labsim.world.records import SWITCH_PORTS_MIN, Nic, NodeModel, Port, Registered, SwitchModel, _mac
from hacert.labsim.world.events import Events
from hacert.labsim.world.network import Network
from hacert.labsim.world.nodes import NodeLife
from hacert.labsim.world.reach import Reachability


class World(Events, NodeLife, Network, Reachability, PowerListener):
    """Power, cables, switches, bonds and reachability of one simulated lab.

    The device emulators' host (hacert.labsim.devices.contracts: BmcHost, PduHost, SwitchHost,
    BondHost) and the listener of the one power model (hacert.labsim.devices.power)."""

    def __init__(self, inventory: Inventory, workdir: str | Path, cluster: bool = True):
        self.inventory = inventory
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        sim = inventory.simulation
        self.timing: SimTiming = sim.timing if sim is not None else SimTiming()
        self.lock = threading.RLock()
        # Notified (under the lock) whenever a node's syslog grows: `tail -f` waits on it.
        self.log_changed = threading.Condition(self.lock)
        self.scheduler = Scheduler(self.lock)
        self.event_log_path = self.workdir / "events.jsonl"
        self.events = EventLog(self.event_log_path)
        self.cluster: Any = None
        self.device_faults = DeviceFaults(self)  # devices that misbehave (harness-fault tests)
        self.redfish_bmcs: dict[str, Any] = {}  # node -> its Redfish BMC (labsim/redfish.py), for the cluster's fence_redfish
        self.started = time.time()
        self._subscribers: list[Callable[[dict[str, Any]], None]] = []
        self._addresses: dict[str, Registered] = {}
        self._files: dict[str, Callable[[str], str | None]] = {}
        self.power = PowerModel(inventory, self, self.scheduler, self.lock, outlet_reboot=self.timing.outlet_reboot,
                                bmc_boot=self.timing.bmc_boot, node_running=lambda n: self.nodes[n].state != "off",
                                switch_running=lambda s: self.switches[s].state != "off")
        self.nodes: dict[str, NodeModel] = {}
        self.switches: dict[str, SwitchModel] = {}
        self._own_addresses: dict[str, tuple[str, str]] = {}  # address -> (node, bond)
        self._build()
        with self.lock:
            for node in self.nodes.values():
                if self.power.powered(node.name):
                    node.state = "up"
                    node.up_since = time.monotonic()
            for sw in self.switches.values():
                if self.power.switch_powered(sw.name):
                    sw.state, sw.link = "up", True
            self._refresh_links(log=False)
            for node in self.nodes.values():
                if node.state == "up":
                    for bond in node.bonds.values():
                        bond.start(quiet=True)
        if cluster:  # devices only (no membership, fencing, services) when False
            try:
                from hacert.labsim.cluster import attach_cluster  # the cluster model, when present
            except ImportError:
                attach_cluster = None
            if attach_cluster is not None:
                attach_cluster(self)

    def _build(self) -> None:
        inv = self.inventory
        for sw in inv.switches:
            self.switches[sw.name] = SwitchModel(sw.name)
        used: dict[str, list[str]] = {s: [] for s in self.switches}
        for node in inv.nodes:
            for bond in node.bonds:
                for link in bond.slaves:
                    used.setdefault(link.switch, []).append(link.port)
        for name, model in self.switches.items():
            numeric = [int(p) for p in used[name] if p.isdigit()]
            count = max([SWITCH_PORTS_MIN, *numeric])
            for i in range(1, count + 1):
                model.ports[i] = Port(i, str(i))
            for port in used[name]:
                if not port.isdigit() and self._ifindex(name, port) is None:
                    index = max(model.ports) + 1
                    model.ports[index] = Port(index, port)

        for node in inv.nodes:
            model = NodeModel(node.name)
            self.nodes[node.name] = model
            for bond in node.bonds:
                for link in bond.slaves:
                    ifindex = self._ifindex(link.switch, link.port)
                    nic = Nic(link.nic, mac=_mac(inv.lab, node.name, link.nic))
                    nic.cable = (link.switch, ifindex) if ifindex is not None else None
                    model.nics[link.nic] = nic
                    if ifindex is not None:
                        self.switches[link.switch].ports[ifindex].cable = (node.name, link.nic)
                updelay = self.timing.updelay_ms
                if inv.fault("updelay_zero", f"{node.name}/{bond.name}") or inv.fault("updelay_zero", node.name):
                    updelay = 0
                slaves = [bond.primary.nic]
                if not inv.fault("bond_no_backup", f"{node.name}/{bond.name}") and not inv.fault("bond_no_backup", node.name):
                    slaves.append(bond.backup.nic)
                model.bonds[bond.name] = BondModel(
                    world=self, node=node.name, name=bond.name, network=bond.network, address=bond.address,
                    primary=bond.primary.nic, slaves=slaves, miimon_ms=self.timing.miimon_ms,
                    updelay_ms=updelay, downdelay_ms=self.timing.downdelay_ms,
                    macs={s: model.nics[s].mac for s in slaves},
                )
                self._own_addresses[bond.address] = (node.name, bond.name)

    def _ifindex(self, switch: str, port: str) -> int | None:
        model = self.switches.get(switch)
        if model is None:
            return None
        for index, p in model.ports.items():
            if p.name == port:
                return index
        return None

    def start(self) -> None:
        self.scheduler.start()
        self.device_faults.start()
        from hacert.labsim.garbage import start_garbage  # adversity syslog_garbage (lines no parser knows)

        start_garbage(self)

    def stop(self) -> None:
        self.device_faults.stop()
        self.scheduler.stop()
        self.events.close()

    def node_state(self, node: str) -> str:
        with self.lock:
            return self.nodes[node].state

    def bmc_answers(self, node: str) -> bool:
        return self.power.bmc_answers(node)

    def chassis_on(self, node: str) -> bool:
        with self.lock:
            return self.nodes[node].chassis_on

    def outlet_on(self, pdu: str, n: int) -> bool:
        return self.power.outlet_on(pdu, n)

    def outlet_name(self, pdu: str, n: int) -> str:
        return self.power.outlet_name(pdu, n)

    def outlet_load(self, pdu: str, n: int) -> float:
        """Amps drawn through the outlet (what a metered PDU reports; hacert.labsim.devices.power)."""
        return self.power.outlet_load(pdu, n)

    def outlets(self, pdu: str) -> list[int]:
        return self.power.outlets(pdu)

    def switch_state(self, sw: str) -> str:
        with self.lock:
            return self.switches[sw].state

    def ports(self, sw: str) -> dict[int, Port]:
        with self.lock:
            return dict(self.switches[sw].ports)

    def carrier(self, node: str, nic: str) -> bool:
        with self.lock:
            return self.nodes[node].nics[nic].carrier

    def bond_active(self, node: str, bond: str) -> str | None:
        with self.lock:
            return self.nodes[node].bonds[bond].active

    def bond(self, node: str, bond: str) -> BondModel:
        return self.nodes[node].bonds[bond]

    def uptime(self, node: str) -> float:
        with self.lock:
            model = self.nodes[node]
            return time.monotonic() - model.up_since if model.state in ("up", "hung") else 0.0

    def messages(self, node: str) -> list[str]:
        with self.lock:
            return list(self.nodes[node].messages)

    def execute(self, node: str, line: str, io: ShellIO) -> int:
        from hacert.labsim.shell import run_line

        return run_line(self, node, line, io)
