"""The reporting plugin on a real pytest run of the example suite (a subprocess each)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from conftest import ExampleLab, all_secrets, make_example_lab
from hacert.verdict.summary import CASE_KEYS


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[ExampleLab, subprocess.CompletedProcess[str]]:
    """One run of the example suite, shared by the checks that only read its output."""
    lab = make_example_lab(tmp_path_factory.mktemp("example"))
    return lab, lab.run("--showlocals", "-rA")


def _by_name(lab: ExampleLab) -> dict[str, dict]:
    return {c["id"].split("::")[-1]: c for c in lab.summary["cases"]}


def test_summary_lists_the_failed_case_with_its_diagnosis_and_the_allure_numbers(ran) -> None:
    example_lab, done = ran
    assert done.returncode == 1, done.stdout + done.stderr
    cases = _by_name(example_lab)
    assert {name: c["verdict"] for name, c in cases.items()} == {
        "test_hang[an-node01]": "passed",
        "test_vm_restart": "failed",
        "test_pdu_outlet": "lab error",
        "test_switch_power": "inconclusive",
    }
    failed = cases["test_vm_restart"]
    assert failed["diagnosis"] == "vm0001-dev was not restarted within 15 s: still down after 42 s"
    assert example_lab.summary["overall"]["verdict"] == "FAIL"
    assert cases["test_pdu_outlet"]["diagnosis"].startswith("DeviceUnreachable: pdu2 (127.0.0.1:16100)")
    assert cases["test_switch_power"]["diagnosis"] == "sw2 reported no port state after its reboot"
    assert [x["case"] for x in example_lab.summary["not_run"]] == ["test_example.py::test_switch_power"]

    # every number of the summary is the Allure parameter of the same case, excluded from the history id
    results = {r["uuid"]: r for r in example_lab.results_json()}
    compared = 0
    for case in cases.values():
        result = results[case["allure"]["uuid"]]
        assert result["historyId"] == case["allure"]["historyId"]
        params = {p["name"]: p for p in result.get("parameters", [])}
        for number in case["numbers"]:
            param = params[number["parameter"]]
            assert float(param["value"]) == number["value"]
            assert param["excluded"] is True
            compared += 1
    assert compared == 3
    hang = cases["test_hang[an-node01]"]
    assert set(hang) == set(CASE_KEYS) | {"link"}
    assert hang["numbers"][0] | {} == {"name": "time to fence", "value": 12.346, "unit": "s", "expected": "<= 15 s",
                                       "parameter": "time to fence (s)", "display": "12.346 s"}
    assert hang["facts"] == {"method": "ipmi"}
    assert [s["name"] for s in hang["steps"]] == ["hang an-node01 with echo c > /proc/sysrq-trigger", "wait for an-node02 to fence it"]
    assert hang["title"] == "Hang an-node01 — an-node02 fences it by IPMI" and hang["subject"] == "an-node01"

    md = (example_lab.path / "reports" / "partial" / "summary.md").read_text()
    row = next(line for line in md.splitlines() if "test_vm_restart" in line)
    assert "| No |" in row and "VM down = 42 s (expected <= 15 s)" in row and "still down after 42 s" in row
    assert f"allure-report/index.html#{failed['allure']['report_id']}" in row
    assert "## Sign-off" in md and "| Run by (lab engineer) | | | |" in md and "| Inventory checksum | " in md
    html = (example_lab.path / "reports" / "partial" / "summary.html").read_text()
    assert 'id="overall">FAIL<' in html
    assert not re.search(r"<script|<link|\bsrc=|url\(|https?://", html), "the summary HTML must be self-contained"


def test_labels_and_side_files(ran) -> None:
    example_lab, _ = ran
    results = {r["fullName"].split("#")[-1]: r for r in example_lab.results_json()}
    hang = results["test_hang"]
    labels = {(lab["name"], lab["value"]) for lab in hang["labels"]}
    assert {("epic", "example-lab / example-cluster"), ("feature", "Testing fencing"),
            ("story", "Hang a node: its peer fences it by IPMI"), ("severity", "normal")} <= labels
    assert hang["name"] == "Hang an-node01 — an-node02 fences it by IPMI"
    assert [s["name"] for s in hang["steps"]][:2] == ["hang an-node01 with echo c > /proc/sysrq-trigger", "wait for an-node02 to fence it"]
    assert {"syslog, all nodes by time", "bmc session", "timeline"} <= {a["name"] for a in hang["attachments"]}
    picture = next(a for a in hang["attachments"] if a["name"] == "timeline")
    assert picture["type"] == "image/svg+xml" and picture["source"].endswith(".svg"), picture
    assert (example_lab.results / picture["source"]).read_bytes().startswith(b"<svg ")
    syslog = next(a for a in hang["attachments"] if a["name"].startswith("syslog"))
    lines = (example_lab.results / syslog["source"]).read_text().splitlines()
    assert [line[:15] for line in lines] == ["Dec 13 12:42:39", "Dec 13 12:42:40", "Dec 13 12:42:41"]

    props = dict(line.split("=", 1) for line in (example_lab.results / "environment.properties").read_text().splitlines())
    assert props["lab"] == "example-lab" and props["cluster"] == "example-cluster" and props["manager"] == "rgmanager"
    assert props["nodes"] == "2" and len(props["inventory_checksum"]) == 16 and props["harness_version"]
    assert "git_commit" in props
    executor = json.loads((example_lab.results / "executor.json").read_text())
    assert executor["name"] == "hacert"
    names = [c["name"] for c in json.loads((example_lab.results / "categories.json").read_text())]
    assert {"Cluster did not recover as required", "Lab device unreachable or misbehaving", "Harness error", "Inconclusive"} <= set(names)


def test_no_secret_reaches_any_file_or_the_terminal(ran) -> None:
    example_lab, done = ran
    files = [p for p in (example_lab.path / "reports").rglob("*") if p.is_file()]
    assert len([p for p in files if "attachment" in p.name]) >= 4
    assert (example_lab.path / "reports" / "partial" / "summary.json") in files
    leaks = [(str(p), s) for p in files for s in all_secrets() if s.encode() in p.read_bytes()]
    assert leaks == []
    assert not [s for s in all_secrets() if s in done.stdout + done.stderr]
    # the redaction did happen where the example put a secret (it is not just absent)
    assert "-P [REDACTED]" in done.stdout and "snmpget -c [REDACTED]" in done.stdout
    texts = "".join(p.read_text(errors="replace") for p in files if p.suffix in (".txt", ".json"))
    assert "logged in to the BMC with password [REDACTED]" in texts


def test_measured_numbers_stay_out_of_the_history_id(example_lab: ExampleLab) -> None:
    example_lab.run("-k", "vm_restart")
    first = example_lab.results_json()[0]
    suite = example_lab.path / "test_example.py"
    suite.write_text(suite.read_text().replace('"VM down", 42.0', '"VM down", 43.5'))
    example_lab.run("-k", "vm_restart")
    again = example_lab.results_json()[0]
    assert [p["value"] for p in again["parameters"] if p["name"] == "VM down (s)"] == ["43.5"]
    assert again["historyId"] == first["historyId"] and again["uuid"] != first["uuid"]


def test_under_xdist_the_controller_assembles_the_workers_cases(example_lab: ExampleLab) -> None:
    done = example_lab.run("-n", "2")
    assert "4 cases" not in done.stderr
    summary = example_lab.summary
    assert len(summary["cases"]) == 4, done.stdout + done.stderr
    assert {c["worker"] for c in summary["cases"]} <= {"gw0", "gw1"}
    assert not (example_lab.path / "reports" / ".fragments").exists()
    assert (example_lab.results / "environment.properties").exists()
    files = [p for p in (example_lab.path / "reports").rglob("*") if p.is_file()]
    assert not [(str(p), s) for p in files for s in all_secrets() if s.encode() in p.read_bytes()]


def test_render_without_an_allure_cli_says_how_to_get_it(ran) -> None:
    example_lab, _ = ran
    done = example_lab.render(env={"HACERT_ALLURE": "none"})
    assert done.returncode == 3
    assert "npm install" in done.stderr and "allure" in done.stderr
    assert (example_lab.path / "reports" / "partial" / "summary.html").exists()
    assert list(example_lab.results.glob("*-result.json"))
    assert not example_lab.report.exists()


def test_a_run_that_runs_no_case_leaves_the_last_summary_alone(example_lab: ExampleLab) -> None:
    summary = example_lab.path / "reports" / "partial" / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text('{"kept": true}')
    done = example_lab.run("--collect-only")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(summary.read_text()) == {"kept": True}
    assert not (example_lab.results / "environment.properties").exists()
