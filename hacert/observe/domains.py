"""The domain poller: `virsh domstate` of a VM on both ends of a move, over and over, with a
`Coverage` of its looks (a migration's stop is judged only where both ends were read)."""

from __future__ import annotations

import threading
import time
from typing import Any

from hacert.observe.coverage import Coverage, Unseen

DOMSTATE_BLIND = 3.0
"""Seconds the domain poller may go without a reading of both ends before 'it never stopped' is no finding."""


class DomainPoller:
    """Polls `virsh domstate VM` on the source, then the target, over and over.

    Looking at the source first makes "neither runs it" trustworthy for a move from
    source to target: if the source no longer ran it, the target must by the time we look.
    """

    def __init__(self, lab: Any, vm: str, source: str, target: str, interval: float = 0.05) -> None:
        self.lab, self.vm, self.source, self.target, self.interval = lab, vm, source, target, interval
        self.samples: list[tuple[float, str | None, str | None]] = []
        self.errors: list[str] = []
        self.coverage = Coverage(f"the domain state poller of {vm} ({source}, {target})")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"domstate {vm}", daemon=True)

    def _state(self, node: str) -> str | None:
        return self.lab.virsh(node).state(self.vm)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                src = self._state(self.source)
                dst = self._state(self.target)
                t = time.time()
                self.samples.append((t, src, dst))
                self.coverage.ok(t)
            except Exception as exc:  # virsh not answering, or answering what no parser reads: no reading
                self.errors.append(f"{type(exc).__name__}: {exc}")
                self.coverage.failed(exc)
            self._stop.wait(self.interval)

    def unseen(self, start: float, end: float, t0: float | None = None, longest: float = DOMSTATE_BLIND) -> list[Unseen]:
        """Where neither end's domain state was read for more than `longest` s within [start, end]."""
        return self.coverage.unseen(start, end, longest, f"{self.vm} stopped between {self.source} and {self.target}", t0)

    def start(self) -> "DomainPoller":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def stopped_at(self) -> list[float]:
        """Times of samples where neither source nor target had the domain running or paused
        (libvirt pauses both ends for the switch-over of a live migration: memory is kept)."""
        alive = ("running", "paused")
        return [t for t, src, dst in self.samples if src not in alive and dst not in alive]

    def rows(self) -> list[tuple[str, str, str]]:
        return [(f"{t:.3f}", src or "-", dst or "-") for t, src, dst in self.samples]
