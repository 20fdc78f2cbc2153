"""Live progress of a running case: what it is doing now, in the procedure's words.

pytest-free. The code that knows something reports it here, and whoever
installed a `Sink` shows it (the plugin `hacert.fixtures.progress` shows it
through pytest's terminal reporter and in the status file):

- the plugin: `case_started(label)` / `case_finished()` around every case;
- `record.title(...)`: `case_title(text)` (the case's name as a person reads it);
- `record.step(name)`: `step(name)` (the procedure's current step);
- `wait_for` and `sleep_demanded`: `waiting(what, elapsed, total)` on every
  poll of a wait long enough to show, `waited()` when it ends;
- a procedure that watches something meanwhile: `detail("0 pings lost")`.

With no sink installed, every call here is a cheap no-op (`waiting` returns
False, and the caller may show the wait its own way).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

SEPARATOR = " · "


def clock(seconds: float) -> str:
    """2:41, 1:02:03: a duration the way a person reads a stopwatch."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class Snapshot:
    """Where a case is: the line a person reads, and its parts for the status file."""

    case: str
    step: str = ""
    awaited: str = ""
    elapsed: float | None = None
    """seconds into the current wait (None: no wait under way)"""
    total: float | None = None
    """the wait's deadline or length in seconds"""
    detail: str = ""
    case_elapsed: float = 0.0
    at: float = field(default_factory=time.time)

    def line(self) -> str:
        """"sw1 power cycle · restore the power of sw1 · soak: 20 s ... · 0:12 of 0:20 · 0 pings lost"."""
        parts = [self.case or "(between cases)"]
        if self.step:
            parts.append(self.step)
        if self.awaited:
            parts.append(self.awaited)
        if self.elapsed is not None:
            parts.append(f"{clock(self.elapsed)} of {clock(self.total)}" if self.total else clock(self.elapsed))
        else:
            parts.append(f"case {clock(self.case_elapsed)}")
        if self.detail:
            parts.append(self.detail)
        return SEPARATOR.join(parts)

    def as_dict(self) -> dict[str, object]:
        return {"case": self.case, "step": self.step, "awaited": self.awaited,
                "elapsed_s": None if self.elapsed is None else round(self.elapsed, 1),
                "total_s": None if self.total is None else round(self.total, 1),
                "detail": self.detail, "case_elapsed_s": round(self.case_elapsed, 1), "line": self.line()}


class Sink(Protocol):
    """Shows progress. `show` is called often (every poll of a wait): a sink rate-limits itself."""

    def show(self, snapshot: Snapshot) -> None: ...

    def clear(self) -> None: ...


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.sink: Sink | None = None
        self.case = ""
        self.case_started = 0.0
        self.steps: list[str] = []
        self.awaited = ""
        self.wait_elapsed: float | None = None
        self.wait_total: float | None = None
        self.detail = ""


_STATE = _State()


def install(sink: Sink | None) -> Sink | None:
    """Make `sink` the one that shows progress (None: nobody); returns the previous one."""
    with _STATE.lock:
        previous, _STATE.sink = _STATE.sink, sink
    return previous


def active() -> bool:
    return _STATE.sink is not None


def snapshot() -> Snapshot | None:
    """Where the running case is now (None: no case running)."""
    s = _STATE
    with s.lock:
        if not s.case:
            return None
        return Snapshot(case=s.case, step=s.steps[-1] if s.steps else "", awaited=s.awaited,
                        elapsed=s.wait_elapsed, total=s.wait_total, detail=s.detail,
                        case_elapsed=time.monotonic() - s.case_started)


def _show() -> None:
    sink = _STATE.sink
    snap = snapshot()
    if sink is not None and snap is not None:
        sink.show(snap)


def case_started(label: str) -> None:
    with _STATE.lock:
        _STATE.case, _STATE.case_started = label, time.monotonic()
        _STATE.steps, _STATE.awaited, _STATE.wait_elapsed, _STATE.wait_total, _STATE.detail = [], "", None, None, ""
    _show()


def case_title(text: str) -> None:
    """The case's name as a person reads it (its `record.title`)."""
    with _STATE.lock:
        if _STATE.case:
            _STATE.case = text


def case_finished() -> None:
    with _STATE.lock:
        _STATE.case, _STATE.steps, _STATE.awaited, _STATE.wait_elapsed, _STATE.detail = "", [], "", None, ""
    sink = _STATE.sink
    if sink is not None:
        sink.clear()


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    """The procedure's current step while the block runs (steps nest: the innermost shows)."""
    with _STATE.lock:
        _STATE.steps.append(name)
    _show()
    try:
        yield
    finally:
        with _STATE.lock:
            if _STATE.steps and _STATE.steps[-1] == name:
                _STATE.steps.pop()
            _STATE.detail = ""


def detail(text: str) -> None:
    """What the case sees meanwhile ("no membership change, 0 pings lost"); shown after the clock."""
    with _STATE.lock:
        _STATE.detail = text


def waiting(what: str, elapsed: float, total: float | None) -> bool:
    """A wait is under way (`elapsed` of `total` seconds). True when a sink showed it."""
    if _STATE.sink is None:
        return False
    with _STATE.lock:
        _STATE.awaited, _STATE.wait_elapsed, _STATE.wait_total = what, elapsed, total
    _show()
    return True


def waited() -> None:
    """The wait ended (met, timed out or interrupted)."""
    with _STATE.lock:
        _STATE.awaited, _STATE.wait_elapsed, _STATE.wait_total = "", None, None


__all__ = ["SEPARATOR", "Sink", "Snapshot", "active", "case_finished", "case_started", "case_title", "clock",
           "detail", "install", "snapshot", "step", "waited", "waiting"]
