"""With the main plugin and a simulated lab: its made-up credentials never reach a report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

CASE = '''
import json

def test_prints_credentials(lab, record):
    ep = lab.endpoints
    node = next(iter(ep["nodes"].values()))
    pdu = next(iter(ep["pdus"].values()))
    values = [node["ssh"]["password"], node["bmc"]["password"], pdu["community_rw"]]
    with open("values.json", "w") as f:
        json.dump(values, f)
    print("ssh password:", values[0], "bmc password:", values[1])
    record.attach_text("endpoints", json.dumps(ep))
    assert False, f"community was {values[2]}"
'''


def test_simulated_lab_credentials_are_redacted_everywhere(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_sim.py").write_text(CASE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(ROOT)
    argv = [sys.executable, "-m", "pytest", "-p", "no:hacert", "-p", "hacert.fixtures.plugin", "-p", "hacert.fixtures.report", "-p", "no:cacheprovider",
            "-p", "no:hypothesispytest", "-q", "-rA", "--rootdir", str(tmp_path), "test_sim.py",
            "--inventory", str(ROOT / "inventories" / "anvil-sim.yaml"), f"--alluredir={tmp_path / 'reports' / 'allure-results'}"]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert (tmp_path / "values.json").exists(), f"the simulated lab did not start:\n{done.stdout[-3000:]}{done.stderr[-2000:]}"
    values = json.loads((tmp_path / "values.json").read_text())
    assert done.returncode == 1 and "community was [REDACTED]" in done.stdout and "ssh password: [REDACTED]" in done.stdout
    assert not [v for v in values if v in done.stdout + done.stderr]
    files = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    assert any(p.name == "summary.json" for p in files)
    assert not [(str(p), v) for p in files for v in values if v.encode() in p.read_bytes()]
