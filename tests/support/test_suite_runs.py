"""The shared suite-run helpers, without running a suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tests.support.suite_runs import REPO, junit_outcomes, suite_command, suite_env, write_inventory


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
                        plugins=["fixtures.guard"])
    assert cmd[cmd.index("--basetemp") + 1] == str(tmp_path / "basetemp")
    assert cmd[cmd.index("--summary-dir") + 1] == str(tmp_path / "summary")
    assert cmd[cmd.index("-k") + 1] == "a and b"
    assert cmd[-2:] == ["--soak", "7"]
    assert cmd[cmd.index("fixtures.guard") - 1] == "-p"


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
