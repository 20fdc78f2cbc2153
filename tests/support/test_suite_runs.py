"""The shared suite-run helpers, without running a suite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.canned import bond_status
from hacert.suite_runs import REPO, SuiteRun, junit_outcomes, suite_command, suite_env, write_inventory


def test_write_inventory_seeds_faults_and_merges_expectations(tmp_path: Path) -> None:
    fault = {"name": "no_relocate", "target": "vm0002-web"}
    path = write_inventory(tmp_path, "anvil-sim.yaml", faults=[fault], expectations={"restart_expire_time": 0.5})
    data = yaml.safe_load(path.read_text())
    source = yaml.safe_load((REPO / "inventories" / "anvil-sim.yaml").read_text())
    assert path == tmp_path / "anvil-sim.yaml"
    assert data["simulation"]["faults"] == [fault]
    assert data["expectations"] == {**(source.get("expectations") or {}), "restart_expire_time": 0.5}
    assert data["nodes"] == source["nodes"]


def test_write_inventory_renames_the_lab(tmp_path: Path) -> None:
    path = write_inventory(tmp_path, "anvil-sim.yaml", lab="renamed-lab")
    assert path.name == "renamed-lab.yaml"
    assert yaml.safe_load(path.read_text())["lab"] == "renamed-lab"


def test_command_writes_into_the_run_folder(tmp_path: Path) -> None:
    cmd = suite_command(["suites/x.py"], tmp_path / "inv.yaml", tmp_path, select="a and b", extra=("--soak", "7"),
                        plugins=["hacert.fixtures.guard"])
    assert cmd[cmd.index("--basetemp") + 1] == str(tmp_path / "basetemp")
    assert cmd[cmd.index("--summary-dir") + 1] == str(tmp_path / "summary")
    assert cmd[cmd.index("-k") + 1] == "a and b"
    assert cmd[-2:] == ["--soak", "7"]
    assert cmd[cmd.index("hacert.fixtures.guard") - 1] == "-p"


def test_env_scrubs_and_marks_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HACERT_INVENTORY", "/nowhere.yaml")
    env = suite_env(extra={"HACERT_CASE_LOG": "/tmp/x"})
    assert "HACERT_INVENTORY" not in env and env["CI"] == "1" and env["HACERT_CASE_LOG"] == "/tmp/x"
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(REPO)


def test_junit_outcomes_keep_the_worst_per_case(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(
        '<testsuites><testsuite>'
        '<testcase name="test_a[x]"/>'
        '<testcase name="test_a[x]"><error message="teardown broke">trace</error></testcase>'
        '<testcase name="test_b"><failure message="1 != 2">assert</failure></testcase>'
        '<testcase name="test_c"><skipped message="no ipmitool"/></testcase>'
        '</testsuite></testsuites>')
    out = junit_outcomes(path)
    assert out["test_a[x]"] == ("error", "teardown broke\ntrace")
    assert out["test_b"][0] == "failed" and out["test_c"][0] == "skipped"
    assert junit_outcomes(tmp_path / "missing.xml") == {}


def test_write_inventory_edits_last_and_can_be_named_by_its_lab(tmp_path: Path) -> None:
    def rename(data: dict) -> None:
        data["lab"] = "edited-lab"

    path = write_inventory(tmp_path, "anvil-sim.yaml", faults=[], edit=rename, named_by_lab=True)
    assert path == tmp_path / "edited-lab.yaml"
    assert yaml.safe_load(path.read_text())["lab"] == "edited-lab"
    assert write_inventory(tmp_path / "b", "anvil-sim.yaml", edit=rename).name == "anvil-sim.yaml"


def test_bond_status_fills_the_template() -> None:
    text = bond_status("eth0", "eth3", "eth3", primary_mii="down")
    assert "Currently Active Slave: eth3" in text
    assert "Slave Interface: eth0\nMII Status: down" in text and "Slave Interface: eth3\nMII Status: up" in text


def test_wait_or_fail_returns_the_exit_code_or_fails_a_late_run(tmp_path: Path) -> None:
    done = SuiteRun("quick", tmp_path / "quick", [sys.executable, "-c", "print('hi'); raise SystemExit(3)"], 30.0)
    done.start()
    assert done.wait_or_fail() == 3 and done.output == "hi\n"
    late = SuiteRun("late", tmp_path / "late", [sys.executable, "-c", "import time; time.sleep(30)"], 0.3)
    late.start()
    with pytest.raises(AssertionError, match="did not end within 0.3 s"):
        late.wait_or_fail(at_least=0.1)
    assert late.process is not None and late.process.poll() is not None
