"""A 3-node pacemaker lab must work as well as the 2-node rgmanager one.

One case of every procedure runs against inventories/pacemaker3-sim.yaml
(other node, bond, switch and VM names; crm_mon / pcs / stonith_admin instead of
clustat / clusvcadm; one switch whose cables are pulled on the node side), and
each must pass, with its numbers recorded, through the pacemaker driver.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hacert.verdict.summary import latest_summary_path

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "pacemaker3-sim.yaml"
ONE_CASE_OF_EACH = [
    "suites/test_fencing.py::test_hang_and_fence[pm-node2]",
    "suites/test_fencing.py::test_pdu_power_cut[pm-node3]",
    "suites/test_network.py::test_bond_cable_pull[pm-node1-hb0-backup_lost_during_updelay]",
    "suites/test_network.py::test_switch_power_cycle[leaf2]",
    "suites/test_vm_recovery.py::test_vm_destroy_relocates[db01]",
    "suites/test_vm_recovery.py::test_node_crash_recovers_vms[pm-node3]",
    "suites/test_migration.py::test_live_migration[web01-to-pm-node3]",
]


def test_one_case_of_every_procedure_passes_on_a_three_node_pacemaker_lab(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *ONE_CASE_OF_EACH, "--inventory", str(INVENTORY), "-q",
         "-p", "no:cacheprovider", "-o", "addopts=", "--basetemp", str(tmp_path / "basetemp"),
         "--alluredir", str(tmp_path / "allure"), "--summary-dir", str(tmp_path / "summary")],
        cwd=ROOT, capture_output=True, text=True, timeout=400,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    summary = json.loads(latest_summary_path(tmp_path / "summary").read_text())
    verdicts = {case["case"]: case["verdict"] for case in summary["cases"]}
    assert len(verdicts) == len(ONE_CASE_OF_EACH), verdicts
    assert set(verdicts.values()) == {"passed"}, verdicts
    assert summary["labs"][0]["manager"] == "pacemaker"
    numbers = {case["case"]: case["numbers"] for case in summary["cases"]}
    fence_case = next(n for c, n in numbers.items() if "test_hang_and_fence" in c)
    assert fence_case, "the hang-and-fence case recorded no numbers"
