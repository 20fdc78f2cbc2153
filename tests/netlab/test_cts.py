"""The CTS-like families (hacert.model.cts) against netlab's real two-node pacemaker cluster: the real
ring cut at the real switches (SNMP on the bridges' ports), real daemons SIGKILLed by their pids inside
the node's namespaces, the real fence agents racing.

CI runs the split brain once (an-node02's ring cut; an-node01 carries the fence delay, so it must
survive and an-node02 be fenced, once) and one daemon kill; NETLAB_SPLIT_RUNS=N runs the split brain
N times and reports N of N; NETLAB_FULL_MATRIX=1 runs every case of the three families.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from hacert.lab.build import Lab
from hacert.model.cts import favoured_node
from hacert.model.inventory import load_inventory
from hacert.netlab import start_netlab

from tests.netlab.conftest import FULL_MATRIX, REPO, leftovers
from tests.netlab.test_cluster import numbers, run_suites

INVENTORY = REPO / "inventories" / "netlab.yaml"
SPLIT = REPO / "suites" / "test_split_brain.py"
KILL = REPO / "suites" / "test_daemon_kill.py"
QUORUM = REPO / "suites" / "test_quorum_loss.py"
RUNS = int(os.environ.get("NETLAB_SPLIT_RUNS", "1"))

pytestmark = pytest.mark.timeout(900 + 240 * RUNS)


@pytest.fixture(scope="module")
def netlab_lab(netlab_machine_lock: None) -> Iterator[Lab]:
    inv = load_inventory(INVENTORY)
    running = start_netlab(INVENTORY, reuse=False)
    lab = Lab(inv, running.endpoints, running=running)
    try:
        yield lab
    finally:
        lab.close()
        assert not leftovers(inv.netlab["prefix"]), "netlab down left something behind"  # type: ignore[index]


def test_split_brain_the_favoured_node_survives_with_one_fence(netlab_lab: Lab, tmp_path: Path) -> None:
    inv = netlab_lab.inventory
    favoured = favoured_node(inv)
    assert favoured == "an-node01", inv.cluster.fence_delay
    loser = "an-node02"
    won = 0
    for run in range(RUNS):
        started = time.monotonic()
        code, rows, tail = run_suites(netlab_lab, tmp_path / f"split{run}", str(SPLIT), "-k", loser)
        [row] = [r for r in rows if r["id"].endswith(f"[{loser}]")]
        assert row["verdict"] == "passed", f"run {run + 1}: {row.get('diagnosis')}\n{tail}"
        figures = numbers(row)
        assert 0 < figures["cut to fence"] <= inv.expectations.fence_timeout, figures
        assert figures["cut to detection"] <= figures["cut to fence"] <= figures["cut to rejoin"], figures
        won += 1
        print(f"split brain run {run + 1}/{RUNS}: {favoured} survived, {loser} fenced once in "
              f"{time.monotonic() - started:.0f} s; " + ", ".join(f"{k} {v:.1f} s" for k, v in figures.items()),
              file=sys.stderr)
    print(f"split brain with the delay on {favoured}: {favoured} survived, one fence only, in {won} of {RUNS} runs",
          file=sys.stderr)
    assert won == RUNS


def test_daemon_kills_on_the_real_cluster(netlab_lab: Lab, tmp_path: Path) -> None:
    """pacemakerd SIGKILLed by its pid in an-node02's namespace: systemd's stand-in restarts it, nothing
    is fenced (CI); every daemon of every node and the other families with NETLAB_FULL_MATRIX=1."""
    args = [str(KILL), str(SPLIT), str(QUORUM)] if FULL_MATRIX else [str(KILL), "-k", "an-node02-pacemakerd"]
    code, rows, tail = run_suites(netlab_lab, tmp_path / "kills", *args)
    assert rows, tail
    bad = {r["id"]: r.get("diagnosis") for r in rows if r["verdict"] not in ("passed", "not applicable")}
    assert not bad, f"{bad}\n{tail}"
