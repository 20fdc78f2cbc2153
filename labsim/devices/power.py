"""The one power model of both labs: PDU outlets feed nodes and switches.

A node is powered while any outlet that really feeds it is on (a node without declared feeds
always is); its BMC is dark while the node has no power and answers `bmc_boot` seconds after
power returns (at once when `bmc_boot` is 0). An outlet "reboot" is off, then on after
`outlet_reboot` seconds. The feeds follow the real wiring: the simulation's `wrong_outlet`
fault and `mislabelled_outlet` adversity swap two nodes' cables (the PDU's labels follow the
wiring for the fault, the inventory for the adversity).

What that does to a node or a switch (boot, halt, links) is the host's business: the model tells
its `PowerListener` (labsim's World, netlab's oob.Power), always under `lock`. Outlet loads (the
metered PDU's table) ask the listener whether each fed device runs.
"""

from __future__ import annotations

import threading
from typing import Callable

from hacert.model.inventory import Inventory
from hacert.labsim.devices.contracts import PowerListener
from hacert.labsim.devices.scheduler import Scheduler, _Timer

Outlet = tuple[str, int]  # (pdu, outlet number)


class PowerModel:
    NODE_LOAD_AMPS = 1.6  # a running server's draw on one of its feeds
    STANDBY_LOAD_AMPS = 0.1  # a server with its chassis off: the BMC and fans
    SWITCH_LOAD_AMPS = 0.4

    def __init__(self, inventory: Inventory, listener: PowerListener, scheduler: Scheduler, lock: threading.RLock, *,
                 outlet_reboot: float, bmc_boot: float, node_running: Callable[[str], bool],
                 switch_running: Callable[[str], bool]) -> None:
        """`node_running(node)` / `switch_running(sw)`: does it draw its full load (not off)?"""
        self.inventory = inventory
        self.listener = listener
        self.scheduler = scheduler
        self.lock = lock
        self.outlet_reboot = outlet_reboot
        self.bmc_boot = bmc_boot
        self._node_running = node_running
        self._switch_running = switch_running
        self._outlets: dict[Outlet, bool] = {}
        self._names: dict[Outlet, str] = {}
        self._timers: dict[Outlet, _Timer] = {}
        self.feeds: dict[str, list[Outlet]] = {}  # node -> the outlets that really power it
        self.switch_feeds: dict[str, Outlet | None] = {}
        self._bmc_up: dict[str, bool] = {}
        self._bmc_timers: dict[str, _Timer | None] = {}
        self._build()
        for node in self.feeds:
            self._bmc_up[node] = self.powered(node)  # a lab starts with its BMCs answering
            self._bmc_timers[node] = None

    def _build(self) -> None:
        inv = self.inventory
        for pdu in inv.pdus:
            for n in range(1, pdu.outlets + 1):
                self._outlets[(pdu.name, n)] = True
                self._names[(pdu.name, n)] = f"Outlet {n}"
        for node in inv.nodes:
            for ref in node.power:
                self._names[(ref.pdu, ref.outlet)] = ref.name
        for sw in inv.switches:
            feed = (sw.power.pdu, sw.power.outlet) if sw.power.method == "pdu" and sw.power.pdu and sw.power.outlet else None
            self.switch_feeds[sw.name] = feed
            if feed is not None:
                self._names[feed] = sw.power.name or sw.name
        feeds = {n.name: [(r.pdu, r.outlet) for r in n.power] for n in inv.nodes}
        for fault in (inv.simulation.faults if inv.simulation else []):
            if fault.name == "wrong_outlet":
                self._swap_feeds(feeds, fault.target)
                # the PDU's own labels follow the real wiring, not the inventory
                for node in inv.nodes:
                    label = node.power[0].name if node.power else node.name
                    for outlet in feeds[node.name]:
                        self._names[outlet] = label
        for adversity in (inv.simulation.adversities if inv.simulation else []):
            if adversity.name == "mislabelled_outlet":
                # the cables are swapped, the labels are not: the outlet labelled for the target feeds a peer
                self._swap_feeds(feeds, adversity.target)
        self.feeds = feeds

    @staticmethod
    def _swap_feeds(feeds: dict[str, list[Outlet]], target: str | None) -> None:
        names = [n for n in feeds if feeds[n]]
        if len(names) < 2:
            return
        first = target if target in names else names[0]
        other = next(n for n in names if n != first)
        feeds[first], feeds[other] = feeds[other], feeds[first]

    # ------------------------------------------------------------ queries

    def powered(self, node: str) -> bool:
        feeds = self.feeds.get(node, [])
        return not feeds or any(self._outlets.get(f, False) for f in feeds)

    def switch_powered(self, sw: str) -> bool:
        feed = self.switch_feeds.get(sw)
        return feed is None or self._outlets.get(feed, False)

    def bmc_answers(self, node: str) -> bool:
        with self.lock:
            return self._bmc_up[node]

    def outlets(self, pdu: str) -> list[int]:
        return sorted(n for (p, n) in self._outlets if p == pdu)

    def outlet_on(self, pdu: str, n: int) -> bool:
        with self.lock:
            return self._outlets[(pdu, n)]

    def outlet_name(self, pdu: str, n: int) -> str:
        return self._names.get((pdu, n), f"Outlet {n}")

    def outlet_load(self, pdu: str, n: int) -> float:
        """Amps drawn through the outlet (what a metered PDU reports): every device it really feeds,
        whatever the labels say, a node's draw shared among its feeds that are on; 0 while off."""
        with self.lock:
            key = (pdu, n)
            if not self._outlets.get(key, False):
                return 0.0
            load = 0.0
            for node, feeds in self.feeds.items():
                if key in feeds:
                    share = self.NODE_LOAD_AMPS if self._node_running(node) else self.STANDBY_LOAD_AMPS
                    load += share / max(1, sum(1 for f in feeds if self._outlets.get(f, False)))
            for sw, feed in self.switch_feeds.items():
                if feed == key and self._switch_running(sw):
                    load += self.SWITCH_LOAD_AMPS
            return round(load, 1)

    # ------------------------------------------------------------ actions

    def set_outlet(self, pdu: str, n: int, action: str) -> None:
        """"on", "off" or "reboot" (off, then on after `outlet_reboot` s)."""
        with self.lock:
            key = (pdu, n)
            if key not in self._outlets:
                raise KeyError(f"{pdu} has no outlet {n}")
            if action not in ("on", "off", "reboot"):
                raise ValueError(f"unknown outlet action {action!r}")
            Scheduler.cancel(self._timers.pop(key, None))
            if action == "reboot":
                self._switch(key, False)
                self._timers[key] = self.scheduler.after(self.outlet_reboot, lambda: self._switch(key, True), f"outlet {key}")
            else:
                self._switch(key, action == "on")

    def _switch(self, key: Outlet, on: bool) -> None:
        with self.lock:
            if self._outlets[key] == on:
                return
            fed = [node for node, feeds in self.feeds.items() if key in feeds]
            before = {node: self.powered(node) for node in fed}
            self._outlets[key] = on
            self.listener.outlet_switched(key[0], key[1], on)
            for node in fed:
                if self.powered(node) != before[node]:  # a redundant feed alone changes nothing
                    self._power_changed(node)
            for sw, feed in self.switch_feeds.items():
                if feed == key:
                    self.listener.switch_power(sw, self.switch_powered(sw))

    def _power_changed(self, node: str) -> None:
        if self.powered(node):
            if self._bmc_timers[node] is None and not self._bmc_up[node]:
                if self.bmc_boot <= 0:
                    self._bmc_ready(node)
                else:
                    self._bmc_timers[node] = self.scheduler.after(self.bmc_boot, lambda: self._bmc_ready(node), f"bmc {node}")
        else:
            Scheduler.cancel(self._bmc_timers[node])
            self._bmc_timers[node] = None
            if self._bmc_up[node]:
                self._bmc_up[node] = False
                self.listener.bmc_changed(node, False)
        self.listener.node_power(node, self.powered(node))

    def _bmc_ready(self, node: str) -> None:
        self._bmc_timers[node] = None
        if self.powered(node) and not self._bmc_up[node]:
            self._bmc_up[node] = True
            self.listener.bmc_changed(node, True)
