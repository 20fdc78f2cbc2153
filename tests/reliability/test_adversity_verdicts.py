"""Two adversities of a harder lab, each against the suites as a user runs them (a subprocess, a simulated
lab with the adversity switched on in its inventory, short timings):

- vm_dies_in_network_case: a VM dies when its host loses a cable (a pulled cable, a switch's power cut);
  the cluster restarts it in time, yet the network case fails, its diagnosis naming the VM, where and
  when it failed (the post-case audit reads the cluster's own record of the case);
- migration_refused: the cluster refuses the live migration (clusvcadm -M on rgmanager, pcs resource
  move on pacemaker): the case fails naming the refusal, the run ends FAIL, not INCOMPLETE, and no case
  blames the lab.

Neighbouring cases on the same labs still pass, and their post-case audit found nothing.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from hacert import suite_runs as shared

from tests.reliability.harness import Finished, SuiteRun

NETWORK = "suites/test_network.py"
MIGRATION = "suites/test_migration.py"
EXPECT = {"fence_timeout": 6, "rejoin_timeout": 8, "services_back_timeout": 15, "soak_seconds": 1}
TIMING = {"boot": 1.0}


@dataclass(frozen=True)
class Lab:
    name: str
    source: str
    adversities: tuple[tuple[str, str], ...]
    failed: dict[str, str]  # case -> regex its diagnosis must match
    passed: tuple[str, ...]


LABS = [
    Lab("rgmanager", "anvil-sim.yaml", (("vm_dies_in_network_case", "vm0002-web"), ("migration_refused", "vm0001-dev")), {
        f"{NETWORK}::test_bond_cable_pull[an-node01-bond1-failover]":
            r"^after the case: vm0002-web failed on an-node01 at \d\d:\d\d:\d\d \(its status check returned 7 "
            r"\(unspecified\)\): the cluster restarted it there$",
        f"{NETWORK}::test_switch_power_cycle[sw2]":
            r"^after the case: vm0002-web failed on an-node01 at \d\d:\d\d:\d\d \(its status check returned 7",
        f"{MIGRATION}::test_live_migration[vm0001-dev-to-an-node02]":
            r"^the cluster refused to live-migrate vm0001-dev from an-node01 to an-node02: 'clusvcadm -M vm:vm0001-dev "
            r"-m an-node02.alteeve.ca' exited 248: Trying to migrate vm:vm0001-dev to an-node02.alteeve.ca\.\.\."
            r"Invalid operation for resource$",
    }, (f"{NETWORK}::test_bond_cable_pull[an-node02-bond1-failover]", f"{MIGRATION}::test_live_migration[vm0003-db-to-an-node01]")),
    Lab("pacemaker", "pacemaker3-sim.yaml", (("vm_dies_in_network_case", "db01"), ("migration_refused", "web01")), {
        f"{NETWORK}::test_bond_cable_pull[pm-node2-hb0-failover]":
            r"^after the case: db01 failed on pm-node2 at \d\d:\d\d:\d\d \(",
        f"{MIGRATION}::test_live_migration[web01-to-pm-node2]":
            r"^the cluster refused to live-migrate web01 from pm-node1 to pm-node2: 'pcs resource move web01 pm-node2' "
            r"exited 1: Error: Unable to move resource 'web01' using a location constraint\.",
    }, (f"{MIGRATION}::test_live_migration[app01-to-pm-node1]",)),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Finished]:
    """One run per lab, side by side."""
    base = tmp_path_factory.mktemp("adversities")
    out: dict[str, Finished] = {}

    def run(lab: Lab) -> None:
        folder = base / lab.name

        def edit(data: dict[str, Any]) -> None:
            data["simulation"]["adversities"] = [{"name": n, "target": t} for n, t in lab.adversities]

        inventory = shared.write_inventory(folder / "inventory", lab.source, timing=TIMING, expectations=EXPECT,
                                           edit=edit, named_by_lab=True)
        suite = SuiteRun(folder / "run", inventory, [*lab.failed, *lab.passed], timeout=240)
        try:
            out[lab.name] = suite.result()
        except AssertionError as exc:  # a stuck run: reported by the tests below
            out[lab.name] = Finished(-1, str(exc), folder / "run", 240.0)

    threads = [threading.Thread(target=run, args=(lab,), name=f"adversity-{lab.name}") for lab in LABS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def _audit_text(result: Finished, row: dict[str, Any]) -> str:
    """The case's 'audit after the case' Allure attachment."""
    folder = result.folder / "allure"
    for path in folder.glob("*-result.json"):
        data = json.loads(path.read_text())
        if data.get("uuid") != row["allure"].get("uuid"):
            continue
        for attachment in data.get("attachments", []):
            if attachment["name"] == "audit after the case":
                return (folder / attachment["source"]).read_text()
    raise AssertionError(f"{row['case']}: no 'audit after the case' attachment")


@pytest.mark.parametrize("setup", LABS, ids=[lab.name for lab in LABS])
def test_the_cluster_s_doing_fails_the_case_that_caused_it(setup: Lab, runs: dict[str, Finished]) -> None:
    result = runs[setup.name]
    rows = result.rows()
    context = f"exit {result.returncode}; verdicts: { {k: v['verdict'] for k, v in rows.items()} }\n{result.tail()}"
    for case, diagnosis in setup.failed.items():
        name = case.split("::")[1]
        assert name in rows, f"{name} did not run: {context}"
        row = rows[name]
        assert row["verdict"] == "failed", f"{name}: {row['verdict']}: {row['diagnosis']}\n{context}"
        assert re.search(diagnosis, row["diagnosis"]), f"{name}: diagnosis was {row['diagnosis']!r}"
    for case in setup.passed:
        name = case.split("::")[1]
        assert rows.get(name, {}).get("verdict") == "passed", f"false verdict of {name}: {rows.get(name)}\n{context}"
        assert "post-case audit" in _audit_text(result, rows[name]) and "nothing found" in _audit_text(result, rows[name])
    summary = result.summary()
    assert summary["overall"]["verdict"] == "FAIL", f"{summary['overall']}\n{context}"
    assert not [r for r in rows.values() if r["verdict"] in ("lab error", "harness error", "inconclusive")], context
    assert result.returncode == 1, f"the guard must have had nothing left to restore (exit 1): {context}"


def test_the_vm_was_back_in_time_but_its_death_is_named(runs: dict[str, Finished]) -> None:
    """The cable pull's case failed though the cluster restarted the VM: the audit's evidence names the
    cluster's own lines, and nothing was left for the guard to restore."""
    result = runs["rgmanager"]
    row = result.rows()["test_bond_cable_pull[an-node01-bond1-failover]"]
    text = _audit_text(result, row)
    assert re.search(r'rgmanager\[\d+\]: status on vm "vm0002-web" returned 7 \(unspecified\)', text), text
    assert row["restored"] == [], row["restored"]
