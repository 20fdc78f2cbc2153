"""The instruments of the network redundancy suite.

The seed's tester watches sixteen terminals: a ping flood per bond per node,
`/proc/net/bonding/bondN` of every bond, syslog and `cman_tool status`. These
classes are those terminals, with clocks:

- `PingFlood`: `ping -D -O -i INTERVAL ADDRESS` streamed from a node; once
  stopped, a `FloodResult` knows which probes were lost and when.
- `BondWatcher`: polls every watched bond's status file (and the NICs'
  carrier, `ip -o link`) through each node's SSH and timestamps every change
  of active slave and of link state.
- `ClusterWatcher`: polls the cluster's status and timestamps every change of
  quorum or membership.
- `Timeline`: everything above plus the harness's own actions, as one table
  (CSV) with times relative to the start of the case.

Every instrument knows what it did not see: the watchers keep a `Coverage` of
their looks (`unseen(...)`: the spans without a reading), a flood knows how much
of its run its probes cover (`FloodResult.unseen`), and lines no parser knows
are skipped one at a time and counted (`SkippedLines`), never a whole poll or a
whole flood lost for one of them.

All times are the controller's wall-clock seconds (`time.time()`), the clock of
the simulated lab's event log. `ping -D` stamps are on the pinging node's clock:
a flood is told that node's measured offset (hacert.observe.clocks) and brings every
stamp to the controller's clock before it is compared with anything.
"""

from __future__ import annotations

import csv
import io
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from hacert.drivers.errors import HacertError
from hacert.drivers.parsers import ParseError, PingReply, parse_bonding, parse_ip_link, parse_ping_line
from hacert.drivers.parsers.bonding import BondStatus
from hacert.drivers.parsers.ping import PingResult
from hacert.observe.coverage import Coverage, Unseen
from hacert.observe.lines import SkippedLines, ping_result

# ---------------------------------------------------------------- what we need of a node


class _Result(Protocol):
    stdout: str


class _Stream(Protocol):
    def stop(self) -> str: ...

    def lines(self) -> list[str]: ...


class Shell(Protocol):
    """The part of hacert.drivers.node.NodeShell these instruments use."""

    name: str

    def run(self, cmd: str, timeout: float | None = None, check: bool = True) -> _Result: ...

    def start_stream(self, cmd: str) -> _Stream: ...


# ---------------------------------------------------------------- ping floods


def ping_command(address: str, interval: float) -> str:
    """The flood the procedure runs: per-reply timestamps (-D), lost probes reported (-O)."""
    return f"ping -D -O -i {interval:g} {address}"


@dataclass(frozen=True)
class FloodResult:
    """One direction of a flood: `source` pinging `address` (`target`'s, on `network`)."""

    source: str
    target: str
    address: str
    network: str
    interval: float
    started: float
    stopped: float
    output: str
    result: PingResult
    skipped: int = 0
    """Lines of the output that ping does not print (skipped one by one)."""
    opened: float | None = None
    """When the node had the command (its SSH channel open): ping's probes run from there."""
    offset: float = 0.0
    """Seconds the source node's clock is ahead of the controller's: a -D stamp minus this is
    controller time (`output` keeps the node's own stamps)."""

    @property
    def label(self) -> str:
        return f"{self.source} -> {self.target or self.address} ({self.network})"

    @property
    def transmitted(self) -> int:
        """Probes sent: ping's own count, else the highest probe any line speaks of (a reply, a
        'no answer yet', an ICMP error: a flood cut short still counts its unanswered probes)."""
        if self.result.transmitted is not None:
            return self.result.transmitted
        seqs = ([r.seq for r in self.result.replies] + [n.seq for n in self.result.no_answers]
                + [e.icmp_seq for e in self.result.error_lines if e.icmp_seq is not None])
        return max(seqs + [0])

    @property
    def covered(self) -> float:
        """Seconds of the flood's run its probes account for (ping sends one every interval)."""
        return self.transmitted * self.interval

    @property
    def seen_until(self) -> float:
        """Controller time up to which the output accounts for the run: its last stamped line, or
        as far as its probes reach at the nominal interval (ping falls behind it on a loaded node)."""
        began = self.opened if self.opened is not None else self.started
        stamps = [x.timestamp for x in (*self.result.replies, *self.result.no_answers, *self.result.error_lines)
                  if getattr(x, "timestamp", None) is not None]
        return max([began + self.covered] + [s - self.offset for s in stamps])

    def unseen(self, longest: float, t0: float | None = None, needed: str = "") -> list[Unseen]:
        """The end of the run its output says nothing about, when longer than `longest` s (a flood that
        printed nothing, or stopped printing: what happened to the network then was not seen)."""
        start = self.seen_until
        if self.stopped - start <= longest:
            return []
        return [Unseen(f"the ping flood {self.label}", start, self.stopped, 0,
                       needed or "packets were lost then", None, t0)]

    @property
    def lost(self) -> int:
        if self.result.transmitted is not None and self.result.received is not None:
            return self.result.transmitted - self.result.received
        return len(self.result.missing_icmp_seq)

    @property
    def longest_gap(self) -> float:
        """Longest time without an answer (s), on ping's own schedule: (longest run of lost
        probes + 1) x interval. icmp_seq is the clock here, not -D: a pinger that was late to
        send (a busy node) does not lengthen the network's outage."""
        longest = run = 0
        for seq in range(1, self.transmitted + 1):
            run = 0 if seq in self._answered else run + 1
            longest = max(longest, run)
        return round((longest + 1) * self.interval, 3)

    @property
    def _answered(self) -> set[int]:
        return set(self.result.answered_seqs)

    def seq_times(self) -> dict[int, float]:
        """When each probe was sent (s, controller clock): replies and -O lines pin some (their -D
        stamps corrected by the source's clock offset), the rest is interpolated."""
        known: dict[int, float] = {}
        for reply in self.result.replies:
            if reply.timestamp is not None and not reply.duplicate:
                known.setdefault(reply.seq, reply.timestamp - self.offset)
        for late in self.result.no_answers:
            # -O prints 'no answer yet for icmp_seq=N' as it sends probe N+1
            if late.timestamp is not None:
                known.setdefault(late.seq, late.timestamp - self.offset - self.interval)
        last_seq = max([*known, self.transmitted, 0])
        if not known:
            return {s: self.started + (s - 1) * self.interval for s in range(1, last_seq + 1)}
        points = sorted(known.items())
        out: dict[int, float] = {}
        for seq in range(1, last_seq + 1):
            if seq in known:
                out[seq] = known[seq]
                continue
            before = [p for p in points if p[0] < seq]
            after = [p for p in points if p[0] > seq]
            if before and after:
                (s0, t0), (s1, t1) = before[-1], after[0]
                out[seq] = t0 + (t1 - t0) * (seq - s0) / (s1 - s0)
            elif before:
                s0, t0 = before[-1]
                out[seq] = t0 + (seq - s0) * self.interval
            else:
                s1, t1 = after[0]
                out[seq] = t1 - (s1 - seq) * self.interval
        return out

    def lost_seqs(self) -> list[int]:
        """Probes never answered, including those still in flight when the flood stopped."""
        answered = set(self.result.answered_seqs)
        return [s for s in range(1, self.transmitted + 1) if s not in answered]

    def loss_times(self) -> list[float]:
        times = self.seq_times()
        return [times[s] for s in self.lost_seqs() if s in times]

    def lost_between(self, start: float, end: float) -> int:
        return sum(1 for t in self.loss_times() if start <= t <= end)

    def loss_windows(self, merge_gap: float | None = None) -> list[tuple[float, float, int]]:
        """Runs of lost probes as (first lost send time, last lost send time, count)."""
        merge_gap = merge_gap if merge_gap is not None else 1.5 * self.interval
        windows: list[list[float]] = []
        for t in sorted(self.loss_times()):
            if windows and t - windows[-1][1] <= merge_gap:
                windows[-1][1] = t
                windows[-1][2] += 1
            else:
                windows.append([t, t, 1])
        return [(a, b, int(n)) for a, b, n in windows]

    def summary(self) -> str:
        r = self.result
        lines = [f"{self.label}: {self.transmitted} transmitted, {self.transmitted - self.lost} received, "
                 f"{self.lost} lost, longest gap {self.longest_gap:.3f} s"]
        for a, b, n in self.loss_windows():
            lines.append(f"  lost {n} probe(s) sent from {_clock_text(a)} over {b - a + self.interval:.2f} s")
        if r.error_lines:
            lines.append(f"  {len(r.error_lines)} ICMP error line(s), first: {r.error_lines[0].message}")
        return "\n".join(lines)


def _clock_text(t: float) -> str:
    """Wall-clock time of day with milliseconds, as syslog readers think of it."""
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int((t % 1) * 1000):03d}"


class PingFlood:
    """A ping flood from one node to an address, streamed over SSH until stopped."""

    def __init__(self, shell: Shell, source: str, target: str, address: str, network: str,
                 interval: float, clock: Callable[[], float] = time.time, skipped: SkippedLines | None = None,
                 offset: float = 0.0) -> None:
        """`offset`: seconds `source`'s clock is ahead of the controller's (its -D stamps minus it
        are controller times; hacert.observe.clocks)."""
        self.shell = shell
        self.source = source
        self.target = target
        self.address = address
        self.network = network
        self.interval = interval
        self._clock = clock
        self.offset = offset
        self._stream: _Stream | None = None
        self._started = 0.0
        self._opened: float | None = None
        self.skipped = skipped if skipped is not None else SkippedLines("ping output")

    @property
    def command(self) -> str:
        return ping_command(self.address, self.interval)

    def start(self) -> None:
        self._started = self._clock()
        self._stream = self.shell.start_stream(self.command)
        self._opened = self._clock()

    def replies_since(self, t: float) -> int:
        """How many probes answered at or after controller time `t` (their -D stamps corrected), so far (live)."""
        if self._stream is None:
            return 0
        count = 0
        for line in reversed(self._stream.lines()):
            try:
                item = parse_ping_line(line)
            except ValueError:
                continue
            if isinstance(item, PingReply) and item.timestamp is not None:
                if item.timestamp - self.offset < t:
                    break
                count += 1
        return count

    def stop(self) -> FloodResult:
        if self._stream is None:
            raise RuntimeError(f"ping flood {self.source} -> {self.address} was never started")
        output = self._stream.stop()
        stopped = self._clock()
        self._stream = None
        mine = SkippedLines(self.skipped.what)
        result = ping_result(output, mine, self.source)
        self.skipped.add(mine)
        return FloodResult(self.source, self.target, self.address, self.network, self.interval,
                           self._started, stopped, output, result, mine.count, self._opened, self.offset)


# ---------------------------------------------------------------- bond and link watcher


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
        """Block until `what()` (called under the lock) returns something truthy, or None at timeout."""
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


# ---------------------------------------------------------------- cluster watcher


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


# ---------------------------------------------------------------- timeline


@dataclass
class Timeline:
    """Every event of a case on one clock; `t0` is the case's reference (the fault)."""

    t0: float
    rows: list[tuple[float, str, str, str]] = field(default_factory=list)

    def add(self, t: float, lane: str, event: str, detail: str = "") -> None:
        self.rows.append((t, lane, event, detail))

    def add_bonds(self, watcher: BondWatcher) -> None:
        for ch in watcher.changes:
            self.add(ch.t, f"{ch.node}/{ch.bond}", "active slave", f"{ch.previous} -> {ch.active}")
        for ln in watcher.links:
            self.add(ln.t, f"{ln.node}/{ln.nic}", "link up" if ln.up else "link down", "")

    def add_floods(self, floods: Iterable[FloodResult]) -> None:
        for flood in floods:
            for a, b, n in flood.loss_windows():
                self.add(a, f"ping {flood.label}", "loss", f"{n} lost over {b - a + flood.interval:.2f} s")

    def add_membership(self, watcher: ClusterWatcher, member_to_node: Callable[[str], str]) -> None:
        for ch in watcher.changes:
            self.add(ch.t, "cluster", "membership", describe_membership_change(ch, self.t0, member_to_node))

    def sorted_rows(self) -> list[tuple[float, str, str, str]]:
        return sorted(self.rows, key=lambda r: r[0])

    HEADER = ("t_rel_s", "wall_clock", "lane", "event", "detail")

    def table(self) -> list[tuple[str, str, str, str, str]]:
        """Rows for the CSV: time since t0, wall clock (ms), lane, event, detail."""
        out = []
        for t, lane, event, detail in self.sorted_rows():
            out.append((f"{t - self.t0:.3f}", _clock_text(t), lane, event, detail))
        return out

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(self.HEADER)
        writer.writerows(self.table())
        return buffer.getvalue()
