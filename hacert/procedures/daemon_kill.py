"""SIGKILL one cluster daemon on one node (Pacemaker CTS's ComponentFail, crmsh's `crash_test
--kill-corosync/--kill-pacemakerd`) and judge what followed against the inventory's promise:

- 'fence': the survivors lose the node (detection), one of them fences it by its first method (the
  cluster's record names the device), the node reboots, rejoins, and its services come home;
- 'restart': the daemon runs again with a new pid (its supervisor restarted it), the node stays an
  online member, nothing fences it, it does not reboot.

The kill is `kill -9` of the pids `pidof` finds on the node itself (the real processes, in the
node's own process namespace); a daemon that is not running there cannot be killed: inconclusive.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from typing import Any

from hacert.drivers.errors import HacertError, Inconclusive
from hacert.model.bounds import Bound
from hacert.observe.cluster_state import describe_status, is_online
from hacert.observe.fence_record import fence_method
from hacert.procedures.cts_watch import (
    METHOD_WORDS, ClusterLog, fail, rebooted_since, services_home, status_via, wait_online, watch_edge,
)

QUIET = 5.0
"""Seconds after a restarted daemon is back during which nothing may fence its node (the cluster's
token timeout and a fence would both fit in it on the labs hacert knows)."""


def pids_of(lab: Any, node: str, daemon: str) -> list[int]:
    """The pids of `daemon` on `node` (`pidof`, run on the node)."""
    done = lab.node(node).run(f"pidof {shlex.quote(daemon)}", check=False, timeout=10)
    return [int(p) for p in (getattr(done, "stdout", "") or "").split() if p.isdigit()]


@dataclass
class Kill:
    """One kill and what was seen after it (times on the controller's clock)."""

    node: str
    daemon: str
    expect: str
    pids: list[int]
    t0: float
    figures: dict[str, float] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)


def kill(lab: Any, node: str, daemon: str, expect: str) -> Kill:
    """`kill -9` every pid of `daemon` on `node`; Inconclusive when it does not run there."""
    pids = pids_of(lab, node, daemon)
    if not pids:
        raise Inconclusive(f"no process named {daemon} runs on {node} (pidof found none): nothing was killed, "
                           "the cluster was not judged")
    t0 = time.time()
    lab.node(node).run("kill -9 " + " ".join(str(p) for p in pids), timeout=10)
    return Kill(node, daemon, expect, pids, t0)


def judge_restart(lab: Any, log: ClusterLog, k: Kill, timeout: float) -> None:
    """The daemon back with a new pid within `timeout`; the node a member, unfenced, not rebooted."""
    inv = lab.inventory
    peers = [p.name for p in inv.peers(k.node)]
    old = set(k.pids)
    seen: list[int] = []

    def back() -> bool:
        try:
            now = pids_of(lab, k.node, k.daemon)
        except HacertError:
            return False
        seen[:] = now
        return bool(now) and not set(now) & old

    moment = watch_edge(f"{k.daemon} restarted on {k.node}", back, k.t0, k.t0 + timeout)
    fenced = log.fenced()
    if k.node in fenced:
        rnd = fenced[k.node]
        fail(f"{k.daemon} killed on {k.node}: the inventory expects it restarted without a fence, but {rnd.fencer} "
             f"fenced {k.node} ({log.fenced_with(rnd)})")
    if moment is None:
        now = f"still pids {', '.join(map(str, seen))} (the killed ones)" if seen else "no process of that name runs"
        fail(f"{k.daemon} killed on {k.node} (pid {', '.join(map(str, k.pids))}) was not restarted within {timeout:g} s: "
             f"{now}; the inventory expects its supervisor to start it again")
    k.figures["kill to restart"] = moment.t - k.t0
    k.facts["restarted"] = f"pid {', '.join(map(str, k.pids))} -> {', '.join(map(str, seen))}"
    # the node stays a member and nothing fences it, for a while after the restart
    end = time.time() + QUIET
    while time.time() < end:
        status = status_via(lab, peers)
        if status is not None and not is_online(inv, status, k.node):
            fail(f"{k.daemon} killed on {k.node} was restarted, but {k.node} then left the cluster "
                 f"(+{time.time() - k.t0:.1f} s): {describe_status(inv, status)}")
        time.sleep(0.2)
    fenced = log.fenced()
    if k.node in fenced:
        fail(f"{k.daemon} killed on {k.node} was restarted, but {fenced[k.node].fencer} then fenced {k.node} "
             f"({log.fenced_with(fenced[k.node])})")
    if rebooted_since(lab, k.node, k.t0):
        fail(f"{k.daemon} killed on {k.node}: the daemon came back but {k.node} rebooted (its uptime is shorter "
             "than the time since the kill), which the inventory does not expect")
    k.facts["no fence"] = f"no node's record fenced {k.node} within {QUIET:g} s after the restart; it did not reboot"


def judge_fence(lab: Any, log: ClusterLog, k: Kill) -> None:
    """Detection, fence by the first method (from the record), rejoin, services home."""
    inv = lab.inventory
    expect = inv.expectations
    node = inv.node(k.node)
    peers = [p.name for p in inv.peers(k.node)]
    first = node.fence[0] if node.fence else None
    last: list[Any] = [None]

    def lost() -> bool:
        status = status_via(lab, peers)
        last[0] = status
        return status is not None and not is_online(inv, status, k.node)

    detected = watch_edge(f"the survivors to lose {k.node}", lost, k.t0, k.t0 + expect.fence_timeout)
    fenced_at = watch_edge(f"a survivor to fence {k.node}", lambda: k.node in log.fenced(peers), k.t0,
                           k.t0 + expect.fence_timeout)
    if detected is not None:
        k.figures["kill to detection"] = detected.t - k.t0
    if fenced_at is None:
        alive = pids_of_quiet(lab, k.node, k.daemon)
        why = ("no survivor even lost it" if detected is None else
               f"the survivors lost it after {detected.t - k.t0:.1f} s but nobody fenced it")
        fail(f"{k.daemon} killed on {k.node}: no fence within {expect.fence_timeout:g} s; {why}"
             + (f"; {k.daemon} runs there again (pid {', '.join(map(str, alive))}): the node survived its death"
                if alive else "")
             + (f"; last cluster state: {describe_status(inv, last[0])}" if last[0] is not None else ""))
    rnd = log.fenced(peers)[k.node]
    stamp = log.when(rnd)
    t_fence = max(fenced_at.before, min(stamp[1], fenced_at.after)) if stamp else fenced_at.t
    k.figures["kill to fence"] = t_fence - k.t0
    method = fence_method(inv, rnd)
    k.facts["fence configuration"] = log.configured(k.node)
    k.facts["fenced with"] = log.fenced_with(rnd)
    if method is None:
        raise Inconclusive(f"{k.node} was fenced after {k.daemon} was killed, but the cluster's record does not say by "
                           f"which device or method ({log.fenced_with(rnd)}); the method was not judged")
    if method != first:
        fail(f"{k.daemon} killed on {k.node}: it was fenced by {METHOD_WORDS.get(method, method)}, not by its first "
             f"method {METHOD_WORDS.get(first or '', first)} ({log.fenced_with(rnd)})")
    rejoined = wait_online(lab, peers, k.node, t_fence, expect.rejoin_timeout)
    if rejoined is None:
        fail(f"{k.node} was fenced after {k.daemon} was killed but did not rejoin within {expect.rejoin_timeout:g} s")
    k.figures["kill to rejoin"] = rejoined.t - k.t0
    back, state = services_home(lab, peers + [k.node], rejoined.t, expect.services_back_timeout)
    if back is None:
        fail(f"{k.node} rejoined after its fence but its services were not home within {expect.services_back_timeout:g} s: "
             f"{state}")
    k.figures["kill to services back"] = back.t - k.t0


def pids_of_quiet(lab: Any, node: str, daemon: str) -> list[int]:
    try:
        return pids_of(lab, node, daemon)
    except HacertError:
        return []


def record_figures(record: Any, k: Kill, inv: Any) -> None:
    bounds = {"kill to fence": Bound.at_most(inv.expectations.fence_timeout)}
    for name, value in k.figures.items():
        record.number(name, value, "s", **({"expected": bounds[name]} if name in bounds else {}))
    for name, value in k.facts.items():
        record.fact(name, value)
