"""Runs of the standby, maintenance and rolling-restart suites against simulated labs.

Each run is `pytest suites/test_standby_drain.py suites/test_maintenance_mode.py
suites/test_rolling_restart.py` in a subprocess against its own simulated lab (its own
--basetemp where the lab's ground-truth event log lands, its own summary). The runs start
together on first use and are awaited once.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from hacert.suite_runs import REPO, SuiteRun, run_pooled, stop_all, suite_command, write_inventory

ROOT = REPO
SUITES = ["suites/test_standby_drain.py", "suites/test_maintenance_mode.py", "suites/test_rolling_restart.py"]
RUN_TIMEOUT = 300.0
PARALLEL = 3

# name -> (source inventory, faults, -k selection); longest first
RUNS: dict[str, tuple[str, list[dict[str, str]], str | None]] = {
    "anvil": ("anvil-sim.yaml", [], None),
    "three-node": ("three-node-sim.yaml", [], None),
    "pacemaker3": ("pacemaker3-sim.yaml", [], None),
    "standby_stops_vm-pcmk": ("pacemaker3-sim.yaml", [{"name": "standby_stops_vm", "target": "db01"}],
                              "test_standby_drain and pm-node2"),
    "standby_stops_vm-rgm": ("anvil-sim.yaml", [{"name": "standby_stops_vm", "target": "vm0001-dev"}],
                             "test_standby_drain and an-node01"),
    "maintenance_recovers-pcmk": ("pacemaker3-sim.yaml", [{"name": "maintenance_recovers"}], "test_maintenance_mode"),
    "maintenance_recovers-rgm": ("three-node-sim.yaml", [{"name": "maintenance_recovers"}], "test_maintenance_mode"),
    "rolling_restart_restarts_vm-pcmk": ("pacemaker3-sim.yaml", [{"name": "rolling_restart_restarts_vm", "target": "web01"}],
                                         "test_rolling_restart"),
    "rolling_restart_restarts_vm-rgm": ("anvil-sim.yaml", [{"name": "rolling_restart_restarts_vm"}], "test_rolling_restart"),
}


@pytest.fixture(scope="session")
def cts_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SuiteRun]]:
    """Every run of RUNS, started together, finished before the first test looks."""
    base = tmp_path_factory.mktemp("cts-suites")
    runs: dict[str, SuiteRun] = {}
    for name, (source, faults, select) in RUNS.items():
        folder = base / name
        folder.mkdir()
        inventory = write_inventory(folder, source, faults=faults) if faults else ROOT / "inventories" / source
        runs[name] = SuiteRun(name, folder, suite_command(SUITES, inventory, folder, select=select), RUN_TIMEOUT)
    try:
        run_pooled(list(runs.values()), PARALLEL)
        yield runs
    finally:
        stop_all(list(runs.values()))


def number(row: dict[str, Any], name: str) -> float:
    for entry in row["numbers"]:
        if entry["name"] == name:
            assert entry["value"] is not None, f"{row['case']}: {name} was not measured"
            return float(entry["value"])
    raise AssertionError(f"{row['case']} recorded no number {name!r}: {[n['name'] for n in row['numbers']]}")
