"""Runs of the network suite against simulated labs, shared by the tests of this folder (see conftest.py).

Each run is `pytest suites/test_network.py` in a subprocess against its own
simulated lab (a fresh labsim on its own ports), with its own --basetemp
(where the lab's ground-truth event log lands), summary and Allure results.
The runs are made on first use, in two lanes side by side (see LANES): they
spend most of their time in the waits the procedure imposes (updelays, soaks),
so they overlap well.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SUITE = "suites/test_network.py"
RUN_TIMEOUT = 280.0
"""A run that takes longer is stuck; its output says where."""


@dataclass
class SuiteRun:
    """One `pytest suites/test_network.py` subprocess and what it left behind."""

    name: str
    inventory: Path
    select: str | None
    base: Path
    extra: tuple[str, ...] = ()
    process: subprocess.Popen[str] | None = None
    started: float = 0.0
    wall: float = 0.0
    returncode: int | None = None
    output: str = ""
    _summary: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def basetemp(self) -> Path:
        return self.base / "basetemp"

    @property
    def summary_dir(self) -> Path:
        return self.base / "summary"

    @property
    def alluredir(self) -> Path:
        return self.base / "allure"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "pytest", SUITE, "--inventory", str(self.inventory), "-p", "no:cacheprovider",
               "-q", "-rA", "--basetemp", str(self.basetemp), "--summary-dir", str(self.summary_dir),
               "--alluredir", str(self.alluredir), "-o", "addopts="]
        cmd += [arg for plugin in missing_plugins() for arg in ("-p", plugin)]
        if self.select:
            cmd += ["-k", self.select]
        return cmd + list(self.extra)

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env.pop("HACERT_INVENTORY", None)
        env["CI"] = "1"  # never ask a person anything
        self.started = time.monotonic()
        self.process = subprocess.Popen(self.command(), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)

    def wait(self, deadline: float) -> None:
        assert self.process is not None
        try:
            self.output, _ = self.process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.output, _ = self.process.communicate(timeout=30)
            self.output += f"\n[killed: the run took longer than {RUN_TIMEOUT:.0f} s]"
        self.returncode = self.process.returncode
        self.wall = time.monotonic() - self.started

    # -- what the run left

    def summary(self) -> dict[str, Any]:
        if self._summary is None:
            path = self.summary_dir / "summary.json"
            assert path.is_file(), f"run {self.name} wrote no summary.json; its output:\n{self.output[-6000:]}"
            self._summary = json.loads(path.read_text())
        return self._summary

    def cases(self) -> dict[str, dict[str, Any]]:
        """By case id (test name with its parameters), the summary's record."""
        summary = self.summary()
        rows = summary.get("cases") or summary.get("results") or []
        return {row["case"].split("::")[-1]: row for row in rows}

    def allure_results(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.alluredir.glob("*-result.json"))]

    def events(self) -> list[dict[str, Any]]:
        """The ground truth: the event log of the run's one simulated lab."""
        # pytest's numbered folders come with a "...current" link to the latest: count each log once
        logs = sorted({p.resolve() for p in self.basetemp.glob("labsim-*/**/events.jsonl")})
        assert len(logs) == 1, f"run {self.name}: expected one labsim event log under {self.basetemp}, found {logs}"
        return [json.loads(line) for line in logs[0].read_text().splitlines() if line.strip()]

    def explain(self) -> str:
        return f"run {self.name} (exit {self.returncode}, {self.wall:.0f} s):\n{self.output[-8000:]}"


def missing_plugins() -> list[str]:
    """The hacert plugins the root conftest does not register yet (the suite needs guard and record)."""
    text = (ROOT / "conftest.py").read_text()
    return [p for p in ("fixtures.guard", "fixtures.report") if p not in text]


def faulty_inventory(tmp: Path, source: str, faults: list[dict[str, str]]) -> Path:
    """A copy of inventories/`source` with `faults` seeded into its simulation section."""
    data = yaml.safe_load((ROOT / "inventories" / source).read_text())
    data.setdefault("simulation", {})["faults"] = faults
    path = tmp / source
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# name -> (inventory or (source, faults), -k selection[, extra options])
RUNS: dict[str, tuple[Any, ...]] = {
    "anvil": ("anvil-sim.yaml", None),
    "three-node": ("three-node-sim.yaml", None),
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
        inventory = ROOT / "inventories" / what if isinstance(what, str) else faulty_inventory(folder, *what)
        runs[name] = SuiteRun(name, inventory, select, folder, tuple(extra[0]) if extra else ())
    deadline = time.monotonic() + RUN_TIMEOUT

    def lane(names: tuple[str, ...]) -> None:
        for name in names:
            runs[name].start()
            runs[name].wait(deadline)

    threads = [threading.Thread(target=lane, args=(names,), name=f"suite-lane-{i}") for i, names in enumerate(LANES)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        yield runs
    finally:
        for run in runs.values():
            if run.process is not None and run.process.poll() is None:
                run.process.kill()
                run.process.wait(10)
        shutil.rmtree(base, ignore_errors=True)
