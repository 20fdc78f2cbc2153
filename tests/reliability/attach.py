"""Test-only pytest plugin (`-p tests.reliability.attach`) for the reliability tests.

- `HACERT_ATTACH_ENDPOINTS=FILE`: the run uses the simulated lab already serving
  those endpoints (started by the test with hacert.labsim.runner.start_lab) instead of
  starting its own, and leaves it running at the end — so the test can audit the
  lab after the run was interrupted, and make its devices misbehave.
- `HACERT_FAULT_PLAN=FILE`: JSON list of `{"case": "test_x[id]", "fault", "target",
  "after", "duration", "when", "clear": "teardown"|"never"}`; each entry is injected
  into the lab (labsim/device_faults.py control channel) when that case's call
  phase starts — after the guard's session-start heal, before the case's audit —
  and, unless `clear` is "never", cleared when the call phase ends (before the
  guard restores the lab: the fault was transient).
- `HACERT_CASE_LOG=FILE`: one JSON line per case phase: nodeid, when, outcome,
  start/stop (wall clock), duration, the faults injected.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ENDPOINTS_ENV = "HACERT_ATTACH_ENDPOINTS"
PLAN_ENV = "HACERT_FAULT_PLAN"
LOG_ENV = "HACERT_CASE_LOG"


def _endpoints() -> dict[str, Any] | None:
    path = os.environ.get(ENDPOINTS_ENV)
    return json.loads(Path(path).read_text()) if path else None


def _plan() -> list[dict[str, Any]]:
    path = os.environ.get(PLAN_ENV)
    return json.loads(Path(path).read_text()) if path else []


def _log(record: dict[str, Any]) -> None:
    path = os.environ.get(LOG_ENV)
    if path:
        with open(path, "a") as out:
            out.write(json.dumps(record) + "\n")


def pytest_configure(config: pytest.Config) -> None:
    endpoints = _endpoints()
    if endpoints is None:
        return
    import hacert.fixtures.plugin as plugin
    from hacert.lab.build import Lab

    def attached(inventory: Any, workdir: Path) -> Lab:
        if inventory.lab != endpoints["lab"]:
            raise RuntimeError(f"{ENDPOINTS_ENV} serves lab {endpoints['lab']}, not {inventory.lab}")
        return Lab(inventory, endpoints)  # no `running`: closing the Lab leaves the lab serving

    plugin.open_lab = attached  # type: ignore[assignment]


def _control() -> Any:
    from hacert.labsim.device_faults import FaultControl

    endpoints = _endpoints()
    if endpoints is None:
        raise RuntimeError(f"{PLAN_ENV} needs {ENDPOINTS_ENV} (the lab whose devices misbehave)")
    return FaultControl(endpoints["workdir"])


def _entries(item: pytest.Item) -> list[dict[str, Any]]:
    return [e for e in _plan() if item.nodeid.endswith("::" + e["case"]) or item.name == e["case"]]


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    entries = _entries(item)
    injected = []
    for entry in entries:
        _control().inject(entry["fault"], entry.get("target"), after=entry.get("after", 0.0),
                          duration=entry.get("duration"), when=entry.get("when"))
        injected.append({"fault": entry["fault"], "target": entry.get("target"), "at": time.time()})
    item.stash[_INJECTED] = injected
    try:
        yield
    finally:
        for entry in entries:
            if entry.get("clear", "teardown") != "never":
                _control().clear(entry["fault"], entry.get("target"))


_INJECTED = pytest.StashKey[list[dict[str, Any]]]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    _log({
        "nodeid": item.nodeid, "name": item.name, "phase": call.when, "when": report.when,
        "outcome": report.outcome, "start": call.start, "stop": call.stop, "duration": call.duration,
        "error": type(call.excinfo.value).__name__ if call.excinfo else None,
        "message": str(call.excinfo.value)[:2000] if call.excinfo else None,
        "injected": item.stash.get(_INJECTED, []),
    })
