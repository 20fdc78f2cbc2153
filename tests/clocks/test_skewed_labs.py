"""Node clocks seconds off, end to end: the certification cases that read node stamps (syslog
lines of the fencing, ping -D of the floods and of the VM pings) against simulated labs whose
nodes run one 5 s ahead and one 5 s behind the controller; and a clock stepped in the middle of
a case. Every figure is compared with the lab's ground truth (benchmarks.truth)."""

from __future__ import annotations

import re
from typing import Any, Iterator

import pytest

from benchmarks import truth
from hacert.model.inventory import load_inventory
from hacert.suite_runs import SuiteRun, run_pooled, stop_all, suite_command, write_inventory

OFFSETS = {"anvil-sim.yaml": {"an-node01": 5.0, "an-node02": -5.0},
           "pacemaker3-sim.yaml": {"pm-node1": 5.0, "pm-node2": -5.0}}
"""Seconds each node's clock runs ahead of the controller's (negative: behind)."""

CASES = {
    "anvil-sim.yaml": [
        # the survivor that fences and logs it is 5 s ahead; then 5 s behind
        "suites/test_fencing.py::test_hang_and_fence[an-node02]",
        "suites/test_fencing.py::test_pdu_power_cut[an-node01]",
        # floods both ways, judged per pull; then every bond and the bad news of a soak
        "suites/test_network.py::test_bond_cable_pull[an-node01-bond0-backup_lost_during_updelay]",
        "suites/test_network.py::test_switch_power_cycle[sw1]",
        # VMs pinged from the node 5 s behind (crash), 5 s ahead (destroy, migration)
        "suites/test_vm_recovery.py::test_node_crash_recovers_vms[an-node01]",
        "suites/test_vm_recovery.py::test_vm_destroy_relocates[vm0001-dev]",
        "suites/test_migration.py::test_live_migration[vm0003-db-to-an-node01]",
    ],
    # pacemaker's fencer and controller lines, logged by two survivors 10 s apart
    "pacemaker3-sim.yaml": ["suites/test_fencing.py::test_hang_and_fence[pm-node3]"],
}
STEPPED = "suites/test_fencing.py::test_hang_and_fence[an-node02]"
"""Its survivor an-node01's clock jumps 1 s ahead when the fencing starts (device fault clock_step)."""

TIME_ERROR = 0.25
PACKET_ERROR = 1
RUN_TIMEOUT = 300.0


def _skewed(source: str) -> Any:
    def edit(data: dict[str, Any]) -> None:
        data.setdefault("simulation", {})["clock_offsets"] = dict(OFFSETS[source])
    return edit


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SuiteRun]]:
    base = tmp_path_factory.mktemp("skewed-clocks")
    runs: dict[str, SuiteRun] = {}
    for source, cases in CASES.items():
        folder = base / source.removesuffix(".yaml")
        inventory = write_inventory(folder, source, edit=_skewed(source))
        runs[source] = SuiteRun(source, folder, suite_command(cases, inventory, folder, extra=["--junitxml", str(folder / "junit.xml")]),
                                RUN_TIMEOUT, one_lab=True)
    folder = base / "stepped"
    inventory = write_inventory(folder, "anvil-sim.yaml", device_faults=[
        {"name": "clock_step", "target": "an-node01", "when": {"kind": "fence_start"}}])
    runs["stepped"] = SuiteRun("stepped", folder, suite_command([STEPPED], inventory, folder,
                                                                  extra=["--junitxml", str(folder / "junit.xml")]),
                               RUN_TIMEOUT, one_lab=True)
    try:
        run_pooled(list(runs.values()), parallel=3)
        yield runs
    finally:
        stop_all(list(runs.values()))


@pytest.mark.parametrize("source", list(CASES))
def test_nodes_5_s_ahead_and_behind_still_pass_with_true_figures(runs: dict[str, SuiteRun], source: str) -> None:
    run = runs[source]
    cases = run.cases()
    verdicts = {name: row["verdict"] for name, row in cases.items()}
    assert verdicts == {case.split("::")[-1]: "passed" for case in CASES[source]}, run.explain()
    inv = load_inventory(run.folder / source)
    compared = truth.compare_run(list(cases.values()), {inv.lab: inv}, {inv.lab: run.events()}, {})
    judged = [c for c in compared if c.error is not None]
    wrong = [f"{c.case.split('::')[-1]} {c.figure}: measured {c.measured}, truth {c.truth:.3f} ({c.rule})"
             for c in judged if c.error > (PACKET_ERROR if c.kind == "packets" else TIME_ERROR)]
    assert not wrong, "\n".join(wrong)
    # every procedure that reads node stamps had figures to compare
    per_case = {c.case.split("::")[-1] for c in judged}
    assert per_case == set(verdicts), f"no figure compared with the truth for {set(verdicts) - per_case}"
    # the report says which clocks it corrected by: each case, and the lab section of the summary
    for name, row in cases.items():
        fact = row["facts"]["node clocks"]
        assert all(f"{node} {'+' if offset > 0 else '-'}" in fact for node, offset in OFFSETS[source].items()), (name, fact)
        assert {r["phase"] for r in row["clocks"]} >= {"after the case"}, row["clocks"]
        for r in row["clocks"]:
            # true within the reading's own uncertainty (half its tightest round trip; wider on a loaded machine)
            assert r["offset"] == pytest.approx(OFFSETS[source].get(r["node"], 0.0), abs=max(0.01, r["uncertainty"])), (name, r)
    clocks = run.summary()["labs"][0]["clocks"]
    for node, offset in OFFSETS[source].items():
        assert clocks[node]["first"] == pytest.approx(offset, abs=0.01), clocks
        assert clocks[node]["uncertainty_max"] < 0.05 and clocks[node]["drift_max"] < 0.01, clocks
        assert clocks[node]["readings"] == 2 * len(CASES[source])


def test_a_clock_stepped_during_a_case_is_a_lab_error_naming_the_node(runs: dict[str, SuiteRun]) -> None:
    run = runs["stepped"]
    (row,) = run.cases().values()
    assert row["verdict"] == "lab error", run.explain()
    diagnosis = row["diagnosis"]
    assert re.match(r"ClockDrifted: clock of an-node01 \(ssh\): keep a steady clock through the case: its offset moved "
                    r"by \+(0\.9[5-9]\d|1\.0[0-4]\d) s during the case", diagnosis), diagnosis
    assert "expectations.clock_drift_max" in diagnosis and "(the case itself saw: an-node02 fenced by IPMI" in diagnosis
    assert run.summary()["overall"]["verdict"] == "INCOMPLETE"
    assert any(e["kind"] == "device_fault" and e["fault"] == "clock_step" for e in run.events())
