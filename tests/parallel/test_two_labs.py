"""Two simulated labs in one run under `-n 2 --dist loadgroup`: both give full results, neither
touches the other's devices.

One pytest subprocess runs the network suite against tests/parallel/inventories/anvil-par-a.yaml
and anvil-par-b.yaml (copies of anvil-sim under other lab names), one cable-pull case per lab,
each on a DIFFERENT switch port (lab a: an-node01/bond0 = sw1 port 1; lab b: an-node02/bond1 =
sw1 port 5). Each lab's ground-truth event log must then show only its own case's port, and the
two labs' endpoints must share no port.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from benchmarks.runs import ROOT, SuiteRun

HERE = Path(__file__).resolve().parent
LAB_A, LAB_B = "anvil-par-a", "anvil-par-b"
CASES = {LAB_A: ("an-node01", "bond0", "sw1", "1", "eth0"), LAB_B: ("an-node02", "bond1", "sw1", "5", "eth1")}
SELECT = " or ".join(f"{lab}-{node}-{bond}-failover" for lab, (node, bond, *_) in CASES.items())


@pytest.fixture(scope="module")
def run() -> Iterator[SuiteRun]:
    folder = Path(tempfile.mkdtemp(prefix="hacert-two-labs-"))
    try:
        yield SuiteRun("two-labs", folder, ["suites/test_network.py"],
                       [HERE / "inventories" / f"{LAB_A}.yaml", HERE / "inventories" / f"{LAB_B}.yaml"],
                       select=SELECT, workers=2, probe=False).run(timeout=240)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _case_of(lab: str, cases: list[dict[str, Any]]) -> dict[str, Any]:
    found = [c for c in cases if f"[{lab}-" in c["id"]]
    assert len(found) == 1, f"expected one case of lab {lab}, got {[c['id'] for c in cases]}"
    return found[0]


def test_both_labs_ran_side_by_side_with_full_results(run: SuiteRun) -> None:
    assert run.returncode == 0, run.tail(60)
    cases = run.cases()
    assert len(cases) == 2, [c["id"] for c in cases]
    a, b = _case_of(LAB_A, cases), _case_of(LAB_B, cases)
    for case in (a, b):
        assert case["verdict"] == "passed", case
        names = {n["name"] for n in case["numbers"]}
        assert any(n.startswith("seconds to fail over to") for n in names), names
        assert sum(n.startswith("packets lost") for n in names) == 2, names
    # one worker per lab, at the same time
    assert {a["worker"], b["worker"]} == {"gw0", "gw1"}, (a["worker"], b["worker"])
    a_end, b_end = a["started"] + a["duration_s"], b["started"] + b["duration_s"]
    assert a["started"] < b_end and b["started"] < a_end, "the two labs' cases did not overlap in time"
    assert {lab["lab"] for lab in run.summary()["labs"]} == {LAB_A, LAB_B}


def test_allure_results_are_per_lab(run: SuiteRun) -> None:
    results = [r for r in run.allure_results() if r.get("status") != "skipped"]
    epics = sorted(label["value"] for r in results for label in r.get("labels", []) if label["name"] == "epic")
    assert [e.split(" / ")[0] for e in epics] == [LAB_A, LAB_B], epics
    assert all(r["status"] == "passed" for r in results), [(r["name"], r["status"]) for r in results]


def test_the_labs_share_no_endpoint(run: SuiteRun) -> None:
    endpoints = run.endpoints()
    assert set(endpoints) == {LAB_A, LAB_B}

    def ports(ep: dict[str, Any]) -> set[tuple[str, int]]:
        found = {(a["host"], int(a["port"])) for node in ep["nodes"].values() for a in (node["ssh"], node["bmc"])}
        found |= {(d["host"], int(d["port"])) for kind in ("pdus", "switches") for d in ep[kind].values()}
        return found

    a, b = ports(endpoints[LAB_A]), ports(endpoints[LAB_B])
    assert len(a) == len(b) == 2 * 2 + 2 + 2, (a, b)
    assert not a & b, f"shared endpoints: {a & b}"
    assert endpoints[LAB_A]["pid"] != endpoints[LAB_B]["pid"]


def test_each_lab_saw_only_its_own_actions(run: SuiteRun) -> None:
    events = run.events()
    assert set(events) == {LAB_A, LAB_B}
    for lab, (node, bond, switch, port, nic) in CASES.items():
        log = events[lab]
        touched = [(e["switch"], e["port"], e["admin_up"]) for e in log if e["kind"] == "port"]
        assert touched == [(switch, port, False), (switch, port, True)], f"{lab}: port events {touched}"
        assert not [e for e in log if e["kind"] in ("outlet", "chassis", "fence_start", "member_lost")], lab
        carriers = {(e["node"], e["nic"]) for e in log if e["kind"] == "carrier"}
        assert carriers == {(node, nic)}, f"{lab}: carrier changes on {carriers}"
        moved = [(e["node"], e["bond"], e["slave"]) for e in log if e["kind"] == "bond_active" and e.get("previous")]
        assert moved and {(n, b) for n, b, _ in moved} == {(node, bond)}, f"{lab}: bonds that moved {moved}"
        assert moved[-1][2] == nic, f"{lab}: {bond} on {node} did not end on its primary {nic}: {moved}"
        pings = {e["node"] for e in log if e["kind"] == "ping_done"}
        assert len(pings) == 2, f"{lab}: ping floods from {pings}"
