"""netlab's switches and cables: a Linux bridge per switch in its own network namespace,
a veth pair per cable (the node's NIC <-> a switch port), and a link between
consecutive switches (stacked switches: a bond that failed over to the other
switch still reaches its peer).

`Switches` answers what labsim's IF-MIB agent (`hacert.labsim.devices.snmp.switch_device`) asks of
its world (`switch_state`, `ports`, `set_port_admin`, `lock`, `started`,
`device_faults`), acting on the real links. Power comes from a PDU outlet
(`set_power`): off takes every port and the bridge down; on boots the switch like
the seed's: its links come up, bounce `switch_bounces` times every
`switch_bounce_interval` s, and the bridge forwards only once it is ready
(`switch_boot` s at the earliest).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from hacert.labsim.devices.contracts import NoFaults, SwitchHost
from hacert.labsim.devices.scheduler import Scheduler, _Timer
from hacert.labsim.devices.switch_boot import schedule_boot

from .config import Plan
from . import events, ns

BRIDGE = "br0"


@dataclass
class SwitchPort:
    """One port: `name` as the inventory and ifName say it, `dev` its interface in the switch netns."""

    owner: "Switches"
    switch: str
    ifindex: int
    name: str
    dev: str
    cable: tuple[str, str] | None = None  # (node, nic)
    admin_up: bool = True

    @property
    def oper_up(self) -> bool:
        return self.owner.oper_up(self)


@dataclass
class SwitchState:
    name: str
    netns: str
    ports: dict[int, SwitchPort] = field(default_factory=dict)
    uplinks: list[str] = field(default_factory=list)  # interfaces towards the other switches
    state: str = "up"  # off | booting | up
    link: bool = True
    timers: list[_Timer] = field(default_factory=list)


class Switches(SwitchHost):
    """The IF-MIB agents' host (hacert.labsim.devices.contracts.SwitchHost) on the real bridges."""

    def __init__(self, plan: Plan, node_on: Callable[[str], bool] = lambda node: True) -> None:
        """`node_on(node)`: does the node have power (a node without power has no link)?"""
        self.plan = plan
        self.node_on = node_on
        self.lock = threading.RLock()
        self.started = time.time()
        self.device_faults = NoFaults()
        self.scheduler = Scheduler(self.lock)
        self.switches: dict[str, SwitchState] = {}
        for sw in plan.inventory.switches:
            self.switches[sw.name] = SwitchState(sw.name, plan.switch_ns(sw.name))
        for node in plan.inventory.nodes:
            for bond in node.bonds:
                for link in bond.slaves:
                    state = self.switches[link.switch]
                    index = len(state.ports) + 1
                    state.ports[index] = SwitchPort(self, link.switch, index, link.port, f"port{index}",
                                                    (node.name, link.nic))

    # ------------------------------------------------------------ build

    def build(self) -> None:
        """Namespaces, bridges, cables and uplinks (the node namespaces exist already)."""
        for sw in self.switches.values():
            ns.run("ip", "netns", "add", sw.netns)
            ns.run("ip", "-n", sw.netns, "link", "set", "lo", "up")
            ns.run("ip", "-n", sw.netns, "link", "add", BRIDGE, "type", "bridge", "stp_state", "0")
            for port in sw.ports.values():
                assert port.cable is not None
                node, nic = port.cable
                ns.run("ip", "-n", self.plan.node_ns(node), "link", "add", nic, "type", "veth",
                       "peer", "name", port.dev, "netns", sw.netns)
                ns.run("ip", "-n", sw.netns, "link", "set", port.dev, "master", BRIDGE, "up")
                ns.run("ip", "-n", self.plan.node_ns(node), "link", "set", nic, "up")
        chain = list(self.switches.values())
        for left, right in zip(chain, chain[1:]):
            ns.run("ip", "-n", left.netns, "link", "add", f"to-{right.name}"[:15], "type", "veth",
                   "peer", "name", f"to-{left.name}"[:15], "netns", right.netns)
            left.uplinks.append(f"to-{right.name}"[:15])
            right.uplinks.append(f"to-{left.name}"[:15])
        for sw in chain:
            for dev in sw.uplinks:
                ns.run("ip", "-n", sw.netns, "link", "set", dev, "master", BRIDGE, "up")
            ns.run("ip", "-n", sw.netns, "link", "set", BRIDGE, "up")
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()

    # ------------------------------------------------------------ what the IF-MIB agent asks

    def switch_state(self, sw: str) -> str:
        return self.switches[sw].state

    def ports(self, sw: str) -> dict[int, SwitchPort]:
        return self.switches[sw].ports

    def oper_up(self, port: SwitchPort) -> bool:
        """From the model, not the kernel: an SNMP walk must answer at once (a slow agent makes
        the client resend its SETs, and a resent 'up' can undo the next 'down')."""
        state = self.switches[port.switch]
        return state.link and port.admin_up and (port.cable is None or self.node_on(port.cable[0]))

    def set_port_admin(self, sw: str, ifindex: int, up: bool) -> None:
        with self.lock:
            state = self.switches[sw]
            port = state.ports[ifindex]
            if port.admin_up == up:
                return
            port.admin_up = up
            events.emit("port", switch=sw, port=port.name, admin_up=up)
            if state.link:
                ns.run("ip", "-n", state.netns, "link", "set", port.dev, "up" if up else "down")

    # ------------------------------------------------------------ power

    def set_power(self, sw: str, on: bool) -> None:
        """The switch's outlet changed: off now, or boot (links bounce, then forward)."""
        settings = self.plan.settings
        with self.lock:
            state = self.switches[sw]
            for timer in state.timers:
                Scheduler.cancel(timer)
            state.timers.clear()
            if not on:
                self._set(state, "off")
                self._links(state, False)
                return
            self._set(state, "booting")
            state.timers.extend(schedule_boot(self.scheduler, sw, interval=settings.switch_bounce_interval,
                                              bounces=settings.switch_bounces, boot=settings.switch_boot,
                                              link=lambda up, bounce: self._links(state, up, bounce=bounce),
                                              ready=lambda: self._ready(state)))

    def _set(self, state: SwitchState, value: str) -> None:
        if state.state != value:
            state.state = value
            events.emit("switch_state", switch=state.name, state=value)
        # a bridge that is down forwards nothing, whatever its ports' links say
        ns.run("ip", "-n", state.netns, "link", "set", BRIDGE, "up" if value == "up" else "down")

    def _links(self, state: SwitchState, up: bool, bounce: bool = False) -> None:
        if bounce:
            events.emit("link_bounce", switch=state.name)
        state.link = up
        devs = [p.dev for p in state.ports.values() if p.admin_up or not up] + state.uplinks
        script = "".join(f"link set {dev} {'up' if up else 'down'}\n" for dev in devs)
        ns.run_input(script, "ip", "-n", state.netns, "-batch", "-")

    def _ready(self, state: SwitchState) -> None:
        self._set(state, "up")
