"""Node clocks against the controller's: measured over SSH, with their uncertainty.

Every time a node writes (a syslog line, a `ping -D` reply, a fence history entry) is
on the node's clock; every time the harness keeps (a look's start and end, a fault
sent) is on the controller's. Before the two are compared, a node's time is brought
to the controller's by the node's measured offset.

How a node's clock is read: the controller notes its time, runs `date +%s.%N%z` on the
node over SSH, notes its time again. The node's answer was printed somewhere inside
that round trip: offset = node time - the round trip's midpoint, uncertain by half the
round trip. The tightest of a few round trips is kept (`ROUNDS`).

When the harness refuses (`ClockUnknown`, a `LabError`: the lab cannot be judged):
a node that does not answer `date` with a time; a round trip too slow to say the
offset within `uncertainty_max`; an offset that moved more than `drift_max` (beyond
the two measurements' own uncertainty) between two measurements around a case
(`ClockDrifted`): the node's clock was stepped or runs fast, and its stamps of that
case cannot be trusted.

Classic syslog stamps (`Mon DD HH:MM:SS`) are whole seconds of the node's LOCAL time:
`node_local_seconds` reads them in the node's own UTC offset (`%z`, measured with the
clock), and a corrected stamp is a window one second wide (plus the uncertainty on
each side), `ClockReading.window`.

pytest-free (the observe layer): the plugin fixtures/clocks.py measures around every
case; the suites ask `clocks_of(lab).reading(node)`.
"""

from __future__ import annotations

import calendar
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

from hacert.lab.build import Lab
from hacert.drivers.errors import HacertError, LabError

DATE_COMMAND = "date +%s.%N%z"
"""Epoch seconds with nanoseconds, then the node's UTC offset: `1765632345.123456789+0100`."""

ROUNDS = 5
"""Round trips per node per measurement; the tightest one is kept."""

EXTRA_ROUNDS = 10
"""More round trips tried, at most, when none of the first was tight enough (a loaded machine)."""

KEPT_MAX_AGE = 10.0
"""Seconds an after-the-case measurement may stand for the next case's before-the-fault one (`NodeClocks.kept`)."""

DEFAULT_DRIFT_MAX = 0.1
"""Seconds a node's offset may move between two measurements around a case, beyond their
uncertainty (the inventory's `expectations.clock_drift_max`)."""

DEFAULT_UNCERTAINTY_MAX = 0.05
"""Half the tightest round trip may not exceed this (s) (`expectations.clock_uncertainty_max`)."""

_ANSWER = re.compile(r"^\s*(?P<seconds>\d+)(?:\.(?P<fraction>\d+))?(?P<zone>[+-]\d{4})?\s*$")


class ClockUnknown(LabError):
    """A node's clock offset cannot be measured well enough to correct its stamps."""

    def __init__(self, node: str, detail: str, attempted: str = f"read its clock ({DATE_COMMAND})") -> None:
        self.node = node
        super().__init__(f"clock of {node}", "ssh", attempted, detail)


class ClockDrifted(ClockUnknown):
    """A node's offset moved more than the stated bound between two measurements."""

    def __init__(self, node: str, drift: float, bound: float, before: "ClockReading", after: "ClockReading") -> None:
        self.drift, self.bound, self.before, self.after = drift, bound, before, after
        super().__init__(node, (
            f"its offset moved by {drift:+.3f} s during the case ({before.text()} before the fault, "
            f"{after.text()} after the case), more than the {bound:g} s allowed (expectations.clock_drift_max): "
            f"its clock was stepped or runs fast, and its stamps of this case cannot be trusted"),
            attempted="keep a steady clock through the case")


# ---------------------------------------------------------------- one reading


@dataclass(frozen=True)
class ClockReading:
    """A node's clock against the controller's at controller time `at`."""

    node: str
    offset: float
    """Seconds the node's clock is ahead of the controller's (negative: behind)."""
    uncertainty: float
    """Half the tightest round trip (s): the true offset is within offset ± uncertainty."""
    at: float
    """Controller time of the round trip's midpoint."""
    utc_offset: int | None = None
    """Seconds east of UTC of the node's local time (its `date +%z`); None if it did not say."""
    rounds: int = 1

    def to_controller(self, node_seconds: float) -> float:
        """A time on the node's clock, on the controller's."""
        return node_seconds - self.offset

    def window(self, node_seconds: float, resolution: float = 0.0) -> tuple[float, float]:
        """When something the node stamped `node_seconds` (the stamp truncated to `resolution`
        seconds: 1 for classic syslog) happened, on the controller's clock: (earliest, latest)."""
        low = self.to_controller(node_seconds) - self.uncertainty
        return low, low + resolution + 2 * self.uncertainty

    def text(self) -> str:
        return f"{self.offset:+.3f} s ±{self.uncertainty * 1000:.1f} ms"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["offset"] = round(self.offset, 6)
        out["uncertainty"] = round(self.uncertainty, 6)
        out["at"] = round(self.at, 3)
        return out


def parse_answer(node: str, text: str) -> tuple[float, int | None]:
    """`date +%s.%N%z` output -> (epoch seconds, seconds east of UTC or None). ClockUnknown otherwise."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    match = _ANSWER.match(lines[-1]) if lines else None
    if match is None:
        shown = text.strip()[:80] or "nothing"
        raise ClockUnknown(node, f"its `{DATE_COMMAND}` printed {shown!r}, not epoch seconds with nanoseconds")
    fraction = match["fraction"] or ""
    if len(fraction) < 3:
        raise ClockUnknown(node, f"its `{DATE_COMMAND}` printed {lines[-1]!r}: no sub-second part (%N unsupported?)")
    seconds = int(match["seconds"]) + int(fraction) / 10 ** len(fraction)
    zone = match["zone"]
    utc = None
    if zone:
        sign = -1 if zone[0] == "-" else 1
        utc = sign * (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60)
    return seconds, utc


class _Shell(Protocol):
    def run(self, cmd: str, timeout: float | None = None, check: bool = True) -> Any: ...


def read_clock(shell: _Shell, node: str, *, rounds: int = ROUNDS, uncertainty_max: float = DEFAULT_UNCERTAINTY_MAX,
               extra_rounds: int = EXTRA_ROUNDS, timeout: float = 10.0,
               clock: Callable[[], float] = time.time) -> ClockReading:
    """Measure `node`'s offset through `shell` (a NodeShell): the tightest of `rounds` round trips,
    and up to `extra_rounds` more while the tightest is looser than `uncertainty_max`."""
    best: tuple[float, float, float, int | None] | None = None  # (round trip, node time, midpoint, utc)
    done = 0
    while done < rounds or (best is not None and best[0] / 2 > uncertainty_max and done < rounds + extra_rounds):
        before = clock()
        try:
            result = shell.run(DATE_COMMAND, timeout=timeout)
        except HacertError as exc:
            raise ClockUnknown(node, f"{type(exc).__name__}: {exc}") from None
        after = clock()
        done += 1
        node_time, utc = parse_answer(node, getattr(result, "stdout", str(result)))
        trip = after - before
        if best is None or trip < best[0]:
            best = (trip, node_time, (before + after) / 2, utc)
    assert best is not None
    trip, node_time, middle, utc = best
    if trip / 2 > uncertainty_max:
        raise ClockUnknown(node, f"the tightest of {done} round trips took {trip * 1000:.0f} ms: its offset is known "
                                 f"only within ±{trip / 2 * 1000:.0f} ms, more than the ±{uncertainty_max * 1000:.0f} ms "
                                 f"allowed (expectations.clock_uncertainty_max)")
    return ClockReading(node, node_time - middle, trip / 2, middle, utc, done)


def node_local_seconds(stamp: datetime, reading: ClockReading | None) -> float:
    """Epoch seconds (the node's clock) of a syslog stamp: an aware stamp (RFC 3339) as it says;
    a classic one (naive, the node's local time) in the node's own UTC offset when the reading
    has it, else in the controller's local time."""
    if stamp.tzinfo is not None:
        return stamp.timestamp()
    if reading is not None and reading.utc_offset is not None:
        return calendar.timegm(stamp.timetuple()) + stamp.microsecond / 1e6 - reading.utc_offset
    return time.mktime(stamp.timetuple()) + stamp.microsecond / 1e6


def stamp_window(stamp: datetime, reading: ClockReading | None) -> tuple[float, float]:
    """When the event a syslog line stamped `stamp` happened, on the controller's clock:
    (earliest, latest). Classic stamps are truncated to the second: the window is a second wide
    (plus the reading's uncertainty on each side); RFC 3339 stamps carry their fraction."""
    seconds = node_local_seconds(stamp, reading)
    whole = stamp.tzinfo is None and stamp.microsecond == 0
    if reading is None:
        return seconds, seconds + (1.0 if whole else 0.0)
    return reading.window(seconds, 1.0 if whole else 0.0)


# ---------------------------------------------------------------- one lab's clocks


@dataclass(frozen=True)
class Drift:
    """How a node's offset moved between two measurements (after - before)."""

    node: str
    before: ClockReading
    after: ClockReading

    @property
    def seconds(self) -> float:
        return self.after.offset - self.before.offset

    @property
    def beyond_uncertainty(self) -> float:
        """How much of the move the two measurements' uncertainty cannot explain (>= 0)."""
        return max(0.0, abs(self.seconds) - self.before.uncertainty - self.after.uncertainty)


@dataclass
class Measurement:
    """The readings of every node of a lab taken together, and why (`phase`)."""

    phase: str
    readings: dict[str, ClockReading]
    seconds: float
    """How long measuring them took (s)."""


@dataclass
class NodeClocks:
    """The clocks of one lab's nodes through a run: the first measurement (session start), the
    latest reading of each node (what the suites correct by), and the measurements around cases.

    `shell_of(node)` gives the node's shell (hacert.lab.build.Lab.node)."""

    shell_of: Callable[[str], _Shell]
    nodes: Sequence[str]
    drift_max: float = DEFAULT_DRIFT_MAX
    uncertainty_max: float = DEFAULT_UNCERTAINTY_MAX
    rounds: int = ROUNDS
    clock: Callable[[], float] = time.time
    """The controller's clock (time.time)."""
    session_start: Measurement | None = None
    latest: dict[str, ClockReading] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _kept: tuple[float, Measurement] | None = field(default=None, repr=False)

    @classmethod
    def of_lab(cls, lab: Any) -> "NodeClocks":
        """The clocks of a `hacert.lab.build.Lab` (its inventory's nodes and clock expectations)."""
        inv = lab.inventory
        expect = inv.expectations
        return cls(lab.node, [n.name for n in inv.nodes],
                   drift_max=float(getattr(expect, "clock_drift_max", DEFAULT_DRIFT_MAX)),
                   uncertainty_max=float(getattr(expect, "clock_uncertainty_max", DEFAULT_UNCERTAINTY_MAX)))

    def measure(self, phase: str, nodes: Iterable[str] | None = None) -> Measurement:
        """Read every node's clock (one after the other: they share the controller's time);
        ClockUnknown naming every node that could not be read."""
        started = time.monotonic()
        readings: dict[str, ClockReading] = {}
        problems: list[ClockUnknown] = []
        for node in list(nodes) if nodes is not None else list(self.nodes):
            try:
                readings[node] = read_clock(self.shell_of(node), node, rounds=self.rounds,
                                            uncertainty_max=self.uncertainty_max, clock=self.clock)
            except ClockUnknown as exc:
                problems.append(exc)
        if problems:
            if len(problems) == 1:
                raise problems[0]
            raise ClockUnknown(", ".join(p.node for p in problems), "; ".join(f"{p.node}: {p.detail}" for p in problems))
        measurement = Measurement(phase, readings, time.monotonic() - started)
        with self._lock:
            if self.session_start is None:
                self.session_start = Measurement("session start", dict(readings), measurement.seconds)
            self.latest.update(readings)
        return measurement

    def keep(self, after: Measurement) -> None:
        """Keep the reading taken after a case whose clocks held steady: the next case on this lab
        begins from it (`kept`) instead of reading every clock again a moment later. Its own reading
        after it still bounds the drift across both the gap and the case."""
        with self._lock:
            self._kept = (self.clock(), after)

    def kept(self, phase: str, max_age: float = KEPT_MAX_AGE) -> Measurement | None:
        """The kept reading, once, relabelled for `phase`, when it is at most `max_age` s old and
        covers every node; else None (then measure)."""
        with self._lock:
            found, self._kept = self._kept, None
        if found is None:
            return None
        at, after = found
        age = self.clock() - at
        if age > max_age or set(after.readings) != set(self.nodes):
            return None
        return Measurement(f"{phase} (read after the previous case, {age:.1f} s earlier)", dict(after.readings), 0.0)

    def reading(self, node: str) -> ClockReading:
        """The node's latest reading; measured now when it has none yet."""
        with self._lock:
            found = self.latest.get(node)
        if found is None:
            found = self.measure("on first use", [node]).readings[node]
        return found

    def offset(self, node: str) -> float:
        return self.reading(node).offset

    def to_controller(self, node: str, node_seconds: float) -> float:
        return self.reading(node).to_controller(node_seconds)

    def drifts(self, before: Measurement, after: Measurement) -> list[Drift]:
        return [Drift(node, before.readings[node], after.readings[node])
                for node in before.readings if node in after.readings]

    def check_drift(self, before: Measurement, after: Measurement) -> list[Drift]:
        """Every node's drift; ClockDrifted for the first beyond `drift_max` (past the uncertainty)."""
        drifts = self.drifts(before, after)
        for d in drifts:
            if d.beyond_uncertainty > self.drift_max:
                raise ClockDrifted(d.node, d.seconds, self.drift_max, d.before, d.after)
        return drifts


def clocks_of(lab: Any) -> NodeClocks | None:
    """The `NodeClocks` of a lab, measured on first use and kept as long as the lab; a stand-in lab
    (the harness's own unit tests) gives its `clocks` attribute, None when it has none."""
    if isinstance(lab, Lab):
        return lab.cached("clocks", "", lambda: NodeClocks.of_lab(lab))
    return getattr(lab, "clocks", None)


def reading_of(lab: Any, node: str) -> ClockReading | None:
    """The latest reading of `node`'s clock in `lab` (measured now if there is none; ClockUnknown when
    it cannot be); None only for a stand-in lab without clocks (the harness's own unit tests)."""
    clocks = clocks_of(lab)
    return clocks.reading(node) if clocks is not None else None


def describe_case(before: Measurement, after: Measurement | None) -> str:
    """One line for a case's report: each node's offset, uncertainty and drift through the case."""
    parts = []
    for node, reading in before.readings.items():
        text = f"{node} {reading.text()}"
        later = after.readings.get(node) if after is not None else None
        if later is not None:
            text += f", drift {(later.offset - reading.offset) * 1000:+.1f} ms"
        parts.append(text)
    return "; ".join(parts)


def case_records(lab: str, before: Measurement, after: Measurement | None) -> list[dict[str, Any]]:
    """Plain records of a case's two measurements (the later one with each node's drift), for the
    case's report and the summary's lab section."""
    out = []
    for m in [before] + ([after] if after is not None else []):
        for node, reading in m.readings.items():
            record = {"lab": lab, "phase": m.phase, "measure_s": round(m.seconds, 3), **reading.as_dict()}
            if m is after and node in before.readings:
                record["drift"] = round(reading.offset - before.readings[node].offset, 6)
            out.append(record)
    return out


def summarize(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per node, over a run's clock records: the first offset (session start), the range of the
    offsets, the worst uncertainty, the largest drift within one case, how many readings."""
    by_node: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        by_node.setdefault(str(r["node"]), []).append(r)
    out: dict[str, dict[str, Any]] = {}
    for node, rows in by_node.items():
        rows = sorted(rows, key=lambda r: float(r.get("at") or 0.0))
        offsets = [float(r["offset"]) for r in rows]
        drift = [abs(float(r["drift"])) for r in rows if r.get("drift") is not None]
        out[node] = {
            "first": offsets[0], "min": min(offsets), "max": max(offsets),
            "uncertainty_max": max(float(r["uncertainty"]) for r in rows),
            "drift_max": max(drift) if drift else None, "readings": len(rows),
            "utc_offset": rows[-1].get("utc_offset"),
        }
    return out


__all__ = [
    "ClockDrifted", "ClockReading", "ClockUnknown", "DATE_COMMAND", "DEFAULT_DRIFT_MAX", "DEFAULT_UNCERTAINTY_MAX",
    "Drift", "Measurement", "NodeClocks", "case_records", "describe_case", "node_local_seconds", "parse_answer",
    "clocks_of", "read_clock", "reading_of", "stamp_window", "summarize",
]
