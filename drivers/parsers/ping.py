"""iputils ping output -> PingResult, and one streaming line -> a typed PingLine.

Reads -O ('no answer yet for icmp_seq=N'), -D ('[epoch.usec] ' prefixes),
ICMP errors ('From 10.0.0.1 icmp_seq=1 Destination Host Unreachable'),
'(DUP!)' replies, the summary with '+N duplicates' / '+N errors', the rtt
line, 'pipe N', flood progress dots and the terminal's '^C' echo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Union

from ._common import ParseError, Unparsed, nonblank_lines

__all__ = [
    "PingHeader", "PingReply", "PingNoAnswer", "PingError", "PingLocalError", "PingStatsHeader",
    "PingStats", "PingRtt", "PingPipe", "PingFlood", "PingLine", "PingResult",
    "parse_ping", "parse_ping_line",
]


@dataclass(frozen=True)
class PingHeader:
    """'PING host (address) 56(84) bytes of data.'"""

    destination: str
    address: str | None


@dataclass(frozen=True)
class PingReply:
    """An echo reply. ``timestamp`` is the -D epoch time (None without -D)."""

    seq: int
    source: str
    bytes: int
    ttl: int | None
    time_ms: float | None
    timestamp: float | None = None
    duplicate: bool = False


@dataclass(frozen=True)
class PingNoAnswer:
    """-O: 'no answer yet for icmp_seq=N' (the reply is late or lost)."""

    seq: int
    timestamp: float | None = None


@dataclass(frozen=True)
class PingError:
    """An ICMP error for one probe: 'From 10.0.0.1 icmp_seq=3 Destination Host Unreachable'.

    ``source`` is the reporting router/host (the 'from' of the line).
    """

    source: str
    icmp_seq: int | None
    message: str
    timestamp: float | None = None


@dataclass(frozen=True)
class PingLocalError:
    """A local error printed by ping itself: 'ping: sendmsg: Network is unreachable'."""

    message: str


@dataclass(frozen=True)
class PingStatsHeader:
    """'--- host ping statistics ---'"""

    destination: str


@dataclass(frozen=True)
class PingStats:
    """'58 packets transmitted, 23 received, 60% packet loss, time 57949ms'.

    ``duplicates`` / ``errors`` / ``corrupted`` are None when not printed.
    """

    transmitted: int
    received: int
    loss_percent: float
    time_ms: int | None = None
    duplicates: int | None = None
    errors: int | None = None
    corrupted: int | None = None


@dataclass(frozen=True)
class PingRtt:
    """'rtt min/avg/max/mdev = 0.342/0.505/0.816/0.109 ms' (mdev None on busybox)."""

    min: float
    avg: float
    max: float
    mdev: float | None = None
    pipe: int | None = None


@dataclass(frozen=True)
class PingPipe:
    """'pipe 3' (printed instead of an rtt line when nothing answered)."""

    pipe: int


@dataclass(frozen=True)
class PingFlood:
    """ping -f progress: one '.' per probe still unanswered."""

    dots: int


PingLine = Union[PingHeader, PingReply, PingNoAnswer, PingError, PingLocalError,
                 PingStatsHeader, PingStats, PingRtt, PingPipe, PingFlood]

_TS = r"(?:\[(?P<ts>\d+(?:\.\d+)?)\] )?"
_SEQ = r"(?:icmp_seq|icmp_req|seq)"
_HEADER = re.compile(r"^PING (?P<dest>\S+?)\s*\((?P<addr>[^)]+)\).*$")
_REPLY = re.compile(
    rf"^{_TS}(?P<bytes>\d+) bytes from (?P<src>.+?): {_SEQ}=(?P<seq>\d+)"
    r"(?: ttl=(?P<ttl>\d+))?(?: time[=<](?P<time>[\d.]+) ?ms)?(?P<rest>.*)$")
_NO_ANSWER = re.compile(
    rf"^{_TS}(?:no answer yet for icmp_seq=(?P<seq>\d+)|Request timeout for icmp_seq (?P<seq2>\d+))$")
_ERROR = re.compile(rf"^{_TS}From (?P<src>\S+?):? {_SEQ}=(?P<seq>\d+) (?P<msg>.+)$")
_LOCAL = re.compile(r"^ping: (?P<msg>.+)$")
_STATS_HEAD = re.compile(r"^--- (?P<dest>\S+) ping statistics ---$")
_STATS = re.compile(
    r"^(?P<tx>\d+) packets transmitted, (?P<rx>\d+) (?:packets )?received"
    r"(?:, \+(?P<dup>\d+) duplicates)?(?:, \+(?P<corrupt>\d+) corrupted)?(?:, \+(?P<err>\d+) errors)?"
    r", (?P<loss>[\d.]+)% packet loss(?:, time (?P<time>\d+)ms)?$")
_RTT = re.compile(
    r"^(?:rtt|round-trip) min/avg/max(?:/(?:mdev|stddev))? = "
    r"(?P<min>[\d.]+)/(?P<avg>[\d.]+)/(?P<max>[\d.]+)(?:/(?P<mdev>[\d.]+))? ms"
    r"(?:, pipe (?P<pipe>\d+))?(?:, ipg/ewma [\d./]+ ms)?$")
_PIPE = re.compile(r"^pipe (?P<pipe>\d+)$")
_FLOOD = re.compile(r"^[.\x08]+$")


# Lines ping prints that say nothing about the run's replies: skipped, and counted by name.
HARMLESS = (
    ("interrupt echo", re.compile(r"^\^C$")),
    ("warning", re.compile(r"^(?:ping: )?warning: ", re.IGNORECASE)),
)


def _harmless(text: str) -> str | None:
    return next((name for name, pattern in HARMLESS if pattern.match(text.strip())), None)


def _ts(m: re.Match) -> float | None:
    return float(m.group("ts")) if m.group("ts") else None


def parse_ping_line(line: str) -> PingLine | None:
    """Classify one line of ping output.

    Returns None for a blank line or the terminal's '^C' echo; raises
    ParseError for anything ping does not print.
    """
    text = line.strip()
    if not text or text == "^C":
        return None
    if m := _REPLY.match(text):
        return PingReply(seq=int(m.group("seq")), source=m.group("src"), bytes=int(m.group("bytes")),
                         ttl=int(m.group("ttl")) if m.group("ttl") else None,
                         time_ms=float(m.group("time")) if m.group("time") else None,
                         timestamp=_ts(m), duplicate="(DUP!)" in m.group("rest"))
    if m := _NO_ANSWER.match(text):
        return PingNoAnswer(seq=int(m.group("seq") or m.group("seq2")), timestamp=_ts(m))
    if m := _ERROR.match(text):
        return PingError(source=m.group("src"), icmp_seq=int(m.group("seq")), message=m.group("msg").strip(),
                         timestamp=_ts(m))
    if m := _HEADER.match(text):
        return PingHeader(destination=m.group("dest"), address=m.group("addr"))
    if m := _STATS_HEAD.match(text):
        return PingStatsHeader(destination=m.group("dest"))
    if m := _STATS.match(text):
        def opt(name: str) -> int | None:
            return int(m.group(name)) if m.group(name) else None
        return PingStats(transmitted=int(m.group("tx")), received=int(m.group("rx")),
                         loss_percent=float(m.group("loss")), time_ms=opt("time"),
                         duplicates=opt("dup"), errors=opt("err"), corrupted=opt("corrupt"))
    if m := _RTT.match(text):
        return PingRtt(min=float(m.group("min")), avg=float(m.group("avg")), max=float(m.group("max")),
                       mdev=float(m.group("mdev")) if m.group("mdev") else None,
                       pipe=int(m.group("pipe")) if m.group("pipe") else None)
    if m := _PIPE.match(text):
        return PingPipe(pipe=int(m.group("pipe")))
    if _FLOOD.match(text):
        return PingFlood(dots=text.count("."))
    if m := _LOCAL.match(text):
        return PingLocalError(message=m.group("msg"))
    raise ParseError("ping: unrecognised line", line)


@dataclass(frozen=True)
class PingResult:
    """A whole ping run (or the part of it captured so far: ``complete`` is
    False until the statistics line was seen, and the summary fields are None).

    ``missing_icmp_seq``: sequence numbers from the first to the highest seen
    that never got a reply (lost, reported by -O, or answered by an ICMP error).
    ``longest_gap_s``: with -D, the largest interval between consecutive
    answered replies; None without timestamps. ``longest_loss_run``: the most
    consecutive missing sequence numbers. ``flood_unanswered`` counts the
    dots of ping -f (probes without an answer), None without -f.
    """

    destination: str | None
    address: str | None
    replies: list[PingReply] = field(default_factory=list)
    no_answers: list[PingNoAnswer] = field(default_factory=list)
    error_lines: list[PingError] = field(default_factory=list)
    local_errors: list[PingLocalError] = field(default_factory=list)
    transmitted: int | None = None
    received: int | None = None
    loss_percent: float | None = None
    time_ms: int | None = None
    duplicates: int | None = None
    errors: int | None = None
    rtt_ms: PingRtt | None = None
    pipe: int | None = None
    complete: bool = False
    flood_unanswered: int | None = None
    unparsed: list[Unparsed] = field(default_factory=list)
    """lines ping does not print (or a parser does not know): kept, with their line numbers"""
    skipped: dict[str, int] = field(default_factory=dict)
    """known-harmless lines (the terminal's ^C echo, ping's warnings), counted by kind"""

    @property
    def timestamps(self) -> bool:
        return any(r.timestamp is not None for r in [*self.replies, *self.no_answers])

    @property
    def answered_seqs(self) -> list[int]:
        return sorted({r.seq for r in self.replies})

    @property
    def duplicate_replies(self) -> list[PingReply]:
        return [r for r in self.replies if r.duplicate]

    @property
    def missing_icmp_seq(self) -> list[int]:
        seen = ([r.seq for r in self.replies] + [n.seq for n in self.no_answers]
                + [e.icmp_seq for e in self.error_lines if e.icmp_seq is not None])
        if not seen:
            return []
        answered = set(self.answered_seqs)
        first = 0 if min(seen) == 0 else 1
        return [s for s in range(first, max(seen) + 1) if s not in answered]

    @property
    def longest_loss_run(self) -> int:
        longest = run = 0
        previous = None
        for seq in self.missing_icmp_seq:
            run = run + 1 if previous is not None and seq == previous + 1 else 1
            longest = max(longest, run)
            previous = seq
        return longest

    @property
    def first_reply_timestamp(self) -> float | None:
        stamps = [r.timestamp for r in self.replies if r.timestamp is not None]
        return stamps[0] if stamps else None

    @property
    def last_reply_timestamp(self) -> float | None:
        stamps = [r.timestamp for r in self.replies if r.timestamp is not None]
        return stamps[-1] if stamps else None

    @property
    def longest_gap_s(self) -> float | None:
        stamps = [r.timestamp for r in self.replies if r.timestamp is not None and not r.duplicate]
        if len(stamps) < 2:
            return None
        return round(max(b - a for a, b in zip(stamps, stamps[1:])), 6)


def parse_ping(text: str, on_bad_line: Callable[[ParseError], None] | None = None) -> PingResult:
    """Parse the output of one ping run (complete, or cut short without summary).

    A line it does not know never sinks the whole output: it is kept in ``unparsed`` (and handed to
    ``on_bad_line`` as a ParseError when given); known-harmless lines (the ^C echo, ping's warnings)
    are counted in ``skipped``. Without ``on_bad_line``, output with nothing of ping's (no 'PING'
    header, no statistics) or two runs concatenated raise ParseError; with it, a second header is
    handed over too and output with nothing of ping's is an empty result (``complete`` False)."""
    if on_bad_line is not None and not text.strip():
        return PingResult(destination=None, address=None)
    lines = nonblank_lines(text, "ping")
    header: PingHeader | None = None
    stats_head: PingStatsHeader | None = None
    stats: PingStats | None = None
    rtt: PingRtt | None = None
    pipe = flood = None
    replies, no_answers, errors, local = [], [], [], []
    unparsed: list[Unparsed] = []
    skipped: dict[str, int] = {}
    for lineno, raw in lines:
        kind = _harmless(raw)
        if kind is not None:
            skipped[kind] = skipped.get(kind, 0) + 1
            continue
        try:
            item = parse_ping_line(raw)
        except ParseError as exc:
            unparsed.append(Unparsed(f"line {lineno}", raw, exc.reason))
            if on_bad_line is not None:
                on_bad_line(ParseError(exc.reason, raw, lineno))
            continue
        if isinstance(item, PingHeader):
            if header is not None:
                if on_bad_line is None:
                    raise ParseError("ping: second PING header (two runs concatenated?)", raw, lineno)
                on_bad_line(ParseError("ping: second PING header (two runs concatenated?)", raw, lineno))
                continue
            header = item
        elif isinstance(item, PingReply):
            replies.append(item)
        elif isinstance(item, PingNoAnswer):
            no_answers.append(item)
        elif isinstance(item, PingError):
            errors.append(item)
        elif isinstance(item, PingLocalError):
            local.append(item)
        elif isinstance(item, PingStatsHeader):
            stats_head = item
        elif isinstance(item, PingStats):
            stats = item
        elif isinstance(item, PingRtt):
            rtt = item
            pipe = item.pipe if item.pipe is not None else pipe
        elif isinstance(item, PingPipe):
            pipe = item.pipe
        elif isinstance(item, PingFlood):
            flood = (flood or 0) + item.dots
    if header is None and stats is None and on_bad_line is None:
        raise ParseError("ping: neither a 'PING' header nor a statistics line", lines[0][1], lines[0][0])
    return PingResult(
        destination=header.destination if header else (stats_head.destination if stats_head else None),
        address=header.address if header else None,
        replies=replies, no_answers=no_answers, error_lines=errors, local_errors=local,
        transmitted=stats.transmitted if stats else None,
        received=stats.received if stats else None,
        loss_percent=stats.loss_percent if stats else None,
        time_ms=stats.time_ms if stats else None,
        duplicates=stats.duplicates if stats else None,
        errors=stats.errors if stats else None,
        rtt_ms=rtt, pipe=pipe, complete=stats is not None, flood_unanswered=flood,
        unparsed=unparsed, skipped=skipped,
    )
