"""Reporting pieces on their own: redaction, syslog merge, timeline, categories, summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hacert.drivers.errors import CommandFailed
from hacert.drivers.redact import Secret
from hacert.verdict import secrets
from hacert.model.inventory import load_inventory
from hacert.fixtures.report import classify, _Case
from hacert.verdict.allure import CATEGORIES, verdict_tag
from hacert.verdict.summary import build_summary, lab_description, render_html, render_markdown
from hacert.observe.syslog_merge import merge_syslog
from hacert.verdict.timeline import draw_timeline
from hacert.verdict.verdicts import CaseVerdict, Verdict
from hacert.drivers.errors import ClusterFailure, Inconclusive

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_registry():
    saved = secrets.registered_secrets()
    secrets.clear_secrets()
    yield
    secrets.clear_secrets()
    for value in saved:
        secrets.register_secret(value)


def test_redact_hides_raw_repr_and_json_forms() -> None:
    tricky = 'pa"ss\\word'
    text = f"raw {tricky} repr {tricky!r} json {json.dumps(tricky)}"
    out = secrets.redact(text, [tricky])
    assert tricky not in out and repr(tricky)[1:-1] not in out and json.dumps(tricky)[1:-1] not in out
    assert out.count(secrets.MASK) == 3
    assert secrets.redact("a b ab", ["ab"]) == "a b ab"  # too short to be a secret: text left alone
    assert secrets.redact("x private-community y", ["private-community", "private"]) == f"x {secrets.MASK} y"


def test_registry_reveals_driver_secrets_and_feeds_redact() -> None:
    secrets.register_secret(Secret("bmc-password-9"))  # str() of a Secret is '***': the real value must be registered
    secrets.register_secret(None)
    secrets.register_secret("")
    assert secrets.registered_secrets() == {"bmc-password-9"}
    assert secrets.redact("-P bmc-password-9") == f"-P {secrets.MASK}"


def test_inventory_and_endpoint_secrets_are_registered(tmp_path: Path) -> None:
    (tmp_path / "community.txt").write_text("file-community-3\n")
    (tmp_path / "lab.yaml").write_text(
        "lab: l\ncluster: {name: c, manager: pacemaker}\nnodes:\n"
        "  - {name: n1, ssh: {host: 127.0.0.1, password_env: T_SSH}, bmc: {host: 127.0.0.1, password_env: T_BMC}, fence: [ipmi]}\n"
        "  - {name: n2, ssh: {host: 127.0.0.1, password_env: T_SSH}, bmc: {host: 127.0.0.1, password_env: T_BMC}, fence: [ipmi]}\n"
        "pdus: [{name: p1, host: 127.0.0.1, community_file: community.txt}]\n"
    )
    env = {"T_SSH": "env-ssh-pw-1", "T_BMC": "env-bmc-pw-2"}
    inv = load_inventory(tmp_path / "lab.yaml", environ=env)
    assert secrets.register_inventory_secrets(inv, env) == 5
    assert secrets.registered_secrets() == {"env-ssh-pw-1", "env-bmc-pw-2", "file-community-3"}
    assert secrets.register_endpoint_secrets({"nodes": {"n1": {"ssh": {"host": "127.0.0.1", "password": "sim-pw-4"}}},
                                              "pdus": {"p": {"community_ro": "sim-ro-5", "port": 161}}}) == 2
    assert {"sim-pw-4", "sim-ro-5"} <= secrets.registered_secrets()
    described = json.dumps(lab_description(inv))
    assert not [s for s in secrets.registered_secrets() if s in described]
    assert "T_SSH" not in described  # not even where the secrets live


def test_scrub_tree_rewrites_only_files_holding_a_secret(tmp_path: Path) -> None:
    (tmp_path / "a-result.json").write_text(json.dumps({"message": "login as root/scrub-me-1 failed"}))
    (tmp_path / "b-attachment.txt").write_text("clean")
    (tmp_path / "c-attachment.png").write_bytes(b"\x89PNG scrub-me-1")
    changed = secrets.scrub_tree(tmp_path, ["scrub-me-1"])
    assert changed == [tmp_path / "a-result.json"]
    assert json.loads((tmp_path / "a-result.json").read_text())["message"] == f"login as root/{secrets.MASK} failed"


def test_scrub_tree_since_reads_only_the_files_written_since(tmp_path: Path) -> None:
    import os

    old, new = tmp_path / "old-result.json", tmp_path / "new-result.json"
    old.write_text("an earlier run's file: scrub-me-2")  # as if its own run had left it so
    new.write_text("this run's file: scrub-me-2")
    os.utime(old, (1_000_000_000, 1_000_000_000))
    assert secrets.scrub_tree(tmp_path, ["scrub-me-2"], since=1_000_000_100) == [new]
    assert "scrub-me-2" in old.read_text() and "scrub-me-2" not in new.read_text()
    assert secrets.scrub_tree(tmp_path, ["scrub-me-2"]) == [old]  # without `since`: every file


def test_a_run_scrubs_what_was_written_since_the_last_completed_scrub(tmp_path: Path) -> None:
    """A run killed before its end left its files unscrubbed: the next run's end scrubs them; files a
    completed scrub already saw are not read again."""
    import os

    from hacert.fixtures import report

    secrets.register_secret("mend-secret-9")
    try:
        killed = tmp_path / "killed-result.json"
        killed.write_text("left by a killed run: mend-secret-9")
        report._scrub_since_last_scrub(tmp_path)  # no completed scrub yet: every file
        assert "mend-secret-9" not in killed.read_text() and (tmp_path / report.SCRUBBED_MARK).exists()
        older = tmp_path / "older-result.json"
        older.write_text("mend-secret-9")
        os.utime(older, (1_000_000_000, 1_000_000_000))
        report._scrub_since_last_scrub(tmp_path)
        assert "mend-secret-9" in older.read_text()  # older than the last scrub: not read again
    finally:
        secrets.clear_secrets()


def test_merge_syslog_orders_by_time_and_is_stable() -> None:
    merged = merge_syslog({
        "an-node02": [
            "Dec 13 12:42:41 an-node02 corosync[2758]:   [QUORUM] Members[1]: 2",
            "Dec 13 12:42:39 an-node02 corosync[2758]:   [TOTEM ] A processor failed, forming new configuration.",
            "Dec 13 12:42:41 an-node02 fenced[2812]: fencing node an-node01.alteeve.ca",
            "    continuation of the fenced line",
        ],
        "an-node01": [
            "Dec 13 12:42:41 an-node01 kernel: SysRq : Trigger a crash",
            "Dec  9 08:00:00 an-node01 kernel: an old line",
        ],
    }, year=2011)
    assert merged.splitlines() == [
        "Dec  9 08:00:00 an-node01 kernel: an old line",
        "Dec 13 12:42:39 an-node02 corosync[2758]:   [TOTEM ] A processor failed, forming new configuration.",
        "Dec 13 12:42:41 an-node02 corosync[2758]:   [QUORUM] Members[1]: 2",
        "Dec 13 12:42:41 an-node02 fenced[2812]: fencing node an-node01.alteeve.ca",
        "    continuation of the fenced line",
        "Dec 13 12:42:41 an-node01 kernel: SysRq : Trigger a crash",
    ]
    across_new_year = merge_syslog({"a": ["Jan  1 00:00:01 a x: new year"], "b": ["Dec 31 23:59:59 b x: old year"]})
    assert across_new_year.splitlines()[0].endswith("old year")
    iso = merge_syslog({"a": ["2026-11-22T02:00:01.500+00:00 a x: later"], "b": ["2026-11-22T03:00:01.250+01:00 b x: earlier"]})
    assert iso.splitlines()[0].endswith("earlier")
    assert merge_syslog({}) == ""


def test_timeline_is_an_svg_drawn_from_events_gaps_and_states() -> None:
    seen: list[str] = []

    def label(text: str) -> str:
        seen.append(text)
        return text.replace("secret", "****")

    svg = draw_timeline(
        [{"t": 100.0, "kind": "fence_done", "node": "an-node01"}, (96.0, "sysrq c & <secret>")],
        [{"start": 96.1, "end": 110.0}],
        {"an-node01 power": [(96.0, "on"), (100.0, "off"), (101.0, "on")], "bond0 active": [(96.0, "eth0")]},
        title="Hang an-node01", t0=96.0, label=label,
    )
    assert {"fence_done an-node01", "Hang an-node01", "an-node01 power", "bond0 active", "off", "eth0"} <= set(seen)
    root = ET.fromstring(svg)  # well-formed, the label's & and < escaped
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "sysrq c & <****>" in texts and "fence_done an-node01" in texts and "ping lost" in texts
    assert "seconds since the fault" in texts and {"0", "4", "10"} <= set(texts)  # the axis, from t0, every 2 s
    lines = [e for e in root.iter("{http://www.w3.org/2000/svg}line") if e.get("stroke") != "#333"]
    assert sorted(float(e.get("x1")) for e in lines) == sorted({float(e.get("x1")) for e in lines}) and len(lines) == 2
    fence, sysrq = sorted(lines, key=lambda e: -float(e.get("x1")))
    assert float(fence.get("x1")) > float(sysrq.get("x1"))  # the fence (+4 s) right of the hang (0 s)
    power = next(e for e in root.iter("{http://www.w3.org/2000/svg}path"))
    assert power.get("d").count("V") == 2, power.get("d")  # on -> off -> on: two steps
    shaded = [e for e in root.iter("{http://www.w3.org/2000/svg}rect") if e.get("fill-opacity") == "0.25"]
    assert shaded and float(shaded[0].get("width")) > 0
    assert ET.fromstring(draw_timeline()).tag == "{http://www.w3.org/2000/svg}svg"


LAB_MESSAGE = verdict_tag("lab error") + " DeviceUnreachable: pdu2 (10.20.2.2:161): outlet status: no answer in 2 s"
FAILED_MESSAGE = verdict_tag("failed") + " vm0001-dev was not restarted within 15 s"


def _category(status: str, message: str, trace: str = "", fullmatch: bool = True) -> str | None:
    """Which category a result falls into; `fullmatch` is Allure 2's (Java) regex semantics, else Allure 3's (JS)."""
    for rule in CATEGORIES:
        if status not in rule["matchedStatuses"]:
            continue
        ok = True
        for key, text in (("messageRegex", message), ("traceRegex", trace)):
            if key in rule:
                match = re.fullmatch if fullmatch else re.search
                ok = ok and match(rule[key], text) is not None
        if ok:
            return rule["name"]
    return None


@pytest.mark.parametrize("fullmatch", [True, False], ids=["allure2-java", "allure3-js"])
def test_categories_follow_the_typed_verdict_not_the_exception_text(fullmatch: bool) -> None:
    assert _category("broken", LAB_MESSAGE, fullmatch=fullmatch) == "Lab device unreachable or misbehaving"
    assert _category("failed", FAILED_MESSAGE, fullmatch=fullmatch) == "Cluster did not recover as required"
    # a refused migration is a cluster failure whatever its text says
    refused = verdict_tag("failed") + " the cluster refused 'clusvcadm -M vm:vm0001-dev' (CommandFailed in the text)"
    assert _category("failed", refused, fullmatch=fullmatch) == "Cluster did not recover as required"
    assert _category("broken", verdict_tag("harness error") + " KeyError: 'an-node03'", fullmatch=fullmatch) == "Harness error"
    # a harness error whose text names a lab error class stays a harness error
    assert _category("broken", verdict_tag("harness error") + " TypeError: DeviceUnreachable()", fullmatch=fullmatch) == "Harness error"
    assert _category("skipped", verdict_tag("inconclusive") + " no port state", fullmatch=fullmatch) == "Inconclusive"
    assert _category("skipped", verdict_tag("not applicable") + " an-node03 hosts no VM", fullmatch=fullmatch) == "Not applicable to this lab's shape"
    assert _category("skipped", "Skipped: destructive case refused", fullmatch=fullmatch) is None


def test_categories_regexes_compile_in_javascript() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (Allure 3 needs it anyway)")
    script = ("const c = JSON.parse(process.argv[1]); const m = process.argv[2];"
              "console.log(c.filter(r => r.messageRegex && new RegExp(r.messageRegex, 'u').test(m)).map(r => r.name).join('|'))")
    done = subprocess.run([node, "-e", script, json.dumps(CATEGORIES), LAB_MESSAGE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Lab device unreachable or misbehaving"


def _case(**kw) -> _Case:
    return _Case(nodeid="t.py::x", title="x", feature="f", procedure="p", subject="s", **kw)


def test_classify_reports_the_typed_verdict_with_the_suites_own_diagnosis() -> None:
    failed = CaseVerdict.of(ClusterFailure("did not fence"))
    assert classify(_case(verdict=failed)) == ("failed", "did not fence")
    assert classify(_case(verdict=failed, diagnosis="fenced by the PDU, not IPMI")) == ("failed", "fenced by the PDU, not IPMI")
    lab = CaseVerdict.of(CommandFailed("n1", "127.0.0.1:22", "run 'true'", 1))
    assert classify(_case(verdict=lab)) == ("lab error", "CommandFailed: n1 (127.0.0.1:22): run 'true': exit code 1")
    assert classify(_case(verdict=CaseVerdict.of(KeyError("x")))) == ("harness error", "KeyError: 'x'")
    assert classify(_case(verdict=CaseVerdict.of(Inconclusive("no port state")))) == ("inconclusive", "no port state")
    assert classify(_case(verdict=CaseVerdict(Verdict.SKIPPED, "destructive case refused"))) == ("skipped", "destructive case refused")
    assert classify(_case(diagnosis="fenced by ipmi in 12 s")) == ("passed", "fenced by ipmi in 12 s")


def test_summary_of_the_simulated_lab_describes_it_and_judges_overall() -> None:
    inv = load_inventory(ROOT / "inventories" / "anvil-sim.yaml")
    lab = lab_description(inv)
    assert [n["name"] for n in lab["nodes"]] == [n.name for n in inv.nodes]
    assert lab["nodes"][0]["fence"] == ["ipmi", "pdu"] and lab["nodes"][0]["power"]
    assert {s["name"] for s in lab["switches"]} == {s.name for s in inv.switches}
    row = {"id": "suites/test_fencing.py::test_hang[an-node01]", "case": "test_fencing.py::test_hang[an-node01]",
           "title": "Hang an-node01 — an-node02 fences it by IPMI", "feature": "Fencing", "procedure": "Testing Fencing",
           "subject": "an-node01", "verdict": "passed", "status": "passed", "diagnosis": "", "steps": [], "facts": {},
           "numbers": [{"name": "time to fence", "value": 12.3, "unit": "s", "expected": "<= 15 s", "parameter": "time to fence (s)",
                        "display": "12.3 s"}], "allure": {"report_id": "abc123"}}
    summary = build_summary([row, row | {"id": "b", "case": "b", "verdict": "skipped", "diagnosis": "no terminal"}],
                            labs=[lab], harness={"version": "0.1.0", "commit": "abc"})
    assert summary["overall"]["verdict"] == "INCOMPLETE" and summary["not_run"][0]["reason"] == "no terminal"
    assert build_summary([row], labs=[lab], harness={})["overall"]["verdict"] == "PASS"
    assert build_summary([row | {"verdict": "failed"}, row | {"verdict": "lab error"}], labs=[lab], harness={})["overall"]["verdict"] == "FAIL"
    md = render_markdown(summary)
    assert "| test_fencing.py::test_hang[an-node01] | Hang an-node01 — an-node02 fences it by IPMI | an-node01 | Yes | time to fence = 12.3 s (expected <= 15 s)" in md
    assert "vm0001-dev" in md and "sw1" in md and "pdu2 outlet 1 (an-node01)" in md
    html = render_html(summary)
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "href=\"allure-report/index.html#abc123\"" in html
