"""Runs of the certification suites in a subprocess against a simulated lab, as a user would.

One run is `pytest suites/...` with its own folder: `basetemp/` (where the simulated lab's
ground-truth event log lands), `summary/summary.json`, `allure/` results, and `output.txt`
(what pytest printed). The pieces are separate so a test folder can keep its own policy:
`write_inventory` (a validated copy of an inventory with faults seeded), `suite_env` and
`suite_command` (how pytest is started; more options such as --junitxml go in `extra`),
`SuiteRun` (one run and what it left behind, `junit_outcomes` when it wrote JUnit XML) and
`run_pooled` / `run_in_lanes` / `stop_all` (how several runs share the machine).
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml

from hacert.model.inventory import load_inventory
from hacert.verdict.summary import latest_summary_path

REPO = Path(__file__).resolve().parents[1]
INVENTORIES = REPO / "inventories"
HACERT_PLUGINS = ("hacert.fixtures.guard", "hacert.fixtures.report")
"""The plugins the suites need (the `guard` and `record` fixtures)."""


def default_sigint() -> None:
    """In the child before exec: Ctrl-C acts again. A shell's background job (`cmd &`, as CI may
    start these tests) has SIGINT ignored, and Python keeps an ignored SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def missing_plugins() -> list[str]:
    """The hacert plugins the root conftest does not register."""
    text = (REPO / "fixtures" / "plugins.py").read_text()
    return [p for p in HACERT_PLUGINS if p not in text]


def write_inventory(folder: Path, source: Path | str, *, faults: Sequence[Mapping[str, Any]] | None = None,
                    device_faults: Sequence[Mapping[str, Any]] | None = None,
                    expectations: Mapping[str, Any] | None = None, timing: Mapping[str, Any] | None = None,
                    cluster: Mapping[str, Any] | None = None, lab: str | None = None,
                    name: str | None = None, edit: Callable[[dict[str, Any]], Any] | None = None,
                    named_by_lab: bool = False) -> Path:
    """A validated copy of `source` (a path, or a file name in inventories/) in `folder`.

    `faults` / `device_faults` replace the seeded ones; `expectations`, `timing` (the
    simulation's) and `cluster` are merged over what the source says; `lab` renames the lab;
    `edit(data)` changes anything else last. Written as `name`, by default `<lab>.yaml` when
    renamed or `named_by_lab` (the lab's name after the edits), else the source's file name."""
    path = INVENTORIES / source if isinstance(source, str) else source
    data = copy.deepcopy(yaml.safe_load(path.read_text()))
    if lab:
        data["lab"] = lab
    if faults is not None or device_faults is not None or timing:
        sim = data.setdefault("simulation", {})
        if timing:
            sim["timing"] = {**(sim.get("timing") or {}), **timing}
        if faults is not None:
            sim["faults"] = [dict(f) for f in faults]
        if device_faults is not None:
            sim["device_faults"] = [dict(f) for f in device_faults]
    if expectations is not None:
        data["expectations"] = {**(data.get("expectations") or {}), **expectations}
    if cluster:
        data["cluster"] = {**data["cluster"], **cluster}
    if edit is not None:
        edit(data)
    if name is None and (lab or named_by_lab):
        name = f"{data['lab']}.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / (name or path.name)
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    load_inventory(out)
    return out


def suite_env(*, scrub: Sequence[str] = ("HACERT_INVENTORY",), ci: bool = True,
              extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a suite run: the repository importable, `scrub` removed,
    CI=1 (never ask a person anything) unless `ci` is false, then `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in scrub}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if ci:
        env["CI"] = "1"
    env.update(extra or {})
    return env


def suite_command(tests: Sequence[str], inventory: Path, folder: Path, *, select: str | None = None,
                  extra: Sequence[str] = (), plugins: Sequence[str] | None = None) -> list[str]:
    """`python -m pytest tests...` writing into `folder`'s layout (see the module doc), the
    project's addopts off; `plugins` loaded with -p (by default the ones the root conftest lacks)."""
    cmd = [sys.executable, "-m", "pytest", *tests, "--inventory", str(inventory), "-p", "no:cacheprovider",
           "-q", "-rA", "--basetemp", str(folder / "basetemp"), "--summary-dir", str(folder / "summary"),
           "--alluredir", str(folder / "allure"), "-o", "addopts="]
    cmd += [arg for plugin in (missing_plugins() if plugins is None else plugins) for arg in ("-p", plugin)]
    if select:
        cmd += ["-k", select]
    return cmd + list(extra)


class RunFolder:
    """The layout of one run's folder (see the module doc) and the Allure results found there."""

    folder: Path

    @property
    def basetemp(self) -> Path:
        return self.folder / "basetemp"

    @property
    def summary_dir(self) -> Path:
        return self.folder / "summary"

    @property
    def alluredir(self) -> Path:
        return self.folder / "allure"

    @property
    def output_file(self) -> Path:
        return self.folder / "output.txt"

    def allure_results(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.alluredir.glob("*-result.json"))]


@dataclass
class SuiteRun(RunFolder):
    """One suite run (`command` in `folder`, killed after `timeout` seconds) and what it left.

    `one_lab`: the run starts exactly one simulated lab (its events are then read in log order)."""

    name: str
    folder: Path
    command: list[str]
    timeout: float
    env: dict[str, str] = field(default_factory=suite_env)
    one_lab: bool = False
    process: subprocess.Popen[str] | None = None
    started: float = 0.0
    wall: float = 0.0
    returncode: int | None = None
    output: str = ""
    _summary: dict[str, Any] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        with self.output_file.open("w") as out:
            self.process = subprocess.Popen(self.command, cwd=REPO, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                            preexec_fn=default_sigint)

    def finished(self) -> bool:
        """Has the run ended (killed once past its timeout)? Collects what it left when it has."""
        assert self.process is not None, f"run {self.name} was not started"
        if self.returncode is not None:
            return True
        if self.process.poll() is None:
            if time.monotonic() - self.started < self.timeout:
                return False
            self._kill()
        self._collect()
        return True

    def wait(self, deadline: float | None = None) -> None:
        """Until the run ends, killing it at `deadline` (monotonic; by default its own timeout)."""
        assert self.process is not None, f"run {self.name} was not started"
        if deadline is None:
            deadline = self.started + self.timeout
        try:
            self.process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._kill()
        self._collect()

    def wait_or_fail(self, at_least: float = 1.0) -> int:
        """The exit code once the run ends (waiting `at_least` seconds even when late); a run still
        going past its timeout is killed and fails the calling test with its output's tail."""
        assert self.process is not None, f"run {self.name} was not started"
        try:
            self.process.wait(timeout=max(at_least, self.started + self.timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"suite run in {self.folder} did not end within {self.timeout:g} s:\n"
                                 + self.output_file.read_text()[-4000:]) from None
        self._collect()
        assert self.returncode is not None
        return self.returncode

    def stop(self) -> None:
        """Kill the run if it is still going (for teardown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def _kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(30)
        self.output = f"[killed: the run took longer than {self.timeout:.0f} s]\n"

    def _collect(self) -> None:
        assert self.process is not None
        self.returncode = self.process.returncode
        self.wall = time.monotonic() - self.started
        self.output = self.output_file.read_text() + self.output

    # -- what the run left

    def summary(self) -> dict[str, Any]:
        if self._summary is None:
            path = latest_summary_path(self.summary_dir)
            assert path.is_file(), f"run {self.name} wrote no summary.json; its output:\n{self.output[-6000:]}"
            self._summary = json.loads(path.read_text())
        return self._summary

    def cases(self) -> dict[str, dict[str, Any]]:
        """By case id (test name with its parameters), the summary's row."""
        summary = self.summary()
        rows = summary.get("cases") or summary.get("results") or []
        return {row["case"].split("::")[-1]: row for row in rows}

    def window(self, case: str) -> tuple[float, float]:
        """(start, stop) wall-clock seconds of a case, from its Allure result."""
        uuid = self.cases()[case]["allure"]["uuid"]
        for result in self.allure_results():
            if result.get("uuid") == uuid:
                return result["start"] / 1000.0, result["stop"] / 1000.0
        raise AssertionError(f"run {self.name}: no Allure result for {case} (uuid {uuid})")

    def outcomes(self) -> dict[str, tuple[str, str]]:
        """By case name, the JUnit outcome (when the command wrote `junit.xml` into the folder)."""
        return junit_outcomes(self.folder / "junit.xml")

    def event_logs(self) -> list[Path]:
        # pytest's numbered folders come with a "...current" link to the latest: count each log once
        return sorted({p.resolve() for p in self.basetemp.glob("labsim-*/**/events.jsonl")})

    def events(self) -> list[dict[str, Any]]:
        """The ground truth: the event log of the run's simulated lab, or of all its labs merged by time."""
        logs = self.event_logs()
        one_lab = self.one_lab
        if one_lab:
            assert len(logs) == 1, f"run {self.name}: expected one labsim event log under {self.basetemp}, found {logs}"
        else:
            assert logs, f"run {self.name}: no labsim event log under {self.basetemp}"
        out = [json.loads(line) for log in logs for line in log.read_text().splitlines() if line.strip()]
        return out if one_lab else sorted(out, key=lambda e: e["t"])

    def explain(self) -> str:
        return f"run {self.name} (exit {self.returncode}, {self.wall:.0f} s):\n{self.output[-8000:]}"


_WORSE = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


def junit_outcomes(path: Path) -> dict[str, tuple[str, str]]:
    """{case name: (passed|failed|error|skipped, message)} from a JUnit XML file (none when it is
    missing); a case reported twice (an error in teardown after its call) counts by its worst."""
    out: dict[str, tuple[str, str]] = {}
    if not path.exists():
        return out
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            found = case.find(kind)
            if found is not None:
                outcome = {"failure": "failed"}.get(kind, kind)
                message = (found.get("message") or "") + "\n" + (found.text or "")
                break
        name = case.get("name", "")
        if name not in out or _WORSE[outcome] > _WORSE[out[name][0]]:
            out[name] = (outcome, message)
    return out


def run_pooled(runs: Sequence[SuiteRun], parallel: int, poll: float = 0.5) -> None:
    """Every run to its end, `parallel` at a time, in the given order."""
    waiting, running = list(runs), []
    while waiting or running:
        running = [run for run in running if not run.finished()]
        while waiting and len(running) < parallel:
            run = waiting.pop(0)
            run.start()
            running.append(run)
        time.sleep(poll)


def run_in_lanes(lanes: Sequence[Sequence[SuiteRun]], deadline: float) -> None:
    """Every run to its end: runs of one lane one after the other, lanes side by side, all
    killed at `deadline` (monotonic)."""

    def lane(runs: Sequence[SuiteRun]) -> None:
        for run in runs:
            run.start()
            run.wait(deadline)

    threads = [threading.Thread(target=lane, args=(runs,), name=f"suite-lane-{i}") for i, runs in enumerate(lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def stop_all(runs: Sequence[SuiteRun]) -> None:
    for run in runs:
        run.stop()
