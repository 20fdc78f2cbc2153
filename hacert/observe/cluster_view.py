"""Asking the lab's cluster: its status through the first node that gives one (`status_via`),
waiting for a state with its measured moment (`watch_cluster` -> `Look`), the manager's own
status text for the evidence (`cluster_text`), and DRBD's state (`drbd_state`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from hacert.drivers.errors import HacertError, WaitTimeout
from hacert.drivers.parsers import ParseError, parse_drbd
from hacert.observe.cluster_state import describe_status
from hacert.observe.moments import Moment
from hacert.observe.waiting import wait_for

POLL = 0.1
"""Seconds between two looks at the cluster while waiting for it."""


def status_via(lab: Any, nodes: Sequence[str]) -> Any:
    """The cluster status asked of the first of `nodes` that gives one (HacertError if none does)."""
    problems = []
    for node in nodes:
        try:
            return lab.cluster.status(via=node)
        except (HacertError, KeyError) as exc:
            problems.append(f"{node}: {exc}")
    raise NoStatus("; ".join(problems) or "no node to ask")


class NoStatus(HacertError):
    """No node gave a cluster status."""


@dataclass
class Look:
    """The last cluster status seen while waiting, and whether the wait was met.

    `moment`: when the awaited state began, bracketed by the look before (that did not see it) and
    the look that did; `met` is False when that moment lies past the deadline, even though the
    look that saw it began in time (`late` then says so)."""

    met: bool
    status: Any
    at: float
    moment: Moment | None = None
    late: bool = False

    @property
    def t(self) -> float:
        """When the awaited state began (the moment's best time; else when the wait ended)."""
        return self.moment.t if self.moment is not None else self.at

    def when(self, since: float) -> str:
        """For a failure message: ' (it came only N s after)' when the state was measured past the deadline."""
        return f" (it came only {self.t - since:.1f} s after)" if self.late else ""


def watch_cluster(lab: Any, via: Sequence[str], until: Callable[[Any], bool], timeout: float,
                  what: str = "the cluster to reach the awaited state") -> Look:
    """Poll the cluster status (asked of `via`) until `until(status)` or `timeout` s pass. The state
    is judged on its measured moment: seen in time but measured after the deadline is not met.
    A status no node gives (a node rebooting) is asked again until the deadline; still none then
    is a lab fault, raised, not a verdict."""
    began = time.time()
    starts = [began, began]  # [the look before's start, this look's start]

    def look() -> Any:
        starts[:] = [starts[1], time.time()]
        return status_via(lab, via)

    try:
        status = wait_for(what, look, until, timeout=max(timeout, 1e-3), interval=POLL, retry_errors=(HacertError,))
    except WaitTimeout as timed_out:
        if isinstance(timed_out.last_seen, HacertError):
            raise timed_out.last_seen
        return Look(False, timed_out.last_seen, time.time())
    moment = Moment(starts[0], time.time())
    late = moment.t > began + timeout
    return Look(not late, status, moment.after, moment, late)


def cluster_text(lab: Any, via: Sequence[str]) -> str:
    """The cluster manager's own status output (clustat / crm_mon), for the evidence."""
    command = "crm_mon -1" if lab.inventory.cluster.manager == "pacemaker" else "clustat"
    for node in via:
        try:
            result = lab.node(node).run(command, check=False, timeout=30)
        except HacertError:
            continue
        if result.exit_code == 0:
            return f"# {command} on {node}\n{result.stdout}"
    try:
        return describe_status(lab.inventory, status_via(lab, via))
    except HacertError as exc:
        return f"(no node gave its status: {exc})"


def drbd_state(lab: Any, node: str) -> tuple[bool | None, str]:
    """(True: every DRBD minor Connected and UpToDate/UpToDate, False: not yet, None: no DRBD), /proc/drbd text."""
    try:
        result = lab.node(node).run("cat /proc/drbd", check=False, timeout=15)
    except HacertError as exc:
        return False, f"(unreadable: {exc})"
    if result.exit_code != 0 or not result.stdout.strip():
        return None, result.stdout + result.stderr
    try:
        drbd = parse_drbd(result.stdout)
    except ParseError:
        return False, result.stdout
    minors = list(drbd.minors.values())
    if not minors:
        return None, result.stdout
    ok = all(_minor_ok(m) for m in minors)
    return ok, result.stdout


def _minor_ok(minor: Any) -> bool:
    return minor.cs == "Connected" and minor.ds == "UpToDate/UpToDate"
