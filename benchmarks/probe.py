"""A pytest plugin that timestamps where a run's time goes (`-p benchmarks.probe`).

Active only when env `HACERT_BENCH_PROBE` names a folder. Each pytest process
(the controller and every xdist worker) writes `<folder>/<worker>.json`:

- `phases`: per case, wall-clock start and end of setup, call and teardown;
- `demanded`: every `fixtures.waiting.sleep_demanded` (start, end, why) — the
  waits the procedure itself imposes (soaks, "a moment inside the updelay");
- `ssh`: every `NodeShell.run` (count, total seconds, and the slow ones with
  their command), to find harness time spent talking rather than waiting.

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

_lock = threading.Lock()
_state: dict[str, Any] = {"phases": {}, "demanded": [], "ssh": {"count": 0, "total": 0.0, "slow": []}}


def _folder() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _patch() -> None:
    import fixtures.waiting as waiting
    from drivers.node import NodeShell

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

    def run(self: NodeShell, cmd: str, timeout: float | None = None, check: bool = True) -> Any:
        start = time.time()
        try:
            return original_run(self, cmd, timeout=timeout, check=check)
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


def _phase(item: pytest.Item, name: str) -> Iterator[None]:
    start = time.time()
    yield
    with _lock:
        _state["phases"].setdefault(item.nodeid, {})[name] = [start, time.time()]


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
        data = {"worker": _worker(), "pid": os.getpid(), **_state}
    (folder / f"{_worker()}.json").write_text(json.dumps(data))


def read_probes(folder: Path) -> dict[str, Any]:
    """Every process's probe file merged: phases by case id, demanded sleeps, SSH statistics."""
    merged: dict[str, Any] = {"phases": {}, "demanded": [], "ssh": {"count": 0, "total": 0.0, "slow": []}}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        merged["phases"].update(data["phases"])
        merged["demanded"] += data["demanded"]
        merged["ssh"]["count"] += data["ssh"]["count"]
        merged["ssh"]["total"] += data["ssh"]["total"]
        merged["ssh"]["slow"] += data["ssh"]["slow"]
    return merged
