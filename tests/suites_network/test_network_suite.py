"""The network suite against simulated labs: healthy labs pass with the lab's own numbers,
seeded faults fail with the procedure's diagnosis.

The runs themselves are made once by conftest.suite_runs (in parallel subprocesses).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from hacert.model.inventory import Inventory, load_inventory
from hacert.model.matrix import BOND_VARIANTS

from tests.suites_network.runs import ROOT, SuiteRun

PACKETS = 1
"""Ground truth tolerance on packets lost per direction."""
SECONDS = 0.25
"""Ground truth tolerance on measured times."""
HEALTHY = [pytest.param("anvil", "anvil-sim.yaml", id="anvil-sim"),
           pytest.param("three-node", "three-node-sim.yaml", id="three-node-sim")]


def _inventory(name: str) -> Inventory:
    return load_inventory(ROOT / "inventories" / name)


def _expected_ids(inv: Inventory) -> set[str]:
    ids = {f"test_bond_cable_pull[{n.name}-{b.name}-{v}]" for n in inv.nodes for b in n.bonds for v in BOND_VARIANTS}
    return ids | {f"test_switch_power_cycle[{s.name}]" for s in inv.switches}


@pytest.mark.parametrize("run_name, inventory", HEALTHY)
def test_healthy_lab_passes_every_case(suite_runs: dict[str, SuiteRun], run_name: str, inventory: str) -> None:
    run = suite_runs[run_name]
    cases = run.cases()
    assert set(cases) == _expected_ids(_inventory(inventory)), run.explain()
    not_passed = {case: (row["verdict"], row.get("diagnosis")) for case, row in cases.items() if row["verdict"] != "passed"}
    assert not not_passed, f"{not_passed}\n{run.explain()}"
    assert run.returncode == 0, run.explain()


# ---------------------------------------------------------------- ground truth


def _params(result: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in result.get("parameters", [])}


def _number(params: dict[str, str], name: str) -> float:
    assert name in params, f"measured number {name!r} missing; the case recorded: {sorted(params)}"
    return float(params[name].strip("'\""))


def _first(events: list[dict[str, Any]], after: float, **match: Any) -> dict[str, Any]:
    for event in events:
        if event["t"] >= after and all(event.get(k) == v for k, v in match.items()):
            return event
    raise AssertionError(f"the lab's event log has no {match} after {after}")


def _last_before(events: list[dict[str, Any]], before: float, **match: Any) -> dict[str, Any]:
    found = [e for e in events if e["t"] <= before and all(e.get(k) == v for k, v in match.items())]
    assert found, f"the lab's event log has no {match} before {before}"
    return found[-1]


def _longest_run(seqs: list[int]) -> int:
    longest = run = 0
    previous = None
    for seq in sorted(seqs):
        run = run + 1 if previous is not None and seq == previous + 1 else 1
        longest = max(longest, run)
        previous = seq
    return longest


def _check_floods(inv: Inventory, params: dict[str, str], window: list[dict[str, Any]], checks: list[str]) -> None:
    """Every ping_done of the case: packets lost and longest gap as the lab counted them."""
    names = {n.name: n for n in inv.nodes}
    interval = inv.expectations.ping_interval
    owner = {b.address: (n.name, b.network) for n in inv.nodes for b in n.bonds}
    done = [e for e in window if e["kind"] == "ping_done"]
    assert done, "no ping flood ended during the case"
    for event in done:
        target, network = owner[event["target"]]
        label = f"{event['node']} -> {target} ({network})"
        assert event["node"] in names
        lost = event["transmitted"] - event["received"]
        measured = _number(params, f"packets lost {label} (packets)")
        assert abs(measured - lost) <= PACKETS, f"{label}: measured {measured} lost, the lab lost {lost}"
        truth_gap = (_longest_run(event["lost_seqs"]) + 1) * interval
        gap = _number(params, f"longest gap {label} (s)")
        assert abs(gap - truth_gap) <= SECONDS, f"{label}: measured longest gap {gap} s, the lab's {truth_gap:.3f} s"
        checks.append(f"{label}: lost {measured:g}/{lost}, gap {gap:.2f}/{truth_gap:.2f} s")


def _check_bond_case(inv: Inventory, params: dict[str, str], window: list[dict[str, Any]], checks: list[str]) -> None:
    m = re.search(r"node='([^']+)', bond='([^']+)', variant='([^']+)'", params["bond_case"])
    assert m, params["bond_case"]
    node, bond_name, variant = m.groups()
    bond = inv.node(node).bond(bond_name)
    primary, backup = bond.primary, bond.backup
    start = window[0]["t"]
    pull = _first(window, start, kind="port", switch=primary.switch, port=primary.port, admin_up=False)
    failover = _first(window, pull["t"], kind="bond_active", node=node, bond=bond_name, slave=backup.nic)
    measured = _number(params, f"seconds to fail over to {backup.nic} (s)")
    truth = failover["t"] - pull["t"]
    assert abs(measured - truth) <= SECONDS, f"{node}/{bond_name}: failover measured {measured} s, the lab's {truth:.3f} s"
    checks.append(f"{node}/{bond_name} {variant}: failover {measured:.3f}/{truth:.3f} s")
    if variant == "updelay_return":
        back = _first(window, failover["t"], kind="bond_active", node=node, bond=bond_name, slave=primary.nic)
        up = _last_before(window, back["t"], kind="carrier", node=node, nic=primary.nic, up=True)
        measured = _number(params, "seconds link-up to primary active (s)")
        truth = back["t"] - up["t"]
        assert abs(measured - truth) <= SECONDS, f"{node}/{bond_name}: link-up to primary measured {measured} s, the lab's {truth:.3f} s"
        checks.append(f"{node}/{bond_name}: link-up to primary {measured:.3f}/{truth:.3f} s")
    if variant == "backup_lost_during_updelay":
        pull_b = _first(window, failover["t"], kind="port", switch=backup.switch, port=backup.port, admin_up=False)
        take = _first(window, pull_b["t"], kind="bond_active", node=node, bond=bond_name, slave=primary.nic)
        measured = _number(params, f"seconds to take {primary.nic} back at once (s)")
        truth = take["t"] - pull_b["t"]
        assert abs(measured - truth) <= SECONDS, f"{node}/{bond_name}: take-back measured {measured} s, the lab's {truth:.3f} s"
        checks.append(f"{node}/{bond_name}: take-back {measured:.3f}/{truth:.3f} s")


def _check_switch_case(inv: Inventory, params: dict[str, str], window: list[dict[str, Any]], checks: list[str]) -> None:
    m = re.search(r"switch='([^']+)'", params["switch"])
    assert m, params["switch"]
    name = m.group(1)
    spec = inv.switch(name)
    off = _first(window, window[0]["t"], kind="outlet", pdu=spec.power.pdu, outlet=spec.power.outlet, on=False)
    on = _first(window, off["t"], kind="outlet", pdu=spec.power.pdu, outlet=spec.power.outlet, on=True)
    bounces = sum(1 for e in window if e["kind"] == "link_bounce" and e["switch"] == name and e["t"] >= on["t"])
    measured_bounces = _number(params, "link bounces seen (bounces)")
    power = [(round(e["t"] - on["t"], 3), e["kind"], e.get("on", e.get("state", ""))) for e in window
             if e.get("switch") == name or (e["kind"] == "outlet" and e["outlet"] == spec.power.outlet)]
    assert measured_bounces == bounces, f"{name}: {measured_bounces:g} bounces seen, the lab bounced {bounces} times: {power}"
    checks.append(f"{name}: bounces {measured_bounces:g}/{bounces}")
    for node in inv.nodes:
        for bond in node.bonds:
            if bond.primary.switch != name:
                continue
            fo = _first(window, off["t"], kind="bond_active", node=node.name, bond=bond.name, slave=bond.backup.nic)
            measured = _number(params, f"seconds to failover {node.name}/{bond.name} (s)")
            assert abs(measured - (fo["t"] - off["t"])) <= SECONDS, f"{node.name}/{bond.name}: failover {measured} s vs {fo['t'] - off['t']:.3f} s"
            back = _first(window, on["t"], kind="bond_active", node=node.name, bond=bond.name, slave=bond.primary.nic)
            up = _last_before(window, back["t"], kind="carrier", node=node.name, nic=bond.primary.nic, up=True)
            measured = _number(params, f"seconds link-up to primary active {node.name}/{bond.name} (s)")
            truth = back["t"] - up["t"]
            assert abs(measured - truth) <= SECONDS, f"{node.name}/{bond.name}: link-up to primary {measured} s vs {truth:.3f} s"
            checks.append(f"{node.name}/{bond.name}: link-up to primary {measured:.3f}/{truth:.3f} s")


@pytest.mark.parametrize("run_name, inventory", HEALTHY)
def test_measurements_match_the_labs_ground_truth(suite_runs: dict[str, SuiteRun], run_name: str, inventory: str) -> None:
    """Every measured loss and time of every passed case, against the lab's event log."""
    run = suite_runs[run_name]
    inv = _inventory(inventory)
    events = run.events()
    results = [r for r in run.allure_results() if r.get("status") == "passed"]
    assert len(results) >= len(_expected_ids(inv)) // 2, run.explain()
    checks: list[str] = []
    for result in results:
        params = _params(result)
        window = [e for e in events if result["start"] / 1000 <= e["t"] <= result["stop"] / 1000]
        assert window, f"no lab event during {result['name']}"
        _check_floods(inv, params, window, checks)
        if "bond_case" in params:
            _check_bond_case(inv, params, window, checks)
        elif "switch" in params:
            _check_switch_case(inv, params, window, checks)
    print("\n".join(checks))


# ---------------------------------------------------------------- seeded faults


@pytest.mark.parametrize("run_name, case, diagnosis", [pytest.param(*p, id=p[0]) for p in [
    ("bond_no_backup", "test_bond_cable_pull[an-node02-bond1-failover]",
     r"bond1 on an-node02 did not fail over to eth4 within 2\.0 s after eth1's cable was pulled: "
     r"the active slave is none"),
    ("updelay_zero-bond", "test_bond_cable_pull[an-node01-bond2-updelay_return]",
     r"bond2 on an-node01 returned to eth2 0\.\d s after its link came up: its updelay is 0 ms"),
    ("updelay_zero-switch", "test_switch_power_cycle[core-a]",
     r"clbond on et-virt0[567] returned to nic0 0\.\d s after the switch came up, while it was still bouncing its links"),
    ("stp_after_switch_boot", "test_switch_power_cycle[sw1]",
     r"membership changed during soak at \+\d+ s: an-node0[12] left"),
]])
def test_seeded_fault_fails_with_the_diagnosis(suite_runs: dict[str, SuiteRun], run_name: str, case: str,
                                               diagnosis: str) -> None:
    run = suite_runs[run_name]
    cases = run.cases()
    assert list(cases) == [case], run.explain()
    row = cases[case]
    assert row["verdict"] == "failed", f"{row['verdict']}: {row.get('diagnosis')}\n{run.explain()}"
    assert re.search(diagnosis, row["diagnosis"]), f"diagnosis was: {row['diagnosis']}"
    assert run.returncode == 1, run.explain()


def test_soak_option_overrides_the_inventory(suite_runs: dict[str, SuiteRun]) -> None:
    """The stp run passes --soak 7 (the inventory says 5): the case soaks 7 s after the power returns."""
    run = suite_runs["stp_after_switch_boot"]
    (row,) = run.cases().values()
    assert row["title"].endswith("soak 7.0 s"), row["title"]
    soak = next(s for s in row["steps"] if s["name"].startswith("restore the power of sw1"))
    assert soak["duration_s"] >= 7.0, soak


# ---------------------------------------------------------------- overhead


def imposed_waits(inv: Inventory, soak: float | None = None) -> float:
    """The waits the procedure itself imposes on the whole network suite of a simulated lab (s).

    Per bond: the return after updelay (failover and updelay_return), a quarter updelay before
    the backup pull plus the restored backup's updelay (backup_lost_during_updelay). Per
    switch: its boot (link-ups and bounces) and the updelay after the last bounce, or the
    soak if longer.
    """
    assert inv.simulation is not None
    timing = inv.simulation.timing
    updelay = timing.updelay_ms / 1000
    bonds = sum(len(n.bonds) for n in inv.nodes)
    per_bond = updelay + updelay + (min(0.25 * updelay, 5.0) + updelay)
    boot = max(timing.switch_boot, timing.switch_bounce_interval * (2 * timing.switch_bounces + 1))
    soak = inv.expectations.soak_seconds if soak is None else soak
    per_switch = max(soak, boot + updelay)
    return bonds * per_bond + len(inv.switches) * per_switch


def test_overhead_against_the_procedures_waits(suite_runs: dict[str, SuiteRun]) -> None:
    """The whole suite on anvil-sim takes the procedure's own waits plus a bounded overhead per case."""
    run = suite_runs["anvil"]
    assert run.returncode == 0, run.explain()
    inv = _inventory("anvil-sim.yaml")
    imposed = imposed_waits(inv)
    cases = len(_expected_ids(inv))
    case_time = sum(float(row.get("duration_s") or 0) for row in run.cases().values())
    overhead = run.wall - imposed
    print(f"\nnetwork suite on anvil-sim: {run.wall:.1f} s wall ({case_time:.1f} s in {cases} cases), "
          f"procedure's waits {imposed:.1f} s, harness overhead {overhead:.1f} s ({overhead / cases:.2f} s per case)")
    assert case_time >= imposed * 0.95, "the cases took less than the waits the procedure imposes: a wait was skipped"
    assert overhead / cases < 10.0, f"harness overhead {overhead / cases:.1f} s per case"


def test_syslog_garbage_is_skipped_counted_and_changes_no_verdict(suite_runs: dict[str, SuiteRun]) -> None:
    """The three-node run's syslogs get lines no parser knows (adversity syslog_garbage): every case
    passed (test_healthy_lab_passes_every_case), and each reports the lines it skipped, one by one."""
    run = suite_runs["three-node"]
    written = sum(1 for e in run.events() if e["kind"] == "syslog_garbage")
    judged = [row for row in run.cases().values() if row["verdict"] == "passed"]
    assert judged and written, run.explain()
    for row in judged:
        fact = row["facts"].get("syslog lines skipped", "")
        count = int(fact.split()[0]) if fact else 0
        assert 0 < count <= written, f"{row['case']}: {fact!r} (labsim wrote {written} garbage lines)"
    clean = [case for case, row in suite_runs["anvil"].cases().items() if "syslog lines skipped" in row["facts"]]
    assert not clean, f"a lab without garbage reported skipped lines: {clean}"
