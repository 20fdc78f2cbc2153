"""The one model of the simulated lab's power and network.

Power: PDU outlets feed nodes and switches. A node whose outlets are all off is
"off" and its BMC is dark; when power returns the BMC answers after
`timing.bmc_boot` and, if the chassis was on, the node boots (restore on AC
power). Network: node NICs are cabled to switch ports; a NIC has carrier when
its node has power, the NIC is administratively up, the switch is signalling
link and the port is administratively up. Each node's bonds (hacert.labsim.bonding)
poll carrier like the kernel's miimon and choose the active slave. Whether an
address answers a ping follows from all of that (`reachable`).

Everything runs under `self.lock`: protocol endpoints and shell commands call
in from their threads, timers fire on `self.scheduler`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from hacert.model.inventory import Inventory, SimTiming
from hacert.labsim.bonding import BondModel
from hacert.labsim.core import EventLog, Scheduler, ShellIO, _Timer
from hacert.labsim.device_faults import DeviceFaults

NODE_STATES = ("off", "booting", "up", "hung")
SWITCH_PORTS_MIN = 24


def _mac(*parts: str) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return "00:1b:21:" + ":".join(f"{b:02x}" for b in digest[:3])


@dataclass
class Nic:
    name: str
    admin_up: bool = True
    carrier: bool = False
    mac: str = ""
    cable: tuple[str, int] | None = None  # (switch, ifindex)


@dataclass
class NodeModel:
    name: str
    feeds: list[tuple[str, int]]  # outlets that really power it
    state: str = "off"
    chassis_on: bool = True
    bmc_up: bool = False
    nics: dict[str, Nic] = field(default_factory=dict)
    bonds: dict[str, BondModel] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    boot_timer: _Timer | None = None
    bmc_timer: _Timer | None = None
    up_since: float = 0.0


@dataclass
class Port:
    ifindex: int
    name: str
    admin_up: bool = True
    oper_up: bool = False
    cable: tuple[str, str] | None = None  # (node, nic)


@dataclass
class SwitchModel:
    name: str
    feed: tuple[str, int] | None
    state: str = "off"  # off | booting | up | blocking
    link: bool = False  # signalling link on its ports (flaps while booting)
    ports: dict[int, Port] = field(default_factory=dict)
    timers: list[_Timer] = field(default_factory=list)
    boots: int = 0


@dataclass
class Registered:
    owner: Callable[[], str | None]
    network: str | None


class World:
    """Power, cables, switches, bonds and reachability of one simulated lab."""

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
        self._outlets: dict[tuple[str, int], bool] = {}
        self._outlet_names: dict[tuple[str, int], str] = {}
        self._outlet_timers: dict[tuple[str, int], _Timer] = {}
        self.nodes: dict[str, NodeModel] = {}
        self.switches: dict[str, SwitchModel] = {}
        self._own_addresses: dict[str, tuple[str, str]] = {}  # address -> (node, bond)
        self._build()
        with self.lock:
            for node in self.nodes.values():
                if self._powered(node):
                    node.bmc_up = True
                    node.state = "up"
                    node.up_since = time.monotonic()
            for sw in self.switches.values():
                if self._switch_powered(sw):
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

    # ------------------------------------------------------------ building

    def _build(self) -> None:
        inv = self.inventory
        for pdu in inv.pdus:
            for n in range(1, pdu.outlets + 1):
                self._outlets[(pdu.name, n)] = True
                self._outlet_names[(pdu.name, n)] = f"Outlet {n}"
        for node in inv.nodes:
            for ref in node.power:
                self._outlet_names[(ref.pdu, ref.outlet)] = ref.name
        for sw in inv.switches:
            if sw.power.method == "pdu" and sw.power.pdu and sw.power.outlet:
                self._outlet_names[(sw.power.pdu, sw.power.outlet)] = sw.power.name or sw.name
        feeds = {n.name: [(r.pdu, r.outlet) for r in n.power] for n in inv.nodes}
        for fault in (inv.simulation.faults if inv.simulation else []):
            if fault.name == "wrong_outlet":
                self._swap_feeds(feeds, fault.target)
                # the PDU's own labels follow the real wiring, not the inventory
                for node in inv.nodes:
                    label = node.power[0].name if node.power else node.name
                    for outlet in feeds[node.name]:
                        self._outlet_names[outlet] = label
        for adversity in (inv.simulation.adversities if inv.simulation else []):
            if adversity.name == "mislabelled_outlet":
                # the cables are swapped, the labels are not: the outlet labelled for the target feeds a peer
                self._swap_feeds(feeds, adversity.target)

        for sw in inv.switches:
            feed = (sw.power.pdu, sw.power.outlet) if sw.power.method == "pdu" and sw.power.pdu and sw.power.outlet else None
            self.switches[sw.name] = SwitchModel(sw.name, feed)
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
            model = NodeModel(node.name, feeds[node.name])
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

    def _swap_feeds(self, feeds: dict[str, list[tuple[str, int]]], target: str | None) -> None:
        names = [n for n in feeds if feeds[n]]
        if len(names) < 2:
            return
        first = target if target in names else names[0]
        other = next(n for n in names if n != first)
        feeds[first], feeds[other] = feeds[other], feeds[first]

    def _ifindex(self, switch: str, port: str) -> int | None:
        model = self.switches.get(switch)
        if model is None:
            return None
        for index, p in model.ports.items():
            if p.name == port:
                return index
        return None

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        self.scheduler.start()
        self.device_faults.start()
        from hacert.labsim.garbage import start_garbage  # adversity syslog_garbage (lines no parser knows)

        start_garbage(self)

    def stop(self) -> None:
        self.device_faults.stop()
        self.scheduler.stop()
        self.events.close()

    # ------------------------------------------------------------ events

    def subscribe(self, callback: Callable[[dict[str, Any]], None]) -> None:
        with self.lock:
            self._subscribers.append(callback)

    def emit(self, kind: str, **fields: Any) -> dict[str, Any]:
        with self.lock:
            record = self.events.write(kind, **fields)
            for callback in list(self._subscribers):
                try:
                    callback(record)
                except Exception as exc:  # a broken subscriber must not stop the lab
                    print(f"labsim: subscriber {callback!r} failed on {kind}: {exc!r}", flush=True)
            return record

    def syslog(self, node: str, program: str, message: str, pid: int | None = None) -> None:
        """Append `Mon DD HH:MM:SS host prog[pid]: msg` to the node's /var/log/messages
        (only while the node runs: a hung or powered-off node writes nothing)."""
        with self.lock:
            model = self.nodes[node]
            if model.state != "up":
                return
            stamp = time.strftime("%b %e %H:%M:%S", time.localtime(self.node_time(node)))
            tag = f"{program}[{pid}]" if pid is not None else program
            model.messages.append(f"{stamp} {node} {tag}: {message}")
            self.log_changed.notify_all()

    def clock_offset(self, node: str) -> float:
        """Seconds `node`'s clock is ahead of the controller's: simulation.clock_offsets, plus a step
        while the device fault `clock_step` is active on it."""
        from hacert.labsim.device_faults import CLOCK_STEP

        step = CLOCK_STEP if self.device_faults.active("clock_step", node) else 0.0
        return self.inventory.clock_offset(node) + step

    def node_time(self, node: str, t: float | None = None) -> float:
        """A controller time (default: now) on `node`'s clock."""
        return (time.time() if t is None else t) + self.clock_offset(node)

    def kernel_log(self, node: str, message: str) -> None:
        self.syslog(node, "kernel", message)

    # ------------------------------------------------------------ queries

    def node_state(self, node: str) -> str:
        with self.lock:
            return self.nodes[node].state

    def bmc_answers(self, node: str) -> bool:
        with self.lock:
            return self.nodes[node].bmc_up

    def chassis_on(self, node: str) -> bool:
        with self.lock:
            return self.nodes[node].chassis_on

    def outlet_on(self, pdu: str, n: int) -> bool:
        with self.lock:
            return self._outlets[(pdu, n)]

    def outlet_name(self, pdu: str, n: int) -> str:
        return self._outlet_names.get((pdu, n), f"Outlet {n}")

    NODE_LOAD_AMPS = 1.6  # a running server's draw on one of its feeds
    STANDBY_LOAD_AMPS = 0.1  # a server with its chassis off: the BMC and fans
    SWITCH_LOAD_AMPS = 0.4

    def outlet_load(self, pdu: str, n: int) -> float:
        """Amps drawn through the outlet (what a metered PDU reports): every device it really feeds,
        whatever the labels say; 0 while the outlet is off."""
        with self.lock:
            key = (pdu, n)
            if not self._outlets.get(key, False):
                return 0.0
            load = 0.0
            for node in self.nodes.values():
                if key in node.feeds:
                    share = self.NODE_LOAD_AMPS if node.state != "off" else self.STANDBY_LOAD_AMPS
                    load += share / max(1, sum(1 for f in node.feeds if self._outlets.get(f, False)))
            for sw in self.switches.values():
                if sw.feed == key and sw.state != "off":
                    load += self.SWITCH_LOAD_AMPS
            return round(load, 1)

    def outlets(self, pdu: str) -> list[int]:
        return sorted(n for (p, n) in self._outlets if p == pdu)

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

    def address_of(self, node: str, network: str | None = None) -> str | None:
        """The node's address on `network` (default: the heartbeat network, else its first bond)."""
        spec = self.inventory.node(node)
        network = network or self.inventory.cluster.heartbeat_network
        for bond in spec.bonds:
            if network is None or bond.network == network:
                return bond.address
        return spec.bonds[0].address if spec.bonds else None

    def resolve(self, name: str) -> str | None:
        """Host name or address → address, as the nodes' /etc/hosts would."""
        try:
            ipaddress.ip_address(name)
            return name
        except ValueError:
            pass
        short = name.split(".")[0]
        for node in self.inventory.nodes:
            if name in (node.name, node.member_name) or short == node.name:
                parts = name.split(".")
                network = parts[1] if len(parts) > 1 and any(b.network == parts[1] for b in node.bonds) else None
                return self.address_of(node.name, network)
        for vm in self.inventory.vms:
            if short == vm.name:
                return vm.address
        return None

    # ------------------------------------------------------------ power

    def _powered(self, node: NodeModel) -> bool:
        return not node.feeds or any(self._outlets.get(f, False) for f in node.feeds)

    def _switch_powered(self, sw: SwitchModel) -> bool:
        return sw.feed is None or self._outlets.get(sw.feed, False)

    def set_outlet(self, pdu: str, n: int, action: str) -> None:
        """"on", "off" or "reboot" (off, then on after timing.outlet_reboot)."""
        with self.lock:
            key = (pdu, n)
            if key not in self._outlets:
                raise KeyError(f"{pdu} has no outlet {n}")
            Scheduler.cancel(self._outlet_timers.pop(key, None))
            if action == "reboot":
                self._switch_outlet(key, False)
                delay = self.timing.outlet_reboot
                self._outlet_timers[key] = self.scheduler.after(delay, lambda: self._switch_outlet(key, True), f"outlet {key}")
            elif action in ("on", "off"):
                self._switch_outlet(key, action == "on")
            else:
                raise ValueError(f"unknown outlet action {action!r}")

    def _switch_outlet(self, key: tuple[str, int], on: bool) -> None:
        if self._outlets[key] == on:
            return
        self._outlets[key] = on
        self.emit("outlet", pdu=key[0], outlet=key[1], on=on)
        for node in self.nodes.values():
            if key in node.feeds:
                self._power_changed(node)
        for sw in self.switches.values():
            if sw.feed == key:
                self._switch_power_changed(sw)

    def _power_changed(self, node: NodeModel) -> None:
        if self._powered(node):
            if node.bmc_timer is None and not node.bmc_up:
                node.bmc_timer = self.scheduler.after(self.timing.bmc_boot, lambda: self._bmc_ready(node), f"bmc {node.name}")
            if node.chassis_on and node.state == "off":
                self._start_boot(node)
        else:
            Scheduler.cancel(node.bmc_timer)
            node.bmc_timer = None
            if node.bmc_up:
                node.bmc_up = False
                self.emit("bmc", node=node.name, answers=False)
            self._set_state(node, "off")

    def _bmc_ready(self, node: NodeModel) -> None:
        node.bmc_timer = None
        if self._powered(node) and not node.bmc_up:
            node.bmc_up = True
            self.emit("bmc", node=node.name, answers=True)

    def chassis_control(self, node: str, action: str) -> None:
        """What the BMC does for `chassis power on|off|cycle|reset`."""
        with self.lock:
            model = self.nodes[node]
            if not model.bmc_up:
                raise RuntimeError(f"{node}'s BMC has no power")
            self.emit("chassis", node=node, action=action)
            if action == "on":
                model.chassis_on = True
                if model.state == "off":
                    self._start_boot(model)
            elif action == "off":
                model.chassis_on = False
                self._set_state(model, "off")
            elif action in ("cycle", "reset"):
                model.chassis_on = True
                if action == "cycle" or model.state != "off":
                    self._set_state(model, "off")
                self._start_boot(model)
            else:
                raise ValueError(f"unknown chassis action {action!r}")

    def _os_shutdown(self, node: str) -> None:
        # RHEL's rc scripts stop rgmanager and cman before the halt: a clean leave, no fence
        cluster = getattr(self, "cluster", None)
        if cluster is not None and hasattr(cluster, "os_shutdown"):
            cluster.os_shutdown(node)

    def power_off_os(self, node: str) -> None:
        """`poweroff` inside the node: the OS halts and switches the chassis off."""
        with self.lock:
            self._os_shutdown(node)
            model = self.nodes[node]
            model.chassis_on = False
            self._set_state(model, "off")

    def reboot_os(self, node: str) -> None:
        with self.lock:
            self._os_shutdown(node)
            model = self.nodes[node]
            self._set_state(model, "off")
            self._start_boot(model)

    def hang(self, node: str) -> None:
        """The kernel stops (sysrq c): nothing answers, nothing is logged; the BMC still works."""
        with self.lock:
            model = self.nodes[node]
            if model.state == "up":
                self._set_state(model, "hung")

    def _start_boot(self, node: NodeModel) -> None:
        if not self._powered(node):
            return
        Scheduler.cancel(node.boot_timer)
        self._set_state(node, "booting")
        node.boot_timer = self.scheduler.after(self.timing.boot, lambda: self._boot_done(node), f"boot {node.name}")

    def _boot_done(self, node: NodeModel) -> None:
        node.boot_timer = None
        if node.state != "booting":
            return
        node.up_since = time.monotonic()
        self._set_state(node, "up")

    def _set_state(self, node: NodeModel, state: str) -> None:
        if node.state == state:
            return
        previous = node.state
        if state != "booting":
            Scheduler.cancel(node.boot_timer)
            node.boot_timer = None
        node.state = state
        if state != "up":
            for bond in node.bonds.values():
                bond.stop()
        self.emit("node_state", node=node.name, state=state, previous=previous)
        if previous == "off" or state == "off":
            self._refresh_links()
        if state == "up":
            self.syslog(node.name, "kernel", "Linux version 2.6.32-220.el6.x86_64 (mockbuild@c6b18n3.bsys.dev.centos.org)")
            for bond in node.bonds.values():
                bond.start(quiet=False)

    # ------------------------------------------------------------ switches

    def _switch_power_changed(self, sw: SwitchModel) -> None:
        for timer in sw.timers:
            Scheduler.cancel(timer)
        sw.timers.clear()
        if not self._switch_powered(sw):
            self._switch_set(sw, "off", link=False)
            return
        sw.boots += 1
        self._switch_set(sw, "booting", link=False)
        t = self.timing.switch_bounce_interval
        step = t
        sw.timers.append(self.scheduler.after(step, lambda: self._switch_link(sw, True), f"{sw.name} link"))
        for _ in range(self.timing.switch_bounces):
            step += t
            sw.timers.append(self.scheduler.after(step, lambda: self._switch_link(sw, False, bounce=True), f"{sw.name} bounce"))
            step += t
            sw.timers.append(self.scheduler.after(step, lambda: self._switch_link(sw, True), f"{sw.name} link"))
        ready = max(self.timing.switch_boot, step)
        sw.timers.append(self.scheduler.after(ready, lambda: self._switch_ready(sw), f"{sw.name} ready"))

    def _switch_link(self, sw: SwitchModel, up: bool, bounce: bool = False) -> None:
        if bounce:
            self.emit("link_bounce", switch=sw.name)
        sw.link = up
        self._refresh_links()

    def _switch_ready(self, sw: SwitchModel) -> None:
        self._switch_set(sw, "up", link=True)
        if self.inventory.fault("stp_after_switch_boot", sw.name):
            # A misconfigured STP: a while after the switch is up, both switches
            # recompute the tree and stop forwarding for many seconds (links stay up).
            sw.timers.append(self.scheduler.after(self.timing.stp_delay, self._stp_block, "stp block"))

    def _stp_block(self) -> None:
        blocked = [s for s in self.switches.values() if s.state == "up"]
        for s in blocked:
            self._switch_set(s, "blocking", link=True)

        def release() -> None:
            for s in blocked:
                if s.state == "blocking":
                    self._switch_set(s, "up", link=True)

        self.scheduler.after(self.timing.stp_block, release, "stp release")

    def _switch_set(self, sw: SwitchModel, state: str, link: bool) -> None:
        changed = sw.state != state
        sw.state, sw.link = state, link
        if changed:
            self.emit("switch_state", switch=sw.name, state=state)
        self._refresh_links()

    def forwarding(self, sw: str) -> bool:
        with self.lock:
            return self.switches[sw].state == "up"

    def set_port_admin(self, sw: str, ifindex: int, up: bool) -> None:
        with self.lock:
            port = self.switches[sw].ports[ifindex]
            if port.admin_up == up:
                return
            port.admin_up = up
            self._refresh_links(force_port=(sw, ifindex))

    def set_link_admin(self, node: str, nic: str, up: bool) -> None:
        """`ip link set dev NIC up|down` on the node."""
        with self.lock:
            model = self.nodes[node]
            if nic not in model.nics:
                raise KeyError(nic)
            model.nics[nic].admin_up = up
            self._refresh_links()

    # ------------------------------------------------------------ links

    def _refresh_links(self, log: bool = True, force_port: tuple[str, int] | None = None) -> None:
        """Recompute every NIC's carrier and port's oper status; report the changes."""
        for sw in self.switches.values():
            for port in sw.ports.values():
                oper = sw.link and port.admin_up and port.cable is not None and self._nic_alive(*port.cable)
                if oper != port.oper_up or force_port == (sw.name, port.ifindex):
                    port.oper_up = oper
                    if log:
                        self.emit("port", switch=sw.name, port=port.name, ifindex=port.ifindex,
                                  admin_up=port.admin_up, oper_up=oper)
        for node in self.nodes.values():
            for nic in node.nics.values():
                carrier = False
                if nic.cable is not None and self._nic_alive(node.name, nic.name):
                    sw = self.switches[nic.cable[0]]
                    carrier = sw.link and sw.ports[nic.cable[1]].admin_up
                if carrier == nic.carrier:
                    continue
                nic.carrier = carrier
                if not log:
                    continue
                self.emit("carrier", node=node.name, nic=nic.name, up=carrier)
                if node.state == "up":
                    if carrier:
                        self.kernel_log(node.name, f"e1000e: {nic.name} NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx")
                    else:
                        self.kernel_log(node.name, f"e1000e: {nic.name} NIC Link is Down")
                    for bond in node.bonds.values():
                        if nic.name in bond.slaves:
                            bond.carrier_changed()

    def _nic_alive(self, node: str, nic: str) -> bool:
        model = self.nodes[node]
        return model.state != "off" and model.nics[nic].admin_up

    # ------------------------------------------------------------ reachability

    def register_address(self, address: str, owner_fn: Callable[[], str | None], network: str | None = None) -> None:
        """`address` answers from whichever node `owner_fn()` names (None: nobody), reached
        over `network` (default: the network whose addresses are numerically closest)."""
        with self.lock:
            self._addresses[address] = Registered(owner_fn, network)

    def register_file(self, path: str, provider: Callable[[str], str | None]) -> None:
        """`cat PATH` on a node prints `provider(node)` (None: no such file)."""
        with self.lock:
            self._files[path] = provider

    def file_provider(self, path: str) -> Callable[[str], str | None] | None:
        return self._files.get(path)

    def _bond_on(self, node: str, network: str) -> BondModel | None:
        for bond in self.nodes[node].bonds.values():
            if bond.network == network:
                return bond
        return None

    def _network_for(self, address: str) -> str | None:
        try:
            target = int(ipaddress.ip_address(address))
        except ValueError:
            return None
        best: tuple[int, str] | None = None
        for node in self.inventory.nodes:
            for bond in node.bonds:
                distance = abs(int(ipaddress.ip_address(bond.address)) - target)
                if best is None or distance < best[0]:
                    best = (distance, bond.network)
        return best[1] if best else None

    def _egress_ok(self, node: str, network: str) -> bool:
        model = self.nodes[node]
        if model.state != "up":
            return False
        bond = self._bond_on(node, network)
        if bond is None or bond.active is None:
            return False
        nic = model.nics[bond.active]
        if not nic.carrier or nic.cable is None:
            return False
        return self.switches[nic.cable[0]].state == "up"

    def reachable(self, from_node: str, address: str) -> bool:
        """Would a ping from `from_node` to `address` be answered right now?"""
        with self.lock:
            if self.nodes[from_node].state != "up":
                return False
            if address in self._own_addresses:
                target, bond_name = self._own_addresses[address]
                network = self.nodes[target].bonds[bond_name].network
            elif address in self._addresses:
                registered = self._addresses[address]
                target = registered.owner()
                network = registered.network or self._network_for(address)
                if target is None or network is None:
                    return False
            else:
                return False
            if target == from_node:
                return True
            return self._egress_ok(from_node, network) and self._egress_ok(target, network)

    # ------------------------------------------------------------ shell

    def execute(self, node: str, line: str, io: ShellIO) -> int:
        from hacert.labsim.shell import run_line

        return run_line(self, node, line, io)
