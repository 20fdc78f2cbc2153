"""The README's quick start as a test: `pytest suites`, the whole certification matrix on the
simulated lab, ends PASS.

Each family's own tests run it alone on a fresh lab. Here every family shares one lab and runs in
the order a user's run takes them, so what one case leaves behind meets the next: the maintenance
case lets the cluster recover vm0001-dev, and rgmanager still counts that restart when the destroy
case of vm0001-dev starts minutes later (the matrix ended FAILED on it until the destroy case read
the restarts the cluster still counts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hacert.model.inventory import load_inventory
from hacert.suite_runs import INVENTORIES, SuiteRun, suite_command

INVENTORY = INVENTORIES / "anvil-sim.yaml"
TIMEOUT = 900.0
"""About 270 s alone on this machine; CI runs it beside the other tests."""

pytestmark = pytest.mark.timeout(TIMEOUT + 60)


def test_the_whole_matrix_passes_on_the_simulated_lab(tmp_path: Path) -> None:
    run = SuiteRun("whole matrix", tmp_path, suite_command(["suites"], INVENTORY, tmp_path), TIMEOUT, one_lab=True)
    run.start()
    code = run.wait_or_fail()
    cases = run.cases()
    bad = {case: (row["verdict"], row.get("diagnosis")) for case, row in cases.items()
           if row["verdict"] not in ("passed", "not applicable")}
    assert not bad and code == 0, f"{bad}\n{run.explain()}"
    overall = run.summary()["overall"]
    assert overall["verdict"] == "PASS" and overall["total"] == len(cases), overall
    inv = load_inventory(INVENTORY)
    destroyed = {f"test_vm_destroy_relocates[{vm.name}]" for vm in inv.vms}
    assert destroyed <= set(cases), sorted(cases)
    # the families met: the maintenance case's recovery of the first VM was still counted by its destroy case
    first = inv.vms[0].name
    row = cases[f"test_vm_destroy_relocates[{first}]"]
    assert row["facts"]["restarts still counted from before the case"].startswith("1 ("), row["facts"]
    assert row["diagnosis"].endswith("on destroy #2"), row["diagnosis"]
