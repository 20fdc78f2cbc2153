"""The CTS-like families (daemon kills, split brain, quorum loss) against the simulated labs, run as a
user runs them: every case passes on the healthy 2-node rgmanager, 3-node rgmanager and 3-node
pacemaker labs (quorum loss is not applicable on two nodes), and each seeded fault fails exactly
the case that must catch it, with the diagnosis naming the symptom; the guard leaves the lab restored."""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.suites_fencing.harness import ANVIL, THREE_NODE, Pending, SuiteRun, write_inventory
from hacert.suite_runs import REPO

PACEMAKER3 = REPO / "inventories" / "pacemaker3-sim.yaml"
SUITES = [REPO / "suites" / f"test_{name}.py" for name in ("daemon_kill", "split_brain", "quorum_loss")]
EXPECT = {"fence_timeout": 6, "rejoin_timeout": 10, "services_back_timeout": 15, "vm_restart_timeout": 5, "failover_timeout": 2}
TIMING = {"boot": 0.8, "token_timeout": 0.6, "cluster_start": 0.3, "vm_boot": 0.3}
LANES = 2


@dataclass(frozen=True)
class Fault:
    name: str
    target: str | None
    base: Path
    select: str
    case: str
    diagnosis: str


FAULTS = [
    Fault("corosync_kill_survived", "pm-node2", PACEMAKER3, "test_daemon_kill and pm-node2-corosync",
          "test_daemon_kill[pm-node2-corosync]",
          r"corosync killed on pm-node2: no fence within 6 s; .*corosync runs there again \(pid \d+\): the node survived its death"),
    Fault("daemon_not_restarted", "pm-node2", PACEMAKER3, "test_daemon_kill and pm-node2-pacemakerd",
          "test_daemon_kill[pm-node2-pacemakerd]",
          r"pacemakerd killed on pm-node2 \(pid \d+\) was not restarted within 6 s: no process of that name runs"),
    Fault("fence_delay_ignored", None, ANVIL, "test_split_brain and an-node02", "test_split_brain[an-node02]",
          r"a dual fence \(shoot-out\) after every heartbeat path of an-node02 was cut: an-node02 was fenced by an-node01 "
          r"\(IPMI: .*\), and an-node01 rebooted too"),
    Fault("quorum_ignored", None, THREE_NODE, "test_quorum_loss", "test_quorum_loss[et-virt05]",
          r"quorum lost \(\+[\d.]+ s after et-virt06 stopped\), but services kept running for [\d.]+ s without it"),
]
HEALTHY = {"anvil-sim": ANVIL, "three-node-sim": THREE_NODE, "pacemaker3-sim": PACEMAKER3}


def _start(folder: Path, base: Path, faults: list[dict[str, Any]], select: str | None) -> Pending:
    inventory = write_inventory(folder / "inventory", base, faults=faults, timing=TIMING, expectations=EXPECT)
    return Pending(folder, inventory, SUITES, select, timeout=600)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SuiteRun]:
    root = tmp_path_factory.mktemp("cts")
    queue: list[tuple[str, Path, list[dict[str, Any]], str | None]] = [
        (name, base, [], None) for name, base in HEALTHY.items()]
    queue += [(f.name, f.base, [{"name": f.name, **({"target": f.target} if f.target else {})}], f.select) for f in FAULTS]
    out: dict[str, SuiteRun] = {}
    running: dict[str, Pending] = {}
    while queue or running:
        while queue and len(running) < LANES:
            name, base, faults, select = queue.pop(0)
            running[name] = _start(root / name, base, faults, select)
        for name, pending in list(running.items()):
            if pending.finished:
                out[name] = pending.result()
                del running[name]
        time.sleep(0.2)
    return out


@pytest.mark.parametrize("lab", list(HEALTHY))
def test_every_family_passes_on_the_healthy_lab(lab: str, runs: dict[str, SuiteRun]) -> None:
    run = runs[lab]
    outcomes = run.outcomes()
    assert outcomes, run.output[-3000:]
    bad = {case: o for case, o in outcomes.items() if o[0] not in ("passed", "skipped")}
    assert not bad, f"{lab}: {bad}\n{run.output[-3000:]}"
    rows = {row["case"].rsplit("::", 1)[-1]: row for row in run.summary["cases"]}
    for case, row in rows.items():  # the figures per family, as the summary holds them
        print(f"{lab} {case}: {row['verdict']}; " + ", ".join(f"{n['name']} {n['value']:.1f} s" for n in row["numbers"])
              + (f"; fenced {row['facts']['fenced']}" if (row.get("facts") or {}).get("fenced") else ""), file=sys.stderr)
    for case, row in rows.items():
        if case.startswith("test_quorum_loss") and lab == "anvil-sim":
            assert row["verdict"] == "not applicable", row  # two_node: no quorum point
            continue
        assert row["verdict"] == "passed", (case, row)
        names = {n["name"] for n in row["numbers"]}
        if case.startswith("test_split_brain"):
            assert {"cut to detection", "cut to fence", "cut to rejoin", "cut to services back"} <= names, (case, names)
        elif case.startswith("test_daemon_kill"):
            assert names & {"kill to fence", "kill to restart"}, (case, names)
        else:
            assert {"last stop to quorum lost", "quorum lost to services stopped", "start to quorum back"} <= names, names
    if lab == "anvil-sim":  # the favoured node (fence delay) survives whichever side was cut
        for case in ("test_split_brain[an-node01]", "test_split_brain[an-node02]"):
            fenced = (rows[case].get("facts") or {}).get("fenced", "")
            assert fenced.startswith("an-node02 by an-node01"), (case, fenced)
    assert run.returncode == 0, run.output[-3000:]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_seeded_fault_fails_its_case_with_the_diagnosis(fault: Fault, runs: dict[str, SuiteRun]) -> None:
    run = runs[fault.name]
    outcomes = run.outcomes()
    assert list(outcomes) == [fault.case], f"{outcomes}\n{run.output[-3000:]}"
    outcome, message = outcomes[fault.case]
    assert outcome == "failed", f"{fault.name}: {outcome}\n{message}\n{run.output[-3000:]}"
    assert re.search(fault.diagnosis, message), f"diagnosis of {fault.name} not as expected:\n{message}"
    assert run.row(fault.case)["verdict"] == "failed"
    assert run.returncode == 1 and "could not restore" not in run.output, run.output[-3000:]
