"""The rendered Allure report, opened in a real headless browser (Chromium)."""

from __future__ import annotations

import json

import pytest

from conftest import ExampleLab, all_secrets, chromium_binary, make_example_lab
from conftest import page_text as _page_text
from hacert.verdict.allure import find_allure_cli, single_file_data


def _needs_tools() -> None:
    if find_allure_cli() is None:
        pytest.skip("no Allure CLI: install it with `npm install --prefix .tools allure` (.ci/run does)")
    if chromium_binary() is None:
        pytest.skip("no Chromium: install it with `apt-get install -y chromium` (.ci/run does)")


def _case(lab: ExampleLab, name: str) -> dict:
    return next(c for c in lab.summary["cases"] if c["id"].endswith(name))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The example suite run and rendered twice, as a nightly job would."""
    _needs_tools()
    lab = make_example_lab(tmp_path_factory.mktemp("nightly"))
    history_file = lab.path / "reports" / "allure-history.jsonl"
    lab.run()
    first_render = lab.render()
    first = {"case": _case(lab, "test_vm_restart"), "render": first_render,
             "history_lines": len(history_file.read_text().splitlines()) if history_file.exists() else 0}
    lab.run()
    second_render = lab.render()
    return {"lab": lab, "first": first, "render": second_render, "history_file": history_file}


def page_text(lab: ExampleLab, fragment: str = "", shows: str = "", attempts: int = 3) -> str:
    """The page as Chromium renders it, rendered again (up to `attempts` times) while it does not
    show `shows` yet or says its own data load failed: on a loaded CI machine headless Chromium
    sometimes dumps Allure's page before its scripts filled it (seen once in ~10 runs each way).
    The callers' assertions stay what they were: a report without the text fails every attempt."""
    url = (lab.report / "index.html").as_uri() + (f"#{fragment}" if fragment else "")
    text = _page_text(url)
    for _ in range(attempts - 1):
        if "Failed to fetch" not in text and shows in text:
            break
        text = _page_text(url)
    return text


def test_report_in_chromium_shows_suites_steps_parameters_and_attachments(two_runs: dict) -> None:
    example_lab: ExampleLab = two_runs["lab"]
    done = two_runs["render"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Allure report: {example_lab.report / 'index.html'}" in done.stdout

    overview = page_text(example_lab, shows="test_example.py")
    assert "test_example.py" in overview  # the suite
    for title in ("Hang an-node01 — an-node02 fences it by IPMI", "Destroy vm0001-dev — it is restarted on an-node01",
                  "test_pdu_outlet", "test_switch_power"):
        assert title in overview
    assert "lab example-lab" in overview and "cluster example-cluster" in overview  # environment.properties

    hang = _case(example_lab, "test_hang[an-node01]")["allure"]["report_id"]
    case = page_text(example_lab, hang, shows="Hang an-node01")
    assert "Hang an-node01 — an-node02 fences it by IPMI" in case
    assert "hang an-node01 with echo c > /proc/sysrq-trigger" in case and "wait for an-node02 to fence it" in case  # steps
    assert "time to fence (s) 12.346" in case and "method 'ipmi'" in case  # parameters
    assert "epic example-lab / example-cluster" in case and "feature Testing fencing" in case
    assert "timeline image/svg+xml" in case and "syslog, all nodes by time text/plain" in case  # attachments

    # the categories the report put each case in (one more page load costs seconds: read the widget)
    data = single_file_data(example_lab.report / "index.html", "widgets/categories.json")
    assert data is not None, "the single-file report holds no categories"
    tree = json.loads(data)["nodes"]
    categories = {n["name"]: n["statistic"] for n in tree.values() if n["type"] == "category"}
    assert categories == {"Cluster did not recover as required": {"total": 1, "failed": 1},
                          "Lab device unreachable or misbehaving": {"total": 1, "broken": 1},
                          "Inconclusive": {"total": 1, "skipped": 1}}

    report_files = [p for p in example_lab.report.rglob("*") if p.is_file()]
    assert not [(str(p), s) for p in report_files for s in all_secrets() if s.encode() in p.read_bytes()]


def test_the_report_is_one_file_that_opens_from_disk_with_every_case(two_runs: dict) -> None:
    """As a double-click opens it: file://, no server, no browser flag that lets pages read the disk."""
    example_lab: ExampleLab = two_runs["lab"]
    assert sorted(p.name for p in example_lab.report.iterdir() if p.suffix == ".html") == ["index.html"]
    assert not (example_lab.report / "data").exists() and not (example_lab.report / "widgets").exists()
    titles = [c["title"] for c in example_lab.summary["cases"]]
    assert len(titles) == 4
    overview = page_text(example_lab, shows=titles[0])
    assert [t for t in titles if t not in overview] == []


def test_two_runs_give_a_report_whose_history_shows_both(two_runs: dict) -> None:
    example_lab: ExampleLab = two_runs["lab"]
    first = two_runs["first"]
    assert first["render"].returncode == 0 and first["history_lines"] == 1
    second = _case(example_lab, "test_vm_restart")
    assert second["allure"]["historyId"] == first["case"]["allure"]["historyId"]
    assert second["allure"]["uuid"] != first["case"]["allure"]["uuid"]
    history = page_text(example_lab, f"{second['allure']['report_id']}/history", shows="History 1")
    assert "No history information available" not in history
    assert "History 1" in history  # the first run, listed in the second run's report
    runs = [json.loads(line) for line in two_runs["history_file"].read_text().splitlines()]
    assert len(runs) == 2
    for run in runs:  # Allure 3 keys its history by its own ids; the case is in both runs
        assert [r["status"] for r in run["testResults"].values() if r["fullName"] == "test_example#test_vm_restart"] == ["failed"]
