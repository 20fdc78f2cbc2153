"""After a case: what the cluster recorded while the case ran that the case did not cause on purpose.

The post-case audit (the guard, fixtures/guard.py) reads the cluster's own record of the case:
every node's syslog from the case's start mark on, and pacemaker's failure history (crm_mon's
<failures> and fail counts, compared with what they held before the case). `cluster_record`
turns that into `Incident`s:

- fences: who fenced whom, when, by which method; a fence started and never finished;
- resource failures: a service or VM of the inventory that failed, where, when, why, and what
  the cluster did about it (restarted it there, moved it, left it down).

A case declares what it caused on purpose as `Expected` entries: derived from what it
registered with `guard.changed(...)` (`expected_from_changes`: a hung node and a node whose
outlet was cut are brought down on purpose, so their fence and the failures of what they
hosted are the case's doing) plus `guard.expect(kind, target)` where the guard cannot guess
it (the VM the destroy case destroys). `unexpected` keeps the rest; each one fails the case.

pytest-free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from hacert.drivers.parsers import ParseError, crm_time, parse_syslog_events
from hacert.drivers.parsers.syslog import (
    ResourceOperationResult, ServiceFailed, ServiceStartFailed, ServiceStatusFailed, SyslogEvent,
)
from hacert.model.inventory import Inventory

from hacert.observe.cluster_state import expected_homes, find_service, node_of, short_name, where_running
from hacert.observe.fence_record import FenceRound, cut_short, fence_method, fence_rounds

ExpectKind = Literal["down", "fence", "failure"]
EXPECT_KINDS: tuple[str, ...] = get_args(ExpectKind)

METHOD_WORDS = {"ipmi": "IPMI", "redfish": "Redfish", "pdu": "the PDU", "scsi": "SCSI-3 reservations"}

# pacemaker results that are no failure: a cancelled recurring monitor, and a probe finding the
# resource stopped where it should be stopped
_NOT_FAILED = {"ok", "cancelled"}
_PROBE_NOT_FAILED = {"ok", "not running"}


@dataclass(frozen=True)
class Expected:
    """Something a case causes on purpose, so the audit does not count it against the cluster.

    kind "down": node `target` is brought down (hung, crashed, its power cut): its fence and the
    failures of what ran on it are the case's doing; "fence": node `target` is fenced on purpose;
    "failure": resource `target` (a service or VM) is made to fail (destroyed)."""

    kind: ExpectKind
    target: str

    def covers(self, incident: "Incident") -> bool:
        if incident.kind == "fence":
            return incident.finished and self.kind in ("down", "fence") and self.target == incident.subject
        if incident.kind == "failure":
            return (self.kind == "failure" and self.target == incident.subject) or (
                self.kind == "down" and self.target == incident.node)
        return False


def check_expected(inv: Inventory, kind: str, target: str) -> Expected:
    """An `Expected` after checking `kind` and that `target` is a node or resource of the lab
    (ValueError otherwise: a case that names something else is a harness bug)."""
    if kind not in EXPECT_KINDS:
        raise ValueError(f"unknown kind {kind!r} of what a case causes (one of {', '.join(EXPECT_KINDS)})")
    names = [n.name for n in inv.nodes] if kind in ("down", "fence") else list(expected_homes(inv))
    if target not in names:
        raise ValueError(f"{target!r} is no {'node' if kind != 'failure' else 'service or VM'} of lab {inv.lab} "
                         f"(known: {', '.join(names)})")
    return Expected(kind, target)  # type: ignore[arg-type]


def expected_from_changes(inv: Inventory, changes: Iterable[Any]) -> list[Expected]:
    """What the guard can tell a case caused from what it registered (`Change(kind, target)`):
    a hang of NODE, and a cut outlet PDU/N (each node it feeds), bring those nodes down."""
    out: list[Expected] = []
    for change in changes:
        if change.kind == "hang":
            out.append(Expected("down", change.target))
        elif change.kind == "outlet":
            pdu, _, number = str(change.target).partition("/")
            for node in inv.nodes:
                if any(ref.pdu == pdu and str(ref.outlet) == number for ref in node.power):
                    out.append(Expected("down", node.name))
    return out


@dataclass(frozen=True)
class Incident:
    """Something the cluster recorded during a case.

    fence: `subject` the victim, `node` who fenced it, `finished` False while it has not
    succeeded; failure: `subject` the service or VM, `node` where it failed."""

    kind: Literal["fence", "failure"]
    subject: str
    node: str | None
    at: str
    what: str
    evidence: tuple[str, ...] = ()
    finished: bool = True


@dataclass
class ClusterRecord:
    """Every incident the cluster recorded during a case, and how many log lines no parser read."""

    incidents: list[Incident] = field(default_factory=list)
    skipped_lines: int = 0


def unexpected(incidents: Iterable[Incident], expected: Sequence[Expected]) -> list[Incident]:
    """The incidents no `Expected` covers (a fence that never finished is never expected)."""
    return [i for i in incidents if not any(e.covers(i) for e in expected)]


# ---------------------------------------------------------------- reading the record


def typed_windows(windows: Mapping[str, Sequence[str]]) -> tuple[dict[str, list[SyslogEvent]], int]:
    """{node: typed events} from {node: syslog lines}, line by line: a line that is not syslog is
    skipped and counted, never allowed to hide the others."""
    out: dict[str, list[SyslogEvent]] = {}
    skipped = 0
    for node, lines in windows.items():
        events: list[SyslogEvent] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                events += parse_syslog_events([line])
            except ParseError:
                skipped += 1
        out[node] = events
    return out, skipped


def cluster_record(inv: Inventory, windows: Mapping[str, Sequence[str]], before: Any = None, after: Any = None) -> ClusterRecord:
    """The fences and resource failures in the syslog `windows` ({node: lines since the case
    started}) and, for pacemaker, in `after`'s crm_mon record that `before`'s did not hold
    (`before`/`after`: ClusterStatus at the case's start and end; either may be None)."""
    events, skipped = typed_windows(windows)
    incidents = _fence_incidents(inv, windows)
    incidents += _failure_incidents(inv, events, before, after)
    return ClusterRecord(incidents, skipped)


def _clock(event: Any) -> str:
    stamp = getattr(getattr(event, "line", None), "timestamp", None)
    return stamp.strftime("%H:%M:%S") if stamp is not None else "an unknown time"


def _raw(event: Any) -> str:
    return str(getattr(getattr(event, "line", None), "raw", "") or "").strip()


def _fence_incidents(inv: Inventory, windows: Mapping[str, Sequence[str]]) -> list[Incident]:
    rounds = fence_rounds(inv, {node: list(lines) for node, lines in windows.items()})
    by_victim: dict[str, list[FenceRound]] = {}
    for rnd in rounds:
        by_victim.setdefault(rnd.victim, []).append(rnd)
    out = []
    for victim, mine in by_victim.items():
        latest = mine[-1]
        done = [r for r in mine if r.succeeded is not None]
        if done:
            rnd = done[0]
            fencer = node_of(inv, getattr(rnd.succeeded, "executioner", None)) or rnd.fencer
            method = fence_method(inv, rnd)
            how = f" through {METHOD_WORDS.get(method, method)}" if method else ""
            failed = f" after {len(rnd.failures)} failed attempt(s)" if rnd.failures else ""
            out.append(Incident("fence", victim, fencer, _clock(rnd.succeeded),
                                f"{victim} was fenced by {fencer}{how} at {_clock(rnd.succeeded)}{failed}",
                                tuple(_raw(e) for e in (rnd.started, rnd.succeeded) if e is not None)))
        if latest.succeeded is None and not cut_short(latest, rounds):
            start = latest.started
            tried = "; ".join(f"{f.agent}: {f.result}" for f in latest.failures)
            state = "gave up" if latest.gave_up else "has not succeeded"
            out.append(Incident("fence", victim, latest.fencer, _clock(start),
                                f"fencing of {victim} started by {latest.fencer} at {_clock(start)} {state}"
                                + (f" ({tried})" if tried else ""),
                                tuple(_raw(e) for e in (start,) if e is not None), finished=False))
    return out


@dataclass
class _Failures:
    """Failures of one resource on one node, as each source counted them."""

    first_at: str
    reason: str
    counts: dict[str, int] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    start_failed: bool = False

    def add(self, source: str, evidence: str = "", times: int = 1) -> None:
        self.counts[source] = self.counts.get(source, 0) + times
        if evidence:
            self.evidence.append(evidence)


def _failure_incidents(inv: Inventory, events: Mapping[str, list[SyslogEvent]], before: Any, after: Any) -> list[Incident]:
    resources = set(expected_homes(inv))
    found: dict[tuple[str, str], _Failures] = {}

    def note(resource: str, node: str | None, at: str, reason: str, source: str, evidence: str = "",
             times: int = 1) -> _Failures | None:
        if resource not in resources or node is None:
            return None
        entry = found.setdefault((resource, node), _Failures(at, reason))
        entry.add(source, evidence, times)
        return entry

    for logger, mine in events.items():
        for event in mine:
            if isinstance(event, ServiceStatusFailed):
                note(event.resource_name, logger, _clock(event), f"its status check returned {event.code} ({event.reason})",
                     "syslog", _raw(event))
            elif isinstance(event, ResourceOperationResult) and _op_failed(event):
                note(short_name(event.resource), node_of(inv, event.node), _clock(event),
                     f"its {event.operation} returned '{event.result}'", "syslog", _raw(event))
            elif isinstance(event, (ServiceStartFailed, ServiceFailed)):
                entry = found.get((short_name(event.service), logger))
                if entry is None:
                    why = ("its start returned an error" if isinstance(event, ServiceStartFailed)
                           else "rgmanager marked it failed")
                    entry = note(short_name(event.service), logger, _clock(event), why, "start", _raw(event))
                if entry is not None:
                    entry.start_failed = True
                    entry.evidence.append(_raw(event))
    for failure in _new_crm_failures(before, after):
        node = node_of(inv, failure.node)
        stamp = crm_time(failure.last_rc_change)
        at = stamp.strftime("%H:%M:%S") if stamp is not None else (failure.last_rc_change or "an unknown time")
        note(failure.resource, node, at, f"its {failure.task or 'operation'} returned '{failure.exitstatus}'", "crm_mon",
             f"crm_mon failure {failure.op_key} on {failure.node}: {failure.exitstatus} at {failure.last_rc_change}")
    for (node_name, resource), increase in _fail_count_increases(before, after).items():
        note(resource, node_of(inv, node_name), "an unknown time", "pacemaker counted a failure", "failcount",
             f"crm_mon fail-count of {resource} on {node_name} grew by {increase}", times=increase)

    out = []
    for (resource, node), entry in found.items():
        times = max(entry.counts.values())
        what = f"{resource} failed on {node} at {entry.first_at}" if times == 1 else \
            f"{resource} failed {times} times on {node} (first at {entry.first_at})"
        out.append(Incident("failure", resource, node, entry.first_at,
                            f"{what} ({entry.reason}){_outcome(inv, after, resource, node, entry)}",
                            tuple(entry.evidence)))
    return out


def _op_failed(event: ResourceOperationResult) -> bool:
    result = event.result.strip().lower()
    if event.operation == "probe":
        return result not in _PROBE_NOT_FAILED
    return result not in _NOT_FAILED


def _outcome(inv: Inventory, after: Any, resource: str, node: str, entry: _Failures) -> str:
    if after is None:
        return ""
    where = where_running(inv, after, resource)
    if where == node:
        return ": the cluster restarted it there" if not entry.start_failed else ": it runs there again"
    if where is not None:
        return f": the cluster moved it to {where}"
    svc = find_service(after, resource)
    return f": it is {svc.state if svc is not None else 'missing'} now, not running"


def _crm(status: Any) -> Any:
    raw = getattr(status, "raw", None)
    return raw if hasattr(raw, "failures") else None


def _new_crm_failures(before: Any, after: Any) -> list[Any]:
    """crm_mon's failed actions at the end that it did not list at the start (a cleanup forgets
    them: the syslog keeps them). No start record: nothing can be told apart, nothing is counted."""
    now, then = _crm(after), _crm(before)
    if now is None or then is None:
        return []
    old = {(f.op_key, f.node, f.call) for f in then.failures}
    return [f for f in now.failures if (f.op_key, f.node, f.call) not in old]


def _fail_count_increases(before: Any, after: Any) -> dict[tuple[str, str], int]:
    now, then = _crm(after), _crm(before)
    if now is None or then is None:
        return {}
    old = {(c.node, c.resource): c.fail_count for c in getattr(then, "fail_counts", [])}
    return {(c.node, c.resource): c.fail_count - old.get((c.node, c.resource), 0)
            for c in getattr(now, "fail_counts", []) if c.fail_count > old.get((c.node, c.resource), 0)}


__all__ = [
    "ClusterRecord", "EXPECT_KINDS", "ExpectKind", "Expected", "Incident", "check_expected", "cluster_record",
    "expected_from_changes", "typed_windows", "unexpected",
]
