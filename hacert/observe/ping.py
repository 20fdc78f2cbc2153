"""The one ping instrument: `ping -D -O -i INTERVAL ADDRESS` streamed from a node of the lab.

`Ping` starts the command over the node's SSH and keeps its lines; `log()` reads them so
far, `stop()` once and for all. A `PingLog` is one run read from its lines: which probes
were answered and when (each -D stamp brought to the controller's clock by the source's
measured offset, hacert.observe.clocks), which were lost, the gaps between replies, the
runs of loss on ping's own schedule, and how far its output accounts for the run (its
last stamp, or its probes at the nominal interval): the rest is `unseen`, never "no loss".

The network suite floods both ways between bond peers; the VM suites ping a guest's
address from a node. Both use this instrument. Lines ping does not print are skipped one
at a time and counted (`SkippedLines`).
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from hacert.drivers.errors import DeviceUnreachable, Inconclusive, WaitTimeout
from hacert.drivers.parsers import PingReply, parse_ping_line
from hacert.drivers.parsers.ping import PingResult
from hacert.observe.clocks import reading_of
from hacert.observe.coverage import Unseen
from hacert.observe.lines import SkippedLines, ping_result
from hacert.observe.waiting import wait_for

PING_BLIND = 3.0
"""Seconds of a ping's run its probes may leave unaccounted (its SSH channel opening and closing)."""


class _Stream(Protocol):
    alive: bool

    def stop(self) -> str: ...

    def lines(self) -> list[str]: ...


class PingShell(Protocol):
    """The part of hacert.drivers.node.NodeShell a ping needs."""

    def start_stream(self, cmd: str) -> Any: ...


def ping_command(address: str, interval: float) -> str:
    """The ping the procedures run: per-reply timestamps (-D), lost probes reported (-O)."""
    return f"ping -D -O -i {interval:g} {shlex.quote(address)}"


def clock_text(t: float) -> str:
    """Wall-clock time of day with milliseconds, as syslog readers think of it."""
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int((t % 1) * 1000):03d}"


@dataclass(frozen=True)
class Gap:
    """Silence between two replies: `start` = last reply before, `end` = first reply after (None: none yet)."""

    start: float
    end: float | None
    lost: int
    first_lost_seq: int

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else self.end - self.start


@dataclass
class PingLog:
    """One `ping -D -O` run read from its output: `source` pinging `address` (`target`'s, on `network`).

    `replies` are (icmp_seq, controller time): each -D stamp minus `offset`, the seconds the
    source's clock is ahead of the controller's (`output` keeps the node's own stamps)."""

    source: str
    address: str
    interval: float
    output: str
    result: PingResult
    target: str = ""
    network: str = ""
    started: float = 0.0
    """When the harness asked for the ping (controller clock)."""
    stopped: float | None = None
    opened: float | None = None
    """When the node had the command (its SSH channel open): ping's probes run from there."""
    offset: float = 0.0
    skipped: SkippedLines = field(default_factory=lambda: SkippedLines("ping output"))
    """Lines of the output that ping does not print (skipped one by one)."""
    what: str = ""
    """What the ping is called in a finding ('the ping flood a -> b (bcn)', 'the ping of ADDRESS from NODE')."""
    replies: list[tuple[int, float]] = field(default_factory=list, init=False)
    last_stamp: float | None = field(default=None, init=False)
    """Controller time of the last stamped line (a reply, a 'no answer yet', an error)."""

    def __post_init__(self) -> None:
        if not self.what:
            self.what = f"the ping flood {self.label}" if self.network else f"the ping of {self.address} from {self.source}"
        seen: set[int] = set()
        for reply in self.result.replies:
            if reply.timestamp is not None and not reply.duplicate and reply.seq not in seen:
                seen.add(reply.seq)
                self.replies.append((reply.seq, reply.timestamp - self.offset))
        self.replies.sort()
        stamps = [x.timestamp for x in (*self.result.replies, *self.result.no_answers, *self.result.error_lines)
                  if getattr(x, "timestamp", None) is not None]
        self.last_stamp = max(stamps) - self.offset if stamps else None

    @classmethod
    def parse(cls, source: str, address: str, interval: float, lines: Sequence[str] | str, offset: float = 0.0,
              *, skipped: SkippedLines | None = None, **when: Any) -> "PingLog":
        """Read a run from its lines (or its whole text); `when`: target, network, started, stopped, opened, what."""
        text = lines if isinstance(lines, str) else "\n".join(lines) + ("\n" if lines else "")
        mine = SkippedLines(skipped.what if skipped is not None else "ping output")
        result = ping_result(text, mine, source)
        if skipped is not None:
            skipped.add(mine)
        return cls(source, address, interval, text, result, offset=offset, skipped=mine, **when)

    # -- what was sent and answered

    @property
    def label(self) -> str:
        return f"{self.source} -> {self.target or self.address} ({self.network})"

    @property
    def lines(self) -> list[str]:
        return self.output.splitlines()

    def text(self) -> str:
        return self.output if self.output.endswith("\n") or not self.output else self.output + "\n"

    @property
    def transmitted(self) -> int:
        """Probes sent: ping's own count, else the highest probe any line speaks of (a reply, a
        'no answer yet', an ICMP error: a run cut short still counts its unanswered probes)."""
        if self.result.transmitted is not None:
            return self.result.transmitted
        seqs = ([r.seq for r in self.result.replies] + [n.seq for n in self.result.no_answers]
                + [e.icmp_seq for e in self.result.error_lines if e.icmp_seq is not None])
        return max(seqs + [0])

    @property
    def received(self) -> int:
        return len(self.replies)

    def lost_seqs(self) -> list[int]:
        """Probes never answered, including those still in flight when the ping stopped."""
        answered = set(self.result.answered_seqs)
        return [s for s in range(1, self.transmitted + 1) if s not in answered]

    @property
    def lost(self) -> int:
        if self.result.transmitted is not None and self.result.received is not None:
            return self.result.transmitted - self.result.received
        return len(self.lost_seqs())

    # -- how much of the run it saw

    @property
    def covered(self) -> float:
        """Seconds of the run its probes account for (ping sends one every interval)."""
        return self.transmitted * self.interval

    @property
    def seen_until(self) -> float:
        """Controller time up to which the output accounts for the run: its last stamped line, or
        as far as its probes reach at the nominal interval (ping falls behind it on a loaded node)."""
        began = self.opened if self.opened is not None else self.started
        return max(began + self.covered, self.last_stamp or 0.0)

    def unseen(self, longest: float = PING_BLIND, t0: float | None = None, needed: str = "") -> list[Unseen]:
        """The end of the run its output says nothing about, when longer than `longest` s (a ping that
        printed nothing, or stopped printing: what happened to the address then was not seen)."""
        stopped = self.stopped if self.stopped is not None else time.time()
        start = self.seen_until
        if stopped - start <= longest:
            return []
        return [Unseen(self.what, start, stopped, 0, needed or "packets were lost then", None, t0)]

    # -- silences, on the replies' clock

    def gaps(self) -> list[Gap]:
        """Every run of unanswered probes, with the replies around it."""
        out = []
        for (seq_a, t_a), (seq_b, t_b) in zip(self.replies, self.replies[1:]):
            if seq_b - seq_a > 1:
                out.append(Gap(t_a, t_b, seq_b - seq_a - 1, seq_a + 1))
        if self.replies and self.transmitted > self.replies[-1][0]:
            seq, t = self.replies[-1]
            out.append(Gap(t, None, self.transmitted - seq, seq + 1))
        return out

    def longest_silence(self, after: float = 0.0) -> float:
        """Longest time between two consecutive replies (after `after`), at least the interval; a
        silence still going on when the ping stopped counts too, by the probes it left unanswered."""
        longest = 0.0
        for (_, t_a), (_, t_b) in zip(self.replies, self.replies[1:]):
            if t_b >= after:
                longest = max(longest, t_b - t_a)
        last = self.replies[-1][0] if self.replies else 0
        if self.transmitted > last:
            longest = max(longest, (self.transmitted - last) * self.interval)
        return longest

    def outage_after(self, t: float) -> Gap | None:
        """The first silence still going on at, or starting after, wall-clock `t`."""
        for gap in self.gaps():
            if gap.end is None or gap.end > t:
                return gap
        return None

    def first_reply_after(self, t: float) -> float | None:
        for _, stamp in self.replies:
            if stamp > t:
                return stamp
        return None

    def closed_gaps(self) -> list[tuple[float, float, str]]:
        """(start, end, label) of every silence that ended, for a timeline."""
        return [(g.start, g.end, f"{self.address}: {g.lost} lost") for g in self.gaps() if g.end is not None]

    # -- losses, on ping's own schedule

    @property
    def longest_gap(self) -> float:
        """Longest time without an answer (s), on ping's own schedule: (longest run of lost
        probes + 1) x interval. icmp_seq is the clock here, not -D: a pinger that was late to
        send (a busy node) does not lengthen the network's outage."""
        answered = set(self.result.answered_seqs)
        longest = run = 0
        for seq in range(1, self.transmitted + 1):
            run = 0 if seq in answered else run + 1
            longest = max(longest, run)
        return round((longest + 1) * self.interval, 3)

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
            lines.append(f"  lost {n} probe(s) sent from {clock_text(a)} over {b - a + self.interval:.2f} s")
        if r.error_lines:
            lines.append(f"  {len(r.error_lines)} ICMP error line(s), first: {r.error_lines[0].message}")
        return "\n".join(lines)


class Ping:
    """A timestamped ping running on a node in the background, until stopped.

    `offset`: seconds `source`'s clock is ahead of the controller's (its -D stamps minus it
    are controller times); `Ping.on(lab, ...)` reads it from the lab's measured clocks."""

    def __init__(self, shell: PingShell, source: str, address: str, interval: float, *, target: str = "",
                 network: str = "", subject: str = "", offset: float = 0.0, what: str = "",
                 clock: Callable[[], float] = time.time, skipped: SkippedLines | None = None) -> None:
        self.shell = shell
        self.source = source
        self.address = address
        self.interval = interval
        self.target = target
        self.network = network
        self.subject = subject or address
        """What answers at the address (a VM's name), for a finding."""
        self.offset = offset
        self.what = what
        self._clock = clock
        self.skipped = skipped if skipped is not None else SkippedLines("ping output")
        self._stream: Any = None
        self.final: PingLog | None = None
        self.started = 0.0
        self.opened: float | None = None
        self.stopped: float | None = None

    @classmethod
    def on(cls, lab: Any, source: str, address: str, interval: float, subject: str = "", **kw: Any) -> "Ping":
        """A ping from the lab's node `source`, its stamps corrected by that node's measured clock offset."""
        reading = reading_of(lab, source)

        class _Shell:  # the node's shell, asked for when the ping starts
            @staticmethod
            def start_stream(cmd: str) -> Any:
                return lab.node(source).start_stream(cmd)

        return cls(_Shell(), source, address, interval, subject=subject,
                   offset=reading.offset if reading is not None else 0.0, **kw)

    @property
    def command(self) -> str:
        return ping_command(self.address, self.interval)

    @property
    def label(self) -> str:
        return f"{self.source} -> {self.target or self.address} ({self.network})"

    def start(self) -> "Ping":
        self.started = self._clock()
        self._stream = self.shell.start_stream(self.command)
        self.opened = self._clock()
        return self

    def _read(self, lines: Sequence[str] | str, stopped: float | None, skipped: SkippedLines | None) -> PingLog:
        return PingLog.parse(self.source, self.address, self.interval, lines, self.offset, skipped=skipped,
                             target=self.target, network=self.network, started=self.started, stopped=stopped,
                             opened=self.opened, what=self.what)

    def log(self) -> PingLog:
        """What it printed so far (the final log once stopped)."""
        if self.final is not None:
            return self.final
        return self._read(self._stream.lines() if self._stream is not None else [], None, None)

    def stop(self) -> PingLog:
        """Stop it (once) and read the whole run."""
        if self.final is None:
            if self._stream is None:
                raise RuntimeError(f"the ping {self.source} -> {self.address} was never started")
            text = self._stream.stop()
            self.stopped = self._clock()
            self.final = self._read(text, self.stopped, self.skipped)
        return self.final

    def unseen(self, needed: str, t0: float | None = None, longest: float = PING_BLIND) -> list[Unseen]:
        """Once stopped: the end of the run its output says nothing about (`PingLog.unseen`)."""
        return self.stop().unseen(longest, t0, needed)

    # -- live questions

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

    def answering(self) -> bool:
        """Did the last probe get its answer?"""
        log = self.log()
        return bool(log.replies) and log.replies[-1][0] >= log.transmitted

    def wait_back(self, after: float, timeout: float, count: int = 3) -> Gap | None:
        """Wait for the silence that began after wall-clock `after` to end (then `count` replies in a row);
        that silence (None: the address never went silent and back within `timeout`). Raises
        `Inconclusive` when the ping printed no probe at all while waiting: its silence says nothing."""
        probes = self.log().transmitted

        def back() -> Gap | None:
            log = self.log()
            gap = log.outage_after(after)
            if gap is not None and gap.end is not None and sum(1 for _, t in log.replies if t >= gap.end) >= count:
                return gap
            self._still_running()
            return None

        try:
            return wait_for(f"{self.subject} to answer {self.source}'s ping again", back, lambda gap: gap is not None,
                            timeout=max(timeout, 1e-3), interval=max(self.interval, 0.02), progress=False)
        except WaitTimeout:
            self._printed_since(probes, timeout)
            return None

    def wait_answers(self, after: float, timeout: float, count: int = 3) -> float | None:
        """Wait until `count` replies came after wall-clock `after`; the first one's stamp (None: timed out).
        Raises `Inconclusive` when the ping printed no probe at all while waiting."""
        probes = self.log().transmitted

        def later() -> list[float]:
            stamps = [t for _, t in self.log().replies if t > after]
            if len(stamps) < count:
                self._still_running()
            return stamps

        try:
            return wait_for(f"{count} answers from {self.subject}", later, lambda stamps: len(stamps) >= count,
                            timeout=max(timeout, 1e-3), interval=max(self.interval, 0.02), progress=False)[0]
        except WaitTimeout as timed_out:
            seen = timed_out.last_seen if isinstance(timed_out.last_seen, list) else []
            if not seen:
                self._printed_since(probes, timeout)
            return seen[0] if seen else None

    def _printed_since(self, probes: int, waited: float) -> None:
        """A ping that went on printing probes (answered or not) saw the address; one that printed
        none saw nothing, and no silence of the address can be read from it."""
        log = self.log()
        if log.transmitted <= probes and waited >= 2 * self.interval:
            skipped = log.skipped
            said = f"; {skipped.count} line(s) it printed were not ping's: {skipped.describe()}" if skipped.count else ""
            raise Inconclusive(f"the ping of {self.address} from {self.source} printed no probe for {waited:.1f} s "
                               f"(its output stopped{said}): whether {self.subject} answered was not seen")

    def _still_running(self) -> None:
        """The ping runs until we stop it: if it ended, its SSH channel or its node went away,
        and silence from the address would say nothing about the cluster."""
        if self._stream is not None and self.final is None and not self._stream.alive:
            raise DeviceUnreachable(self.source, "ssh", f"ping {self.address} in the background",
                                    "the ping stream ended before it was stopped (SSH channel closed)")


__all__ = ["Gap", "PING_BLIND", "Ping", "PingLog", "clock_text", "ping_command"]
