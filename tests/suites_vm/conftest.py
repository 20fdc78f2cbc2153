"""Runs of the VM and service suites against simulated labs, shared by the tests of this folder.

Each run is `pytest suites/test_vm_recovery.py suites/test_migration.py` in a subprocess
against its own simulated lab (fresh ports, its own --basetemp where the lab's ground-truth
event log lands, its own summary and Allure results). All runs start together on first use
and are awaited once: they spend their time waiting on the simulated cluster, so they overlap.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from hacert.suite_runs import REPO, SuiteRun, run_pooled, stop_all, suite_command, write_inventory

ROOT = REPO
SUITES = ["suites/test_vm_recovery.py", "suites/test_migration.py"]
RUN_TIMEOUT = 240.0
"""A run that takes longer is stuck; its output says where."""
PARALLEL = 3
"""Runs at a time: each starts a simulated lab, and labs starting together on a small machine time out."""


# name -> (source inventory, faults, expectations changed, -k selection); longest first
RUNS: dict[str, tuple[str, list[dict[str, str]], dict[str, Any], str | None]] = {
    "three-node": ("three-node-sim.yaml", [], {}, None),
    "anvil": ("anvil-sim.yaml", [], {}, None),
    "node_no_rejoin": ("anvil-sim.yaml", [{"name": "node_no_rejoin", "target": "an-node02"}], {},
                       "test_node_withdraw_rejoin and an-node02"),
    "no_relocate": ("anvil-sim.yaml", [{"name": "no_relocate", "target": "vm0002-web"}], {},
                    "test_vm_destroy_relocates and vm0002-web"),
    "vm_not_recovered": ("three-node-sim.yaml", [{"name": "vm_not_recovered", "target": "guest3"}], {},
                         "test_vm_destroy_relocates and guest3"),
    "migration_drops": ("three-node-sim.yaml", [{"name": "migration_drops", "target": "guest2"}], {},
                        "test_live_migration and guest2-to-et-virt07"),
    "short_window": ("anvil-sim.yaml", [], {"restart_expire_time": 0.5}, "test_vm_destroy_relocates and vm0001-dev"),
    "carried_restart": ("anvil-sim.yaml", [], {}, "test_vm_destroy_relocates and vm0001-dev"),
    "slow_bmc_login": ("anvil-sim.yaml", [], {}, "test_node_withdraw_rejoin"),
}

PLUGINS: dict[str, list[str]] = {"slow_bmc_login": ["tests.suites_vm.slow_bmc_login"]}
"""Harness-side adversities, loaded into a run's pytest (-p)."""


ADVERSITIES: dict[str, list[dict[str, Any]]] = {
    "three-node": [{"name": "syslog_garbage"}],
    "carried_restart": [{"name": "restarted_before_case", "target": "vm0001-dev"}],
}
"""Runs on labs that hide less: the three-node run's syslogs get lines no parser knows (every case still
passes); in carried_restart the cluster restarted a VM once before the case, a restart rgmanager still counts."""


@pytest.fixture(scope="session")
def vm_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SuiteRun]]:
    """Every run of RUNS, started together, finished before the first test looks."""
    base = tmp_path_factory.mktemp("vm-suites")
    runs: dict[str, SuiteRun] = {}
    for name, (source, faults, expectations, select) in RUNS.items():
        folder = base / name
        folder.mkdir()
        adversities = ADVERSITIES.get(name)
        if faults or expectations or adversities:
            inventory = write_inventory(folder, source, faults=faults, expectations=expectations,
                                        edit=lambda data, a=adversities: data.setdefault("simulation", {}).update(
                                            adversities=a) if a else None)
        else:
            inventory = ROOT / "inventories" / source
        extra = [arg for plugin in PLUGINS.get(name, []) for arg in ("-p", plugin)]
        runs[name] = SuiteRun(name, folder, suite_command(SUITES, inventory, folder, select=select, extra=extra),
                              RUN_TIMEOUT)
    try:
        run_pooled(list(runs.values()), PARALLEL)
        yield runs
    finally:
        stop_all(list(runs.values()))
