"""Runs of the VM and service suites against simulated labs, shared by the tests of this folder.

Each run is `pytest suites/test_vm_recovery.py suites/test_migration.py` in a subprocess
against its own simulated lab (fresh ports, its own --basetemp where the lab's ground-truth
event log lands, its own summary and Allure results). All runs start together on first use
and are awaited once: they spend their time waiting on the simulated cluster, so they overlap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from fixtures.inventory import load_inventory

ROOT = Path(__file__).resolve().parents[2]
SUITES = ["suites/test_vm_recovery.py", "suites/test_migration.py"]
RUN_TIMEOUT = 240.0
"""A run that takes longer is stuck; its output says where."""
PARALLEL = 3
"""Runs at a time: each starts a simulated lab, and labs starting together on a small machine time out."""


@dataclass
class SuiteRun:
    name: str
    inventory: Path
    select: str | None
    base: Path
    process: subprocess.Popen[str] | None = None
    started: float = 0.0
    wall: float = 0.0
    returncode: int | None = None
    output: str = ""
    _summary: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def basetemp(self) -> Path:
        return self.base / "basetemp"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "pytest", *SUITES, "--inventory", str(self.inventory), "-p", "no:cacheprovider",
               "-q", "-rA", "--basetemp", str(self.basetemp), "--summary-dir", str(self.base / "summary"),
               "--alluredir", str(self.base / "allure"), "-o", "addopts="]
        cmd += [arg for plugin in missing_plugins() for arg in ("-p", plugin)]
        if self.select:
            cmd += ["-k", self.select]
        return cmd

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env.pop("HACERT_INVENTORY", None)
        env["CI"] = "1"
        self.started = time.monotonic()
        with (self.base / "output.txt").open("w") as out:
            self.process = subprocess.Popen(self.command(), cwd=ROOT, env=env, stdout=out,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)

    def finished(self) -> bool:
        """Has the run ended (collecting what it left if so)?"""
        assert self.process is not None
        if self.returncode is not None:
            return True
        if self.process.poll() is None:
            if time.monotonic() - self.started < RUN_TIMEOUT:
                return False
            self.process.kill()
            self.process.wait(30)
            self.output = f"[killed: the run took longer than {RUN_TIMEOUT:.0f} s]\n"
        self.returncode = self.process.returncode
        self.wall = time.monotonic() - self.started
        self.output = (self.base / "output.txt").read_text() + self.output
        return True

    def summary(self) -> dict[str, Any]:
        if self._summary is None:
            path = self.base / "summary" / "summary.json"
            assert path.is_file(), f"run {self.name} wrote no summary.json; its output:\n{self.output[-6000:]}"
            self._summary = json.loads(path.read_text())
        return self._summary

    def cases(self) -> dict[str, dict[str, Any]]:
        """By case id (test name with its parameters), the summary's row."""
        return {row["case"].split("::")[-1]: row for row in self.summary()["cases"]}

    def window(self, case: str) -> tuple[float, float]:
        """(start, stop) wall-clock seconds of a case, from its Allure result."""
        uuid = self.cases()[case]["allure"]["uuid"]
        for path in (self.base / "allure").glob("*-result.json"):
            result = json.loads(path.read_text())
            if result.get("uuid") == uuid:
                return result["start"] / 1000.0, result["stop"] / 1000.0
        raise AssertionError(f"run {self.name}: no Allure result for {case} (uuid {uuid})")

    def events(self) -> list[dict[str, Any]]:
        logs = sorted({p.resolve() for p in self.basetemp.glob("labsim-*/**/events.jsonl")})
        assert logs, f"run {self.name}: no labsim event log under {self.basetemp}"
        out: list[dict[str, Any]] = []
        for log in logs:
            out += [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        return sorted(out, key=lambda e: e["t"])

    def explain(self) -> str:
        return f"run {self.name} (exit {self.returncode}, {self.wall:.0f} s):\n{self.output[-8000:]}"


def missing_plugins() -> list[str]:
    """The hacert plugins the root conftest does not register (the suites need guard and record)."""
    text = (ROOT / "conftest.py").read_text()
    return [p for p in ("fixtures.guard", "fixtures.report") if p not in text]


def changed_inventory(folder: Path, source: str, faults: list[dict[str, str]],
                      expectations: dict[str, Any] | None = None) -> Path:
    """A copy of inventories/`source` with `faults` seeded and `expectations` changed, validated."""
    data = yaml.safe_load((ROOT / "inventories" / source).read_text())
    data.setdefault("simulation", {})["faults"] = faults
    data["expectations"] = {**(data.get("expectations") or {}), **(expectations or {})}
    path = folder / source
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    load_inventory(path)
    return path


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
}


@pytest.fixture(scope="session")
def vm_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SuiteRun]]:
    """Every run of RUNS, started together, finished before the first test looks."""
    base = tmp_path_factory.mktemp("vm-suites")
    runs: dict[str, SuiteRun] = {}
    for name, (source, faults, expectations, select) in RUNS.items():
        folder = base / name
        folder.mkdir()
        if faults or expectations:
            inventory = changed_inventory(folder, source, faults, expectations)
        else:
            inventory = ROOT / "inventories" / source
        runs[name] = SuiteRun(name, inventory, select, folder)
    waiting, running = list(runs.values()), []
    try:
        while waiting or running:
            running = [run for run in running if not run.finished()]
            while waiting and len(running) < PARALLEL:
                run = waiting.pop(0)
                run.start()
                running.append(run)
            time.sleep(0.5)
        yield runs
    finally:
        for run in runs.values():
            if run.process is not None and run.process.poll() is None:
                run.process.kill()
                run.process.wait(10)
