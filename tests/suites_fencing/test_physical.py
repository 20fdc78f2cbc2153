"""The physical checks and the hang check on a lab of plain objects: what counts as dark, as lit, as
miswired, and how fast the outlet goes back on."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from hacert.drivers.errors import DeviceUnreachable, Miswired
from hacert.model.inventory import load_inventory
from hacert.drivers.errors import Inconclusive
from hacert.procedures.hang import HangCheck
from hacert.procedures.power_cut import PowerCutCheck, check_loads

from tests.suites_fencing.harness import ANVIL

INV = load_inventory(ANVIL)
N1, N2 = "an-node01", "an-node02"


class World:
    """Which nodes have power; the outlet calls made."""

    def __init__(self) -> None:
        self.dark: set[str] = set()
        self.calls: list[str] = []
        self.slow_bmc: dict[str, float] = {}
        self.silent_bmcs: set[str] = set()  # BMCs that miss their logins while their node runs on


class Shell:
    def __init__(self, world: World, name: str) -> None:
        self.world, self.name = world, name

    def reachable(self, timeout: float = 2.0) -> bool:
        return self.name not in self.world.dark

    def run(self, cmd: str, timeout: float | None = None, check: bool = True) -> Any:
        if self.name in self.world.dark:
            raise DeviceUnreachable(self.name, "fake", f"run {cmd!r}", "no banner")
        return type("Done", (), {"exit_code": 0, "stdout": ""})()

    def close(self) -> None:
        pass


class Bmc:
    def __init__(self, world: World, name: str) -> None:
        self.world, self.name = world, name

    def power_status(self) -> str:
        time.sleep(self.world.slow_bmc.get(self.name, 0.0))
        if self.name in self.world.dark or self.name in self.world.silent_bmcs:
            raise DeviceUnreachable(self.name, "fake", "power status", "no answer")
        return "on"


class Pdu:
    def __init__(self, world: World, loads: dict[int, float | None]) -> None:
        self.world, self.loads = world, loads

    def outlet_load(self, n: int) -> float | None:
        return self.loads.get(n)

    def outlet_on(self, n: int) -> None:
        self.world.calls.append(f"on {n}")
        self.world.dark.clear()


class Lab:
    inventory = INV

    def __init__(self, world: World, loads: dict[int, float | None] | None = None) -> None:
        self.world = world
        self._pdu = Pdu(world, loads or {})

    def node(self, name: str) -> Shell:
        return Shell(self.world, name)

    def bmc(self, name: str) -> Bmc:
        return Bmc(self.world, name)

    def pdu(self, name: str) -> Pdu:
        return self._pdu

    def switch_ports(self, name: str) -> Any:
        return object()  # no SNMP to ask: anvil's switches are not fed by pdu2 anyway


def test_loads_are_checked_where_the_pdu_meters_them() -> None:
    node = INV.node(N1)
    assert check_loads(Lab(World(), {1: 1.6}), node) == ["pdu2/1: 1.6 A"]
    assert check_loads(Lab(World(), {}), node) == ["pdu2/1: not metered"]
    with pytest.raises(Miswired, match="pdu2 outlet 1 labelled an-node01 carries no load"):
        check_loads(Lab(World(), {1: 0.0}), node)


def test_the_cut_darkens_the_victim_only() -> None:
    world = World()
    world.dark = {N1}
    check = PowerCutCheck(Lab(world), INV.node(N1), time.time(), window=2.0).start()
    check.wait()
    assert world.calls == [] and not check.miswired
    assert f"{N1}'s SSH dark" in check.evidence() and f"still answering: {N2}" in check.evidence()


def test_a_cut_that_darkens_a_peer_puts_the_outlet_back_on_at_once() -> None:
    world = World()
    world.dark = {N2}  # the cable of the outlet labelled an-node01 feeds an-node02
    cut = time.time()
    check = PowerCutCheck(Lab(world), INV.node(N1), cut, window=3.0).start()
    with pytest.raises(Miswired) as caught:
        check.wait()
    assert str(caught.value).startswith("pdu2 outlet 1 labelled an-node01 feeds an-node02, not an-node01")
    assert world.calls == ["on 1"] and check.restored_at is not None and check.restored_at - cut < 2.0


def test_a_peers_bmc_that_misses_its_logins_is_no_peer_without_power() -> None:
    """A peer lost its power only when all of it went dark: its BMC missing logins on a busy network
    while its SSH answers is no miswiring (CI saw exactly that once, a false lab error)."""
    world = World()
    world.dark = {N1}
    world.silent_bmcs = {N2}
    check = PowerCutCheck(Lab(world), INV.node(N1), time.time(), window=2.0).start()
    check.wait()
    assert world.calls == [] and not check.miswired


def test_a_cut_that_darkens_nothing_is_miswired_too() -> None:
    check = PowerCutCheck(Lab(World()), INV.node(N1), time.time(), window=1.0).start()
    with pytest.raises(Miswired, match="pdu2 outlet 1 labelled an-node01 does not feed an-node01"):
        check.wait()


def test_an_answer_that_came_with_the_power_back_proves_nothing() -> None:
    """A BMC call started in the dark can complete once the cluster's PDU fence restored the power:
    that is not a BMC with another feed."""
    world = World()
    world.dark = {N1}
    world.slow_bmc = {N1: 0.6}  # the BMC's answer comes 0.6 s after it was asked
    cut = time.time()
    back = cut + 0.3
    threading.Timer(0.3, world.dark.discard, (N1,)).start()  # the fence switches the outlet back on

    def power_back() -> float | None:
        return back if time.time() >= back else None

    check = PowerCutCheck(Lab(world), INV.node(N1), cut, power_back, window=2.0).start()
    check.wait()
    assert not check.miswired and world.calls == []
    bmc = next(p for p in check.probes if p.victim and p.what == "BMC")
    assert bmc.answered and bmc.dark_at is None  # it did answer, late: no evidence either way


class HangLab(Lab):
    pass


def test_a_hang_that_takes_and_one_that_does_not() -> None:
    world = World()
    world.dark = {N1}
    took = HangCheck(HangLab(world), INV.node(N1), time.time(), window=1.0).start()
    assert took.wait() > 0 and "no longer answered" in took.evidence()
    running = HangCheck(HangLab(World()), INV.node(N1), time.time(), window=1.0).start()
    with pytest.raises(Inconclusive, match="the hang did not take: an-node01 still answers"):
        running.wait()
    assert running.refuted
