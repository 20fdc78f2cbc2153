"""Run the certification suites in a subprocess, as a user would, and read back what they reported
(exit code, JUnit XML, the certification summary, the per-case log of tests/reliability/attach.py,
the simulated lab's ground-truth event log)."""

from __future__ import annotations

import json
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from hacert.verdict.summary import latest_summary_path
from hacert.labsim.core import read_event_log
from hacert import suite_runs as shared
from hacert.suite_runs import REPO

ANVIL = REPO / "inventories" / "anvil-sim.yaml"
SUITES = REPO / "suites"

_SCRUBBED = ("HACERT_INVENTORY", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_XDIST_WORKER", "PYTEST_CURRENT_TEST")


def write_inventory(folder: Path, base: Path = ANVIL, *, lab: str | None = None, faults: Sequence[dict[str, Any]] = (),
                    device_faults: Sequence[dict[str, Any]] = (), timing: dict[str, Any] | None = None,
                    expectations: dict[str, Any] | None = None, cluster: dict[str, Any] | None = None) -> Path:
    """A validated copy of `base` with seeded faults and other timings/expectations."""
    return shared.write_inventory(folder, base, lab=lab, faults=list(faults), device_faults=list(device_faults) or None,
                                  timing=timing, expectations=expectations or {}, cluster=cluster, named_by_lab=True)


@dataclass
class Finished:
    """What one suite run left behind."""

    returncode: int
    output: str
    folder: Path
    seconds: float

    def junit(self) -> dict[str, tuple[str, str]]:
        """{case name: (passed|failed|error|skipped, message)}; a case erroring in teardown after
        its call counts once, by its worst outcome."""
        return shared.junit_outcomes(self.folder / "junit.xml")

    def summary(self) -> dict[str, Any]:
        path = latest_summary_path(self.folder / "summary")
        return json.loads(path.read_text()) if path.exists() else {"cases": []}

    def rows(self) -> dict[str, dict[str, Any]]:
        """Summary rows by case name (`test_x[id]`)."""
        return {row["case"].split("::")[-1]: row for row in self.summary().get("cases", [])}

    def case_log(self) -> list[dict[str, Any]]:
        path = self.folder / "cases.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def phase(self, case: str, phase: str) -> dict[str, Any] | None:
        for record in self.case_log():
            if record["name"] == case and record["phase"] == phase:
                return record
        return None

    def tail(self, chars: int = 3000) -> str:
        return self.output[-chars:]


class SuiteRun:
    """`pytest suites/...` in the background against an inventory (optionally an already running lab)."""

    def __init__(self, folder: Path, inventory: Path, tests: Sequence[str], *, select: str | None = None,
                 endpoints: Path | None = None, fault_plan: list[dict[str, Any]] | None = None,
                 extra: Sequence[str] = (), timeout: float = 240.0, live_stderr: bool = False) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.timeout = timeout
        env = shared.suite_env(scrub=_SCRUBBED, extra={"HACERT_CASE_LOG": str(folder / "cases.jsonl")})
        if endpoints is not None:
            env["HACERT_ATTACH_ENDPOINTS"] = str(endpoints)
        if fault_plan:
            plan = folder / "fault-plan.json"
            plan.write_text(json.dumps(fault_plan, indent=1))
            env["HACERT_FAULT_PLAN"] = str(plan)
        command = [
            sys.executable, "-m", "pytest", *tests, "--inventory", str(inventory), "-p", "tests.reliability.attach",
            "--junitxml", str(folder / "junit.xml"), "-o", "junit_family=xunit1",
            "--alluredir", str(folder / "allure"), "--summary-dir", str(folder / "summary"),
            "--basetemp", str(folder / "basetemp"), "-rA", "-q", *(["-s"] if live_stderr else []), *extra,
        ]
        if select:
            command += ["-k", select]
        self.command = command
        self._run = shared.SuiteRun(folder.name, folder, command, timeout, env=env)
        self._run.start()
        self.started = self._run.started
        assert self._run.process is not None
        self.process = self._run.process

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to pytest only (the lab, when it was started by the test, keeps running)."""
        self.process.send_signal(signal.SIGINT)

    def running(self) -> bool:
        return self.process.poll() is None

    def result(self) -> Finished:
        code = self._run.wait_or_fail()
        return Finished(code, self._run.output, self.folder, self._run.wall)


def wait_event(log: Path, predicate: Callable[[dict[str, Any]], bool], timeout: float, what: str,
               alive: Callable[[], bool] = lambda: True, since: float = 0.0, interval: float = 0.02) -> dict[str, Any]:
    """Tail the lab's event log until an event (at or after `since`) satisfies `predicate`; bounded and named."""
    deadline = time.monotonic() + timeout
    offset = 0
    pending = ""
    while True:
        with log.open() as handle:
            handle.seek(offset)
            chunk = handle.read()
            offset = handle.tell()
        pending += chunk
        *lines, pending = pending.split("\n")
        for line in lines:
            if line.strip():
                event = json.loads(line)
                if event["t"] >= since and predicate(event):
                    return event
        if time.monotonic() >= deadline:
            raise AssertionError(f"waiting for {what}: not seen within {timeout:g} s in {log}")
        if not alive():
            raise AssertionError(f"waiting for {what}: the suite run ended first")
        time.sleep(interval)


def events(log: Path) -> list[dict[str, Any]]:
    return read_event_log(log)
