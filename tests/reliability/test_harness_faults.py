"""Harness faults: a lab device misbehaves (labsim/device_faults.py) before or during a case; the case
must end within its deadline as a LAB ERROR (never a failure of the cluster, never a hang) whose
diagnosis names the device.

Each lane is one `pytest suites/...` run against a simulated lab the test started itself
(tests/reliability/attach.py points the run at it and injects each scenario's fault when its case's
call phase starts — either right away, i.e. after the session-start heal and before the case's audit,
or armed on the lab event that marks the moment mid-case). Transient faults are cleared when the call
phase ends, so the guard can restore the lab and the lane's next case runs on a healthy lab. The
persistent lane shows the other outcome: a device that stays dead makes the restore fail, the run stops
with the guard's own exit code and the leftovers, and the next case never starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

import pytest

from hacert.labsim.runner import RunningLab, start_lab

from tests.reliability.harness import ANVIL, Finished, SuiteRun, events

FENCING = "suites/test_fencing.py"
NETWORK = "suites/test_network.py"
VM = "suites/test_vm_recovery.py"


@dataclass(frozen=True)
class Scenario:
    key: str
    what: str  # the harness fault in words
    lane: str
    suite: str
    case: str
    fault: str
    target: str | None
    device: str  # regex: the diagnosis must name the device
    deadline: float  # seconds the case's call phase may take
    when: dict[str, Any] | None = None  # None: before the case's audit

    @property
    def nodeid(self) -> str:
        return f"{self.suite}::{self.case}"


SCENARIOS = [
    Scenario("bmc-dead-before", "dead BMC before the case (audit)", "A", FENCING, "test_hang_and_fence[an-node01]",
             "bmc_dark", "an-node01", r"an-node01's BMC does not answer", 30),
    Scenario("ssh-hang-mid-fence", "survivor's SSH hangs after accept, mid-fence", "A", FENCING,
             "test_hang_and_fence[an-node02]", "ssh_hang_after_accept", "an-node01", r"an-node01", 40,
             when={"kind": "node_state", "node": "an-node02", "state": "hung"}),
    Scenario("syslog-unreadable-before", "survivor's syslog unreadable (audit)", "A", FENCING,
             "test_pdu_power_cut[an-node01]", "syslog_unreadable", "an-node02", r"an-node02.*(syslog|/var/log/messages)", 20),
    Scenario("pdu-silent-mid-cut", "PDU stops answering after the outlet cut", "A", FENCING,
             "test_pdu_power_cut[an-node02]", "pdu_silent", "pdu2", r"pdu2", 45,
             when={"kind": "outlet", "pdu": "pdu2", "outlet": 2, "on": False}),
    Scenario("bmc-dark-mid-withdraw", "BMC goes dark while its node is withdrawn", "A", VM,
             "test_node_withdraw_rejoin[an-node02]", "bmc_dark", "an-node02", r"an-node02", 60,
             when={"kind": "service_state", "service": "service:storage_an02", "state": "stopped"}),
    Scenario("ssh-dropped-mid-destroy", "SSH to every node dropped after the VM was destroyed", "A", VM,
             "test_vm_destroy_relocates[vm0001-dev]", "ssh_drop", None, r"an-node0[12]", 40,
             when={"kind": "vm_down", "vm": "vm0001-dev", "reason": "destroyed"}),
    Scenario("switch-ignores-shutdown", "switch answers the port shutdown but keeps the port up", "B", NETWORK,
             "test_bond_cable_pull[an-node01-bond0-failover]", "switch_ignores_shutdown", "sw1", r"sw1", 30),
    Scenario("switch-silent-mid-pull", "switch SNMP agent goes silent after the port went down", "B", NETWORK,
             "test_bond_cable_pull[an-node02-bond0-failover]", "switch_silent", "sw1", r"sw1", 40,
             when={"kind": "port", "switch": "sw1", "port": "4", "admin_up": False}),
    Scenario("pdu-silent-before", "PDU feeding the switch silent (audit)", "B", NETWORK,
             "test_switch_power_cycle[sw1]", "pdu_silent", "pdu1", r"pdu1", 30),
    Scenario("syslog-unreadable-mid-fence", "survivor's syslog becomes unreadable after the hang", "B", FENCING,
             "test_hang_and_fence[an-node01]", "syslog_unreadable", "an-node02",
             r"an-node02.*(syslog|/var/log/messages)", 40,
             when={"kind": "node_state", "node": "an-node01", "state": "hung"}),
    Scenario("ssh-hang-before", "node's SSH hangs after accept (audit)", "B", NETWORK,
             "test_bond_cable_pull[an-node02-bond2-failover]", "ssh_hang_after_accept", "an-node02", r"an-node02", 40),
    # a starved instrument: the peer's syslog cannot be read after the pull, so "no fence, no membership
    # change logged" was not seen (this case used to pass on the unread syslog)
    Scenario("syslog-unreadable-mid-pull", "peer's syslog becomes unreadable after the cable pull", "B", NETWORK,
             "test_bond_cable_pull[an-node01-bond1-failover]", "syslog_unreadable", "an-node02",
             r"an-node02.*syslog saw nothing.*Permission denied", 40,
             when={"kind": "port", "switch": "sw1", "port": "2", "admin_up": False}),
]

PERSISTENT = Scenario("bmc-dead-stays", "BMC dead for good: restore fails, the run stops", "C", FENCING,
                      "test_hang_and_fence[an-node02]", "bmc_dark", "an-node02", r"an-node02's BMC does not answer", 30)
PERSISTENT_NEXT = f"{FENCING}::test_pdu_power_cut[an-node01]"
RESTORE_FAILED_EXIT = 3


@dataclass
class Lane:
    lab: RunningLab
    run: SuiteRun
    result: Finished | None = None


def _plan(scenarios: list[Scenario], clear: str = "teardown") -> list[dict[str, Any]]:
    return [{"case": s.case, "fault": s.fault, "target": s.target, "when": s.when, "clear": clear} for s in scenarios]


@pytest.fixture(scope="module")
def lanes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Lane]]:
    """Three runs side by side, each against its own simulated lab."""
    out: dict[str, Lane] = {}
    base = tmp_path_factory.mktemp("harness-faults")
    groups = {lane: [s for s in SCENARIOS if s.lane == lane] for lane in ("A", "B")}
    try:
        for name, scenarios in groups.items():
            lab = start_lab(ANVIL, base / f"lab-{name}", timeout=60)
            run = SuiteRun(base / f"run-{name}", ANVIL, [s.nodeid for s in scenarios],
                           endpoints=lab.workdir / "endpoints.json", fault_plan=_plan(scenarios), timeout=420)
            out[name] = Lane(lab, run)
        lab = start_lab(ANVIL, base / "lab-C", timeout=60)
        run = SuiteRun(base / "run-C", ANVIL, [PERSISTENT.nodeid, PERSISTENT_NEXT],
                       endpoints=lab.workdir / "endpoints.json", fault_plan=_plan([PERSISTENT], clear="never"), timeout=300)
        out["C"] = Lane(lab, run)
        for lane in out.values():
            lane.result = lane.run.result()
        yield out
    finally:
        for lane in out.values():
            if lane.run.running():
                lane.run.process.kill()
            lane.lab.stop()


def _measure(lane: Lane, scenario: Scenario) -> dict[str, Any]:
    """Verdict, diagnosis and times of one scenario's case."""
    result = lane.result
    assert result is not None
    row = result.rows().get(scenario.case)
    call = result.phase(scenario.case, "call")
    outcome = result.junit().get(scenario.case, ("not run", ""))
    fault_on = [e["t"] for e in events(lane.lab.event_log)
                if e["kind"] == "device_fault" and e["fault"] == scenario.fault and e["active"]
                and (call is None or call["start"] - 1 <= e["t"] <= call["stop"] + 0.5)]
    return {
        "verdict": row["verdict"] if row else "no summary row",
        "diagnosis": row["diagnosis"] if row else (call or {}).get("message", ""),
        "junit": outcome[0],
        "call_s": call["duration"] if call else None,
        "fault_to_end_s": (call["stop"] - fault_on[0]) if call and fault_on else None,
        "fault_seen": bool(fault_on),
    }


RESULTS: dict[str, dict[str, Any]] = {}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.key for s in SCENARIOS])
def test_device_fault_is_a_lab_error(scenario: Scenario, lanes: dict[str, Lane]) -> None:
    lane = lanes[scenario.lane]
    measured = _measure(lane, scenario)
    RESULTS[scenario.key] = measured
    context = f"{scenario.what}: {measured}\n--- run output (end) ---\n{lane.result.tail(2500)}"  # type: ignore[union-attr]
    assert measured["fault_seen"], f"the fault never became active during the case: {context}"
    assert measured["verdict"] == "lab error", context
    assert measured["junit"] == "error", context
    assert re.search(scenario.device, measured["diagnosis"]), f"diagnosis does not name the device: {context}"
    assert measured["call_s"] is not None and measured["call_s"] <= scenario.deadline, \
        f"the case took {measured['call_s']} s, deadline {scenario.deadline} s: {context}"


def test_transient_faults_leave_the_run_going(lanes: dict[str, Lane]) -> None:
    """After each transient device fault the guard restored the lab: every scenario's case ran, and the
    run ended as 'tests failed' (1), not with the guard's restore-failed code."""
    for name in ("A", "B"):
        result = lanes[name].result
        assert result is not None
        ran = result.junit()
        missing = [s.case for s in SCENARIOS if s.lane == name and s.case not in ran]
        assert not missing, f"lane {name}: cases never ran: {missing}\n{result.tail()}"
        assert result.returncode == 1, f"lane {name} exit code {result.returncode}\n{result.tail()}"


def test_dead_device_stops_the_run_with_leftovers(lanes: dict[str, Lane]) -> None:
    """A BMC that stays dead: the case is a lab error, the restore cannot finish, the run stops with
    exit code 3 naming the device and how to fix it by hand, and the next case never starts."""
    lane = lanes["C"]
    result = lane.result
    assert result is not None
    measured = _measure(lane, PERSISTENT)
    RESULTS[PERSISTENT.key] = measured
    assert result.returncode == RESTORE_FAILED_EXIT, f"exit code {result.returncode}\n{result.tail()}"
    assert re.search(r"could not restore lab anvil-sim.*\n(.*\n)*.*an-node02's BMC does not answer", result.output), result.tail()
    assert "fix by hand:" in result.output, result.tail()
    assert PERSISTENT_NEXT.split("::")[1] not in result.junit(), "the next case started on a broken lab"
    assert measured["junit"] == "error", measured
    assert re.search(PERSISTENT.device, measured["diagnosis"]), measured
    assert measured["call_s"] is not None and measured["call_s"] <= PERSISTENT.deadline, measured
    # the certification summary must still list the case that stopped the run, as a lab error
    assert measured["verdict"] == "lab error", f"summary.json: {measured['verdict']}\n{result.tail()}"


def test_print_duration_table(lanes: dict[str, Lane], capsys: pytest.CaptureFixture[str]) -> None:
    """The table for the notes: fault → case → verdict → time to the diagnosis."""
    rows = [("harness fault", "case", "verdict", "call s", "fault→end s", "diagnosis")]
    for scenario in [*SCENARIOS, PERSISTENT]:
        m = RESULTS.get(scenario.key) or _measure(lanes[scenario.lane], scenario)

        def fmt(x: float | None) -> str:
            return "-" if x is None else f"{x:.1f}"

        rows.append((scenario.what, scenario.case, m["verdict"], fmt(m["call_s"]), fmt(m["fault_to_end_s"]),
                     re.sub(r"\s+", " ", m["diagnosis"])[:110]))
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    lines.insert(1, "|" + "---|" * len(rows[0]))
    table = "\n".join(lines)
    with capsys.disabled():
        print("\n" + table)
    assert len(rows) - 1 >= 10
    unmeasured = [r[1] for r in rows[1:] if r[3] == "-"]
    assert not unmeasured, f"cases without a measured call phase: {unmeasured}"
