"""Daemon kills (Pacemaker CTS's ComponentFail, crmsh's `crash_test --kill-*`), judged as hacert judges:
for every node and every cluster daemon of the inventory's manager, SIGKILL the daemon's real pids on
the node and check what the inventory promises follows (hacert.model.cts: `expectations.daemon_kill`):

- 'fence' (corosync): the survivors lose the node, one fences it by its first method (the cluster's
  record names the device), it reboots, rejoins and gets its services back;
- 'restart' (pacemakerd, pacemaker-fenced): a new pid, the node stays a member, nobody fences it.

Figures: kill -> detection -> fence / restart -> rejoin -> services back.
"""

from __future__ import annotations

from typing import Any

import pytest

from hacert.fixtures.plan import plan_steps
from hacert.model.cts import OUTCOME_WORDS
from hacert.model.inventory import Inventory
from hacert.procedures.cts_watch import ClusterLog
from hacert.procedures.daemon_kill import judge_fence, judge_restart, kill, record_figures

FEATURE = "Daemon kills"
pytestmark = pytest.mark.destructive


@plan_steps(
    "audit the lab healthy; mark every node's syslog; read the fence configuration",
    "pidof {daemon_kill.daemon} on {daemon_kill.node}; kill -9 those pids",
    "expect '{daemon_kill.expect}': fence -> detection, fence by the first method, rejoin, services home; "
    "restart -> a new pid, still a member, no fence, no reboot",
    touches=["ssh all", "bmc {daemon_kill.node}", "cluster"],
)
def test_daemon_kill(daemon_kill: Any, lab: Any, guard: Any, record: Any) -> None:
    """SIGKILL one cluster daemon on one node: fenced or restarted, as the inventory promises."""
    inv: Inventory = lab.inventory
    node, daemon, expect = daemon_kill.node, daemon_kill.daemon, daemon_kill.expect
    peers = [p.name for p in inv.peers(node)]
    record.subject(node)
    record.title(f"Kill {daemon} on {node} — {OUTCOME_WORDS[expect]}")
    record.story(f"{FEATURE}: {daemon}")

    with record.step("audit the lab healthy"):
        guard.audit()
    with record.step("mark every node's syslog and read the fence configuration"):
        log = ClusterLog.mark(lab, via=peers[0])
    if expect == "fence":
        guard.expect("fence", node)
        guard.expect("down", node)
    with record.step(f"kill -9 {daemon} on {node}"):
        k = kill(lab, node, daemon, expect)
        record.fact("killed", f"{daemon} pid {', '.join(map(str, k.pids))} on {node}")
    try:
        if expect == "fence":
            with record.step(f"wait for {node} to be lost, fenced by its first method, to rejoin and get its services back"):
                judge_fence(lab, log, k)
        else:
            with record.step(f"wait up to {inv.expectations.fence_timeout:g} s for {daemon} to be restarted; "
                             f"nothing may fence {node}"):
                judge_restart(lab, log, k, inv.expectations.fence_timeout)
    finally:
        record_figures(record, k, inv)
        log.read()
        if any(log.windows.values()):
            record.attach_syslog(log.windows, name="every node's syslog since the kill")
    record.diagnosis(f"{daemon} killed on {node}: " + ", ".join(f"{name} {value:.1f} s" for name, value in k.figures.items()))
