"""The README's quick start as a test: `pytest suites` on the simulated lab ends PASS.

Each family's own tests run it alone on a fresh lab. Here the families share one lab and run in the
order a user's run takes them, so what one case leaves behind meets the next: the maintenance case
lets the cluster recover the first VM, and rgmanager still counts that restart when the destroy case
of that VM starts minutes later (the matrix ended FAILED on it until the destroy case read the
restarts the cluster still counts).

CI runs the families that meet there (maintenance, then the VM cases, about a minute); the whole
matrix (about 270 s alone, 6-8 min beside CI's other tests) runs with HACERT_WHOLE_MATRIX=1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hacert.model.inventory import load_inventory
from hacert.suite_runs import INVENTORIES, SuiteRun, suite_command

INVENTORY = INVENTORIES / "anvil-sim.yaml"
TIMEOUT = 900.0
WHOLE = os.environ.get("HACERT_WHOLE_MATRIX") == "1"
MEETING = "test_maintenance_mode or test_vm_destroy_relocates"
"""The families whose cases meet in a user's run: the maintenance case's restart, the destroy case's threshold."""

pytestmark = pytest.mark.timeout(TIMEOUT + 60)


@pytest.mark.parametrize("select", [MEETING, None], ids=["families-that-meet", "whole-matrix"])
def test_the_matrix_passes_on_one_shared_simulated_lab(tmp_path: Path, select: str | None) -> None:
    if select is None and not WHOLE:
        pytest.skip("the whole matrix takes 6-8 min beside CI's other tests: HACERT_WHOLE_MATRIX=1 runs it")
    run = SuiteRun("matrix", tmp_path, suite_command(["suites"], INVENTORY, tmp_path, select=select), TIMEOUT, one_lab=True)
    run.start()
    code = run.wait_or_fail()
    cases = run.cases()
    bad = {case: (row["verdict"], row.get("diagnosis")) for case, row in cases.items()
           if row["verdict"] not in ("passed", "not applicable")}
    assert not bad and code == 0, f"{bad}\n{run.explain()}"
    summary = run.summary()
    assert summary["overall"]["total"] == len(cases), summary["overall"]
    if select is None:
        assert summary["overall"]["verdict"] == "PASS", summary["overall"]
    inv = load_inventory(INVENTORY)
    destroyed = {f"test_vm_destroy_relocates[{vm.name}]" for vm in inv.vms}
    assert destroyed | {"test_maintenance_mode"} <= set(cases), sorted(cases)
    # the families met: the maintenance case's recovery of the first VM was still counted by its destroy case
    row = cases[f"test_vm_destroy_relocates[{inv.vms[0].name}]"]
    assert row["facts"]["restarts still counted from before the case"].startswith("1 ("), row["facts"]
    assert row["diagnosis"].endswith("on destroy #2"), row["diagnosis"]
