"""What the drivers did about transport faults: a journal the reporting plugin reads.

A driver that re-ran a command after its SSH channel died (or found that a non-idempotent
command had taken effect and did not repeat it) writes a `TransportEvent` here. The drivers
are the lowest layer and must not reach the case's evidence themselves: the plugin
(`hacert.fixtures.transport`) takes `JOURNAL.mark()` when a case starts and puts
`JOURNAL.since(mark)` into the case's record when it ends.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

RERAN = "re-ran on a fresh connection"
TOOK_EFFECT = "had taken effect: not repeated"
NOT_TAKEN = "had not taken effect: re-ran on a fresh connection"
GAVE_UP = "not retried"


@dataclass(frozen=True)
class TransportEvent:
    """One transport fault under a command, and what the driver did about it."""

    device: str
    address: str
    command: str
    fault: str
    action: str
    outcome: str = ""
    at: float = field(default_factory=time.time)

    def text(self) -> str:
        said = f"{self.device} ({self.address}): {self.command!r} lost its connection ({self.fault}); {self.action}"
        return said + (f": {self.outcome}" if self.outcome else "")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class TransportJournal:
    """An append-only, thread-safe list of `TransportEvent`s, read by position."""

    def __init__(self) -> None:
        self._events: list[TransportEvent] = []
        self._lock = threading.Lock()

    def add(self, event: TransportEvent) -> TransportEvent:
        with self._lock:
            self._events.append(event)
        return event

    def mark(self) -> int:
        with self._lock:
            return len(self._events)

    def since(self, mark: int) -> list[TransportEvent]:
        with self._lock:
            return list(self._events[mark:])


JOURNAL = TransportJournal()
"""The process's journal (one pytest process, or one xdist worker, runs one case at a time)."""


__all__ = ["GAVE_UP", "JOURNAL", "NOT_TAKEN", "RERAN", "TOOK_EFFECT", "TransportEvent", "TransportJournal"]
