"""The fencing checks against labs built to fool them (labsim's `simulation.adversities`).

- neutral_fence_names: fence devices named without a hint (cman `dev-aN`) or misleadingly (pacemaker:
  a node's BMC is `fence-pilot-pduK`, its outlet `st-nodeK-bmc`); the method is still read right,
  from the cluster's record and the devices' agents, and every fencing case passes;
- mislabelled_outlet: the outlet labelled for an-node01 feeds an-node02; the power cut sees the
  wrong node go dark, switches the outlet back on within seconds and ends as a lab error naming the
  miswiring, never as the cluster's failure;
- hang_does_not_take: `echo c > /proc/sysrq-trigger` returns and the node runs on; the cases that
  hang it end inconclusive, never passed or failed;
- scsi_wrong_key: the SCSI fence removes another node's key; the SCSI case fails saying whose;

and a node whose first fence method is the PDU: its power cut passes without an IPMI failure.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.suites_fencing.harness import ANVIL, FENCING, REPO, THREE_NODE, Pending, SuiteRun, first, write_inventory

PACEMAKER3 = REPO / "inventories" / "pacemaker3-sim.yaml"
VM_RECOVERY = REPO / "suites" / "test_vm_recovery.py"
LANES = 2
BACK_ON_WITHIN = 5.0
"""Seconds within which a miswired outlet must be on again (measured on the lab's own event log)."""


def _adversities(*items: tuple[str, str | None]) -> Any:
    def edit(data: dict[str, Any]) -> None:
        data.setdefault("simulation", {})["adversities"] = [
            {"name": name, **({"target": target} if target else {})} for name, target in items]
    return edit


def _scsi_only(data: dict[str, Any]) -> None:
    for node in data["nodes"]:
        node["fence"] = ["scsi"]
    _adversities(("scsi_wrong_key", "et-virt05"))(data)


RUNS: dict[str, tuple[Path, Any, list[Path], str | None]] = {
    "neutral-cman": (ANVIL, _adversities(("neutral_fence_names", None)), [FENCING], "hang_and_fence or pdu_power_cut"),
    "neutral-pacemaker": (PACEMAKER3, _adversities(("neutral_fence_names", None)), [FENCING],
                          "hang_and_fence or pdu_power_cut"),
    "miswired": (ANVIL, _adversities(("mislabelled_outlet", "an-node01")), [FENCING], "pdu_power_cut and an-node01"),
    "hang-does-not-take": (ANVIL, _adversities(("hang_does_not_take", "an-node02")), [FENCING, VM_RECOVERY],
                           "(hang_and_fence and an-node02) or (crash and an-node02)"),
    "scsi-wrong-key": (THREE_NODE, _scsi_only, [FENCING], "scsi_fencing and et-virt05"),
    # not an adversity: a node whose first method is the PDU; its power cut needs no IPMI failure first
    "pdu-first": (ANVIL, lambda data: data["nodes"][0].update(fence=["pdu", "ipmi"]), [FENCING],
                  "pdu_power_cut and an-node01"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SuiteRun]:
    out: dict[str, SuiteRun] = {}
    queue = list(RUNS)
    running: dict[str, Pending] = {}
    while queue or running:
        while queue and len(running) < LANES:
            name = queue.pop(0)
            base, edit, suites, select = RUNS[name]
            folder = tmp_path_factory.mktemp(name)
            inventory = write_inventory(folder / "inventory", base, edit=edit)
            running[name] = Pending(folder, inventory, suites, select, timeout=300)
        done = next((name for name, p in running.items() if p.finished), None)
        if done is None:
            time.sleep(0.2)
            continue
        out[done] = running.pop(done).result()
    return out


@pytest.mark.parametrize("name", ["neutral-cman", "neutral-pacemaker"])
def test_neutral_fence_names_still_pass_with_the_right_method(name: str, runs: dict[str, SuiteRun]) -> None:
    run = runs[name]
    outcomes = run.outcomes()
    assert outcomes and all(o == "passed" for o, _ in outcomes.values()), f"{outcomes}\n{run.output[-4000:]}"
    rows = run.summary["cases"]
    names = {"neutral-cman": r"dev-a\d+", "neutral-pacemaker": r"fence-pilot-pdu\d|st-node\d-bmc"}[name]
    for row in rows:
        expected = "ipmi" if "test_hang_and_fence" in row["case"] else "pdu"
        facts = row["facts"]
        assert facts["method"] == expected, row
        assert re.search(names, facts["fenced with"]) or re.search(names, facts["fence configuration"]), facts
        victim = row["case"].split("[")[1].rstrip("]")
        # the lab's own truth: each victim was fenced twice, by IPMI when hung, then by the PDU when cut
        done = [e["method"] for e in run.events if e["kind"] == "fence_done" and e["node"] == victim]
        assert done == ["ipmi", "pdu"], (victim, done)
    if name == "neutral-pacemaker":  # the names lie: the BMC's device reads like a PDU
        hang = next(r for r in rows if "test_hang_and_fence" in r["case"])
        assert "fence-pilot-pdu" in hang["facts"]["fenced with"] and "fence_ipmilan" in hang["facts"]["fenced with"]


def test_a_mislabelled_outlet_is_a_lab_error_with_the_miswiring_named(runs: dict[str, SuiteRun]) -> None:
    run = runs["miswired"]
    case = "test_pdu_power_cut[an-node01]"
    outcome, _ = run.outcomes()[case]
    row = run.row(case)
    assert outcome == "error" and row["verdict"] == "lab error", (outcome, row, run.output[-4000:])
    assert "pdu2 outlet 1 labelled an-node01 feeds an-node02, not an-node01" in row["diagnosis"], row["diagnosis"]
    assert row["diagnosis"].startswith("Miswired"), row["diagnosis"]
    # back on within seconds, by the lab's own event log and by the case's number
    off = first(run.events, "outlet", pdu="pdu2", outlet=1, on=False)
    on = first(run.events, "outlet", off["t"], pdu="pdu2", outlet=1, on=True)
    assert on is not None and on["t"] - off["t"] <= BACK_ON_WITHIN, (off, on)
    assert run.number(case, "power cut to outlet back on") <= BACK_ON_WITHIN
    dark = first(run.events, "node_state", off["t"], node="an-node02", state="off")
    assert dark is not None and dark["t"] < on["t"], "the cut darkened an-node02, the node the cable feeds"
    assert first(run.events, "node_state", off["t"], node="an-node01", state="off") is None
    # the cluster is not blamed: the case is no failure, the run is incomplete, not a FAIL, and the lab was restored
    assert run.summary["overall"]["verdict"] == "INCOMPLETE", run.summary["overall"]
    assert "could not restore" not in run.output and run.returncode == 1, run.output[-3000:]


def test_a_hang_that_does_not_take_is_inconclusive(runs: dict[str, SuiteRun]) -> None:
    run = runs["hang-does-not-take"]
    for case in ("test_hang_and_fence[an-node02]", "test_node_crash_recovers_vms[an-node02]"):
        outcome, message = run.outcomes()[case]
        row = run.row(case)
        assert outcome == "skipped" and row["verdict"] == "inconclusive", (case, outcome, row)
        assert "the hang did not take: an-node02 still answers" in row["diagnosis"], row["diagnosis"]
    assert first(run.events, "node_state", node="an-node02", state="hung") is None  # the lab's truth: never hung


def test_the_scsi_fence_removing_another_nodes_key_fails(runs: dict[str, SuiteRun]) -> None:
    run = runs["scsi-wrong-key"]
    case = "test_scsi_fencing[et-virt05]"
    outcome, message = run.outcomes()[case]
    assert outcome == "failed", (outcome, message, run.output[-3000:])
    diagnosis = run.row(case)["diagnosis"]
    assert re.search(r"removed 0x[0-9a-f]+0003 \(et-virt07\), not et-virt05's own key 0x[0-9a-f]+0001", diagnosis), diagnosis
    assert "still registered" in diagnosis


def test_the_power_cut_expects_the_first_power_independent_method(runs: dict[str, SuiteRun]) -> None:
    run = runs["pdu-first"]
    case = "test_pdu_power_cut[an-node01]"
    assert run.outcomes()[case][0] == "passed", run.output[-4000:]
    facts = run.row(case)["facts"]
    assert (facts["method"], facts["IPMI result"]) == ("pdu", "not tried"), facts
    assert facts["fence configuration"].startswith("1: pdu (pdu2: fence_apc_snmp port 1); 2: ipmi"), facts
    cut = first(run.events, "outlet", pdu="pdu2", outlet=1, on=False)
    assert first(run.events, "fence_attempt", cut["t"], node="an-node01", method="ipmi") is None
