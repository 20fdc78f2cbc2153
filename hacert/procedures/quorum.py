"""Quorum loss and return (Pacemaker CTS's NearQuorumPointTest), on clusters of three or more nodes:
stop members cleanly, one by one, down to the quorum point and past it, then start them again.

- while the members left keep quorum, every service runs (what lived on a stopped node moved);
- when quorum is lost the members left stop their services (no-quorum-policy=stop): measured from
  the stop that lost it, bounded by `expectations.failover_timeout` after the cluster says inquorate
  (services_back_timeout at most for the stop itself);
- when quorum returns they start again, and once every node is back every service is home;
- a node stopped cleanly is never fenced (every node's record is read).

A two-node cluster (corosync's two_node) keeps quorum with one node: there is no quorum point, the
case is not applicable there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hacert.drivers.errors import NotApplicable
from hacert.model.cts import two_sided
from hacert.model.inventory import Inventory
from hacert.observe.cluster_state import describe_status, is_online
from hacert.procedures.cts_watch import ClusterLog, fail, running_services, services_home, status_via, watch_edge


@dataclass
class QuorumRun:
    watcher: str
    order: list[str]
    stopped: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)
    lost_by: str | None = None


def require_quorum_point(inv: Inventory) -> None:
    if two_sided(inv) or len(inv.nodes) < 3:
        raise NotApplicable(f"{inv.lab} is a two-node cluster (two_node): one node keeps quorum, there is no quorum "
                            "point to reach")


def quorum_votes(inv: Inventory) -> int:
    return sum(n.votes for n in inv.nodes) // 2 + 1


def votes_left(inv: Inventory, stopped: list[str]) -> int:
    return sum(n.votes for n in inv.nodes if n.name not in stopped)


def _quorate(lab: Any, via: str) -> bool | None:
    status = status_via(lab, [via])
    return None if status is None else status.quorate


def stop_to_quorum_point(lab: Any, guard: Any, run: QuorumRun) -> float:
    """Stop members in order until quorum is lost; returns when the losing stop was sent."""
    inv = lab.inventory
    expect = inv.expectations
    need = quorum_votes(inv)
    for node in run.order:
        losing = votes_left(inv, run.stopped + [node]) < need
        guard.changed("stack", node)
        sent = time.time()
        lab.cluster.stop_stack(node, whole_cluster=losing)  # pcs wants --force for the stop that loses quorum
        run.stopped.append(node)
        if losing:
            run.lost_by = node
            return sent
        # still quorate: every service runs on the members left
        def all_run() -> bool:
            status = status_via(lab, [run.watcher])
            if status is None or not status.quorate:
                return False
            running = running_services(inv, status)
            return all(name in running and running[name] not in run.stopped for name in _names(inv, run.stopped))

        moment = watch_edge(f"every service running without {node}", all_run, sent, sent + expect.services_back_timeout)
        if moment is None:
            status = status_via(lab, [run.watcher])
            fail(f"{node} stopped cleanly and the members left keep quorum ({votes_left(inv, run.stopped)} of {need} votes "
                 f"needed), but not every service ran within {expect.services_back_timeout:g} s: "
                 f"{describe_status(inv, status) if status is not None else 'no answer'}")
        run.figures[f"stop {node} to services running elsewhere"] = moment.t - sent
    raise NotApplicable("stopping every node but the watcher never lost quorum (votes)")


def _names(inv: Inventory, stopped: list[str] = ()) -> list[str]:  # type: ignore[assignment]
    """Services and VMs, less those a restricted failover domain keeps on stopped nodes only."""
    out = []
    for item in [*inv.services, *inv.vms]:
        domain = inv.domain(item.domain) if item.domain else None
        if domain is not None and domain.restricted and all(n in stopped for n in domain.nodes):
            continue
        out.append(item.name)
    return out


def judge_loss(lab: Any, run: QuorumRun, sent: float) -> None:
    """The cluster says inquorate, then nothing runs; services that keep running fail the case."""
    inv = lab.inventory
    expect = inv.expectations
    lost = watch_edge("quorum lost", lambda: _quorate(lab, run.watcher) is False, sent, sent + expect.fence_timeout)
    if lost is None:
        fail(f"{run.lost_by} stopped: {votes_left(inv, run.stopped)} vote(s) left of {quorum_votes(inv)} needed, but "
             f"{run.watcher} still says the cluster is quorate after {expect.fence_timeout:g} s")
    run.figures["last stop to quorum lost"] = lost.t - sent
    seen: dict[str, str] = {}

    def stopped() -> bool:
        status = status_via(lab, [run.watcher])
        if status is None:
            return False
        seen.clear()
        seen.update(running_services(inv, status))
        return not seen

    limit = expect.failover_timeout + expect.vm_restart_timeout
    idle = watch_edge("services stopped", stopped, lost.t, lost.t + limit)
    if idle is None:
        fail(f"quorum lost (+{lost.t - sent:.1f} s after {run.lost_by} stopped), but services kept running for "
             f"{limit:g} s without it: {', '.join(f'{k} on {v}' for k, v in sorted(seen.items()))} "
             f"(no-quorum-policy {inv.cluster.no_quorum_policy})")
    run.figures["quorum lost to services stopped"] = idle.t - lost.t


def restart_all(lab: Any, run: QuorumRun) -> None:
    """Start the stopped nodes, the last stopped first: quorum returns, services start; all home."""
    inv = lab.inventory
    expect = inv.expectations
    order = list(reversed(run.stopped))
    first = order[0]
    sent = time.time()
    lab.cluster.start_stack(first)
    back = watch_edge("quorum back", lambda: _quorate(lab, run.watcher) is True, sent, sent + expect.rejoin_timeout)
    if back is None:
        fail(f"{first} started again but the cluster did not regain quorum within {expect.rejoin_timeout:g} s")
    run.figures["start to quorum back"] = back.t - sent

    def all_run() -> bool:
        status = status_via(lab, [run.watcher])
        return status is not None and all(name in running_services(inv, status) for name in _names(inv, order[1:]))

    running = watch_edge("services running again", all_run, back.t, back.t + expect.services_back_timeout)
    if running is None:
        status = status_via(lab, [run.watcher])
        fail(f"quorum came back but not every service ran within {expect.services_back_timeout:g} s: "
             f"{describe_status(inv, status) if status is not None else 'no answer'}")
    run.figures["quorum back to services running"] = running.t - back.t
    for node in order[1:]:
        lab.cluster.start_stack(node)
    for node in order:
        t = time.time()
        if watch_edge(f"{node} online", lambda n=node: _online(lab, run.watcher, n), t, t + expect.rejoin_timeout) is None:
            fail(f"{node} started again but did not rejoin within {expect.rejoin_timeout:g} s")
    t = time.time()
    home, state = services_home(lab, [n.name for n in inv.nodes], t, expect.services_back_timeout)
    if home is None:
        fail(f"every node back but services not home within {expect.services_back_timeout:g} s: {state}")
    run.figures["all back to services home"] = home.t - t


def _online(lab: Any, via: str, node: str) -> bool:
    status = status_via(lab, [via])
    return status is not None and is_online(lab.inventory, status, node)


def judge_no_fence(log: ClusterLog, run: QuorumRun) -> None:
    fenced = log.fenced()
    if fenced:
        parts = [f"{victim} by {rnd.fencer} ({log.fenced_with(rnd)})" for victim, rnd in fenced.items()]
        fail(f"nodes stopped cleanly ({', '.join(run.stopped)}) must not be fenced, but the record shows: {'; '.join(parts)}")
    run.facts["fences"] = "none in any node's record"
