"""Watching the survivors through a fence: their syslogs (the fence rounds, on each logging
node's corrected clock) and the membership, look after look; each moment (declared failed,
fence started, IPMI failed, fence succeeded) is an `Edge` narrowed by the line's own stamp."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from hacert.drivers.errors import WaitTimeout
from hacert.model.scope import POWER_DEPENDENT_METHODS
from hacert.drivers.parsers._common import ParseError
from hacert.drivers.parsers.syslog import CorosyncProcessorFailed, parse_syslog_events
from hacert.model.inventory import Inventory, Node
from hacert.observe.clocks import ClockReading, reading_of, stamp_window
from hacert.observe.cluster_state import describe_status, is_online
from hacert.observe.fence_record import FenceConfig, FenceRound, fence_rounds, read_fence_config
from hacert.observe.moments import Edge
from hacert.observe.waiting import wait_for

POLL = 0.1
"""Seconds between two looks at the survivors while waiting for the cluster."""


def syslog_events(lines: list[str]) -> list[Any]:
    """The typed events of syslog lines; lines that are not syslog are skipped."""
    out: list[Any] = []
    for line in lines:
        try:
            out += parse_syslog_events([line])
        except ParseError:
            continue
    return out


def syslog_window(event: Any, reading: ClockReading | None) -> tuple[float, float] | None:
    """When the event of a syslog line happened, on the controller's clock: its stamp (the node's
    local time, classic stamps truncated to the second) corrected by the node's clock `reading`,
    as (earliest, latest); None for a line without a stamp."""
    stamp = getattr(getattr(event, "line", None), "timestamp", None)
    return None if stamp is None else stamp_window(stamp, reading)


def syslog_epoch(event: Any, reading: ClockReading | None = None) -> float | None:
    """The earliest the event of a syslog line can have happened, on the controller's clock."""
    window = syslog_window(event, reading)
    return None if window is None else window[0]


@dataclass
class FenceWatch:
    """Looks at the survivors again and again: membership, then the fence in their syslogs."""

    lab: Any
    victim: Node
    survivors: list[str]
    since: float
    marks: dict[str, Any] = field(default_factory=dict)
    status: Any = None
    declared: Edge = field(init=False)
    started: Edge = field(init=False)
    ipmi_failed: Edge = field(init=False)
    succeeded: Edge = field(init=False)
    rounds: list[FenceRound] = field(default_factory=list)
    windows: dict[str, list[str]] = field(default_factory=dict)
    config: FenceConfig | None = None
    """The cluster's fence configuration (devices, agents, each node's methods), read before the fault."""

    def __post_init__(self) -> None:
        self.declared = Edge(self.since)
        self.started = Edge(self.since)
        self.ipmi_failed = Edge(self.since)
        self.succeeded = Edge(self.since)

    @property
    def inv(self) -> Inventory:
        return self.lab.inventory

    @classmethod
    def mark(cls, lab: Any, victim: Node) -> "FenceWatch":
        """Mark every survivor's syslog before the fault."""
        survivors = [peer.name for peer in lab.inventory.peers(victim.name)]
        config = read_fence_config(lab, via=survivors[0])
        marks = {name: lab.node(name).syslog_mark() for name in survivors}
        return cls(lab, victim, survivors, time.time(), marks, config=config)

    def rebase(self, since: float) -> None:
        """The fault happens at `since`: nothing before it counts as 'not yet seen'."""
        self.since = since
        self.__post_init__()

    def look(self) -> None:
        """One look at every survivor's syslog, then at the membership through the first survivor."""
        start = time.time()
        for survivor in self.survivors:
            self.windows[survivor] = self.lab.node(survivor).syslog_since(self.marks[survivor])
        end = time.time()
        self.rounds = [r for r in fence_rounds(self.inv, self.windows, self.config) if r.victim == self.victim.name]
        # each line's stamp is on the clock of the survivor that logged it (the round's fencer)
        started = next(((r.fencer, r.started) for r in self.rounds if r.started is not None), None)
        ipmi = [(r.fencer, f.event) for r in self.rounds for f in r.failures if f.method in POWER_DEPENDENT_METHODS]
        done = next(((r.fencer, r.succeeded) for r in self.rounds if r.succeeded is not None), None)
        self.started.look(bool(self.rounds), start, end, self._window(*started) if started is not None else None)
        self.ipmi_failed.look(bool(ipmi), start, end, self._window(*ipmi[0]) if ipmi else None)
        self.succeeded.look(done is not None, start, end, self._window(*done) if done is not None else None)
        lost = [e for e in self._events(self.survivors[0]) if isinstance(e, CorosyncProcessorFailed)]
        start = time.time()
        self.status = self.lab.cluster.status(via=self.survivors[0])
        end = time.time()
        self.declared.look(not is_online(self.inv, self.status, self.victim.name), start, end,
                           self._window(self.survivors[0], lost[0]) if lost else None)

    def _window(self, node: str, event: Any) -> tuple[float, float] | None:
        """When `event` was logged, on the controller's clock: its stamp corrected by the offset of
        the node whose syslog holds the line (else `node`'s)."""
        raw = str(getattr(getattr(event, "line", None), "raw", "")).strip()
        logged_by = next((name for name, lines in self.windows.items() if raw and any(ln.strip() == raw for ln in lines)), node)
        return syslog_window(event, reading_of(self.lab, logged_by))

    def _events(self, survivor: str) -> list[Any]:
        """Typed syslog events of the survivor's window as of the previous look."""
        return syslog_events(self.windows.get(survivor, []))

    def until(self, done: Callable[[], bool], deadline: float, what: str = "") -> bool:
        """Look every POLL s until `done()` or the wall-clock `deadline`; True when done (one look at least)."""
        def look() -> bool:
            self.look()
            return bool(done())

        try:
            return wait_for(what or f"a survivor to fence {self.victim.name}", look,
                            timeout=max(deadline - time.time(), 1e-3), interval=POLL)
        except WaitTimeout:
            return False

    @property
    def fence_round(self) -> FenceRound | None:
        """The round that fenced the victim (else the latest one)."""
        done = [r for r in self.rounds if r.succeeded is not None]
        return done[0] if done else (self.rounds[-1] if self.rounds else None)

    def failures_text(self) -> str:
        rnd = self.fence_round
        if rnd is None or not rnd.failures:
            return ""
        agents: dict[str, list[str]] = {}
        for f in rnd.failures:
            agents.setdefault(f.agent, []).append(f.result)
        parts = [f"{agent} failed {len(results)}x ('{results[0]}')" for agent, results in agents.items()]
        return "; ".join(parts)

    def state_text(self) -> str:
        return describe_status(self.inv, self.status)

    def configured(self) -> str:
        """The victim's fence methods as the cluster is configured: '1: ipmi (dev-a1: fence_ipmilan); ...'."""
        return self.config.describe(self.victim.name) if self.config is not None else "not read"

    def fenced_with(self, rnd: FenceRound | None) -> str:
        """Which device or method the cluster's record names, and where that was read."""
        if rnd is None or rnd.succeeded is None:
            return "no fence recorded"
        if rnd.device:
            dev = self.config.devices.get(rnd.device) if self.config is not None else None
            agent = dev.agent if dev is not None else "not in the cluster's configuration"
            return f"device {rnd.device} ({agent}), named in the fencer's log"
        if rnd.method_index is not None:
            methods = self.config.methods(self.victim.name) if self.config is not None else ()
            devices = ", ".join(methods[rnd.method_index]) if rnd.method_index < len(methods) else "?"
            failed = ", ".join(f.device or "?" for f in rnd.failures)
            return (f"method {rnd.method_index + 1} ({devices}), the one after the last that failed"
                    + (f" (dev {failed})" if failed else " (none failed)") + f" in fenced's record, from the {rnd.method_source}")
        return "the record names no device or method"
