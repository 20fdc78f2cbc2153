"""Lines a reader did not understand: skipped one at a time, counted, and shown in the evidence.

Real logs and real command output carry lines no parser knows: a line cut short, a binary
blob, another program's format, the continuation of a multi-line message. One of them must
never hide the lines around it (a whole syslog window dropped for one bad line), and a reader
that skipped lines says how many, with a few of them, in the case's evidence.

`SkippedLines` is the tally (`skip`, `count`, `samples`, `report(record)`); the readers below
use the parsers' `on_bad_line` hooks so every line is judged on its own. pytest-free.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hacert.drivers.parsers import ParseError, parse_ping, parse_syslog_events
from hacert.drivers.parsers.ping import PingResult
from hacert.drivers.parsers.syslog import SyslogEvent

SAMPLES = 3
"""How many skipped lines the evidence quotes."""
SHOWN = 120
"""Characters of a skipped line quoted (its repr: a binary line stays readable)."""


class SkippedLines:
    """The lines one kind of reader skipped over a case: how many, and the first few (thread-safe)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.count = 0
        self.samples: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def skip(self, source: str, line: str) -> None:
        with self._lock:
            self.count += 1
            if len(self.samples) < SAMPLES:
                self.samples.append((source, line))

    def hook(self, source: str) -> Any:
        """An `on_bad_line` callback for the parsers, counting into this tally for `source`."""
        return lambda error: self.skip(source, error.line if isinstance(error, ParseError) and error.line is not None
                                       else str(error))

    def add(self, other: "SkippedLines") -> "SkippedLines":
        for source, line in other.samples:
            self.skip(source, line)
        with self._lock:
            self.count += other.count - len(other.samples)
        return self

    def describe(self) -> str:
        """'3 (an-node01: '\\x00\\x7fELF'; ...)' — the count and a sample."""
        with self._lock:
            shown = "; ".join(f"{source}: {_quote(line)}" for source, line in self.samples)
            return f"{self.count} ({shown})" if shown else str(self.count)

    def report(self, record: Any) -> None:
        """Put the count and a sample in the case's evidence (a fact), when any line was skipped."""
        if self.count:
            record.fact(f"{self.what} lines skipped", self.describe())


def _quote(line: str) -> str:
    text = repr(line)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def syslog_events(lines: Sequence[str], skipped: SkippedLines | None = None, source: str = "",
                  year: int | None = None) -> list[SyslogEvent]:
    """The typed events of a syslog window; a line that is not syslog is skipped (and counted)."""
    tally = skipped if skipped is not None else SkippedLines("syslog")
    window = [line for line in lines if line.strip()]
    return parse_syslog_events(window, year, on_bad_line=tally.hook(source)) if window else []


def count_unreadable_syslog(windows: Mapping[str, Iterable[str]], skipped: SkippedLines | None = None) -> SkippedLines:
    """Tally the lines of syslog windows {node: lines} that are not syslog at all."""
    tally = skipped if skipped is not None else SkippedLines("syslog")
    for node, lines in windows.items():
        syslog_events(list(lines), tally, node)
    return tally


def ping_result(text: str, skipped: SkippedLines | None = None, source: str = "") -> PingResult:
    """A ping run's output read line by line: lines ping does not print are skipped (and counted)."""
    tally = skipped if skipped is not None else SkippedLines("ping")
    return parse_ping(text, on_bad_line=tally.hook(source))


__all__ = ["SkippedLines", "count_unreadable_syslog", "ping_result", "syslog_events"]
