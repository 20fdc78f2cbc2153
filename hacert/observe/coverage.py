"""What an instrument saw, and what it did not: no check may pass on samples it does not have.

A watcher (a poller of bond files, of the cluster's status, of a VM's domain state, of a PDU
outlet) records every look it made: `Coverage.ok(t)` for a look that gave a reading,
`Coverage.failed(error, t)` for one that did not. A check that rests on the absence of
something ("the bond never flapped", "the VM never stopped", "the outlet stayed on") asks the
coverage of the span it judges first: a span longer than the check can afford without a
reading is `Unseen`, and the case ends

- a LAB ERROR (`Unobserved`, a `LabError`) when the looks failed because a device did not
  answer or misbehaved (the failures were `LabError`s),
- INCONCLUSIVE (`hacert.verdict.verdicts.Inconclusive`) otherwise: output no parser understood, a
  silent stream, a watcher that stopped,

never a pass. What the harness did see still counts: a failure it saw is judged first
(`raise_unseen` is for the end of a case, once every seen failure was judged).

All times are the controller's clock (`time.time()`): when the harness looked, not what a
node's clock says. pytest-free.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from hacert.drivers.errors import LabError

from hacert.drivers.errors import Inconclusive


class Unobserved(LabError):
    """A device stopped answering, so the harness did not see what a check needed: a lab error."""


@dataclass(frozen=True)
class Unseen:
    """A span an instrument did not see, and why: `error` is the last failure inside it, if any."""

    instrument: str
    start: float
    end: float
    failures: int
    needed: str
    error: BaseException | None = None
    t0: float | None = None

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def describe(self) -> str:
        def at(t: float) -> str:
            return f"+{t - self.t0:.1f} s" if self.t0 is not None else time.strftime("%H:%M:%S", time.localtime(t))

        why = f"{self.failures} look(s) failed, the last: {_said(self.error)}" if self.failures else "no reading came"
        return (f"{self.instrument} saw nothing from {at(self.start)} to {at(self.end)} ({self.seconds:.1f} s; {why}): "
                f"cannot tell whether {self.needed}")


def _said(error: BaseException | None) -> str:
    if error is None:
        return "no error"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text[:300]}"


class Coverage:
    """The looks of one instrument over time (thread-safe): which gave a reading, which failed."""

    def __init__(self, instrument: str, clock: Callable[[], float] = time.time) -> None:
        self.instrument = instrument
        self._clock = clock
        self._lock = threading.Lock()
        self._ok: list[float] = []
        self._failed: list[tuple[float, BaseException]] = []

    # ------------------------------------------------------------ recording

    def ok(self, t: float | None = None) -> None:
        """A look that gave a reading (at `t`, default now)."""
        with self._lock:
            self._ok.append(self._clock() if t is None else t)

    def failed(self, error: BaseException, t: float | None = None) -> None:
        """A look that gave nothing: the device did not answer, its output was unreadable, ..."""
        with self._lock:
            self._failed.append((self._clock() if t is None else t, error))

    # ------------------------------------------------------------ questions

    @property
    def readings(self) -> int:
        with self._lock:
            return len(self._ok)

    @property
    def failures(self) -> list[tuple[float, BaseException]]:
        with self._lock:
            return list(self._failed)

    def blind_spots(self, start: float, end: float, longest: float) -> list[tuple[float, float]]:
        """Spans of [start, end] longer than `longest` s without a reading (clipped to the window);
        the whole window when nothing was read before it ended."""
        if end <= start:
            return []
        with self._lock:
            times = sorted(self._ok)
        inside = [t for t in times if start < t < end]
        if not inside and not any(t <= start for t in times):
            return [(start, end)]  # nothing read before the window ended: all of it is blind, however short
        points = [start] + inside + [end]
        return [(a, b) for a, b in zip(points, points[1:]) if b - a > longest]

    def unseen(self, start: float, end: float, longest: float, needed: str, t0: float | None = None) -> list[Unseen]:
        """The blind spots of [start, end] (longer than `longest` s), each with the failures inside it."""
        out = []
        failures = self.failures
        for a, b in self.blind_spots(start, end, longest):
            inside = [exc for t, exc in failures if a - longest <= t <= b + longest]
            out.append(Unseen(self.instrument, a, b, len(inside), needed, inside[-1] if inside else None, t0))
        return out

    def require(self, start: float, end: float, longest: float, needed: str, t0: float | None = None) -> None:
        """Raise (see `raise_unseen`) when the instrument was blind for more than `longest` s in [start, end]."""
        raise_unseen(self.unseen(start, end, longest, needed, t0))


def raise_unseen(unseen: Iterable[Unseen]) -> None:
    """End the case for what was not seen (nothing to do when everything was): a lab error when a
    device's failure made an instrument blind, else inconclusive. Every span is named."""
    spans: Sequence[Unseen] = list(unseen)
    if not spans:
        return
    text = "; ".join(u.describe() for u in spans)
    device = next((u.error for u in spans if isinstance(u.error, LabError)), None)
    if isinstance(device, LabError):
        raise Unobserved(device.device, device.address, f"watch {spans[0].instrument}", text)
    raise Inconclusive(text)


__all__ = ["Coverage", "Unobserved", "Unseen", "raise_unseen"]
