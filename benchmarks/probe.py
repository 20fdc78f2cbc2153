"""A pytest plugin that timestamps where a run's time goes (`-p benchmarks.probe`).

Active only when env `HACERT_BENCH_PROBE` names a folder. Each pytest process
(the controller and every xdist worker) writes `<folder>/<worker>.json`:

- `phases`: per case, wall-clock start and end of setup, call and teardown;
- `demanded`: every `hacert.observe.waiting.sleep_demanded` (start, end, why) — the
  waits the procedure itself imposes (soaks, "a moment inside the updelay");
- `ssh`: every `NodeShell.run` (count, total seconds, and the slow ones with
  their command), to find harness time spent talking rather than waiting;
- `cpu`: per case and phase, the CPU seconds the process used (all its threads);
  `cpu_total`: the process's CPU seconds at its end;
- `timed`: count and total seconds of the harness steps in TIMED (the guard's
  restore/survey, drawing timelines, starting a simulated lab, ...).

It changes nothing the suites see: the wrappers call the originals.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

ENV = "HACERT_BENCH_PROBE"
SLOW_SSH = 0.5
"""A NodeShell.run slower than this (s) is kept with its command."""

TIMED = (
    "hacert.labsim.runner:start_lab",
    "hacert.procedures.guard:Guard.restore",
    "hacert.procedures.guard:Guard.survey",
    "hacert.procedures.guard:Guard.audit",
    "hacert.procedures.guard:Guard.mark_syslogs",
    "hacert.verdict.timeline:draw_timeline",
    "hacert.lab.build:Lab.close",
    "hacert.drivers.node:NodeShell._connect",
    "hacert.drivers.node:Stream.stop",
)
"""Harness steps whose time is summed per process ("module:function" or "module:Class.method")."""

_lock = threading.Lock()
_state: dict[str, Any] = {"phases": {}, "demanded": [], "ssh": {"count": 0, "total": 0.0, "slow": []}, "timed": {},
                         "cpu": {}}


def _timed(name: str, original: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.time()
        try:
            return original(*args, **kwargs)
        finally:
            with _lock:
                n, total = _state["timed"].get(name, (0, 0.0))
                _state["timed"][name] = (n + 1, total + time.time() - start)

    return wrapper


def _patch_timed() -> None:
    import importlib
    import sys

    for spec in TIMED:
        module_name, _, qualname = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        owner: Any = module
        *path, attr = qualname.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        original = getattr(owner, attr, None) if owner is not None else None
        if original is None:
            continue
        wrapped = _timed(qualname, original)
        setattr(owner, attr, wrapped)
        if not path:  # a function others imported by name: replace their reference too
            for other in list(sys.modules.values()):
                if other is not None and getattr(other, attr, None) is original:
                    setattr(other, attr, wrapped)


def _folder() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _patch() -> None:
    import hacert.observe.waiting as waiting
    from hacert.drivers.node import NodeShell

    original_sleep = waiting.sleep_demanded

    def sleep_demanded(seconds: float, why: str, **kwargs: Any) -> None:
        start = time.time()
        try:
            original_sleep(seconds, why, **kwargs)
        finally:
            with _lock:
                _state["demanded"].append({"start": start, "end": time.time(), "seconds": seconds, "why": why})

    waiting.sleep_demanded = sleep_demanded  # type: ignore[assignment]

    original_run = NodeShell.run

    def run(self: NodeShell, cmd: str, timeout: float | None = None, check: bool = True, **marks: Any) -> Any:
        start = time.time()
        try:
            return original_run(self, cmd, timeout=timeout, check=check, **marks)
        finally:
            took = time.time() - start
            with _lock:
                ssh = _state["ssh"]
                ssh["count"] += 1
                ssh["total"] += took
                if took > SLOW_SSH:
                    ssh["slow"].append({"node": self.name, "cmd": cmd[:120], "seconds": round(took, 3), "start": start})

    NodeShell.run = run  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    if _folder() is not None:
        _patch()
        _patch_timed()


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _phase(item: pytest.Item, name: str) -> Iterator[None]:
    start, cpu = time.time(), _cpu()
    yield
    with _lock:
        _state["phases"].setdefault(item.nodeid, {})[name] = [start, time.time()]
        _state["cpu"].setdefault(item.nodeid, {})[name] = _cpu() - cpu


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    yield from _phase(item, "setup")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    yield from _phase(item, "call")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    yield from _phase(item, "teardown")


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = _folder()
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    with _lock:
        data = {"worker": _worker(), "pid": os.getpid(), "cpu_total": _cpu(), **_state}
    (folder / f"{_worker()}.json").write_text(json.dumps(data))


def read_probes(folder: Path) -> dict[str, Any]:
    """Every process's probe file merged: phases by case id, demanded sleeps, SSH statistics, the
    harness's CPU seconds by case id and phase, and its processes' CPU seconds in all."""
    merged: dict[str, Any] = {"phases": {}, "demanded": [], "ssh": {"count": 0, "total": 0.0, "slow": []}, "timed": {},
                              "cpu": {}, "cpu_total": 0.0}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        merged["phases"].update(data["phases"])
        merged["cpu"].update(data.get("cpu", {}))
        merged["cpu_total"] += data.get("cpu_total", 0.0)
        merged["demanded"] += data["demanded"]
        merged["ssh"]["count"] += data["ssh"]["count"]
        merged["ssh"]["total"] += data["ssh"]["total"]
        merged["ssh"]["slow"] += data["ssh"]["slow"]
        for name, (n, total) in data.get("timed", {}).items():
            m, t = merged["timed"].get(name, (0, 0.0))
            merged["timed"][name] = (m + n, t + total)
    return merged
