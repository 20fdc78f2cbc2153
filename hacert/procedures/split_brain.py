"""Split brain and the fence race (Pacemaker CTS's SplitBrainTest, crmsh's `--split-brain-iptables`):
cut every heartbeat path of one node at once (each slave of its ring bond, at the switch port it is
cabled to), so both sides keep running and lose each other, then judge:

- exactly one node is fenced: the isolated one on 3+ nodes (the majority keeps quorum), on two nodes
  the one that is not favoured by a fence delay (`cluster.fence_delay`; with none set, either, and the
  case says who won the race); a second fence (a dual fence, a shoot-out) fails the case, read from
  every node's record and from the survivor's uptime;
- the fence is by the victim's first method (the record names the device);
- the paths restored, the loser rejoins and every service is home.

Figures: cut -> detection -> fence -> rejoin -> services back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hacert.drivers.errors import Inconclusive
from hacert.model.cts import favoured_node, two_sided
from hacert.model.inventory import Bond, Inventory, SlaveLink
from hacert.observe.cluster_state import describe_status, is_online
from hacert.observe.fence_record import fence_method
from hacert.procedures.cts_watch import (
    METHOD_WORDS, ClusterLog, fail, rebooted_since, services_home, status_via, wait_online, watch_edge,
)

SECOND_FENCE_WINDOW = 3.0
"""Seconds after the first fence during which the record is watched for a second one before the paths
are restored (a dual fence lands within one device's action of the first; it is looked for again once
the loser is back)."""


def ring_bond(inv: Inventory, node: str) -> Bond:
    """The node's bond on the cluster's heartbeat network (the ring corosync runs over)."""
    net = inv.cluster.heartbeat_network
    for bond in inv.node(node).bonds:
        if net is None or bond.network == net:
            return bond
    raise Inconclusive(f"{node} has no bond on the heartbeat network {net}: the inventory does not say how to cut its ring")


@dataclass
class Split:
    isolated: str
    links: list[SlaveLink]
    t0: float = 0.0
    restored: float | None = None
    figures: dict[str, float] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)


def expected_loser(inv: Inventory, isolated: str) -> tuple[str | None, str]:
    """(the node that must be fenced, why); None when either may be (a two-node race without a delay)."""
    if not two_sided(inv):
        return isolated, "the other nodes keep quorum; the isolated node has none"
    favoured = favoured_node(inv)
    if favoured is None:
        return None, "no fence delay is set: a race either node may win"
    loser = next(n.name for n in inv.nodes if n.name != favoured)
    return loser, f"{favoured}'s fence devices wait {inv.cluster.fence_delay[favoured]:g} s: it wins the race"


def cut(lab: Any, guard: Any, split: Split) -> None:
    """Every slave of the isolated node's ring bond cut at its switch port, both at once."""
    for link in split.links:
        guard.changed("port", f"{link.switch}/{link.port}", f"{split.isolated}/{link.nic}")
    ports = [(lab.switch_ports(link.switch), link.port) for link in split.links]
    for control, port in ports:
        control.port_down(port)
    split.t0 = time.time()


def restore(lab: Any, split: Split) -> None:
    for link in split.links:
        lab.switch_ports(link.switch).port_up(link.port)
    split.restored = time.time()


def judge(lab: Any, log: ClusterLog, split: Split) -> str:
    """Wait for the fence and judge the race; returns the node that was fenced."""
    inv = lab.inventory
    expect = inv.expectations
    loser, why = expected_loser(inv, split.isolated)
    split.facts["expected"] = f"{loser or 'either node'} fenced ({why})"
    nodes = [n.name for n in inv.nodes]
    others = [n for n in nodes if n != split.isolated]

    def lost() -> bool:  # a member lost, seen from either side (each side loses the other)
        status = status_via(lab, others + [split.isolated])
        return status is not None and any(not is_online(inv, status, n) for n in nodes)

    detected = watch_edge("the membership to split", lost, split.t0, split.t0 + expect.fence_timeout)
    if detected is not None:
        split.figures["cut to detection"] = detected.t - split.t0
    first = watch_edge("a fence", lambda: bool(log.fenced()), split.t0, split.t0 + expect.fence_timeout)
    if first is None:
        fail(f"every heartbeat path of {split.isolated} cut: no node was fenced within {expect.fence_timeout:g} s"
             + ("" if detected else "; no node ever lost a member")
             + f"; last cluster state: {describe_status(inv, status_via(lab, nodes))}")
    split.figures["cut to fence"] = first.t - split.t0
    # a dual fence lands within one device action of the first: keep reading every record a moment
    end = time.time() + SECOND_FENCE_WINDOW
    while time.time() < end:
        if len(log.fenced()) > 1:
            break
        time.sleep(0.2)
    judge_one_fence(lab, log, split, loser)
    return next(iter(log.fenced()))


def judge_one_fence(lab: Any, log: ClusterLog, split: Split, loser: str | None) -> None:
    """Exactly one node fenced, the expected one, by its first method; the others never rebooted."""
    inv = lab.inventory
    fenced = log.fenced()
    if len(fenced) > 1:
        parts = [f"{victim} by {rnd.fencer} ({log.fenced_with(rnd)})" for victim, rnd in fenced.items()]
        fail(f"a dual fence (shoot-out) after every heartbeat path of {split.isolated} was cut: {'; '.join(parts)}"
             + ("" if inv.cluster.fence_delay else "; no fence delay is set (cluster.fence_delay)"))
    victim, rnd = next(iter(fenced.items()))
    survivors = [n.name for n in inv.nodes if n.name != victim]
    rebooted = [n for n in survivors if _rebooted(lab, n, split.t0)]
    if rebooted:
        fail(f"a dual fence (shoot-out) after every heartbeat path of {split.isolated} was cut: {victim} was fenced by "
             f"{rnd.fencer} ({log.fenced_with(rnd)}), and {', '.join(rebooted)} rebooted too (its uptime is shorter than "
             "the time since the cut): fenced by a side whose own record died with it")
    split.facts["fenced"] = f"{victim} by {rnd.fencer}: {log.fenced_with(rnd)}"
    if loser is not None and victim != loser:
        fail(f"every heartbeat path of {split.isolated} cut: {victim} was fenced (by {rnd.fencer}), but {loser} should "
             f"have been: {split.facts['expected']}")
    if loser is None:
        split.facts["race"] = f"no fence delay set: {rnd.fencer} won the race and fenced {victim}"
    method = fence_method(inv, rnd)
    first = inv.node(victim).fence[0] if inv.node(victim).fence else None
    if method is None:
        raise Inconclusive(f"{victim} was fenced but the cluster's record does not say by which device or method "
                           f"({log.fenced_with(rnd)})")
    if method != first:
        fail(f"{victim} was fenced by {METHOD_WORDS.get(method, method)}, not by its first method "
             f"{METHOD_WORDS.get(first or '', first)} ({log.fenced_with(rnd)})")


def _rebooted(lab: Any, node: str, since: float, patience: float = 10.0) -> bool:
    """Did `node` boot after `since`? A node that does not answer is asked again for `patience` s (a
    survivor must answer; one that never does is counted as rebooted: it did not survive)."""
    end = time.time() + patience
    while True:
        answer = rebooted_since(lab, node, since)
        if answer is not None:
            return answer
        if time.time() >= end:
            return True
        time.sleep(0.5)


def recover(lab: Any, log: ClusterLog, split: Split, victim: str) -> None:
    """Paths restored: the victim rejoins, every service comes home, and still only one fence."""
    inv = lab.inventory
    expect = inv.expectations
    restore(lab, split)
    others = [n.name for n in inv.nodes if n.name != victim]
    rejoined = wait_online(lab, others, victim, split.restored or time.time(), expect.rejoin_timeout)
    if rejoined is None:
        fail(f"the heartbeat paths of {split.isolated} restored: {victim} did not rejoin within {expect.rejoin_timeout:g} s; "
             f"last cluster state: {describe_status(inv, status_via(lab, others))}")
    split.figures["cut to rejoin"] = rejoined.t - split.t0
    back, state = services_home(lab, others + [victim], rejoined.t, expect.services_back_timeout)
    if back is None:
        fail(f"{victim} rejoined but its services were not home within {expect.services_back_timeout:g} s: {state}")
    split.figures["cut to services back"] = back.t - split.t0
    judge_one_fence(lab, log, split, expected_loser(inv, split.isolated)[0])  # a late second fence, now all answer
