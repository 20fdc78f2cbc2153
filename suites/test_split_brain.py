"""Split brain and the fence race (Pacemaker CTS's SplitBrainTest, crmsh's `--split-brain-iptables`),
judged as hacert judges: for every node, cut every heartbeat path it has (each slave of its ring bond,
at its switch port) at once, both sides left running. Exactly one node may be fenced: on 3+ nodes the
isolated one (the majority keeps quorum), on two nodes the one the fence delay does not favour
(`cluster.fence_delay`, the tutorial's `delay` on one node's device). A dual fence is a failure. The
fence is attributed from the cluster's record; the paths restored, the loser rejoins and every
service is home.

Figures: cut -> detection -> fence -> rejoin -> services back.
"""

from __future__ import annotations

from typing import Any

import pytest

from hacert.fixtures.plan import plan_steps
from hacert.model.bounds import Bound
from hacert.model.inventory import Inventory
from hacert.procedures.cts_watch import ClusterLog
from hacert.procedures.split_brain import Split, expected_loser, judge, recover, ring_bond
from hacert.procedures import split_brain

FEATURE = "Split brain"
pytestmark = pytest.mark.destructive


@plan_steps(
    "audit the lab healthy; mark every node's syslog; read the fence configuration",
    "cut both slaves of {split}'s heartbeat bond at their switch ports, at once",
    "wait up to {expect.fence_timeout} s for exactly one fence: the isolated node (3+ nodes) or the one the "
    "fence delay does not favour (two nodes); no dual fence",
    "restore the ports; wait for the fenced node to rejoin and every service to be home",
    touches=["ssh all", "bmc all", "cluster"],
)
def test_split_brain(split: Any, lab: Any, guard: Any, record: Any) -> None:
    """Cut every heartbeat path of a node: one fence only, the favoured or majority side survives."""
    inv: Inventory = lab.inventory
    isolated = split.isolated
    bond = ring_bond(inv, isolated)
    loser, why = expected_loser(inv, isolated)
    record.subject(isolated)
    record.title(f"Split brain: cut every heartbeat path of {isolated} — {loser or 'one node'} fenced, once")
    record.story(f"{FEATURE}: {'two nodes' if loser != isolated or len(inv.nodes) == 2 else 'majority and minority'}")

    with record.step("audit the lab healthy"):
        guard.audit()
    with record.step("mark every node's syslog and read the fence configuration"):
        log = ClusterLog.mark(lab, via=next(n.name for n in inv.nodes if n.name != isolated))
    s = Split(isolated, list(bond.slaves))
    for node in ([loser] if loser else [n.name for n in inv.nodes]):
        guard.expect("fence", node)
        guard.expect("down", node)
    try:
        with record.step(f"cut {', '.join(f'{link.switch} port {link.port} ({isolated}/{link.nic})' for link in s.links)}"):
            split_brain.cut(lab, guard, s)
        with record.step(f"wait up to {inv.expectations.fence_timeout:g} s for exactly one fence ({why})"):
            victim = judge(lab, log, s)
        with record.step(f"restore the ports; wait for {victim} to rejoin and every service to be home"):
            recover(lab, log, s, victim)
    finally:
        if s.restored is None and s.t0:
            split_brain.restore(lab, s)
        bounds = {"cut to fence": Bound.at_most(inv.expectations.fence_timeout)}
        for name, value in s.figures.items():
            record.number(name, value, "s", **({"expected": bounds[name]} if name in bounds else {}))
        for name, value in s.facts.items():
            record.fact(name, value)
        log.read()
        if any(log.windows.values()):
            record.attach_syslog(log.windows, name="every node's syslog since the cut")
    record.diagnosis(f"{s.facts.get('fenced', '?')}; " + ", ".join(f"{k} {v:.1f} s" for k, v in s.figures.items()))
