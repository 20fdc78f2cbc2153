"""The cold stop and cold start procedure (seed 002, "Complete Cold Shut Down And Cold Starting
The Cluster"): the waits on the cluster's status with the moment each state was measured, the
BMCs' power state, and the fences the nodes logged (none may happen)."""

from __future__ import annotations

import time
from typing import Any, Callable, NoReturn

from hacert.drivers.errors import ClusterFailure, DeviceUnreachable, HacertError, LabError, WaitTimeout
from hacert.model.inventory import Inventory
from hacert.observe.cluster_state import describe_status, find_service, is_online, where_running
from hacert.observe.coverage import Unseen, raise_unseen
from hacert.observe.fence_record import fence_rounds
from hacert.observe.lines import SkippedLines, count_unreadable_syslog
from hacert.observe.moments import Edge
from hacert.observe.waiting import wait_for

POLL = 0.1
FENCE_CHECK_EVERY = 1.0
"""Seconds between reads of the nodes' syslogs for fences while waiting for the cluster: reading
them between every two status looks would widen the looks' brackets around each moment."""


def fail(message: str) -> NoReturn:
    """End the case as a failure of the cluster; the message is also the summary's diagnosis."""
    raise ClusterFailure(message)


class Asked:
    """What the status looks of one wait gave: how many nodes answered (a cluster tool that refused,
    its stack not up yet, answered too), and the last error when none did."""

    def __init__(self) -> None:
        self.answered = 0
        self.error: HacertError | None = None
        self.since = time.time()

    def unseen(self, what: str) -> list[Unseen]:
        """Nothing at all answered: the cluster was not seen (a lab error when a node did not answer)."""
        if self.answered:
            return []
        return [Unseen("the cluster's status", self.since, time.time(), 1, what, self.error)]


def cluster_status(lab: Any, via: list[str], asked: Asked | None = None) -> Any | None:
    """The cluster status from the first node that gives one (None while no cluster answers)."""
    for node in via:
        try:
            status = lab.cluster.status(via=node)
        except HacertError as exc:
            if asked is not None:
                if isinstance(exc, DeviceUnreachable):
                    asked.error = exc  # the node did not answer: nothing seen
                else:
                    asked.answered += 1  # it answered: its cluster is not up (yet)
            continue
        if asked is not None:
            asked.answered += 1
        return status
    return None


def fences_logged(lab: Any, marks: dict[str, Any], unread: dict[str, HacertError] | None = None,
            skipped: SkippedLines | None = None) -> list[str]:
    """"X fenced by Y" for every fencing the nodes logged since `marks` (nodes that answer; those that
    do not go into `unread`, and the lines that are not syslog are counted into `skipped`)."""
    windows: dict[str, list[str]] = {}
    for node, mark in marks.items():
        try:
            windows[node] = lab.node(node).syslog_since(mark)
        except HacertError as exc:
            if unread is not None:
                unread[node] = exc
            continue
    if skipped is not None:
        count_unreadable_syslog(windows, skipped)
    out = []
    for rnd in fence_rounds(lab.inventory, windows):
        outcome = "fenced" if rnd.succeeded is not None else "being fenced"
        out.append(f"{rnd.victim} {outcome} by {rnd.fencer}")
    return out


def service_state(status: Any, name: str) -> str | None:
    svc = find_service(status, name)
    return svc.state if svc is not None else None


def where_words(inv: Inventory, status: Any, name: str) -> str:
    svc = find_service(status, name)
    if svc is None:
        return "missing"
    owner = where_running(inv, status, name)
    return f"on {owner}" if owner else svc.state


def wait_cluster(lab: Any, nodes: list[str], what: str, timeout: float, until: Callable[[Any], bool]) -> tuple[Any, float]:
    """The status once `until(status)`, and when that state was measured (judged against the deadline)."""
    deadline = time.time() + timeout
    asked = Asked()
    edge = Edge(time.time())
    seen: list[Any] = [None]

    def look() -> Any:
        looked = time.time()
        seen[0] = status = cluster_status(lab, nodes, asked)
        edge.look(status is not None and until(status), looked, time.time())
        return edge.moment

    try:
        moment = wait_for(what, look, lambda found: found is not None, timeout=max(deadline - time.time(), 1e-3),
                          interval=POLL)
    except WaitTimeout:
        raise_unseen(asked.unseen(what))
        fail(f"{what}: not within {timeout:g} s; last cluster state: {describe_status(lab.inventory, seen[0])}")
    if moment.t > deadline:  # seen by a look that began in time, measured after the deadline
        fail(f"{what}: not within {timeout:g} s (only {moment.t - deadline + timeout:.1f} s after)")
    return seen[0], moment.t


def wait_bmc(lab: Any, node: str, want: str, timeout: float) -> None:
    try:
        wait_for(f"{node}'s BMC to read power {want}", lambda: lab.bmc(node).power_status(), lambda state: state == want,
                 timeout=timeout, interval=POLL)
    except WaitTimeout as timed_out:
        raise LabError(f"{node}'s BMC", "-", f"read power {want}",
                       f"still reads {timed_out.last_seen} after {timeout:g} s") from None


def wait_cold_start(lab: Any, nodes: list[str], marks: dict[str, Any], t0: float) -> tuple[float, float, float]:
    """Wait (expectations.cold_start_timeout from the power-on at `t0`) for quorum, every member and
    the storage services; when each was measured. Any fence the nodes log meanwhile fails the case
    (read every FENCE_CHECK_EVERY s, and once more when the state is reached or time ran out)."""
    inv: Inventory = lab.inventory
    expect = inv.expectations
    storage = {svc.name: svc.home for svc in inv.services if svc.storage}
    deadline = t0 + expect.cold_start_timeout
    quorate, members, storage_up = Edge(t0), Edge(t0), Edge(t0)
    seen: list[Any] = [None]
    fences_read_at = [0.0]
    asked = Asked()

    def no_fence(force: bool) -> None:
        now = time.time()
        if not force and now - fences_read_at[0] < FENCE_CHECK_EVERY:
            return
        fences, fences_read_at[0] = fences_logged(lab, marks), time.time()
        if fences:
            status = seen[0]
            late = [n for n in nodes if status is None or not is_online(inv, status, n)]
            fail(f"{'; '.join(fences)} during the cold start: "
                 + (f"{', '.join(late)} did not join within post_join_delay ({inv.cluster.post_join_delay:g} s); "
                    if late else "")
                 + f"last cluster state: {describe_status(inv, status)}")

    def look() -> bool:
        looked = time.time()
        seen[0] = status = cluster_status(lab, nodes, asked)
        answered = time.time()
        up = status is not None and status.quorate
        quorate.look(up, looked, answered)
        members.look(up and all(is_online(inv, status, n) for n in nodes), looked, answered)
        storage_up.look(members.t is not None and status is not None and all(
            where_running(inv, status, name) == home or (home is None and where_running(inv, status, name))
            for name, home in storage.items()), looked, answered)
        no_fence(force=storage_up.t is not None or time.time() >= deadline)
        return storage_up.t is not None

    try:
        wait_for("quorum, every member and the storage services after power-on", look,
                 timeout=max(deadline - time.time(), 1e-3), interval=POLL)
    except WaitTimeout:
        no_fence(force=True)
        raise_unseen(asked.unseen("the cluster came back after power-on"))
        fail(f"the cluster did not come back within {expect.cold_start_timeout:g} s of power-on: "
             f"last cluster state: {describe_status(inv, seen[0])}")
    assert quorate.t is not None and members.t is not None and storage_up.t is not None
    return quorate.t, members.t, storage_up.t
