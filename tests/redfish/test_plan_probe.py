"""`--plan --probe` on the Redfish lab: the Redfish BMC is checked read-only (a GET of its system's
PowerState), next to the IPMI one, and the plan names its protocol."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.redfish.conftest import REDFISH_SIM, REPO, redfish_node


def test_plan_probe_reads_the_redfish_bmc(tmp_path: Path) -> None:
    node = redfish_node()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/test_fencing.py", "--inventory", str(REDFISH_SIM), "--plan", "--probe",
         "-q", "-k", f"hang and {node}", "-p", "no:cacheprovider", "-o", "addopts=", "--basetemp", str(tmp_path / "bt")],
        cwd=REPO, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert f"BMC of {node} over Redfish" in run.stdout, run.stdout[-4000:]
    table = run.stdout.split("hacert readiness (read-only probes):", 1)[1]
    rows = [line for line in table.splitlines() if f"BMC {node}" in line]
    assert len(rows) == 1 and "power status (Redfish GET, read-only)" in rows[0] and " ok: power on" in rows[0], table
    assert "hacert: lab ready" in table
