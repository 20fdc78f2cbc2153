"""The post-case audit on a lab of plain Python objects: it sees everything the restore would act on,
the fences and resource failures the cluster recorded during the case minus what the case caused on
purpose, and its findings fail the case; the restore's actions become the case's evidence.

The audit's reading of the cluster's record (hacert.procedures.aftermath) is also checked on its own, on log
lines as rgmanager, fenced and pacemaker write them and on crm_mon XML from pacemaker 2.1.5."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hacert.drivers.cluster.pacemaker import PacemakerCluster
from hacert.drivers.parsers import parse_crm_mon
from hacert.fixtures.guard import CLUSTER_KINDS, Guard
from hacert.model.inventory import load_inventory
from hacert.procedures.aftermath import Expected, check_expected, cluster_record, expected_from_changes, unexpected

from tests.suites_fencing.fake_lab import FakeLab, FakeState
from tests.suites_fencing.harness import ANVIL, REPO

INV = load_inventory(ANVIL)
N1, N2 = INV.nodes[0].name, INV.nodes[1].name
M1, M2 = INV.nodes[0].member_name, INV.nodes[1].member_name
QUICK = INV.model_copy(update={"expectations": INV.expectations.model_copy(update={
    "rejoin_timeout": 0.4, "services_back_timeout": 0.4, "fence_timeout": 0.1})})
SAMPLES = Path(__file__).parents[1] / "drivers" / "samples"

FENCED = [f"Dec 13 12:45:48 {N2} fenced[2817]: fencing node {M1}",
          f"Dec 13 12:46:08 {N2} fenced[2817]: fence {M1} dev 0.0 agent fence_ipmilan result: error from agent",
          f"Dec 13 12:46:10 {N2} fenced[2817]: fence {M1} success"]
VM_FAILED = [f'Dec 13 12:03:04 {N1} rgmanager[2579]: status on vm "vm0002-web" returned 7 (unspecified)',
             f"Dec 13 12:03:04 {N1} rgmanager[2579]: Stopping service vm:vm0002-web",
             f"Dec 13 12:03:04 {N1} rgmanager[2579]: Service vm:vm0002-web is recovering",
             f"Dec 13 12:03:04 {N1} rgmanager[2579]: Recovering failed service vm:vm0002-web",
             f"Dec 13 12:03:05 {N1} rgmanager[2579]: Service vm:vm0002-web started"]


def case_on(state: FakeState) -> tuple[FakeLab, Guard]:
    """A guard whose case starts now: every syslog marked (as the last restore leaves it)."""
    fake = FakeLab(state)
    guard = Guard(fake)
    guard.mark_syslogs()
    guard.begin_case()
    return fake, guard


# ---------------------------------------------------------------- everything the restore acts on


BROKEN = {
    "outlet off": lambda s: s.outlets.update({("pdu2", 1): "off"}),
    "switch port down": lambda s: s.ports_down.add(("sw1", "2")),
    "node powered off": lambda s: (s.power.update({N2: "off"}), s.ssh_down.add(N2), s.members.update({N2: False})),
    "node silent over SSH": lambda s: s.ssh_down.add(N2),
    "member offline": lambda s: s.members.update({N2: False}),
    "VM away from home": lambda s: s.owners.update({"vm0001-dev": N2}),
    "VM stopped": lambda s: s.owners.update({"vm0003-db": None}),
    "VM failed": lambda s: (s.owners.update({"vm0004-ms": None}), s.states.update({"vm0004-ms": "failed"})),
    "bond on its backup": lambda s: s.on_backup.add((N1, "bond1")),
    "fence not finished": lambda s: s.syslog[N2].extend(FENCED[:2]),
}


@pytest.mark.parametrize("breakage", list(BROKEN), ids=list(BROKEN))
def test_the_audit_finds_whatever_the_restore_would_act_on(breakage: str) -> None:
    state = FakeState.healthy(QUICK)
    fake, guard = case_on(state)
    BROKEN[breakage](state)
    found = guard.after_case().findings
    assert found, f"{breakage}: the post-case audit found nothing"
    # and it is something the restore acts on: its own trigger (its survey, or a fence it must wait for) fires
    assert guard.survey()[0] or guard._pending_fences(), f"{breakage}: the restore would not act"


def test_a_healthy_lab_after_the_case_is_clean_and_the_restore_does_nothing() -> None:
    fake, guard = case_on(FakeState.healthy(INV))
    aftermath = guard.after_case()
    assert aftermath.findings == [] and "nothing found" in aftermath.text()
    guard.restore()
    assert guard.actions == [] and fake.state.calls == []


def test_cluster_findings_blame_the_cluster_device_findings_the_lab() -> None:
    state = FakeState.healthy(INV)
    _, guard = case_on(state)
    state.outlets[("pdu2", 1)] = "off"
    aftermath = guard.after_case()
    assert not aftermath.blames_cluster and aftermath.diagnosis() == "after the case: PDU pdu2 outlet 1 (feeds an-node01) is off"
    state.members[N2] = False
    assert guard.after_case().blames_cluster
    assert {"member", "fence", "failure", "service"} <= CLUSTER_KINDS and "outlet" not in CLUSTER_KINDS


# ---------------------------------------------------------------- the cluster's record of the case


def test_an_unexpected_fence_and_a_vm_failure_are_findings_with_when_and_by_whom() -> None:
    state = FakeState.healthy(INV)
    _, guard = case_on(state)
    state.syslog[N2].extend(FENCED)
    state.syslog[N1].extend(VM_FAILED)
    whats = [f.what for f in guard.after_case().findings]
    # fenced names no method; its IPMI attempt failed, so the victim's next method (the PDU) did it
    assert f"{N1} was fenced by {N2} through the PDU at 12:46:10 after 1 failed attempt(s)" in whats
    assert (f"vm0002-web failed on {N1} at 12:03:04 (its status check returned 7 (unspecified)): "
            "the cluster restarted it there") in whats


def test_what_the_case_caused_on_purpose_is_no_finding() -> None:
    state = FakeState.healthy(INV)
    _, guard = case_on(state)
    guard.changed("hang", N1)  # its fence, and the failures of what it hosted, are the case's
    guard.expect("failure", "vm0003-db")  # as the destroy case declares
    state.syslog[N2].extend(FENCED)
    state.syslog[N1].extend(VM_FAILED)
    state.syslog[N2].append(f'Dec 13 12:04:00 {N2} rgmanager[2580]: status on vm "vm0003-db" returned 7 (unspecified)')
    aftermath = guard.after_case()
    assert aftermath.findings == [], aftermath.text()
    assert len(aftermath.caused) == 3 and "caused by the case on purpose" in aftermath.text()


def test_a_fence_that_never_finished_is_a_finding_even_when_the_case_caused_it() -> None:
    state = FakeState.healthy(INV)
    _, guard = case_on(state)
    guard.changed("hang", N1)
    state.syslog[N2].extend(FENCED[:2])
    (finding,) = [f for f in guard.after_case().findings if f.kind == "fence"]
    assert finding.what == f"fencing of {N1} started by {N2} at 12:45:48 has not succeeded (fence_ipmilan: error from agent)"


def test_a_cut_outlet_brings_the_nodes_it_feeds_down_on_purpose() -> None:
    changes = [type("C", (), {"kind": "outlet", "target": "pdu2/2"})(), type("C", (), {"kind": "port", "target": "sw1/1"})()]
    assert expected_from_changes(INV, changes) == [Expected("down", N2)]
    with pytest.raises(ValueError, match="no service or VM"):
        check_expected(INV, "failure", "an-node01")
    with pytest.raises(ValueError, match="unknown kind"):
        check_expected(INV, "crash", "an-node01")


def test_lines_that_are_not_syslog_are_skipped_one_by_one_and_counted() -> None:
    windows = {N1: ["garbage \x00 line", *VM_FAILED[:1], "another one"]}
    record = cluster_record(INV, windows)
    assert record.skipped_lines == 2
    assert [i.subject for i in record.incidents] == ["vm0002-web"]


def test_pacemaker_failures_are_the_ones_new_since_the_case_started() -> None:
    """crm_mon 2.1.5's own XML (tests/drivers/samples, made from the CIB next to it): a failed
    monitor of vm0001 on node1 with its fail count; a record that already held it counts nothing."""
    inv = load_inventory(REPO / "inventories" / "pacemaker3-sim.yaml")
    xml = (SAMPLES / "crm_mon_xml_failed_monitor_2.1.5.xml").read_text()
    raw = parse_crm_mon(xml)
    (failure,) = raw.failures
    assert (failure.resource, failure.interval_ms, failure.exitstatus, failure.last_rc_change) == \
        ("vm0001", 10000, "not running", "2026-12-07 08:28:35 +09:00")
    # the sample's names are its own: read them as this lab's (node1 -> pm-node1, vm0001 -> web01)
    renamed = parse_crm_mon(xml.replace("node1", "pm-node1").replace("node2", "pm-node2").replace("vm0001", "web01"))
    driver = PacemakerCluster({}, inv)
    after = driver.to_status(renamed, "pm-node1")
    clean = parse_crm_mon(xml.split("<node_history>")[0] + xml.split("</failures>")[1])
    before = driver.to_status(clean, "pm-node1")
    (incident,) = cluster_record(inv, {}, before, after).incidents
    assert incident.what == "web01 failed on pm-node1 at 08:28:35 (its monitor returned 'not running'): the cluster restarted it there"
    assert cluster_record(inv, {}, after, after).incidents == []
    assert cluster_record(inv, {}, None, after).incidents == [], "without the record the case started from, nothing is told apart"


def test_pacemaker_probes_and_cancelled_monitors_are_no_failures() -> None:
    inv = load_inventory(REPO / "inventories" / "pacemaker3-sim.yaml")
    lines = ["Jan 11 14:05:10 pm-node2 pacemaker-controld[1222]:  notice: Result of probe operation for web01 on pm-node2: not running",
             "Jan 11 14:05:11 pm-node1 pacemaker-controld[1222]:  notice: Result of monitor operation for web01 on pm-node1: Cancelled",
             "Jan 11 14:05:12 pm-node1 pacemaker-controld[1222]:  notice: Result of stop operation for web01 on pm-node1: ok",
             "Jan 11 14:05:13 pm-node3 pacemaker-controld[1222]:  notice: Result of monitor operation for app01 on pm-node3: not running"]
    (incident,) = cluster_record(inv, {"pm-node1": lines}).incidents
    assert (incident.subject, incident.node, incident.at) == ("app01", "pm-node3", "14:05:13")
    assert unexpected([incident], [Expected("down", "pm-node3")]) == []
    assert unexpected([incident], [Expected("down", "pm-node1")]) == [incident]


# ---------------------------------------------------------------- inside pytest, with the report

SUITE = '''
import pytest
from hacert.model.inventory import load_inventory
from tests.suites_fencing.fake_lab import FakeLab, FakeState

STATE = FakeState.healthy(load_inventory({anvil!r}))

@pytest.fixture(scope="session")
def _fake():
    return FakeLab(STATE)

@pytest.fixture
def lab(_fake):
    return _fake

@pytest.fixture
def breaks_after_the_audit():
    yield
    STATE.outlets[("pdu2", 2)] = "off"  # after the case's audit, before the guard's restore

def test_a_vm_dies_during_the_case(guard, record):
    guard.audit()
    STATE.syslog["an-node01"].extend({vm_failed!r})

def test_leaves_an_outlet_off(guard, record):
    guard.audit()
    STATE.outlets[("pdu2", 1)] = "off"
    guard.changed("outlet", "pdu2/1")
    assert False, "the cluster did not fence it"

def test_the_lab_breaks_after_a_clean_audit(guard, breaks_after_the_audit, record):
    guard.audit()

def test_healthy(guard, record):
    guard.audit()
'''


def test_findings_fail_the_case_and_the_restore_is_the_case_s_evidence(tmp_path: Path) -> None:
    suite = tmp_path / "test_fake_suite.py"
    suite.write_text(textwrap.dedent(SUITE.format(anvil=str(ANVIL), vm_failed=VM_FAILED)))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", os.devnull, "--rootdir", str(tmp_path), "-p", "no:cacheprovider",
         "-p", "no:hacert", "-p", "hacert.fixtures.guard", "-p", "hacert.fixtures.report", str(suite), "--summary-dir", str(tmp_path / "summary"),
         "--alluredir", str(tmp_path / "allure"), "-q", "-rA"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    output = done.stdout + done.stderr
    summary = json.loads((tmp_path / "summary" / "summary.json").read_text())
    rows = {r["case"].split("::")[-1]: r for r in summary["cases"]}
    assert {k: r["verdict"] for k, r in rows.items()} == {
        "test_a_vm_dies_during_the_case": "failed", "test_leaves_an_outlet_off": "failed",
        "test_the_lab_breaks_after_a_clean_audit": "failed", "test_healthy": "passed"}, output
    died = rows["test_a_vm_dies_during_the_case"]
    assert died["diagnosis"] == (f"after the case: vm0002-web failed on {N1} at 12:03:04 (its status check returned 7 "
                                 "(unspecified)): the cluster restarted it there"), output
    assert "audit after the case" in died["attachments"]
    # a case that failed on its own keeps its verdict and diagnosis; the audit is evidence; the restore is recorded
    left = rows["test_leaves_an_outlet_off"]
    assert left["diagnosis"] == "the cluster did not fence it"
    assert left["facts"]["audit after the case"] == "after the case: PDU pdu2 outlet 1 (feeds an-node01) is off"
    assert left["restored"] == ["turned PDU pdu2 outlet 1 (an-node01) back on"]
    late = rows["test_the_lab_breaks_after_a_clean_audit"]
    assert late["restored"] == ["turned PDU pdu2 outlet 2 (an-node02) back on"]
    assert late["diagnosis"].startswith("after the case, once its audit had found nothing, the guard still had to restore")
    assert rows["test_healthy"]["restored"] == []
    markdown = (tmp_path / "summary" / "summary.md").read_text()
    html = (tmp_path / "summary" / "summary.html").read_text()
    assert "restored after the case: turned PDU pdu2 outlet 1 (an-node01) back on" in markdown
    assert '<div class="restored">restored after the case: turned PDU pdu2 outlet 1 (an-node01) back on</div>' in html
    results = {r["name"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / "allure").glob("*-result.json"))}
    step = next(s for s in results["test_leaves_an_outlet_off"]["steps"] if s["name"] == "restored after the case")
    assert [s["name"] for s in step["steps"]] == ["turned PDU pdu2 outlet 1 (an-node01) back on"]
    assert {p["name"]: p["value"] for p in results["test_leaves_an_outlet_off"]["parameters"]}["restored after the case"] \
        == repr("turned PDU pdu2 outlet 1 (an-node01) back on")  # allure-pytest shows a parameter's repr
    assert not [s for s in results["test_healthy"].get("steps", []) if s["name"] == "restored after the case"]
