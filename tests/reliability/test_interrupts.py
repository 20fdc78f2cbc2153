"""Ctrl-C in the middle of a destructive case leaves the lab healthy.

A simulated lab is started by the test and kept running across the runs
(tests/reliability/attach.py points each run at it). Each run is one case of
the suites; the test tails the lab's event log until the case reaches its
phase (the victim hung, the outlet off, the port down, the VM destroyed, the
switch back on and soaking), sends SIGINT to pytest, and once the run has
exited audits the lab with a fresh guard (read-only) and checks the lab's
ground truth: outlets on, ports up, nodes up, every node a member.
"""

from __future__ import annotations

import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from hacert.fixtures.guard import Guard, LabNotReady
from hacert.model.inventory import load_inventory
from hacert.lab.build import Lab
from hacert.labsim.runner import RunningLab, start_lab

from tests.reliability.harness import ANVIL, SuiteRun, events, wait_event

INTERRUPTED = 2  # pytest's exit code after Ctrl-C


@dataclass(frozen=True)
class Phase:
    key: str
    nodeid: str
    event: Callable[[dict[str, Any]], bool]
    what: str
    lane: str
    then: Callable[[dict[str, Any]], bool] | None = None  # a second event to wait for (the soak)
    extra: tuple[str, ...] = ()
    not_yet: Callable[[dict[str, Any]], bool] | None = None  # must NOT have happened before the interrupt


def _is(kind: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["kind"] == kind and all(e.get(k) == v for k, v in fields.items())


PHASES = [
    Phase("mid-fence", "suites/test_fencing.py::test_hang_and_fence[an-node01]",
          _is("node_state", node="an-node01", state="hung"), "an-node01 hung, not yet fenced", "1",
          not_yet=_is("fence_done", node="an-node01")),
    Phase("outlet-off", "suites/test_fencing.py::test_pdu_power_cut[an-node02]",
          _is("outlet", pdu="pdu2", outlet=2, on=False), "an-node02's outlet off", "2"),
    Phase("port-down", "suites/test_network.py::test_bond_cable_pull[an-node01-bond0-failover]",
          _is("port", switch="sw1", port="1", admin_up=False), "sw1 port 1 (an-node01 eth0) down", "1"),
    Phase("vm-destroyed", "suites/test_vm_recovery.py::test_vm_destroy_relocates[vm0003-db]",
          _is("vm_down", vm="vm0003-db", reason="destroyed"), "vm0003-db destroyed", "2"),
    Phase("mid-soak", "suites/test_network.py::test_switch_power_cycle[sw2]",
          _is("outlet", pdu="pdu1", outlet=2, on=True), "sw2 powered back, soaking", "1",
          then=_is("switch_state", switch="sw2", state="up"), extra=("--soak", "20")),
]


def _final_state(log: Path) -> dict[str, Any]:
    """The lab's ground truth after the last event: outlets, ports, nodes, members."""
    outlets: dict[str, bool] = {}
    ports: dict[str, tuple[bool, bool]] = {}
    nodes: dict[str, str] = {}
    members: list[str] = []
    for e in events(log):
        if e["kind"] == "outlet":
            outlets[f"{e['pdu']}/{e['outlet']}"] = e["on"]
        elif e["kind"] == "port":
            ports[f"{e['switch']}/{e['port']}"] = (e["admin_up"], e["oper_up"])
        elif e["kind"] == "node_state":
            nodes[e["node"]] = e["state"]
        elif e["kind"] == "membership":
            members = list(e["members"])
    return {"outlets": outlets, "ports": ports, "nodes": nodes, "members": members}


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningLab]]:
    base = tmp_path_factory.mktemp("interrupt-labs")
    out: dict[str, RunningLab] = {}
    try:
        for lane in sorted({p.lane for p in PHASES}):
            out[lane] = start_lab(ANVIL, base / f"lab-{lane}", timeout=60)
        yield out
    finally:
        for lab in out.values():
            lab.stop()


@dataclass
class Interrupted:
    phase: Phase
    returncode: int
    output: str
    seen: dict[str, Any]
    interrupted_at: float
    exited_after: float
    audit: str


def _interrupt(phase: Phase, lab: RunningLab, folder: Path) -> Interrupted:
    started = time.time()
    run = SuiteRun(folder, ANVIL, [phase.nodeid], endpoints=lab.workdir / "endpoints.json",
                   extra=phase.extra, timeout=180)
    try:
        seen = wait_event(lab.event_log, phase.event, 90, f"{phase.what} ({phase.nodeid})", run.running, since=started)
        if phase.then is not None:
            seen = wait_event(lab.event_log, phase.then, 30, f"then {phase.what}", run.running, since=seen["t"])
        at = time.time()
        run.interrupt()
        done = run.result()
    finally:
        if run.running():
            run.process.send_signal(signal.SIGKILL)
    inventory = load_inventory(ANVIL)
    attached = Lab(inventory, lab.endpoints)
    try:
        Guard(attached).audit()
        audit = "healthy"
    except LabNotReady as exc:
        audit = str(exc)
    finally:
        attached.close()
    return Interrupted(phase, done.returncode, done.output, seen, at, time.time() - at, audit)


@dataclass
class Crashed:
    left_down: bool  # the killed run left the port down
    healed: str  # the next run's session-start heal line
    next_outcome: str
    audit: str
    output: str


CRASH_CASE = "suites/test_network.py::test_bond_cable_pull[an-node02-bond0-failover]"
NEXT_CASE = "suites/test_migration.py::test_live_migration[vm0001-dev-to-an-node02]"


def _crash_and_heal(lab: RunningLab, folder: Path) -> Crashed:
    """SIGKILL (no teardown at all) while sw1 port 4 is down; the next run's guard must heal it first."""
    started = time.time()
    run = SuiteRun(folder / "killed", ANVIL, [CRASH_CASE], endpoints=lab.workdir / "endpoints.json", timeout=120)
    try:
        wait_event(lab.event_log, _is("port", switch="sw1", port="4", admin_up=False), 90, "sw1 port 4 down",
                   run.running, since=started)
    finally:
        run.process.send_signal(signal.SIGKILL)
        run.result()
    left_down = _final_state(lab.event_log)["ports"].get("sw1/4", (True, True))[0] is False
    after = SuiteRun(folder / "next", ANVIL, [NEXT_CASE], endpoints=lab.workdir / "endpoints.json", timeout=180).result()
    healed = next((line for line in after.output.splitlines() if "at session start" in line), "")
    outcome = after.junit().get(NEXT_CASE.split("::")[1], ("not run", ""))[0]
    attached = Lab(load_inventory(ANVIL), lab.endpoints)
    try:
        Guard(attached).audit()
        audit = "healthy"
    except LabNotReady as exc:
        audit = str(exc)
    finally:
        attached.close()
    return Crashed(left_down, healed, outcome, audit, after.output)


RUNS: dict[str, Interrupted] = {}
CRASHES: dict[str, Crashed] = {}


@pytest.fixture(scope="module")
def interrupted(labs: dict[str, RunningLab], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Interrupted]:
    """Both lanes side by side: each lane's phases one after the other on its own lab."""
    import threading

    base = tmp_path_factory.mktemp("interrupts")
    errors: list[BaseException] = []

    def lane(name: str) -> None:
        for phase in [p for p in PHASES if p.lane == name]:
            try:
                RUNS[phase.key] = _interrupt(phase, labs[name], base / phase.key)
            except BaseException as exc:  # reported by the phase's test
                errors.append(exc)
                RUNS[phase.key] = Interrupted(phase, -1, repr(exc), {}, 0.0, 0.0, f"not run: {exc!r}")
        if name == "2":
            try:
                CRASHES["killed"] = _crash_and_heal(labs[name], base / "crash")
            except BaseException as exc:  # reported by its test
                CRASHES["killed"] = Crashed(False, "", f"not run: {exc!r}", "", "")

    threads = [threading.Thread(target=lane, args=(name,)) for name in labs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    return RUNS


@pytest.mark.parametrize("phase", PHASES, ids=[p.key for p in PHASES])
def test_sigint_leaves_the_lab_healthy(phase: Phase, interrupted: dict[str, Interrupted], labs: dict[str, RunningLab]) -> None:
    got = interrupted[phase.key]
    context = f"{phase.what}: exit {got.returncode}, audit: {got.audit}\n--- output (end) ---\n{got.output[-3000:]}"
    assert got.returncode == INTERRUPTED, context
    if phase.not_yet is not None:
        early = [e for e in events(labs[phase.lane].event_log)
                 if phase.not_yet(e) and got.seen.get("t", 0) <= e["t"] <= got.interrupted_at]
        assert not early, f"the interrupt came too late to test this phase: {early}"
    assert got.audit == "healthy", context
    state = _final_state(labs[phase.lane].event_log)
    assert all(state["outlets"].values()), f"an outlet is still off: {state['outlets']}"
    assert all(a and o for a, o in state["ports"].values()), f"a port is still down: {state['ports']}"
    assert all(s == "up" for s in state["nodes"].values()), f"a node is not up: {state['nodes']}"
    assert len(state["members"]) == len(load_inventory(ANVIL).nodes), f"members: {state['members']}"
    assert got.exited_after < 120, f"the interrupted run took {got.exited_after:.0f} s to restore and exit"


def test_killed_run_is_healed_by_the_next_run(interrupted: dict[str, Interrupted]) -> None:
    """kill -9 while a port is down (no teardown runs): the next run's guard heals the lab at session
    start, says what it did, and its case runs on a healthy lab."""
    crash = CRASHES["killed"]
    assert crash.left_down, "the killed run did not leave sw1 port 4 down: nothing to heal"
    assert re.search(r"healed lab anvil-sim at session start: .*sw1 port 4", crash.healed), crash.output[-3000:]
    assert crash.next_outcome == "passed", crash.output[-3000:]
    assert crash.audit == "healthy", crash.audit


def test_print_interrupt_table(interrupted: dict[str, Interrupted], capsys: pytest.CaptureFixture[str]) -> None:
    rows = ["| phase | case | exit | Ctrl-C → exit (s) | audit after |", "|---|---|---|---|---|"]
    for phase in PHASES:
        got = interrupted[phase.key]
        rows.append(f"| {phase.what} | {phase.nodeid.split('::')[1]} | {got.returncode} | {got.exited_after:.1f} | {got.audit[:80]} |")
    with capsys.disabled():
        print("\n" + "\n".join(rows))
    assert len(rows) == 2 + 5
