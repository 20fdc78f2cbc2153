"""The standby, maintenance and rolling-restart families against simulated labs: the healthy
labs (2-node rgmanager, 3-node rgmanager, 3-node pacemaker) pass every case with the lab's own
numbers (its ground-truth event log), each family's seeded fault fails the right case with the
diagnosis, for both managers.

The runs themselves are made once by conftest.cts_runs (parallel subprocesses).
"""

from __future__ import annotations

from typing import Any

import re

import pytest

from hacert.model.inventory import Inventory, load_inventory

from tests.cts2.conftest import ROOT, SuiteRun, number

pytestmark = pytest.mark.xdist_group("cts2")

HEALTHY = [("anvil", "anvil-sim.yaml"), ("three-node", "three-node-sim.yaml"), ("pacemaker3", "pacemaker3-sim.yaml")]
PACKETS = 1
"""Ground-truth tolerance on lost pings."""


def _inventory(name: str) -> Inventory:
    return load_inventory(ROOT / "inventories" / name)


def _expected_ids(inv: Inventory) -> set[str]:
    return ({f"test_standby_drain[{n.name}]" for n in inv.nodes} | {"test_maintenance_mode", "test_rolling_restart"})


def _within(events: list[dict[str, Any]], window: tuple[float, float], **match: Any) -> list[dict[str, Any]]:
    start, stop = window
    return [e for e in events if start <= e["t"] <= stop and all(e.get(k) == v for k, v in match.items())]


# ---------------------------------------------------------------- healthy labs


@pytest.mark.parametrize("run_name, inventory", HEALTHY)
def test_healthy_lab_passes_every_family(cts_runs: dict[str, SuiteRun], run_name: str, inventory: str) -> None:
    run = cts_runs[run_name]
    cases = run.cases()
    assert set(cases) == _expected_ids(_inventory(inventory)), run.explain()
    not_passed = {case: (row["verdict"], row.get("diagnosis")) for case, row in cases.items() if row["verdict"] != "passed"}
    assert not not_passed, f"{not_passed}\n{run.explain()}"
    assert run.returncode == 0, run.explain()


@pytest.mark.parametrize("run_name, inventory", HEALTHY)
def test_drains_and_rolling_restart_match_the_lab(cts_runs: dict[str, SuiteRun], run_name: str, inventory: str) -> None:
    """No VM went down in the lab's own record during a drain or a rolling restart; each VM made
    as many live migrations as the case counted moves; its lost pings are the lab's."""
    run, inv = cts_runs[run_name], _inventory(inventory)
    events = run.events()
    cases = [f"test_standby_drain[{n.name}]" for n in inv.nodes] + ["test_rolling_restart"]
    for case in cases:
        row, window = run.cases()[case], run.window(case)
        downs = _within(events, window, kind="vm_down")
        assert not downs, f"{case}: the lab saw VMs stop: {downs}"
        for vm in inv.vms:
            migrations = _within(events, window, kind="migration", vm=vm.name)
            assert len(migrations) == number(row, f"{vm.name}: moves"), f"{case}: {vm.name}: {migrations}"
            pings = _within(events, window, kind="ping_done", target=vm.address)
            assert len(pings) == 1, f"{case}: one ping run of {vm.address} expected, the lab saw {pings}"
            assert abs(number(row, f"{vm.name}: lost pings") - len(pings[0]["lost_seqs"])) <= PACKETS, case
    rolling = run.cases()["test_rolling_restart"]
    for node in inv.nodes:
        assert number(rolling, f"{node.name}: start to rejoin") < inv.expectations.rejoin_timeout


@pytest.mark.parametrize("run_name, inventory", HEALTHY)
def test_maintenance_left_the_vm_down_then_recovered(cts_runs: dict[str, SuiteRun], run_name: str, inventory: str) -> None:
    """The lab's record: the VM went down once (destroyed) and came up once, after the hold."""
    run, inv = cts_runs[run_name], _inventory(inventory)
    case = "test_maintenance_mode"
    row, window = run.cases()[case], run.window(case)
    vm = inv.vms[0].name
    events = run.events()
    downs = _within(events, window, kind="vm_down", vm=vm)
    ups = _within(events, window, kind="vm_up", vm=vm)
    assert len(downs) == 1 and downs[0]["reason"] == "destroyed", downs
    assert ups and ups[0]["t"] - downs[0]["t"] >= inv.expectations.vm_restart_timeout, (downs, ups)
    assert number(row, "left alone in maintenance") >= inv.expectations.vm_restart_timeout
    assert number(row, "recovered after maintenance ended") < inv.expectations.vm_restart_timeout
    assert not _within(events, window, kind="migration"), "nothing may move in maintenance mode"


# ---------------------------------------------------------------- seeded faults


FAULTS = [
    ("standby_stops_vm-pcmk", "test_standby_drain[pm-node2]", "db01 stopped during the drain of pm-node2"),
    ("standby_stops_vm-rgm", "test_standby_drain[an-node01]", "vm0001-dev stopped during the drain of an-node01"),
    # the recovery is seen by whichever look comes first: the cluster's status, or the VM's address answering
    ("maintenance_recovers-pcmk", "test_maintenance_mode",
     r"the cluster recovered web01 in maintenance mode|web01's address \S+ answered again .* in maintenance mode"),
    ("maintenance_recovers-rgm", "test_maintenance_mode",
     r"the cluster recovered guest1 in maintenance mode|guest1's address \S+ answered again .* in maintenance mode"),
    ("rolling_restart_restarts_vm-pcmk", "test_rolling_restart", "web01 stopped during the return to pm-node1"),
    ("rolling_restart_restarts_vm-rgm", "test_rolling_restart", "vm0001-dev stopped during the return to an-node01"),
]


@pytest.mark.parametrize("run_name, case, diagnosis", FAULTS, ids=[f[0] for f in FAULTS])
def test_seeded_fault_fails_with_diagnosis(cts_runs: dict[str, SuiteRun], run_name: str, case: str, diagnosis: str) -> None:
    run = cts_runs[run_name]
    cases = run.cases()
    assert set(cases) == {case}, run.explain()
    row = cases[case]
    assert row["verdict"] == "failed", f"{row['verdict']}: {row.get('diagnosis')}\n{run.explain()}"
    assert re.match(diagnosis, row["diagnosis"]), f"{row['diagnosis']!r}\n{run.explain()}"
    assert run.returncode == 1, f"the guard must have put the lab back (exit 1, not 3)\n{run.explain()}"


def test_scope_requires_the_families() -> None:
    from hacert.model.scope import required_cases

    inv = _inventory("pacemaker3-sim.yaml")
    required = set(required_cases(inv))
    assert {f"test_standby_drain.py::test_standby_drain[{n.name}]" for n in inv.nodes} <= required
    assert {"test_maintenance_mode.py::test_maintenance_mode", "test_rolling_restart.py::test_rolling_restart"} <= required
