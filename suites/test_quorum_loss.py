"""Quorum loss and return (Pacemaker CTS's NearQuorumPointTest), judged as hacert judges, on clusters
of three or more nodes: stop members cleanly one by one to the quorum point; while quorum holds every
service runs, when it is lost the members left stop their services, when it returns they start again,
and no cleanly stopped node is fenced. Not applicable on a two-node cluster (two_node: no quorum point).

Figures: last stop -> quorum lost -> services stopped; start -> quorum back -> services running -> home.
"""

from __future__ import annotations

from typing import Any

import pytest

from hacert.fixtures.plan import plan_steps
from hacert.model.inventory import Inventory
from hacert.procedures.cts_watch import ClusterLog
from hacert.procedures.quorum import (
    QuorumRun, judge_loss, judge_no_fence, require_quorum_point, restart_all, stop_to_quorum_point,
)

FEATURE = "Quorum loss"
pytestmark = pytest.mark.destructive


@plan_steps(
    "audit the lab healthy; mark every node's syslog",
    "stop the cluster stack of {quorum.order} one by one: while quorate every service runs",
    "the stop that loses quorum: the cluster says inquorate, then every service stops",
    "start the stopped nodes: quorum back, services run again, every node back, services home",
    "no node was fenced",
    touches=["ssh all", "cluster"],
)
def test_quorum_loss(quorum: Any, lab: Any, guard: Any, record: Any) -> None:
    """Stop members to the quorum point: services stop with quorum and come back with it."""
    inv: Inventory = lab.inventory
    record.subject(quorum.watcher)
    record.title(f"Quorum loss: stop {', '.join(quorum.order)} one by one, watched from {quorum.watcher}")
    record.story(FEATURE)
    require_quorum_point(inv)

    with record.step("audit the lab healthy"):
        guard.audit()
    with record.step("mark every node's syslog"):
        log = ClusterLog.mark(lab, via=quorum.watcher)
    run = QuorumRun(quorum.watcher, list(quorum.order))
    try:
        with record.step("stop members one by one down to the quorum point"):
            sent = stop_to_quorum_point(lab, guard, run)
        with record.step(f"{run.lost_by} stopped: quorum lost, every service must stop"):
            judge_loss(lab, run, sent)
        with record.step("start the stopped nodes: quorum back, services back, then home"):
            restart_all(lab, run)
        with record.step("no cleanly stopped node was fenced"):
            judge_no_fence(log, run)
    finally:
        for name, value in run.figures.items():
            record.number(name, value, "s")
        for name, value in run.facts.items():
            record.fact(name, value)
        log.read()
        if any(log.windows.values()):
            record.attach_syslog(log.windows, name="every node's syslog through the case")
    record.diagnosis("quorum lost and back: " + ", ".join(f"{k} {v:.1f} s" for k, v in run.figures.items()))
