"""Run the fencing suites against a simulated lab in a subprocess, as a user would, and read
back what they reported: the exit code, the JUnit XML, the certification summary JSON and the
simulated lab's ground-truth event log."""

from __future__ import annotations

import json
import os
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from hacert.verdict.summary import latest_summary_path
from hacert.labsim.core import read_event_log
from hacert import suite_runs as shared
from hacert.suite_runs import REPO

ANVIL = REPO / "inventories" / "anvil-sim.yaml"
THREE_NODE = REPO / "inventories" / "three-node-sim.yaml"
FENCING = REPO / "suites" / "test_fencing.py"
COLD_START = REPO / "suites" / "test_cold_start.py"

_SCRUBBED = ("HACERT_INVENTORY", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "CI")


def write_inventory(folder: Path, base: Path, *, faults: Sequence[dict[str, Any]] = (), timing: dict[str, Any] | None = None,
                    expectations: dict[str, Any] | None = None, cluster: dict[str, Any] | None = None,
                    edit: Callable[[dict[str, Any]], Any] | None = None) -> Path:
    """A copy of `base` with seeded faults and changed timings/expectations (and `edit(data)`), validated."""
    return shared.write_inventory(folder, base, faults=list(faults), timing=timing, expectations=expectations or {},
                                  cluster=cluster, edit=edit, named_by_lab=True)


@dataclass
class SuiteRun:
    returncode: int
    output: str
    folder: Path
    seconds: float

    @property
    def junit(self) -> ET.Element:
        return ET.parse(self.folder / "junit.xml").getroot()

    def outcomes(self) -> dict[str, tuple[str, str]]:
        """{test name with its id: (passed|failed|error|skipped, message)}."""
        return shared.junit_outcomes(self.folder / "junit.xml")

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads(latest_summary_path(self.folder / "summary").read_text())

    def row(self, case: str) -> dict[str, Any]:
        for row in self.summary["cases"]:
            if row["case"].endswith(case):
                return row
        raise KeyError(f"no summary row for {case}: {[r['case'] for r in self.summary['cases']]}")

    def number(self, case: str, name: str) -> float | None:
        for entry in self.row(case)["numbers"]:
            if entry["name"] == name:
                return entry["value"]
        raise KeyError(f"{case} recorded no number {name!r}: {[n['name'] for n in self.row(case)['numbers']]}")

    @property
    def events(self) -> list[dict[str, Any]]:
        logs = list((self.folder / "basetemp").rglob("events.jsonl"))
        assert len(logs) == 1, f"expected one simulated lab's event log, found {logs}"
        return read_event_log(logs[0])


class Pending:
    """A suite run started in the background (runs overlap to keep the tests' time modest)."""

    def __init__(self, folder: Path, inventory: Path, suites: Sequence[Path], select: str | None, timeout: float) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.timeout = timeout
        environ = shared.suite_env(scrub=_SCRUBBED, ci=False, extra={"PYTHONDONTWRITEBYTECODE": "1"})
        command = [
            sys.executable, "-m", "pytest", "-c", os.devnull, "--rootdir", str(REPO),
            "-p", "no:cacheprovider", "-p", "hacert.fixtures.plugin", "-p", "hacert.fixtures.report", "-p", "hacert.fixtures.guard",
            *[str(s) for s in suites], "--inventory", str(inventory),
            "--junitxml", str(folder / "junit.xml"), "--alluredir", str(folder / "allure"),
            "--summary-dir", str(folder / "summary"), "--basetemp", str(folder / "basetemp"),
            "-o", "junit_family=xunit1", "-rA",
        ]
        if select:
            command += ["-k", select]
        self._run = shared.SuiteRun(folder.name, folder, command, timeout, env=environ)
        self._run.start()
        self.started = self._run.started
        assert self._run.process is not None
        self.process = self._run.process

    @property
    def finished(self) -> bool:
        """Ended, or past its timeout (then `result()` kills it and says so)."""
        return self.process.poll() is not None or time.monotonic() - self.started > self.timeout

    def result(self) -> SuiteRun:
        code = self._run.wait_or_fail(at_least=0.1)
        return SuiteRun(code, self._run.output, self.folder, self._run.wall)


def first(events: list[dict[str, Any]], kind: str, after: float = 0.0, **match: Any) -> dict[str, Any] | None:
    for e in events:
        if e["kind"] == kind and e["t"] >= after and all(e.get(k) == v for k, v in match.items()):
            return e
    return None
