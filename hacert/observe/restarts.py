"""The restarts a cluster still counts against a service's restart threshold: rgmanager's, read from
the nodes' syslogs; pacemaker's, its fail count.

rgmanager relocates a service on the failure that finds `max_restarts` restarts inside
`restart_expire_time` already counted. It keeps that count in memory only, and says so in syslog:
each "Recovering failed service S" is one restart; "Restart threshold for S exceeded" empties the
count (the service relocates) and so does the cluster forming again ("quorum regained": rgmanager
restarts with no memory). A restart that another case (or an engineer) caused minutes before is
still counted: a case that destroys the service must judge the threshold with it, or it blames
the cluster for relocating early.

Pacemaker keeps a fail count per node and resource; the resource leaves the node when the count
reaches its migration-threshold, and the whole count expires `failure-timeout` after the last failure
(crm_mon's `last-failure`, a ctime in the local time of the node that answered).

Stamps are read on the controller's clock (each node's measured offset corrected); a classic
syslog stamp is a second wide, so each restart has an earliest and a latest moment.
"""

from __future__ import annotations

import shlex
from datetime import datetime
from dataclasses import dataclass, field
from typing import Any, Sequence

from hacert.drivers.errors import HacertError
from hacert.drivers.parsers.syslog import (
    QuorumChanged,
    ServiceRecoveryStarted,
    ServiceRestartThresholdExceeded,
    parse_syslog_events,
)
from hacert.observe.clocks import clocks_of, reading_of, stamp_window

_ERE_SPECIAL = set(".[]()*+?{}|^$\\")


def _ere(text: str) -> str:
    """`text` as a literal inside a POSIX extended regular expression (grep -E)."""
    return "".join(f"\\{c}" if c in _ERE_SPECIAL else c for c in text)


def _same_service(logged: str, name: str) -> bool:
    """'vm:vm0001-dev' (as rgmanager prints it) names the inventory's 'vm0001-dev'."""
    return logged == name or logged.split(":", 1)[-1] == name


@dataclass(frozen=True)
class CountedRestart:
    """One restart in place the cluster logged: where, when (controller clock) and its line."""

    node: str
    earliest: float
    latest: float
    line: str


@dataclass
class RestartHistory:
    """The restarts of one service that count toward its threshold from some moment on."""

    service: str
    expire: float
    restarts: list[CountedRestart] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    """Nodes whose syslog could not be read, and why: what they logged is unknown."""

    def counted_between(self, start: float, end: float) -> tuple[int, int]:
        """(fewest, most) of these restarts rgmanager counts when it judges a failure somewhere between
        `start` and `end` (controller clock): a restart whose expiry may fall inside may or may not be."""
        fewest = sum(1 for r in self.restarts if end - r.earliest < self.expire)
        most = sum(1 for r in self.restarts if start - r.latest < self.expire)
        return fewest, most

    def unreadable_words(self) -> str:
        return "; ".join(f"{node}: {why}" for node, why in self.unreadable.items())

    def words(self, t0: float) -> str:
        """'1 (an-node01 at -312 s: "... Recovering failed service vm:vm0001-dev")'."""
        if not self.restarts:
            return "none"
        seen = "; ".join(dict.fromkeys(f"{r.node} at {r.earliest - t0:+.0f} s: {r.line}" for r in self.restarts))
        return f"{len(self.restarts)} ({seen})"


def restarts_still_counted(lab: Any, service: str, expire: float, now: float,
                           nodes: Sequence[str] | None = None, path: str = "/var/log/messages") -> RestartHistory:
    """The restarts in place of `service` that rgmanager may still count at `now`: logged less than
    `expire` seconds before it, after the last threshold relocation of the service and after the
    cluster last formed."""
    history = RestartHistory(service, expire)
    pattern = "|".join(("Recovering failed service " + _ere_name(service) + "$",
                        "Restart threshold for " + _ere_name(service) + " exceeded",
                        "quorum regained"))
    found: list[tuple[str, int, Any, float, float]] = []
    for node in nodes or [n.name for n in lab.inventory.nodes]:
        try:
            result = lab.node(node).run(f"grep -E {shlex.quote(pattern)} {shlex.quote(path)}", check=False, timeout=30)
        except HacertError as exc:
            history.unreadable[node] = str(exc)
            continue
        if result.exit_code not in (0, 1) or (result.exit_code == 1 and result.stderr.strip()):
            # grep says 1 for "no line matched"; 1 with an error said is a file it could not read
            history.unreadable[node] = (result.stderr or result.stdout).strip() or f"grep exited {result.exit_code}"
            continue
        reading = reading_of(lab, node)
        events = parse_syslog_events(result.stdout, on_bad_line=lambda _error: None)
        for index, event in enumerate(events):
            earliest, latest = stamp_window(event.line.timestamp, reading)
            found.append((node, index, event, earliest, latest))
    resets = [(node, index, latest) for node, index, event, _e, latest in found if _resets(event, service)]
    for node, index, event, earliest, latest in found:
        if not (isinstance(event, ServiceRecoveryStarted) and _same_service(event.service, service)):
            continue
        after_own = all(index > i for n, i, _l in resets if n == node)
        after_others = all(earliest >= reset for n, _i, reset in resets if n != node)
        if after_own and after_others and now - latest < expire:
            history.restarts.append(CountedRestart(node, earliest, latest, event.line.raw.strip()))
    history.restarts.sort(key=lambda r: r.earliest)
    return history


def _ere_name(service: str) -> str:
    """The service as rgmanager prints it, any type prefix allowed ('vm:NAME', 'service:NAME', 'NAME')."""
    return "([a-z]+:)?" + _ere(service.split(":", 1)[-1])


def _resets(event: Any, service: str) -> bool:
    if isinstance(event, ServiceRestartThresholdExceeded):
        return _same_service(event.service, service)
    return isinstance(event, QuorumChanged) and event.quorate


def fail_count_still_counted(lab: Any, status: Any, service: str, node: str, expire: float, now: float) -> RestartHistory:
    """Pacemaker's fail count of `service` on `node` (inventory name) in a crm_mon status, as restarts
    that all expire `expire` seconds after its last failure. The stamp's node is not said: its window
    is widened by the spread of the nodes' measured clock offsets."""
    history = RestartHistory(service, expire)
    crm = getattr(status, "raw", None)
    member = lab.inventory.node(node).member_name
    counts = [c for c in getattr(crm, "fail_counts", []) if c.resource == service and c.node == member]
    if not counts or counts[0].fail_count <= 0:
        return history
    count = counts[0]
    if count.last_failure is None:
        history.unreadable[node] = f"crm_mon gives {service}'s fail count on {member} without its last failure"
        return history
    stamp = datetime.strptime(" ".join(count.last_failure.split()), "%a %b %d %H:%M:%S %Y")
    earliest, latest = stamp_window(stamp, reading_of(lab, node))
    clocks = clocks_of(lab)
    if clocks is not None:
        offsets = [clocks.reading(n.name).offset for n in lab.inventory.nodes]
        spread = max(offsets) - min(offsets)
        earliest, latest = earliest - spread, latest + spread
    if now - latest >= expire:  # expired for sure: pacemaker no longer counts it
        return history
    line = f"crm_mon: {service} fail-count={count.fail_count} on {member}, last-failure {count.last_failure}"
    history.restarts = [CountedRestart(node, earliest, latest, line) for _ in range(count.fail_count)]
    return history
