"""Draining a node and filling it again, as a standby (pacemaker) or a relocation of its
services (rgmanager) does, watched for what a live migration must not do: stop the VM.

- pacemaker: `pcs node standby NODE` (pacemaker chooses the targets and live-migrates the
  resources that allow it), `pcs node unstandby NODE`;
- rgmanager: every VM on the node is live-migrated (`clusvcadm -M`) and every other
  non-storage service relocated (`clusvcadm -r`) to the next node of its failover domain.

Every VM that leaves or comes back is watched by a `HostsPoller` (`virsh domstate` on the node
it leaves first, then every other node: once the source no longer runs it, a later look at the
target must find it), so "it never stopped" is read from the hypervisors, not from the cluster's
word; its address is pinged throughout (`Ping`), so the loss is measured.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from hacert.drivers.errors import ClusterFailure, ClusterRefused, Inconclusive
from hacert.model.inventory import Inventory
from hacert.model.scope import vm_hosts
from hacert.observe.coverage import Coverage, Unseen
from hacert.observe.cluster_state import expected_homes, find_service, member_state
from hacert.procedures.vm import (
    drbd_state,
    PingLog,
    online,
    owner_of,
    ping_source,
    state_words,
    watch_cluster,
)
from hacert.observe.cluster_view import cluster_text, status_via
from hacert.observe.domains import DOMSTATE_BLIND
from hacert.observe.ping import Ping

ALIVE = ("running", "paused")
"""Domain states of a VM that did not stop (libvirt pauses both ends for a live migration's switch-over)."""


def is_pacemaker(inv: Inventory) -> bool:
    return inv.cluster.manager == "pacemaker"


def refusal_words(refused: ClusterRefused) -> str:
    said = (refused.stderr or "").strip() or (refused.stdout or "").strip()
    return " | ".join(said.splitlines()[-3:]) or "(it said nothing)"


def fail(record: Any, diagnosis: str) -> ClusterFailure:
    """The case's diagnosis, recorded; the exception to raise."""
    record.diagnosis(diagnosis)
    return ClusterFailure(diagnosis)


# ---------------------------------------------------------------- hypervisors' view


class HostsPoller:
    """Polls `virsh domstate VM` on `first`, then on each of `others`, over and over."""

    def __init__(self, lab: Any, vm: str, first: str, others: Sequence[str], interval: float = 0.1) -> None:
        self.lab, self.vm, self.first, self.interval = lab, vm, first, interval
        self.order = [first, *[n for n in others if n != first]]
        self.samples: list[tuple[float, dict[str, str | None]]] = []
        self.coverage = Coverage(f"the domain state poller of {vm} ({', '.join(self.order)})")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"domstate {vm}", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                states = {node: self.lab.virsh(node).state(self.vm) for node in self.order}
                t = time.time()
                self.samples.append((t, states))
                self.coverage.ok(t)
            except Exception as exc:  # a node that did not answer: no reading, counted as unseen
                self.coverage.failed(exc)
            self._stop.wait(self.interval)

    def start(self) -> "HostsPoller":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def stopped_at(self) -> list[float]:
        """Times no polled node had the domain running or paused."""
        return [t for t, states in self.samples if not any(s in ALIVE for s in states.values())]

    def hosts_seen(self) -> list[str]:
        """Where it ran, in the order the samples saw it."""
        out: list[str] = []
        for _, states in self.samples:
            for node, s in states.items():
                if s == "running" and (not out or out[-1] != node):
                    out.append(node)
        return out

    def unseen(self, start: float, end: float, t0: float | None = None) -> list[Unseen]:
        return self.coverage.unseen(start, end, DOMSTATE_BLIND, f"{self.vm} stopped while it moved off {self.first}", t0)

    def rows(self) -> list[tuple[str, ...]]:
        return [(f"{t:.3f}", *[states.get(n) or "-" for n in self.order]) for t, states in self.samples]


# ---------------------------------------------------------------- moves


@dataclass
class Move:
    """One VM leaving (or coming back to) a node, as the harness watched it."""

    vm: str
    source: str
    poller: HostsPoller
    began: float
    target: str | None = None
    ended: float | None = None

    def judge(self, record: Any, what: str) -> list[Unseen]:
        """Fail when the hypervisors saw the VM stopped; what the poller missed (to raise once)."""
        self.poller.stop()
        record.attach_csv(f"domain state of {self.vm}, {what}", self.poller.rows(), header=["time", *self.poller.order])
        stops = self.poller.stopped_at()
        if stops:
            raise fail(record, f"{self.vm} stopped during {what}: no node ran it at +{stops[0] - self.began:.2f} s "
                               f"(it moved from {self.source} to {self.target or 'nowhere'}; a live migration never stops it)")
        return self.poller.unseen(self.began, self.ended or time.time(), t0=self.began)


@dataclass
class Pings:
    """One timestamped ping per VM, for the whole case, from a node the case never restarts."""

    watches: dict[str, Ping] = field(default_factory=dict)

    @classmethod
    def start(cls, lab: Any, vms: Sequence[str], avoid: Sequence[str] = ()) -> "Pings":
        inv = lab.inventory
        pings = cls()
        for name in vms:
            spec = inv.vm(name)
            pings.watches[name] = Ping.on(lab, ping_source(inv, name, avoid=avoid), spec.address,
                                            inv.expectations.ping_interval, name).start()
        return pings

    def wait_answering(self, timeout: float) -> str | None:
        """None when every VM answers; else what did not."""
        for name, watch in self.watches.items():
            if watch.wait_answers(time.time() - 1, timeout=timeout) is None:
                return f"{name} ({watch.address}) does not answer pings from {watch.source}"
        return None

    def stop(self) -> dict[str, PingLog]:
        return {name: watch.stop() for name, watch in self.watches.items()}

    def unseen(self, needed: str, t0: float) -> list[Unseen]:
        out: list[Unseen] = []
        for name, watch in self.watches.items():
            out += watch.unseen(needed.format(vm=name), t0=t0)
        return out


def judge_pings(record: Any, inv: Inventory, logs: dict[str, PingLog], moves: dict[str, int], since: float) -> None:
    """Per VM: longest silence within the migration budget; lost pings within the budget of one
    migration times the moves it made. Records the figures."""
    expect = inv.expectations
    for name, log in logs.items():
        count = max(1, moves.get(name, 0))
        budget = expect.migration_max_lost_pings * count
        gap = log.longest_silence(since)
        record.number(f"{name}: lost pings", log.lost, "packets", expected=_at_most(budget))
        record.number(f"{name}: longest gap", gap, "s", expected=_at_most(expect.migration_max_gap))
        record.number(f"{name}: moves", moves.get(name, 0), "")
        if gap > expect.migration_max_gap:
            raise fail(record, f"{name} went silent for {gap:.2f} s (budget {expect.migration_max_gap:g} s per "
                               f"migration): it was stopped, not live-migrated")
        if log.lost > budget:
            raise fail(record, f"{name} lost {log.lost} pings over {count} move(s) (budget "
                               f"{expect.migration_max_lost_pings} per migration)")


def _at_most(value: float) -> Any:
    from hacert.model.bounds import Bound

    return Bound.at_most(value)


# ---------------------------------------------------------------- drain and fill


def in_standby(inv: Inventory, status: Any, node: str) -> bool:
    """The cluster's status flags `node` in standby."""
    member = member_state(inv, status, node)
    return member is not None and "standby" in member.flags


def running_on(inv: Inventory, status: Any, node: str) -> list[str]:
    """The inventory's VMs the cluster reports running on `node`."""
    return [v.name for v in inv.vms if owner_of(inv, status, v.name) == node]


def movable_on(inv: Inventory, status: Any, node: str) -> list[str]:
    """Non-storage services running on `node`."""
    return [s.name for s in inv.services if not s.storage and owner_of(inv, status, s.name) == node]


def away_target(inv: Inventory, status: Any, name: str, leaving: str) -> str | None:
    """Where rgmanager's drain sends a VM or service: its failover domain's order, then any online node."""
    if any(v.name == name for v in inv.vms):
        order = vm_hosts(inv, name) + inv.vm_candidates(name)
    else:
        svc = next(s for s in inv.services if s.name == name)
        order = list(inv.domain(svc.domain).nodes) if svc.domain else []
    for node in [*order, *(n.name for n in inv.nodes)]:
        if node != leaving and online(inv, status, node):
            return node
    return None


def _settled_away(inv: Inventory, names: Sequence[str], node: str) -> Any:
    """until(status): every one of `names` started on a node other than `node`."""
    def check(status: Any) -> bool:
        for name in names:
            svc = find_service(status, name)
            owner = owner_of(inv, status, name)
            if svc is None or svc.state != "started" or owner is None or owner == node:
                return False
        return True
    return check


def drain(lab: Any, guard: Any, record: Any, node: str, via: Sequence[str]) -> list[Move]:
    """Empty `node` (standby / clusvcadm), watching every VM that leaves it; the moves, judged
    by the caller. Raises ClusterFailure when the cluster refuses or does not finish in time."""
    inv: Inventory = lab.inventory
    expect = inv.expectations
    status = status_via(lab, via)
    vms = running_on(inv, status, node)
    services = movable_on(inv, status, node)
    others = [n.name for n in inv.nodes if n.name != node]
    moves = [Move(vm, node, HostsPoller(lab, vm, node, others).start(), time.time()) for vm in vms]
    for name in [*vms, *services]:
        guard.changed("service", name)
    began = time.time()
    try:
        if is_pacemaker(inv):
            guard.changed("standby", node)
            lab.cluster.standby(node, True, via=others[0] if others else node)
        else:
            for name in [*vms, *services]:
                target = away_target(inv, status, name, node)
                if target is None:
                    raise fail(record, f"{name} has nowhere to go off {node}: no other node it may run on is online")
                if name in vms:
                    lab.cluster.migrate(name, target, via=node)
                else:
                    lab.cluster.relocate(name, target, via=node)
    except ClusterRefused as refused:
        raise fail(record, f"the cluster refused to drain {node}: '{refused.command}' exited "
                           f"{refused.exit_code}: {refusal_words(refused)}") from None
    look = watch_cluster(lab, via, _settled_away(inv, [*vms, *services], node), expect.services_back_timeout)
    if is_pacemaker(inv) and not in_standby(inv, look.status, node):
        raise Inconclusive(f"pacemaker took 'pcs node standby {node}' but its status does not show {node} in standby: "
                           "what the drain did cannot be judged")
    for move in moves:
        move.ended = look.at
        move.target = owner_of(inv, look.status, move.vm)
        move.poller.stop()
    if not look.met:
        stuck = [n for n in [*vms, *services] if owner_of(inv, look.status, n) in (None, node)]
        raise fail(record, f"{node} was not drained within {expect.services_back_timeout:g} s: "
                           + "; ".join(f"{n} is {state_words(inv, look.status, n)}" for n in stuck))
    record.number(f"drain {node}", look.t - began, "s", expected=_at_most(expect.services_back_timeout))
    return moves


def undrain(lab: Any, node: str, via: Sequence[str]) -> None:
    """The node may host again (pacemaker: unstandby; rgmanager: nothing held it)."""
    if is_pacemaker(lab.inventory):
        others = [n for n in via if n != node] or [node]
        lab.cluster.standby(node, False, via=others[0])


def fill(lab: Any, guard: Any, record: Any, node: str, vms: Sequence[str], via: Sequence[str]) -> list[Move]:
    """Bring back to `node` the VMs (and services) whose home it is: the failback the failover
    domain promises is awaited first, then whatever is still away is live-migrated (clusvcadm
    -M / pcs resource move and clear). Each VM's return is watched like its departure."""
    inv: Inventory = lab.inventory
    expect = inv.expectations
    homes = expected_homes(inv)
    back = [v for v in vms if homes.get(v) == node]
    services = [s.name for s in inv.services if not s.storage and homes.get(s.name) == node]
    status = status_via(lab, via)
    others = [n.name for n in inv.nodes if n.name != node]
    moves: list[Move] = []
    for vm in back:
        source = owner_of(inv, status, vm)
        if source is None or source == node:
            continue
        moves.append(Move(vm, source, HostsPoller(lab, vm, source, [node, *others]).start(), time.time(), node))
    storage_back(lab, record, node, via)
    home = _all_home(inv, [*back, *services], node)
    if _failback_promised(inv, back, node):
        look = watch_cluster(lab, via, home, expect.services_back_timeout)
    else:
        look = watch_cluster(lab, via, home, 0.0)
    if not look.met:
        for name in [*back, *services]:
            owner = owner_of(inv, look.status, name)
            if owner in (None, node):
                continue
            guard.changed("service", name)
            try:
                if name in back:
                    lab.cluster.migrate(name, node, via=owner)
                else:
                    lab.cluster.relocate(name, node, via=owner)
            except ClusterRefused as refused:
                raise fail(record, f"the cluster refused to move {name} back to {node}: '{refused.command}' exited "
                                   f"{refused.exit_code}: {refusal_words(refused)}") from None
        look = watch_cluster(lab, via, home, expect.services_back_timeout)
    for move in moves:
        move.ended = look.at
        move.poller.stop()
    if not look.met:
        away = [n for n in [*back, *services] if owner_of(inv, look.status, n) != node]
        raise fail(record, f"{node} did not take back its VMs and services within {expect.services_back_timeout:g} s: "
                           + "; ".join(f"{n} is {state_words(inv, look.status, n)}" for n in away))
    if is_pacemaker(inv):
        for name in [*back, *services]:
            try:
                lab.cluster.clear(name, via=node)  # the location constraints the moves left
            except ClusterRefused:
                pass  # nothing to clear: the failback needed no move
    return moves


def _failback_promised(inv: Inventory, vms: Sequence[str], node: str) -> bool:
    """The failover domains of `vms` are ordered, allow failback and put `node` first."""
    for vm in vms:
        spec = inv.vm(vm)
        if not spec.domain:
            return False
        dom = inv.domain(spec.domain)
        if not dom.ordered or dom.nofailback or not dom.nodes or dom.nodes[0] != node:
            return False
    return bool(vms)


def _all_home(inv: Inventory, names: Sequence[str], node: str) -> Any:
    def check(status: Any) -> bool:
        for name in names:
            svc = find_service(status, name)
            if svc is None or svc.state != "started" or owner_of(inv, status, name) != node:
                return False
        return True
    return check


def storage_back(lab: Any, record: Any, node: str, via: Sequence[str]) -> None:
    """Wait until `node`'s storage services run on it and DRBD (where the lab has it) is Connected
    UpToDate/UpToDate on every node with storage: its guests may not come back before."""
    inv: Inventory = lab.inventory
    expect = inv.expectations
    storage = inv.node(node).storage_services
    if storage:
        look = watch_cluster(lab, via, lambda s: all(owner_of(inv, s, name) == node for name in storage),
                             expect.services_back_timeout)
        if not look.met:
            raise fail(record, f"{node}'s storage did not start within {expect.services_back_timeout:g} s: "
                               + ", ".join(f"{s} is {state_words(inv, look.status, s)}" for s in storage))
    nodes = [n.name for n in inv.nodes if n.storage_services]
    deadline = time.monotonic() + expect.services_back_timeout
    while not all(drbd_state(lab, n)[0] is not False for n in nodes):
        if time.monotonic() >= deadline:
            raise fail(record, f"DRBD did not return to Connected UpToDate/UpToDate within {expect.services_back_timeout:g} s "
                               f"of {node}'s return")
        time.sleep(0.2)


def wind_up(lab: Any, record: Any, drained: str | None, via: Sequence[str], pings: "Pings", before: str,
            window: Any) -> dict[str, PingLog]:
    """The end of a drain, whatever happened: `drained` out of standby again (what fails is the
    guard's to restore, and a fact of the case), every ping stopped, and the evidence attached
    (each ping's output, the cluster's status before and after, the nodes' syslog)."""
    if drained is not None:
        try:
            undrain(lab, drained, via)
        except Exception as exc:  # the guard's restore reports what is left
            record.fact("unstandby after the failure", repr(exc))
    logs = pings.stop()
    for log in logs.values():
        record.attach_text(f"ping {log.address} from {log.source}", log.text())
    record.attach_text("cluster status before", before)
    record.attach_text("cluster status after", cluster_text(lab, via))
    record.attach_syslog(window.lines())
    return logs
