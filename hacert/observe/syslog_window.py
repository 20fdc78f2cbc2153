"""Syslog windows: where each node's syslog ended at the start of a case, and what came after."""

from __future__ import annotations

import shlex
import time
from typing import Any, Sequence

from hacert.drivers.errors import HacertError
from hacert.observe.coverage import Unseen
from hacert.observe.lines import SkippedLines, count_unreadable_syslog


class SyslogWindow:
    """Where each node's syslog ended at the start of a case, and what came after.

    Counts lines with `wc -l FILE` and reads with `tail -n +N FILE` (no shell redirection,
    which not every node shell offers).
    """

    def __init__(self, lab: Any, nodes: Sequence[str] | None = None, path: str = "/var/log/messages") -> None:
        self.lab = lab
        self.path = path
        self.marks: dict[str, int] = {}
        self.errors: dict[str, HacertError] = {}
        """The nodes whose window could not be read the last time `lines()` asked, and why."""
        for node in nodes or [n.name for n in lab.inventory.nodes]:
            count = self._count(node)
            if count is not None:
                self.marks[node] = count

    def _count(self, node: str) -> int | None:
        try:
            result = self.lab.node(node).run(f"wc -l {shlex.quote(self.path)}", check=False, timeout=15)
        except HacertError:
            return None
        words = result.stdout.split()
        return int(words[0]) if result.exit_code == 0 and words and words[0].isdigit() else None

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
            now = self._count(node)
            start = 1 if now is not None and now < mark else mark + 1  # rotated: read it all
            try:
                text = self.lab.node(node).run(f"tail -n +{start} {shlex.quote(self.path)}", timeout=30).stdout
            except HacertError as exc:
                self.errors[node] = exc
                out[node] = [f"(syslog of {node} unreadable: {exc})"]
                continue
            self.errors.pop(node, None)
            out[node] = [line for line in text.splitlines() if line]
        return out
