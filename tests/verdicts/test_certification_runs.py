"""What a run is allowed to call itself, shown with real suite runs against the simulated lab:

- a lab whose nodes only IPMI can fence fails its certification, the finding named;
- a one-case rerun is a partial run: it says so, and the last full certification stays as it was;
- with --fold-rerun the rerun is folded into that certification, beside the first result.
"""

from __future__ import annotations

import json
from pathlib import Path

from hacert.model.inventory import load_inventory
from hacert.verdict.summary import build_summary, lab_description, write_summary
from hacert.model.scope import required_cases
from hacert.suite_runs import SuiteRun, suite_command, write_inventory

FAST = {"fence_timeout": 8, "rejoin_timeout": 15, "services_back_timeout": 20}
RERUN = "test_network.py::test_bond_cable_pull[an-node01-bond0-failover]"


def run(folder: Path, inventory: Path, tests: list[str], extra: tuple[str, ...] = ()) -> SuiteRun:
    suite = SuiteRun(folder.name, folder, suite_command(tests, inventory, folder, extra=list(extra)), 240)
    suite.start()
    suite.wait_or_fail()
    return suite


def test_a_lab_only_ipmi_can_fence_fails_with_the_missing_method_named(tmp_path: Path) -> None:
    def only_ipmi(data: dict) -> None:
        for node in data["nodes"]:
            node["fence"] = ["ipmi"]

    inventory = write_inventory(tmp_path, "anvil-sim.yaml", edit=only_ipmi, expectations=FAST)
    done = run(tmp_path / "run", inventory, ["suites/test_fencing.py"], ("-k", "test_pdu_power_cut"))
    cases = done.cases()
    nodes = [n.name for n in load_inventory(inventory).nodes]
    assert sorted(cases) == sorted(f"test_pdu_power_cut[{n}]" for n in nodes), done.explain()
    for node in nodes:
        row = cases[f"test_pdu_power_cut[{node}]"]
        assert row["verdict"] == "failed", done.explain()
        assert f"{node} has no second fence method independent of its power (fence methods: ipmi)" in row["diagnosis"]
    summary = done.summary()
    assert summary["overall"]["verdict"] == "FAIL"
    assert [(f["subject"], f["capability"]) for f in summary["findings"]] == [(n, "independent fence method") for n in nodes]
    assert f"hacert finding: {nodes[0]}: independent fence method missing" in done.output
    assert done.returncode == 1


def test_a_rerun_is_a_partial_run_and_folds_into_the_certification_only_when_asked(tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path, "anvil-sim.yaml", expectations=FAST, lab="anvil-rerun")
    inv = load_inventory(inventory)
    # the last full certification of this lab and inventory: the case about to be rerun had failed
    rows = []
    for key in required_cases(inv):
        failed = key == RERUN
        rows.append({"id": f"suites/{key}", "case": key, "title": key, "feature": key.split("::")[0], "procedure": "",
                     "subject": "", "verdict": "failed" if failed else "passed", "status": "failed" if failed else "passed",
                     "numbers": [], "facts": {}, "diagnosis": "bond0 did not fail over" if failed else "", "steps": [],
                     "attachments": [], "started": 1.0, "duration_s": 1.0, "allure": {}, "worker": "main"})
    summary_dir = tmp_path / "run" / "summary"
    certification = build_summary(rows, labs=[lab_description(inv)], harness={"version": "test", "commit": "test"})
    assert certification["kind"] == "certification" and certification["overall"]["verdict"] == "FAIL"
    write_summary(certification, summary_dir)
    before = {p.name: p.read_bytes() for p in summary_dir.glob("summary.*")}

    first = run(tmp_path / "run", inventory, [f"suites/{RERUN}"])
    assert first.returncode == 0, first.explain()
    assert {p.name: p.read_bytes() for p in summary_dir.glob("summary.*")} == before  # untouched
    partial = json.loads((summary_dir / "partial" / "summary.json").read_text())
    assert partial["kind"] == "partial" and partial["title"].startswith("Partial run on an-cluster-A (anvil-rerun): not a certification")
    assert partial["overall"]["verdict"] == "PASS" and len(partial["missing"]) == len(rows) - 1
    assert "hacert partial run" in first.output and "not a certification" in first.output
    assert "Certification of" not in first.output and "certification summary" not in first.output

    second = run(tmp_path / "run", inventory, [f"suites/{RERUN}"], ("--fold-rerun",))
    assert second.returncode == 0, second.explain()
    folded = json.loads((summary_dir / "summary.json").read_text())
    row = next(r for r in folded["cases"] if r["case"] == RERUN)
    assert row["verdict"] == "failed" and row["diagnosis"] == "bond0 did not fail over"  # the first result stays
    assert row["rerun"]["verdict"] == "passed" and row["rerun"]["numbers"]  # the rerun beside it, measured
    assert folded["overall"]["verdict"] == "PASS" and folded["reruns"][0]["cases"] == [f"suites/{RERUN}"]
    md = (summary_dir / "summary.md").read_text()
    line = next(line for line in md.splitlines() if line.startswith(f"| {RERUN} "))
    assert "| No |" in line and "bond0 did not fail over" in line and line.rstrip().endswith("|") and "Yes (" in line
    assert "Rerun folded in" in md and 'class="rerun"' in (summary_dir / "summary.html").read_text()
    assert "folded into the certification" in second.output


def test_a_rerun_does_not_fold_into_another_inventory(tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path, "anvil-sim.yaml", expectations=FAST, lab="anvil-rerun")
    other = write_inventory(tmp_path / "other", "anvil-sim.yaml", expectations={**FAST, "soak_seconds": 7}, lab="anvil-rerun")
    rows = [{"id": f"suites/{key}", "case": key, "title": key, "feature": "f", "procedure": "", "subject": "", "verdict": "passed",
             "status": "passed", "numbers": [], "facts": {}, "diagnosis": "", "steps": [], "attachments": [], "started": 1.0,
             "duration_s": 1.0, "allure": {}, "worker": "main"} for key in required_cases(load_inventory(other))]
    summary_dir = tmp_path / "run" / "summary"
    write_summary(build_summary(rows, labs=[lab_description(load_inventory(other))], harness={}), summary_dir)
    before = (summary_dir / "summary.json").read_bytes()
    done = run(tmp_path / "run", inventory, [f"suites/{RERUN}"], ("--fold-rerun",))
    assert done.returncode == 0, done.explain()
    assert (summary_dir / "summary.json").read_bytes() == before
    assert "not folded: a rerun folds only into a certification of the same labs and inventories" in done.output
