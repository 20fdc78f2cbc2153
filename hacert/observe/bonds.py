"""The bond and link watcher: `/proc/net/bonding/bondN` of every watched bond and the NICs'
carrier (`ip -o link`), polled through each node's SSH, every change timestamped.

All times are the controller's wall-clock seconds (`time.time()`). The watcher keeps a
`Coverage` of its looks: `unseen(...)` gives the spans without a reading, so no check takes
its silence for "no change". Lines no parser knows are skipped one at a time and counted.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence

from hacert.drivers.errors import HacertError
from hacert.drivers.parsers import ParseError, parse_bonding, parse_ip_link
from hacert.drivers.parsers.bonding import BondStatus
from hacert.observe.coverage import Coverage, Unseen
from hacert.observe.lines import SkippedLines


class _Result(Protocol):
    stdout: str


class Shell(Protocol):
    """The part of hacert.drivers.node.NodeShell the watcher uses."""

    name: str

    def run(self, cmd: str, timeout: float | None = None, check: bool = True) -> _Result: ...


@dataclass(frozen=True)
class BondChange:
    """The bond's active slave changed between two polls (t: the poll that saw it)."""

    t: float
    node: str
    bond: str
    active: str | None
    previous: str | None


@dataclass(frozen=True)
class LinkChange:
    """A NIC's carrier changed (from `ip -o link`)."""

    t: float
    node: str
    nic: str
    up: bool


_BOND_HEADER = "Ethernet Channel Bonding Driver:"
_LINK_LINE = re.compile(r"^\d+: \S+: <")


def split_bond_files(text: str) -> list[str]:
    """`cat bondA bondB ...` -> one text per file (each starts with the driver line)."""
    parts: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith(_BOND_HEADER):
            parts.append([])
        if parts:
            parts[-1].append(line)
    return ["\n".join(p) + "\n" for p in parts]


def carriers(text: str, skipped: SkippedLines | None = None, source: str = "") -> dict[str, bool]:
    """`ip -o link` -> {nic: carrier}; a line that is not `ip -o link`'s is skipped (and counted)."""
    tally = skipped if skipped is not None else SkippedLines("ip -o link")
    return {link.name: link.carrier for link in parse_ip_link(text, on_bad_line=tally.hook(source))}


class BondWatcher:
    """Polls bonds and NIC carriers on several nodes, one thread per node.

    `bonds` maps node name -> [(bond name, status file path, [slave NICs])].
    Every change is appended to `changes` / `links` with the midpoint time of
    the poll that first saw it; waiters are woken through a condition.
    `coverage[node]` keeps every poll (a reading, or the error that gave none:
    a node that does not answer, a status file no parser reads); `unseen` says
    where the watcher was blind, so no check takes its silence for "no change".
    """

    def __init__(self, shells: Mapping[str, Shell], bonds: Mapping[str, Sequence[tuple[str, str, Sequence[str]]]],
                 interval: float = 0.05, command_timeout: float = 5.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.shells = dict(shells)
        self.bonds = {node: list(items) for node, items in bonds.items() if items}
        self.interval = interval
        self.command_timeout = command_timeout
        self._clock = clock
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.changes: list[BondChange] = []
        self.links: list[LinkChange] = []
        self.poll_errors: list[tuple[float, str, str]] = []
        self.active: dict[tuple[str, str], str | None] = {}
        self.carrier: dict[tuple[str, str], bool] = {}
        self.status: dict[tuple[str, str], BondStatus] = {}
        self.texts: dict[tuple[str, str], str] = {}
        self.polls = 0
        self.slowest_poll = 0.0
        """The longest a poll took (s): a change is timestamped within half of it, plus one interval."""
        self.coverage = {node: Coverage(f"the bond watcher on {node}", clock) for node in self.bonds}
        self.skipped = SkippedLines("ip -o link")

    # -- lifecycle

    def start(self) -> "BondWatcher":
        for node in self.bonds:
            self._poll(node)  # the baseline, before anyone acts
        for node in self.bonds:
            thread = threading.Thread(target=self._loop, args=(node,), name=f"bond-watch-{node}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.command_timeout + 1)
        self._threads.clear()

    def __enter__(self) -> "BondWatcher":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- polling

    def _loop(self, node: str) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self._poll(node)
            except (HacertError, ParseError) as exc:  # a node that stops answering (or prints garbage) is news
                with self._cond:
                    self.poll_errors.append((self._clock(), node, str(exc)))
                self.coverage[node].failed(exc)
            except Exception as exc:  # whatever else: the watcher must not die silently (its silence is no reading)
                with self._cond:
                    self.poll_errors.append((self._clock(), node, f"{type(exc).__name__}: {exc}"))
                self.coverage[node].failed(exc)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def _poll(self, node: str) -> None:
        shell = self.shells[node]
        items = self.bonds[node]
        # One command per poll: the bond files, then the links (a line per NIC, "N: name: <FLAGS> ...").
        before = self._clock()
        text = shell.run("cat " + " ".join(path for _, path, _ in items) + "; ip -o link",
                         timeout=self.command_timeout).stdout
        after = self._clock()
        seen = (before + after) / 2
        lines = text.splitlines()
        cut = next((i for i, line in enumerate(lines) if _LINK_LINE.match(line)), len(lines))
        files = split_bond_files("\n".join(lines[:cut]))
        if len(files) != len(items):
            raise HacertError(f"{node}: expected {len(items)} bonding status files, read {len(files)}")
        carrier_of = carriers("\n".join(lines[cut:]), self.skipped, node) if cut < len(lines) else {}
        statuses = [parse_bonding(text) for text in files]  # all read, or the poll gave no reading
        with self._cond:
            self.polls += 1
            self.slowest_poll = max(self.slowest_poll, after - before)
            self.coverage[node].ok(seen)
            for (bond, _, nics), text, status in zip(items, files, statuses):
                key = (node, bond)
                self.texts[key] = text
                self.status[key] = status
                if key in self.active and self.active[key] != status.active_slave:
                    self.changes.append(BondChange(seen, node, bond, status.active_slave, self.active[key]))
                self.active[key] = status.active_slave
                for nic in nics:
                    up = carrier_of.get(nic)
                    if up is None:
                        # no `ip -o link` line for it (a dump cut short while links change):
                        # the driver's own view, where an updelay still means carrier
                        up = any(s.name == nic and s.carrier for s in status.slaves)
                    nkey = (node, nic)
                    if nkey in self.carrier and self.carrier[nkey] != up:
                        self.links.append(LinkChange(seen, node, nic, up))
                    self.carrier[nkey] = up
            self._cond.notify_all()

    # -- questions

    def snapshot(self) -> dict[tuple[str, str], str]:
        with self._cond:
            return dict(self.texts)

    def wait(self, what: Callable[[], Any], timeout: float) -> Any:
        """Block until `what()` (called under the lock) returns something truthy, or None at timeout.

        Not a poll loop: a condition wait, woken by every poll of the watcher's threads (each
        change is seen the moment it is recorded); wait_for would only add a sleep between looks."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = what()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def change_to(self, node: str, bond: str, slave: str | None, after: float) -> BondChange | None:
        """The first change of `bond` on `node` to `slave` seen after `after`."""
        with self._cond:
            for ch in self.changes:
                if ch.node == node and ch.bond == bond and ch.active == slave and ch.t >= after:
                    return ch
        return None

    def changes_of(self, node: str, bond: str, after: float = 0.0, before: float = float("inf")) -> list[BondChange]:
        with self._cond:
            return [c for c in self.changes if c.node == node and c.bond == bond and after <= c.t <= before]

    def links_of(self, node: str, nic: str, after: float = 0.0, before: float = float("inf")) -> list[LinkChange]:
        with self._cond:
            return [c for c in self.links if c.node == node and c.nic == nic and after <= c.t <= before]

    def wait_active(self, node: str, bond: str, slave: str | None, after: float, timeout: float) -> BondChange | None:
        """Wait for `bond` to switch to `slave` after time `after` (None: not in time)."""
        return self.wait(lambda: self._find(node, bond, slave, after), timeout)

    def _find(self, node: str, bond: str, slave: str | None, after: float) -> BondChange | None:
        for ch in self.changes:
            if ch.node == node and ch.bond == bond and ch.active == slave and ch.t >= after:
                return ch
        return None

    def wait_link(self, node: str, nic: str, up: bool, after: float, timeout: float) -> LinkChange | None:
        def found() -> LinkChange | None:
            for ch in self.links:
                if ch.node == node and ch.nic == nic and ch.up == up and ch.t >= after:
                    return ch
            return None

        return self.wait(found, timeout)

    def unseen(self, node: str, start: float, end: float, longest: float, needed: str,
               t0: float | None = None) -> list[Unseen]:
        """Where the watcher had no reading of `node` for more than `longest` s within [start, end]."""
        return self.coverage[node].unseen(start, end, longest, needed, t0)

    def wait_polls(self, count: int = 2, timeout: float = 5.0) -> bool:
        """Wait until `count` more polls happened (a fresh view of every bond)."""
        start = self.polls
        return bool(self.wait(lambda: self.polls >= start + count * max(1, len(self.bonds)), timeout))
