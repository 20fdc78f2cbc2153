"""The fencing suites against healthy simulated labs (the tutorial's two nodes, a three-node
shape): every case passes, and every number they record agrees with the lab's own event log."""

from __future__ import annotations

from typing import Any

import pytest

from hacert.model.inventory import Inventory, load_inventory

from tests.suites_fencing.harness import ANVIL, COLD_START, FENCING, THREE_NODE, Pending, SuiteRun, first, write_inventory

TOLERANCE = 0.5
"""Seconds a recorded number may differ from the ground truth."""

LABS = {"anvil-sim": ANVIL, "three-node-sim": THREE_NODE}
GARBAGE_LAB = "three-node-sim"
"""Its run's syslogs get lines no parser knows (adversity syslog_garbage): every case still passes."""


def _garbage(data: dict[str, Any]) -> None:
    data.setdefault("simulation", {})["adversities"] = [{"name": "syslog_garbage"}]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SuiteRun]:
    """Both labs' full fencing + cold-start runs, side by side."""
    pending = {}
    for lab, path in LABS.items():
        folder = tmp_path_factory.mktemp(lab)
        if lab == GARBAGE_LAB:
            path = write_inventory(folder / "inventory", path, edit=_garbage)
        pending[lab] = Pending(folder, path, [FENCING, COLD_START], None, timeout=240)
    return {lab: p.result() for lab, p in pending.items()}


@pytest.fixture(params=list(LABS))
def lab(request: pytest.FixtureRequest, runs: dict[str, SuiteRun]) -> tuple[Inventory, SuiteRun]:
    return load_inventory(LABS[request.param]), runs[request.param]


def test_every_case_passes(lab: tuple[Inventory, SuiteRun]) -> None:
    inv, run = lab
    outcomes = run.outcomes()
    expected = {f"test_hang_and_fence[{n.name}]" for n in inv.nodes}
    expected |= {f"test_pdu_power_cut[{n.name}]" for n in inv.nodes}
    expected |= {"test_cold_stop_start"}
    for name in expected:
        assert name in outcomes, f"{name} did not run: {sorted(outcomes)}\n{run.output[-3000:]}"
        assert outcomes[name][0] == "passed", f"{name}: {outcomes[name]}\n{run.output[-3000:]}"
    for node in inv.nodes:  # no node of these labs is fenced by SCSI-3: skipped as not applicable, not passed
        outcome, message = outcomes[f"test_scsi_fencing[{node.name}]"]
        assert outcome == "skipped" and "not fenced by SCSI-3" in message
    assert run.returncode == 0, run.output[-3000:]
    assert run.summary["overall"]["verdict"] == "PASS", run.summary["overall"]
    assert set(run.summary["overall"]["counts"]) == {"passed", "not applicable"}


def _close(recorded: float | None, truth: float, what: str) -> None:
    assert recorded is not None, f"{what}: not recorded"
    assert abs(recorded - truth) <= TOLERANCE, f"{what}: recorded {recorded:.3f} s, the lab's event log says {truth:.3f} s"


def _services_home_at(inv: Inventory, events: list[dict[str, Any]], node: str, after: float) -> float:
    """When the last of `node`'s services (storage, VMs and services homed there) started on it after `after`."""
    names = set(inv.node(node).storage_services) | {vm.name for vm in inv.vms_on(node)}
    names |= {s.name for s in inv.services if s.home == node}
    times = []
    for name in names:
        found = next((e for e in events if e["kind"] == "service_state" and e["t"] >= after and e["state"] == "started"
                      and e["node"] == node and e["service"].split(":", 1)[-1] == name), None)
        assert found is not None, f"{name} never started on {node} after {after}"
        times.append(found["t"])
    return max(times)


def test_hang_numbers_match_the_event_log(lab: tuple[Inventory, SuiteRun]) -> None:
    inv, run = lab
    events = run.events
    for node in inv.nodes:
        case = f"test_hang_and_fence[{node.name}]"
        hung = first(events, "node_state", node=node.name, state="hung")
        assert hung is not None, f"{node.name} was never hung"
        h = hung["t"]
        done = first(events, "fence_done", h, node=node.name)
        assert done is not None and done["method"] == "ipmi" and done["ok"]
        _close(run.number(case, "hang to declared failed"), first(events, "member_lost", h, node=node.name)["t"] - h, f"{case} declared")
        _close(run.number(case, "hang to fence start"), first(events, "fence_start", h, node=node.name)["t"] - h, f"{case} fence start")
        _close(run.number(case, "hang to fence success"), done["t"] - h, f"{case} fence success")
        joined = first(events, "member_joined", done["t"], node=node.name)
        _close(run.number(case, "hang to rejoin"), joined["t"] - h, f"{case} rejoin")
        _close(run.number(case, "hang to services back"), _services_home_at(inv, events, node.name, done["t"]) - h, f"{case} services")
        facts = run.row(case)["facts"]
        assert facts["method"] == "ipmi"
        # proven three ways: the fence log (method), the BMC, and the outlet that never went off
        assert "BMC" in facts["BMC evidence"] or "power off" in facts["BMC evidence"]
        assert "stayed on" in facts["PDU outlet"]
        for ref in node.power:
            cut = [e for e in events if e["kind"] == "outlet" and e["pdu"] == ref.pdu and e["outlet"] == ref.outlet
                   and h <= e["t"] <= joined["t"]]
            assert not cut, f"{ref.pdu}/{ref.outlet} changed during {case}: {cut}"
        assert first(events, "chassis", h, node=node.name)["t"] <= joined["t"]


def test_power_cut_numbers_match_the_event_log(lab: tuple[Inventory, SuiteRun]) -> None:
    inv, run = lab
    events = run.events
    for node in inv.nodes:
        case = f"test_pdu_power_cut[{node.name}]"
        ref = node.power[0]
        cut = first(events, "outlet", pdu=ref.pdu, outlet=ref.outlet, on=False)
        assert cut is not None, f"{ref.pdu}/{ref.outlet} never went off"
        c = cut["t"]
        failed = first(events, "fence_attempt", c, node=node.name, method="ipmi", ok=False)
        done = first(events, "fence_done", c, node=node.name)
        assert failed is not None and done is not None and done["method"] == "pdu"
        _close(run.number(case, "power cut to declared failed"), first(events, "member_lost", c, node=node.name)["t"] - c, f"{case} declared")
        _close(run.number(case, "power cut to fence start"), first(events, "fence_start", c, node=node.name)["t"] - c, f"{case} fence start")
        _close(run.number(case, "power cut to IPMI failure"), failed["t"] - c, f"{case} IPMI failure")
        _close(run.number(case, "power cut to fence success"), done["t"] - c, f"{case} fence success")
        joined = first(events, "member_joined", done["t"], node=node.name)
        _close(run.number(case, "power cut to rejoin"), joined["t"] - c, f"{case} rejoin")
        _close(run.number(case, "power cut to services back"), _services_home_at(inv, events, node.name, done["t"]) - c, f"{case} services")
        assert run.row(case)["facts"]["method"] == "pdu"
        assert run.row(case)["facts"]["IPMI result"] == "error from agent"


def test_cold_start_numbers_match_the_event_log(lab: tuple[Inventory, SuiteRun]) -> None:
    inv, run = lab
    events = run.events
    case = "test_cold_stop_start"
    offs = [e for e in events if e["kind"] == "chassis" and e["action"] == "off"]
    assert {e["node"] for e in offs} == {n.name for n in inv.nodes}, "every node powered off through its BMC"
    on = first(events, "chassis", offs[-1]["t"], action="on")
    p = on["t"]
    everyone = {n.member_name for n in inv.nodes}
    formed = next(e for e in events if e["kind"] == "membership" and e["t"] >= p and set(e["members"]) == everyone)
    _close(run.number(case, "power-on to all members"), formed["t"] - p, f"{case} all members")
    last_vm = max(first(events, "service_state", p, service=f"vm:{vm.name}", state="started", node=vm.home)["t"] for vm in inv.vms)
    _close(run.number(case, "power-on to VMs started"), last_vm - p, f"{case} VMs started")
    assert first(events, "fence_start", p) is None, "something was fenced during the cold start"
    assert run.number(case, "power-on spread") < inv.cluster.post_join_delay


def test_syslog_garbage_is_skipped_counted_and_changes_no_verdict(runs: dict[str, SuiteRun]) -> None:
    """The garbage lab's cases all passed (test_every_case_passes); each reports the lines it skipped."""
    run = runs[GARBAGE_LAB]
    written = sum(1 for e in run.events if e["kind"] == "syslog_garbage")
    judged = [row for row in run.summary["cases"] if row["verdict"] == "passed"]
    assert len(judged) == 7, [row["case"] for row in judged]
    for row in judged:
        fact = row["facts"].get("syslog lines skipped", "")
        count = int(fact.split()[0]) if fact else 0
        assert 0 < count <= written, f"{row['case']}: {fact!r} (labsim wrote {written} garbage lines)"
    clean = [row for row in runs["anvil-sim"].summary["cases"] if "syslog lines skipped" in row["facts"]]
    assert not clean, f"a lab without garbage reported skipped lines: {clean}"
