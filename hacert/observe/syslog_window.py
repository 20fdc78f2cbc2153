"""Syslog windows: where each node's syslog ended at the start of a case, and what came after."""

from __future__ import annotations

import time
from typing import Any, Sequence

from hacert.drivers.errors import HacertError
from hacert.drivers.node import SyslogMark
from hacert.observe.coverage import Unseen
from hacert.observe.lines import SkippedLines, count_unreadable_syslog


class SyslogWindow:
    """Where each node's syslog ended at the start of a case, and what came after (the node
    shells' `syslog_mark` / `syslog_since`: a rotated file is read whole)."""

    def __init__(self, lab: Any, nodes: Sequence[str] | None = None, path: str = "/var/log/messages") -> None:
        self.lab = lab
        self.path = path
        self.marks: dict[str, SyslogMark] = {}
        self.errors: dict[str, HacertError] = {}
        """The nodes whose window could not be read the last time `lines()` asked, and why."""
        for node in nodes or [n.name for n in lab.inventory.nodes]:
            try:
                self.marks[node] = self.lab.node(node).syslog_mark(self.path)
            except HacertError:
                continue  # no mark, no window: `lines()` leaves the node out

    def skipped(self, windows: dict[str, list[str]]) -> SkippedLines:
        """The lines of `windows` (as `lines()` gave them) that are not syslog: skipped and counted."""
        return count_unreadable_syslog({n: ls for n, ls in windows.items() if n not in self.errors})

    def unseen(self, nodes: Sequence[str], needed: str, since: float) -> list[Unseen]:
        """The nodes of `nodes` whose syslog could not be read the last time: what they logged is unseen."""
        return [Unseen(f"{node}'s syslog", since, time.time(), 1, needed.format(node=node), self.errors[node])
                for node in nodes if node in self.errors]

    def lines(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for node, mark in self.marks.items():
            try:
                out[node] = self.lab.node(node).syslog_since(mark)
            except HacertError as exc:
                self.errors[node] = exc
                out[node] = [f"(syslog of {node} unreadable: {exc})"]
                continue
            self.errors.pop(node, None)
        return out
