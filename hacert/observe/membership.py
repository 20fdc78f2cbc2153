"""The membership watcher: polls a cluster manager's `status()` and timestamps every change of
quorum or online members, keeping a `Coverage` of its looks (a status it could not read is
no reading: `unseen(...)`)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from hacert.observe.coverage import Coverage, Unseen


@dataclass(frozen=True)
class MembershipChange:
    t: float
    left: tuple[str, ...]
    joined: tuple[str, ...]
    quorate: bool | None
    was_quorate: bool | None


class ClusterWatcher:
    """Polls `status()` of a cluster manager; timestamps every change of quorum or online members."""

    def __init__(self, status: Callable[[], Any], interval: float = 0.25,
                 clock: Callable[[], float] = time.time) -> None:
        self._status = status
        self.interval = interval
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.baseline: tuple[frozenset[str], bool | None] | None = None
        self.current: tuple[frozenset[str], bool | None] | None = None
        self.changes: list[MembershipChange] = []
        self.poll_errors: list[tuple[float, str]] = []
        self.coverage = Coverage("the cluster watcher", clock)

    @staticmethod
    def _view(status: Any) -> tuple[frozenset[str], bool | None]:
        online = frozenset(name for name, m in status.members.items() if getattr(m, "online", False))
        return online, getattr(status, "quorate", None)

    def _poll(self) -> None:
        t = self._clock()
        try:
            view = self._view(self._status())
        except Exception as exc:  # no status this time (a node not answering, an unreadable answer): no reading
            with self._lock:
                self.poll_errors.append((t, str(exc)))
            self.coverage.failed(exc, t)
            return
        self.coverage.ok(t)
        with self._lock:
            if self.current is not None and view != self.current:
                old_members, old_q = self.current
                self.changes.append(MembershipChange(
                    t, tuple(sorted(old_members - view[0])), tuple(sorted(view[0] - old_members)), view[1], old_q))
            if self.baseline is None:
                self.baseline = view
            self.current = view

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._poll()

    def start(self) -> "ClusterWatcher":
        self._poll()
        self._thread = threading.Thread(target=self._loop, name="cluster-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def unseen(self, start: float, end: float, longest: float, needed: str, t0: float | None = None) -> list[Unseen]:
        """Where no status was read for more than `longest` s within [start, end]."""
        return self.coverage.unseen(start, end, longest, needed, t0)


def describe_membership_change(change: MembershipChange, t0: float, member_to_node: Callable[[str], str]) -> str:
    parts = []
    if change.left:
        parts.append(", ".join(member_to_node(m) for m in change.left) + " left")
    if change.joined:
        parts.append(", ".join(member_to_node(m) for m in change.joined) + " joined")
    if change.quorate is not change.was_quorate:
        parts.append("quorum lost" if change.quorate is False else "quorum regained")
    return f"+{change.t - t0:.0f} s: " + ("; ".join(parts) or "membership changed")
