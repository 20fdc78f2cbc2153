"""Complete Cold Shut Down And Cold Starting The Cluster (seed 002).

Disable every VM, stop the resource manager and the cluster stack on every
node, power every node off and confirm it through its BMC; then power them all
on through IPMI inside post_join_delay, wait for a quorate cluster with every
member and the storage services started, enable every VM on its home node, and
check every VM runs where it belongs and that nothing was fenced on the way.

"Nothing was fenced" is read from every node's syslog: a node whose syslog
cannot be read at the end leaves it unseen (inconclusive, or a lab error), and
a cluster no node ever gave a status of is not a cluster that failed to start.
Deadlines are judged on when the awaited state was measured.
"""

from __future__ import annotations

import time
from typing import Any, NoReturn

import pytest

from hacert.drivers.errors import DeviceUnreachable, HacertError, LabError
from hacert.model.inventory import Inventory
from hacert.fixtures.plan import plan_steps
from hacert.observe.cluster_state import describe_status, find_service, is_online, where_running
from hacert.model.bounds import Bound
from hacert.observe.coverage import Unseen, raise_unseen
from hacert.observe.fence_record import fence_rounds
from hacert.observe.lines import SkippedLines, count_unreadable_syslog
from hacert.drivers.errors import ClusterFailure
from hacert.observe.moments import Edge, Moment
from hacert.procedures.vm import migrate_home

FEATURE = "Cold stop and cold start"
pytestmark = [pytest.mark.destructive, pytest.mark.slow]

POLL = 0.1
FENCE_CHECK_EVERY = 1.0
"""Seconds between reads of the nodes' syslogs for fences while waiting for the cluster: reading
them between every two status looks would widen the looks' brackets around each moment."""


def fail(message: str) -> NoReturn:
    """End the case as a failure of the cluster; the message is also the summary's diagnosis."""
    raise ClusterFailure(message)


class _Asked:
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


def _status(lab: Any, via: list[str], asked: _Asked | None = None) -> Any | None:
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


def _fences(lab: Any, marks: dict[str, Any], unread: dict[str, HacertError] | None = None,
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


@plan_steps(
    "audit the lab healthy",
    "disable every VM (clusvcadm -d / pcs resource disable)",
    "stop the resource manager, then the cluster stack, on every node",
    "power every node off through its BMC; confirm off through every BMC",
    "power every node on through IPMI within post_join_delay ({cluster.post_join_delay} s)",
    "wait up to {expect.cold_start_timeout} s for quorum, every member and the storage services",
    "enable every VM on its home node; check placement; every service on its home node; check nothing was fenced",
    touches=["ssh all", "bmc all", "cluster"],
)
def test_cold_stop_start(lab: Any, guard: Any, record: Any) -> None:
    """Cold-stop the whole cluster, cold-start it, bring every VM up on its home node."""
    inv: Inventory = lab.inventory
    expect = inv.expectations
    nodes = [n.name for n in inv.nodes]
    record.subject(inv.cluster.name)
    record.title(f"Cold stop and cold start of {inv.cluster.name} ({len(nodes)} nodes, {len(inv.vms)} VMs)")
    record.story("Complete Cold Shut Down And Cold Starting The Cluster")

    with record.step("audit the lab healthy"):
        guard.audit()
    with record.step("disable every VM"):
        for vm in inv.vms:
            guard.changed("service", vm.name)
            lab.cluster.disable(vm.name)
        _wait_cluster(lab, nodes, "every VM disabled", expect.services_back_timeout,
                      lambda s: all(_state(s, vm.name) in ("disabled", "stopped") for vm in inv.vms))
    with record.step("stop the resource manager and the cluster stack on every node"):
        for node in nodes:
            guard.changed("stack", node)
            lab.cluster.stop_stack(node, whole_cluster=True)
    # every node's syslog from here on (it survives the power cycle): nothing in it may be a fence
    marks = {node: lab.node(node).syslog_mark() for node in nodes}
    with record.step("power every node off through its BMC and confirm it is off"):
        for node in nodes:
            guard.changed("power", node)
            lab.bmc(node).power_off()
        for node in nodes:
            _wait_bmc(lab, node, "off", 30.0)
    with record.step(f"power every node on through IPMI within post_join_delay ({inv.cluster.post_join_delay:g} s)"):
        powered: dict[str, float] = {}
        for node in nodes:
            asked = time.time()
            lab.bmc(node).power_on()
            powered[node] = Moment(asked, time.time()).t  # the chassis came on within the call
        t0 = min(powered.values())
        spread = max(powered.values()) - t0
        record.number("power-on spread", spread, "s", expected=Bound.below(inv.cluster.post_join_delay))
        if spread >= inv.cluster.post_join_delay:
            raise LabError("BMCs", "-", "power every node on within post_join_delay",
                           f"the last node was powered on {spread:.1f} s after the first")
    with record.step(f"wait up to {expect.cold_start_timeout:g} s for quorum, every member and the storage services"):
        storage = {svc.name: svc.home for svc in inv.services if svc.storage}
        deadline = t0 + expect.cold_start_timeout
        quorate, members, storage_up = Edge(t0), Edge(t0), Edge(t0)
        status = None
        fences_read_at = 0.0
        asked = _Asked()
        while True:
            looked = time.time()
            status = _status(lab, nodes, asked)
            answered = time.time()
            up = status is not None and status.quorate
            quorate.look(up, looked, answered)
            members.look(up and all(is_online(inv, status, n) for n in nodes), looked, answered)
            storage_up.look(members.t is not None and status is not None and all(
                where_running(inv, status, name) == home or (home is None and where_running(inv, status, name))
                for name, home in storage.items()), looked, answered)
            fences = []
            now = time.time()
            if storage_up.t is not None or now >= deadline or now - fences_read_at >= FENCE_CHECK_EVERY:
                fences, fences_read_at = _fences(lab, marks), time.time()
            if fences:
                late = [n for n in nodes if status is None or not is_online(inv, status, n)]
                fail(f"{'; '.join(fences)} during the cold start: "
                     + (f"{', '.join(late)} did not join within post_join_delay ({inv.cluster.post_join_delay:g} s); "
                        if late else "")
                     + f"last cluster state: {describe_status(inv, status)}")
            if storage_up.t is not None:
                break
            if time.time() >= deadline:
                raise_unseen(asked.unseen("the cluster came back after power-on"))
                fail(f"the cluster did not come back within {expect.cold_start_timeout:g} s of power-on: "
                     f"last cluster state: {describe_status(inv, status)}")
            time.sleep(POLL)
        quorate_at, members_at, storage_at = quorate.t, members.t, storage_up.t
        assert quorate_at is not None and members_at is not None and storage_at is not None
        if storage_at - t0 > expect.cold_start_timeout:  # seen by a look that began in time, measured after
            fail(f"the cluster did not come back within {expect.cold_start_timeout:g} s of power-on: quorum, every "
                 f"member and the storage services only {storage_at - t0:.1f} s after")
        record.number("power-on to quorum", quorate_at - t0, "s")
        record.number("power-on to all members", members_at - t0, "s")
        record.number("power-on to storage started", storage_at - t0, "s")
    with record.step("enable every VM on its home node"):
        for vm in inv.vms:
            lab.cluster.enable(vm.name, node=vm.home)
        status, vms_at = _wait_cluster(lab, nodes, "every VM started on its home node", expect.services_back_timeout,
                                       lambda s: all(where_running(inv, s, vm.name) == vm.home for vm in inv.vms))
        misplaced = [f"{vm.name} {_where(inv, status, vm.name)} (home {vm.home})"
                     for vm in inv.vms if where_running(inv, status, vm.name) != vm.home]
        if misplaced:
            fail(f"after the cold start not every VM runs where it belongs: {', '.join(misplaced)}; "
                 f"last cluster state: {describe_status(inv, status)}")
        record.number("power-on to VMs started", vms_at - t0, "s")
    services = [svc.name for svc in inv.services if not svc.storage]
    if services:
        with record.step("every service on its home node (relocated there where the cluster started it elsewhere)"):
            problems = migrate_home(lab, guard, services, nodes, expect.services_back_timeout)
            if problems:
                fail(f"after the cold start: {'; '.join(problems)}")
    with record.step("check nothing was fenced during the cold start"):
        unread: dict[str, HacertError] = {}
        skipped = SkippedLines("syslog")
        fences = _fences(lab, marks, unread, skipped)
        skipped.report(record)
        if fences:
            fail(f"{'; '.join(fences)} during the cold start")
        # "nothing was fenced" rests on every node's syslog: one that cannot be read leaves it unseen
        raise_unseen(Unseen(f"{node}'s syslog", t0, time.time(), 1, f"{node} logged a fence during the cold start",
                            error, t0) for node, error in unread.items())
    record.diagnosis(f"cold start: quorate {quorate_at - t0:.1f} s, all members {members_at - t0:.1f} s, "
                     f"VMs home {vms_at - t0:.1f} s after power-on; nothing fenced")


def _state(status: Any, name: str) -> str | None:
    svc = find_service(status, name)
    return svc.state if svc is not None else None


def _where(inv: Inventory, status: Any, name: str) -> str:
    svc = find_service(status, name)
    if svc is None:
        return "missing"
    owner = where_running(inv, status, name)
    return f"on {owner}" if owner else svc.state


def _wait_cluster(lab: Any, nodes: list[str], what: str, timeout: float, until: Any) -> tuple[Any, float]:
    """The status once `until(status)`, and when that state was measured (judged against the deadline)."""
    deadline = time.time() + timeout
    status = None
    asked = _Asked()
    edge = Edge(time.time())
    while True:
        looked = time.time()
        status = _status(lab, nodes, asked)
        edge.look(status is not None and until(status), looked, time.time())
        if edge.moment is not None:
            if edge.moment.t > deadline:  # seen by a look that began in time, measured after the deadline
                fail(f"{what}: not within {timeout:g} s (only {edge.moment.t - deadline + timeout:.1f} s after)")
            return status, edge.moment.t
        if time.time() >= deadline:
            raise_unseen(asked.unseen(what))
            fail(f"{what}: not within {timeout:g} s; last cluster state: {describe_status(lab.inventory, status)}")
        time.sleep(POLL)


def _wait_bmc(lab: Any, node: str, want: str, timeout: float) -> None:
    deadline = time.time() + timeout
    state = None
    while True:
        state = lab.bmc(node).power_status()
        if state == want:
            return
        if time.time() >= deadline:
            raise LabError(f"{node}'s BMC", "-", f"read power {want}", f"still reads {state} after {timeout:g} s")
        time.sleep(POLL)


