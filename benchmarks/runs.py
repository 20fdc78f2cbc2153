"""Run `pytest suites ...` in a subprocess against simulated labs and read what it left.

A `SuiteRun` owns one folder: its --basetemp (where each simulated lab's
workdir, endpoints and ground-truth event log land), its summary, its Allure
results and the probe files of `benchmarks.probe`. `lab_copies` makes N
inventories from one simulated inventory under distinct lab names, for the
parallel runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from benchmarks.probe import ENV as PROBE_ENV
from benchmarks.probe import read_probes
from hacert.verdict.summary import latest_summary_path
from hacert.suite_runs import REPO, RunFolder, suite_env, write_inventory

ROOT = REPO
DEFAULT_INVENTORY = ROOT / "inventories" / "anvil-sim.yaml"


def lab_copies(source: Path, count: int, folder: Path, prefix: str = "par") -> list[Path]:
    """`count` copies of a simulated inventory named `<prefix>-1` .. `<prefix>-N` (ports: auto)."""

    def auto_ports(data: dict[str, Any]) -> None:
        data["simulation"] = {**(data.get("simulation") or {}), "base_port": "auto"}

    return [write_inventory(folder, source, lab=f"{prefix}-{n}", edit=auto_ports) for n in range(1, count + 1)]


PYCACHE = Path(tempfile.gettempdir()) / "hacert-pycache"


def bytecode_cached_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment with compiled-module caching on, the caches outside the source tree.

    With PYTHONDONTWRITEBYTECODE set (as in this project's shells) every process
    recompiles every module and pytest re-rewrites every asserting module: about
    2 CPU-seconds per process here, paid again by each xdist worker. Users run with
    caching on; PYTHONPYCACHEPREFIX keeps the tree clean (hacert.labsim.runner does the same).
    """
    env = dict(os.environ if base is None else base)
    if env.pop("PYTHONDONTWRITEBYTECODE", None):
        env.setdefault("PYTHONPYCACHEPREFIX", str(PYCACHE))
    return env


@dataclass
class SuiteRun(RunFolder):
    """One pytest subprocess and its outputs (its folder laid out as hacert.suite_runs says)."""

    name: str
    folder: Path
    targets: list[str]
    inventories: list[Path]
    select: str | None = None
    workers: int = 0
    extra: list[str] = field(default_factory=list)
    probe: bool = True
    wall: float = 0.0
    returncode: int | None = None
    output: str = ""
    process: subprocess.Popen[str] | None = None

    @property
    def probe_dir(self) -> Path:
        return self.folder / "probe"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "pytest", *self.targets, "-p", "no:cacheprovider", "-q", "-rA",
               "--basetemp", str(self.basetemp), "--summary-dir", str(self.summary_dir),
               "--alluredir", str(self.alluredir)]
        for inv in self.inventories:
            cmd += ["--inventory", str(inv)]
        if self.probe:
            cmd += ["-p", "benchmarks.probe"]
        if self.workers:
            cmd += ["-n", str(self.workers), "--dist", "loadgroup"]
        if self.select:
            cmd += ["-k", self.select]
        return cmd + self.extra

    def env(self) -> dict[str, str]:
        env = bytecode_cached_env(suite_env())
        if self.probe:
            env[PROBE_ENV] = str(self.probe_dir)
        return env

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._started = time.monotonic()
        self.process = subprocess.Popen(self.command(), cwd=ROOT, env=self.env(), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)

    def wait(self, timeout: float) -> "SuiteRun":
        assert self.process is not None
        try:
            self.output, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.output, _ = self.process.communicate(timeout=30)
            self.output += f"\n[killed: the run took longer than {timeout:.0f} s]"
        self.returncode = self.process.returncode
        self.wall = time.monotonic() - self._started
        return self

    def run(self, timeout: float, during: Callable[["SuiteRun"], None] | None = None) -> "SuiteRun":
        """Start, optionally watch (`during(self)` in a thread until the run ends), wait."""
        self.start()
        watcher = None
        if during is not None:
            watcher = threading.Thread(target=during, args=(self,), daemon=True)
            watcher.start()
        self.wait(timeout)
        if watcher is not None:
            watcher.join(5)
        return self

    # ------------------------------------------------------------ outputs

    def summary(self) -> dict[str, Any]:
        path = latest_summary_path(self.summary_dir)
        if not path.is_file():
            raise RuntimeError(f"run {self.name} wrote no summary.json (exit {self.returncode}):\n{self.output[-4000:]}")
        return json.loads(path.read_text())

    def cases(self) -> list[dict[str, Any]]:
        return list(self.summary().get("cases") or [])

    def endpoints(self) -> dict[str, dict[str, Any]]:
        """By lab name, the endpoints each simulated lab of the run published."""
        found: dict[str, dict[str, Any]] = {}
        for path in sorted(self.basetemp.glob("**/endpoints.json")):
            data = json.loads(path.read_text())
            found[data["lab"]] = data
        return found

    def events(self) -> dict[str, list[dict[str, Any]]]:
        """By lab name, the ground-truth event log of each simulated lab of the run."""
        from hacert.labsim.core import read_event_log

        return {lab: read_event_log(ep["event_log"]) for lab, ep in self.endpoints().items()
                if Path(ep["event_log"]).is_file()}

    def probes(self) -> dict[str, Any]:
        return read_probes(self.probe_dir)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for case in self.cases():
            out[case["verdict"]] = out.get(case["verdict"], 0) + 1
        return out

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.output.splitlines()[-lines:])
