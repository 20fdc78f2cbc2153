"""The guard on a lab of plain Python objects: audit, restore, session-start heal, the run stopping
when the lab cannot be restored, and lab faults reported as errors rather than cluster failures."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hacert.drivers.errors import DeviceUnreachable
from hacert.fixtures.guard import Guard, LabNotReady, RestoreFailed
from hacert.model.inventory import load_inventory
from hacert.observe.fence_record import fence_rounds, method_of_agent

from tests.suites_fencing.fake_lab import FakeLab, FakeState
from tests.suites_fencing.harness import ANVIL, REPO

INV = load_inventory(ANVIL)
N1, N2 = INV.nodes[0].name, INV.nodes[1].name


def lab(**broken: object) -> FakeLab:
    state = FakeState.healthy(INV)
    for key, value in broken.items():
        getattr(state, key).update(value)  # type: ignore[arg-type]
    return FakeLab(state)


def test_audit_passes_on_a_healthy_lab_and_lists_every_problem_otherwise() -> None:
    Guard(lab()).audit()
    broken = lab(outlets={("pdu2", 1): "off"}, members={N2: False}, owners={"vm0001-dev": N2}, ssh_down={N1})
    with pytest.raises(LabNotReady) as caught:
        Guard(broken).audit()
    text = str(caught.value)
    assert text.startswith("lab not ready: ")
    for symptom in ("PDU pdu2 outlet 1 (feeds an-node01) is off", f"{N1} does not answer over SSH",
                    f"{N2} is not an online cluster member", f"vm0001-dev runs on {N2}, not its home {N1}"):
        assert symptom in text


def test_the_audit_waits_for_a_service_the_cluster_is_still_starting_and_no_longer() -> None:
    """A run that begins while the cluster restarts a VM (labsim's restarted_before_case: CI once found
    vm0001-dev "starting" at the first case) waits for it, up to the inventory's vm_restart_timeout,
    and says so in the case's facts; one that never settles is a lab not ready, named."""
    settling = lab(states={"vm0001-dev": "starting"})
    reads = {"n": 0}
    status = settling.cluster.status

    def status_then_started(via: str | None = None):  # the cluster finishes the start after three looks
        reads["n"] += 1
        if reads["n"] == 3:
            settling.state.states.pop("vm0001-dev")
        return status(via)

    settling.cluster.status = status_then_started  # type: ignore[method-assign]
    guard = Guard(settling)
    facts: dict[str, object] = {}
    guard.record = type("Record", (), {"fact": lambda self, key, value: facts.__setitem__(key, value)})()
    guard.audit()
    assert reads["n"] >= 3
    assert "vm0001-dev is starting" in str(facts["before the case"]), facts

    quick = INV.model_copy(update={"expectations": INV.expectations.model_copy(update={"vm_restart_timeout": 1.0})})
    stuck = FakeState.healthy(quick)
    stuck.states["vm0001-dev"] = "starting"
    with pytest.raises(LabNotReady) as caught:
        Guard(FakeLab(stuck)).audit()
    assert "vm0001-dev is starting" in str(caught.value)


def test_the_survey_reads_a_nodes_bonds_in_one_command_and_names_a_file_it_cannot_read() -> None:
    healthy = lab()
    Guard(healthy).audit()
    bond_reads = [(node, cmd) for node, cmd in healthy.state.commands if "/proc/net/bonding/" in cmd]
    assert sorted(node for node, _ in bond_reads) == sorted(n.name for n in INV.nodes if n.bonds), bond_reads
    gone = INV.node(N2).bonds[1]
    broken = lab(missing_files={(N2, gone.status_file)}, on_backup={(N2, INV.node(N2).bonds[0].name)})
    with pytest.raises(LabNotReady) as caught:
        Guard(broken).audit()
    text = str(caught.value)
    assert f"{N2} {gone.status_file} cannot be read" in text and "No such file" in text
    assert f"{N2} {INV.node(N2).bonds[0].name} runs on {INV.node(N2).bonds[0].backup.nic}" in text  # the others still judged
    assert not any(gone.status_file in line for line in text.splitlines() if N1 in line)


def test_audit_reports_bad_news_in_syslog_since_the_last_case() -> None:
    fake = lab()
    guard = Guard(fake)
    guard.restore()  # marks every syslog
    fake.state.syslog[N2].append(f"Dec 13 12:42:41 {N2} fenced[2817]: fencing node an-node01.alteeve.ca")
    with pytest.raises(LabNotReady, match="an-node02 logged since the last case: .*fencing node an-node01"):
        guard.audit()


def test_restore_puts_back_what_the_case_changed() -> None:
    fake = lab(outlets={("pdu2", 1): "off"}, owners={"vm0001-dev": N2, "vm0003-db": None}, members={N2: False})
    guard = Guard(fake)
    guard.changed("outlet", "pdu2/1")
    guard.restore()
    assert "outlet on pdu2/1" in fake.state.calls
    assert f"migrate vm0001-dev {N1}" in fake.state.calls
    assert f"enable vm0003-db {N2}" in fake.state.calls
    assert f"start stack {N2}" in fake.state.calls
    assert any("turned PDU pdu2 outlet 1 (an-node01) back on" in a for a in guard.actions)
    guard.audit()


def test_restore_of_a_healthy_lab_touches_nothing() -> None:
    fake = lab()
    guard = Guard(fake)
    guard.restore()
    assert fake.state.calls == [] and guard.actions == []


def test_restore_after_a_clean_audit_leaves_the_bmcs_to_the_next_audit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The restore after a case whose post-case audit was clean logs in to no BMC; a BMC that died
    meanwhile is found by the next case's audit, before its fault; a restore after anything else
    (session start, a failed case) asks every BMC."""
    from tests.suites_fencing.fake_lab import FakeBmc

    asked: list[str] = []
    real = FakeBmc.power_status
    monkeypatch.setattr(FakeBmc, "power_status", lambda self: asked.append(self.name) or real(self))
    fake = lab()
    guard = Guard(fake)
    guard.restore()  # session start: nothing audited yet
    assert sorted(asked) == sorted(n.name for n in INV.nodes)
    asked.clear()
    guard.begin_case()
    guard.judge_after_case()
    assert guard.audited_clean and not asked  # the post-case audit asks no BMC either
    guard.restore()
    assert asked == [] and guard.actions == []

    def dead(self: FakeBmc) -> str:
        raise DeviceUnreachable(self.name, "192.0.2.10:623", "power status", "no answer")

    monkeypatch.setattr(FakeBmc, "power_status", dead)
    with pytest.raises(LabNotReady, match=f"{N1}'s BMC does not answer"):
        guard.audit()
    guard.begin_case()  # a case that ended without a clean audit: the restore asks the BMCs
    with pytest.raises(RestoreFailed, match=f"{N1}'s BMC does not answer"):
        guard.restore()


def test_restore_that_cannot_fix_the_lab_says_what_is_left_and_how_to_fix_it() -> None:
    fake = lab(power={N1: "off"}, stuck_off={N1})
    with pytest.raises(RestoreFailed) as caught:
        Guard(fake).restore()
    text = str(caught.value)
    assert "could not restore lab anvil-sim" in text
    assert f"{N1}'s BMC says power off" in text
    assert 'fix by hand: ipmitool -I lanplus -H 192.0.2.10 -p 623 -U admin -P "$IPMI_PASSWORD" chassis power on' in text
    assert f"powered {N1} on through its BMC" in text


def test_restore_asks_nothing_of_a_node_that_did_not_rejoin() -> None:
    quick = INV.model_copy(update={"expectations": INV.expectations.model_copy(
        update={"rejoin_timeout": 0.5, "services_back_timeout": 0.5})})
    state = FakeState.healthy(quick)
    state.members[N2], state.never_joins = False, {N2}
    state.owners.update({"storage_an02": None, "vm0003-db": N1})
    with pytest.raises(RestoreFailed) as caught:
        Guard(FakeLab(state)).restore()
    assert f"{N2} is not an online cluster member" in str(caught.value)
    assert f"start stack {N2}" in state.calls
    assert not [c for c in state.calls if c.startswith(("enable", "migrate", "relocate"))], state.calls


def test_fence_rounds_from_cman_and_pacemaker_logs() -> None:
    cman = [
        "Dec 13 12:45:48 an-node02 fenced[2817]: fencing node an-node01.alteeve.ca",
        "Dec 13 12:46:08 an-node02 fenced[2817]: fence an-node01.alteeve.ca dev 0.0 agent fence_ipmilan result: error from agent",
        "Dec 13 12:46:08 an-node02 fenced[2817]: fence an-node01.alteeve.ca success",
    ]
    (rnd,) = fence_rounds(INV, {N2: cman})
    assert (rnd.victim, rnd.fencer, rnd.succeeded is not None) == (N1, N2, True)
    assert [(f.agent, f.result) for f in rnd.failures] == [("fence_ipmilan", "error from agent")]
    pending = fence_rounds(INV, {N2: cman[:2]})
    assert pending[0].succeeded is None
    assert [method_of_agent(a) for a in ("fence_ipmilan", "fence_apc_snmp", "fence_scsi", "fence_xvm")] == ["ipmi", "pdu", "scsi", None]


# ---------------------------------------------------------------- inside pytest

SUITE = '''
import pytest
from hacert.drivers.errors import DeviceUnreachable
from hacert.model.inventory import load_inventory
from tests.suites_fencing.fake_lab import FakeLab, FakeState

STATE = FakeState.healthy(load_inventory({anvil!r}))
{setup}

@pytest.fixture(scope="session")
def _fake():
    return FakeLab(STATE)

@pytest.fixture
def lab(_fake):
    return _fake

def test_a_cluster_defect(guard):
    guard.audit()
    assert False, "the cluster did not recover"

def test_a_device_that_stops_answering(guard):
    guard.audit()
    raise DeviceUnreachable("an-node02", "127.0.0.1:22", "run 'clustat -x'", "connection reset by peer")

def test_breaks_the_lab(guard):
    guard.audit()
    STATE.outlets[("pdu2", 1)] = "off"
    guard.changed("outlet", "pdu2/1")
    {breaks}

def test_after(guard):
    guard.audit()
'''


def run_fake(tmp_path: Path, setup: str = "", breaks: str = "pass") -> tuple[int, str, dict[str, str]]:
    suite = tmp_path / "test_fake_suite.py"
    suite.write_text(textwrap.dedent(SUITE.format(anvil=str(ANVIL), setup=setup, breaks=breaks)))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", os.devnull, "--rootdir", str(tmp_path), "-p", "no:cacheprovider",
         "-p", "no:hacert", "-p", "hacert.fixtures.guard", str(suite), "--junitxml", str(tmp_path / "junit.xml"), "-q", "-rA"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    outcomes = {}
    if (tmp_path / "junit.xml").exists():
        for case in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase"):
            kind = next((k for k in ("failure", "error", "skipped") if case.find(k) is not None), "passed")
            outcomes[case.get("name", "")] = kind
    return done.returncode, done.stdout + done.stderr, outcomes


def test_lab_faults_are_errors_cluster_defects_are_failures_and_the_lab_is_healed(tmp_path: Path) -> None:
    code, output, outcomes = run_fake(tmp_path, setup='STATE.outlets[("pdu1", 2)] = "off"  # left by a crashed run')
    # test_breaks_the_lab returns leaving an outlet off: no pass (the post-case audit finds it; only a
    # device is wrong, so a lab error), and the guard still puts it back
    assert outcomes == {"test_a_cluster_defect": "failure", "test_a_device_that_stops_answering": "error",
                        "test_breaks_the_lab": "error", "test_after": "passed"}, output
    assert "LabLeftBroken: after the case: PDU pdu2 outlet 1 (feeds an-node01) is off" in output
    assert "healed lab anvil-sim at session start: turned PDU pdu1 outlet 2 (sw2) back on" in output
    # test_after's audit before its fault reads every outlet: it passed, so the guard turned pdu2/1 back on
    assert code == 1


def test_a_lab_that_cannot_be_restored_stops_the_run_with_exit_code_3(tmp_path: Path) -> None:
    code, output, outcomes = run_fake(tmp_path, breaks=f'STATE.power[{N1!r}] = "off"; STATE.stuck_off.add({N1!r})')
    assert code == 3, output
    assert "hacert could not restore lab anvil-sim; the run stops here" in output
    assert f"{N1}'s BMC says power off" in output and "chassis power on" in output
    assert "test_after" not in outcomes, "a case started on a dirty lab"


def test_ctrl_c_mid_case_still_restores(tmp_path: Path) -> None:
    code, output, _ = run_fake(tmp_path, breaks="raise KeyboardInterrupt")
    assert code == 2, output  # pytest's "interrupted"
    assert "turned PDU pdu2 outlet 1 (an-node01) back on" in output
