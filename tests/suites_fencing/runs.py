"""The simulated-lab runs that need no precise timing, run side by side in lanes: one per seeded
fault (only the case that must catch it) and one of the SCSI-3-fenced lab. The conftest's session
fixture `lane_runs` starts them all once; test_seeded_faults.py and test_scsi_lab.py judge them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.suites_fencing.harness import ANVIL, COLD_START, FENCING, THREE_NODE, Pending, SuiteRun, first, write_inventory

# Short expectations and timings: a fault's case fails in seconds, not in the tutorial's minutes.
EXPECT = {"fence_timeout": 6, "rejoin_timeout": 8, "services_back_timeout": 15}
TIMING = {"boot": 0.8, "token_timeout": 0.6, "cluster_start": 0.3, "vm_boot": 0.3,
          "slow_fence_extra": 8.0, "late_cold_start_extra": 1.0}
LANES = 3
"""Runs side by side (these cases judge what happened, not sub-second timings)."""


@dataclass(frozen=True)
class Fault:
    name: str
    target: str
    suite: Path
    case: str
    diagnosis: str  # a regex the failure message must match
    cluster: dict[str, Any] = field(default_factory=dict)
    check: Callable[[SuiteRun], None] | None = None


def _outlet_never_cut(run: SuiteRun) -> None:
    cuts = [e for e in run.events if e["kind"] == "outlet" and not e["on"]]
    assert not cuts, f"the refused case still cut an outlet: {cuts}"


def _fenced_by_pdu(run: SuiteRun) -> None:
    hung = first(run.events, "node_state", node="an-node01", state="hung")
    done = first(run.events, "fence_done", hung["t"], node="an-node01")
    assert done["method"] == "pdu"


FAULTS = [
    Fault("ipmi_fence_broken", "an-node01", FENCING, "test_hang_and_fence[an-node01]",
          r"an-node01 was fenced by the PDU, not IPMI: IPMI attempt failed with 'error from agent'", check=_fenced_by_pdu),
    Fault("no_pdu_fence", "an-node01", FENCING, "test_pdu_power_cut[an-node01]",
          r"no fence of an-node01 within 6 s of its power cut: fence_ipmilan failed \d+x \('error from agent'\), "
          r"and no other method succeeded"),
    Fault("node_no_rejoin", "an-node01", FENCING, "test_hang_and_fence[an-node01]",
          r"an-node01 did not rejoin the cluster within 8 s of its fence: it booted \(SSH answers\) but did not join"),
    Fault("slow_fence", "an-node01", FENCING, "test_hang_and_fence[an-node01]",
          r"no fence of an-node01 within 6 s of the hang: fencing started after [\d.]+ s and had not finished"),
    Fault("wrong_outlet", "an-node01", FENCING, "test_pdu_power_cut[an-node01]",
          r"refused: PDU pdu2 outlet 1 is named 'an-node02' on the PDU, but the inventory expects 'an-node01' "
          r"for an-node01; .*touched nothing", check=_outlet_never_cut),
    Fault("late_cold_start", "an-node02", COLD_START, "test_cold_stop_start",
          r"an-node02 (being )?fenced by an-node01 during the cold start: an-node02 did not join within post_join_delay \(3 s\)",
          cluster={"post_join_delay": 3}),
]


SCSI_RUN = "scsi-fenced-lab"


def start_scsi_run(folder: Path) -> Pending:
    """Seed 001's shape: every node of the three-node lab fenced by fence_scsi only."""
    inventory = write_inventory(folder / "inventory", THREE_NODE,
                                edit=lambda data: [node.update(fence=["scsi"]) for node in data["nodes"]])
    return Pending(folder, inventory, [FENCING], "scsi_fencing and et-virt05 or hang_and_fence and et-virt06", timeout=180)


def run_lanes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SuiteRun]:
    """One run per fault, only its matching case, LANES at a time; plus the SCSI-fenced lab's run
    (test_scsi_lab.py), which shares the lanes to keep the tests' time modest."""
    out: dict[str, SuiteRun] = {}
    queue: list[Fault | str] = [*FAULTS, SCSI_RUN]
    running: dict[str, Pending] = {}
    while queue or running:
        while queue and len(running) < LANES:
            job = queue.pop(0)
            if isinstance(job, str):
                running[job] = start_scsi_run(tmp_path_factory.mktemp(job))
                continue
            folder = tmp_path_factory.mktemp(job.name)
            inventory = write_inventory(folder / "inventory", ANVIL, faults=[{"name": job.name, "target": job.target}],
                                        timing=TIMING, expectations=EXPECT, cluster=job.cluster)
            select = job.case.replace("[", " and ").rstrip("]") if "[" in job.case else job.case
            running[job.name] = Pending(folder, inventory, [job.suite], select, timeout=180)
        done = next((name for name, p in running.items() if p.finished), None)
        if done is None:
            time.sleep(0.2)
            continue
        out[done] = running.pop(done).result()
    return out
