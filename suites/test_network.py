"""Testing network redundancy: every bond's cables, then every switch's power.

The procedure (seed 002, "Testing Network Redundancy"), for any inventory:

- for each bond of each node, with a ping flood running both ways to its
  peer on that network: pull the active cable, see the backup take over with
  a handful of lost packets and no fence; restore it and see the primary come
  back only after the bond's updelay; pull and restore again, and a few
  seconds later pull the backup: the primary must take over at once;
- for each switch: with every bond on its primary, cut the switch's power,
  see every bond cabled to it fail over, the cluster quorate and no fence;
  restore power and wait (the soak): the switch bounces its links while it
  boots, no bond may go back to it before its updelay has run out after the
  last bounce, and nothing bad may happen for the whole soak.

"+N s" in a message counts from the fault: the cable pull, or the moment the
switch's power came back.

Nothing passes on silence: a check that rests on what did not happen (no fence,
no flap, no loss) needs the instruments to have seen the whole case; where one
was blind the case ends inconclusive (or a lab error, when a device stopped
answering), after every failure that was seen has been judged. Lines no parser
knows are skipped one at a time and counted in the evidence.
"""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from hacert.fixtures.guard import Guard
from hacert.fixtures.plan import plan_steps
from hacert.fixtures.report import Record
from hacert.lab.build import Lab
from hacert.model.inventory import Bond, Inventory
from hacert.model.matrix import BondCase, SwitchCase
from hacert.procedures.network import (
    VARIANTS,
    FloodPair,
    Scene,
    fail,
    floods_both_ways,
    fmt,
    judge_flapping,
    judge_returns,
    judge_switch_floods,
    require_primary,
    switch_power_off,
    switch_power_on,
    wait_ideal,
)

FEATURE = "Network redundancy"

pytestmark = [pytest.mark.destructive]


@pytest.fixture
def scene(lab: Lab, guard: Guard, record: Record) -> Iterator[Callable[..., Scene]]:
    """Start a Scene (floods, watchers); whatever happens, it is stopped and its evidence attached."""
    made: list[Scene] = []

    def start(title: str, watch: dict[str, list[Bond]], floods: list[FloodPair]) -> Scene:
        made.append(Scene(lab, guard, record, title, watch, floods))
        return made[-1].start()

    yield start
    for one in made:
        one.stop()


@plan_steps(
    "audit the lab healthy: every bond on its primary, every member online",
    "start a ping flood (every {expect.ping_interval} s) both ways between {bond_case.node} and its peer on "
    "{bond_case.bond}'s network; watch the bond's status file, the membership and syslog",
    "{bond_case.variant}: pull the active cable of {bond_case.node}/{bond_case.bond}: the backup within "
    "{expect.failover_timeout} s; restore it: the primary back after the bond's updelay "
    "(+{expect.primary_return_margin} s); backup_lost_during_updelay also pulls the backup inside the updelay: "
    "the primary at once",
    "judge: each direction loses at most {expect.cable_pull_max_lost} packets per event; no fence; "
    "membership unchanged",
    "return to the ideal state: every cable in, the bond on its primary",
    touches=["ssh all", "bond {bond_case.node}/{bond_case.bond}", "cluster"],
)
def test_bond_cable_pull(bond_case: BondCase, lab: Lab, guard: Guard, record: Record, scene: Callable[..., Scene]) -> None:
    """Pull each bond's cables: failover, return after updelay, backup lost during updelay."""
    inv: Inventory = lab.inventory
    node = bond_case.node
    bond = inv.node(node).bond(bond_case.bond)
    record.title(f"{bond_case.variant.replace('_', ' ')}: {bond.name} on {node} "
                 f"({bond.primary.nic}/{bond.backup.nic}, {bond.network})")
    record.subject(f"{node}/{bond.name}")
    guard.audit()
    peer, _ = inv.bond_peer(node, bond.name)
    watch = {node: [bond]}
    if peer:
        watch[peer] = [b for b in inv.node(peer).bonds if b.network == bond.network]
    with record.step(f"start the ping floods on {bond.network} and watch {bond.name}"):
        sc = scene(f"{bond_case.variant}: {node} {bond.name}", watch, floods_both_ways(inv, node, bond))
        require_primary(sc, node, bond)
    VARIANTS[bond_case.variant](sc, node, bond)
    sc.stop()
    with record.step("no fence, membership unchanged, the peer's bond untouched"):
        sc.check_cluster("while the cables were pulled")
        assert sc.watcher is not None
        for other in watch.get(peer, []):
            for change in sc.watcher.changes_of(peer, other.name):
                sc.bad_news.append(f"{other.name} on {peer} (the peer) switched from {change.previous} to "
                                   f"{change.active} at +{fmt(change.t - sc.t0)} s")
        if sc.bad_news:
            fail(sc, f"while {bond.name} on {node} lost a cable: " + "; ".join(sc.bad_news))
    with record.step("return to the ideal state"):
        wait_ideal(sc, [(node, bond)])
    with record.step("every instrument saw the whole case"):
        sc.watched_throughout("a bond of {node} changed its active slave unseen")
        sc.require_seen()


# ---------------------------------------------------------------- switch power cycle


@plan_steps(
    "audit the lab healthy: every bond on its primary, every member online",
    "start a ping flood (every {expect.ping_interval} s) from every node on each of its bonds to its peer; "
    "watch every bond, the membership and syslog",
    "cut the power of switch {switch}: every bond whose active slave is cabled to it fails over within "
    "{expect.failover_timeout} s; quorate, no fence",
    "restore the power of {switch}: it bounces its links while booting; no bond returns to it before its "
    "updelay ran out after the last bounce",
    "soak: the soak time (--soak, else {expect.soak_seconds} s) from the power's return, watching membership, "
    "fencing, ping loss and syslog; every bond back on its primary at the end",
    touches=["switch_power {switch}", "ssh all", "cluster"],
)
def test_switch_power_cycle(switch: SwitchCase, lab: Lab, guard: Guard, record: Record, scene: Callable[..., Scene],
                            soak_seconds: float) -> None:
    """Cut a switch's power, restore it and soak: bonds fail over and return after updelay, nothing else."""
    inv: Inventory = lab.inventory
    name = switch.switch
    pairs = [(n.name, b) for n in inv.nodes for b in n.bonds]
    moving = [(node, bond) for node, bond in pairs if bond.primary.switch == name]
    cabled = sorted({(node, link.nic) for node, bond in pairs for link in bond.slaves if link.switch == name})
    carries = "primary" if moving else "backup"
    record.title(f"power cycle of switch {name} ({carries} links of {len({n for n, _ in cabled})} node(s)), "
                 f"soak {fmt(soak_seconds)} s")
    record.subject(name)
    guard.audit()
    with record.step("start a ping flood on every bond and watch every bond"):
        floods = [(node, *inv.bond_peer(node, b.name), b.network) for node, b in pairs]
        sc = scene(f"power cycle of {name}", {n.name: list(n.bonds) for n in inv.nodes if n.bonds}, floods)
        for node, bond in pairs:
            require_primary(sc, node, bond)
    assert sc.watcher is not None
    power = lab.switch_power(name)

    with record.step(f"cut the power of {name}: every bond on it fails over"):
        t_off = switch_power_off(sc, name, power, moving, cabled)

    with record.step(f"restore the power of {name}; soak {fmt(soak_seconds)} s"):
        t_on, t_end = switch_power_on(sc, name, power, moving, pairs, soak_seconds)
    sc.stop()

    with record.step("judge the returns, the soak and the floods"):
        problems, early = judge_returns(sc, pairs, name, cabled, t_on)
        problems += judge_flapping(sc, [p for p in pairs if p not in early], moving, t_off)
        sc.check_cluster("during soak", before=f"while {name} was off")
        problems += sc.bad_news
        problems += judge_switch_floods(sc, name, bool(moving), t_on, t_end)
        if problems:
            fail(sc, f"power cycle of {name}: " + "; ".join(problems))
    with record.step("every bond back on its primary"):
        wait_ideal(sc, pairs)
    with record.step("every instrument saw the whole case"):
        sc.watched_throughout("a bond of {node} flapped or returned early unseen")
        sc.require_seen()
