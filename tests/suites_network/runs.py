"""Runs of the network suite against simulated labs, shared by the tests of this folder (see conftest.py).

Each run is `pytest suites/test_network.py` in a subprocess against its own
simulated lab (a fresh labsim on its own ports), with its own --basetemp
(where the lab's ground-truth event log lands), summary and Allure results.
The runs are made on first use, in two lanes side by side (see LANES): they
spend most of their time in the waits the procedure imposes (updelays, soaks),
so they overlap well.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from hacert.suite_runs import REPO, SuiteRun, run_in_lanes, stop_all, suite_command, write_inventory

ROOT = REPO
SUITE = "suites/test_network.py"
RUN_TIMEOUT = 280.0
"""A run that takes longer is stuck; its output says where."""


GARBAGE = [{"name": "syslog_garbage"}]
"""Adversity of the three-node run: every node's syslog gets lines no parser knows; every case still passes."""

# name -> (inventory or (source, faults[, adversities]), -k selection[, extra options])
RUNS: dict[str, tuple[Any, ...]] = {
    "anvil": ("anvil-sim.yaml", None),
    "three-node": (("three-node-sim.yaml", [], GARBAGE), None),
    "bond_no_backup": (("anvil-sim.yaml", [{"name": "bond_no_backup", "target": "an-node02/bond1"}]),
                       "test_bond_cable_pull and an-node02-bond1-failover"),
    "updelay_zero-bond": (("anvil-sim.yaml", [{"name": "updelay_zero", "target": "an-node01/bond2"}]),
                          "test_bond_cable_pull and an-node01-bond2-updelay_return"),
    "updelay_zero-switch": (("three-node-sim.yaml", [{"name": "updelay_zero"}]),
                            "test_switch_power_cycle and core-a"),
    "stp_after_switch_boot": (("anvil-sim.yaml", [{"name": "stp_after_switch_boot", "target": "sw1"}]),
                              "test_switch_power_cycle and sw1", ("--soak", "7")),
}


LANES = (("anvil",), ("three-node", "bond_no_backup", "updelay_zero-bond", "updelay_zero-switch", "stp_after_switch_boot"))
"""Runs in one lane go one after the other, lanes side by side: two labs at a time keep the
timings honest on a small, busy machine (each lab's clock-driven events need CPU on time)."""


def _adversities(adversities: list[dict[str, Any]] | None = None) -> Any:
    def edit(data: dict[str, Any]) -> None:
        if adversities:
            data.setdefault("simulation", {})["adversities"] = adversities
    return edit


@pytest.fixture(scope="session")
def suite_runs() -> Iterator[dict[str, SuiteRun]]:
    """Every run of RUNS, finished before the first test looks.

    Their folders live outside pytest's numbered temp dirs, which other pytest
    processes of the same user may rotate away while these runs still write."""
    base = Path(tempfile.mkdtemp(prefix="hacert-network-suite-"))
    runs: dict[str, SuiteRun] = {}
    for name, (what, select, *extra) in RUNS.items():
        folder = base / name
        folder.mkdir()
        if isinstance(what, str):
            inventory = ROOT / "inventories" / what
        else:
            source, faults, *adversities = what
            inventory = write_inventory(folder, source, faults=faults, edit=_adversities(*adversities))
        command = suite_command([SUITE], inventory, folder, select=select, extra=tuple(extra[0]) if extra else ())
        runs[name] = SuiteRun(name, folder, command, RUN_TIMEOUT, one_lab=True)
    try:
        run_in_lanes([[runs[name] for name in lane] for lane in LANES], time.monotonic() + RUN_TIMEOUT)
        yield runs
    finally:
        stop_all(list(runs.values()))
        shutil.rmtree(base, ignore_errors=True)
