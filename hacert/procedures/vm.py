"""What the VM and service procedures share: naming and failing a case, where to ping a guest
from, the evidence (cluster status, syslog window, pings), where things run, waiting for DRBD
and for a fence of a crashed node, and moving VMs and services home.

Pings never start on the harness host: they run on a node of the lab (the inventory's
`vm.ping_from`, else a node the case leaves alone), as the procedures do, through the one ping
instrument (hacert.observe.ping), each stamp brought to the controller's clock by the pinging
node's measured offset. The watchers these procedures use live in hacert.observe (domains,
syslog_window, cluster_view). Nothing passes on silence: what an instrument did not see is
`Unseen`, never "no outage".
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, NoReturn, Sequence

from hacert.drivers.errors import ClusterFailure, ClusterRefused, HacertError, WaitTimeout
from hacert.model.inventory import Inventory
from hacert.observe.cluster_state import expected_homes, find_service, online, owner_of, state_words
from hacert.observe.cluster_view import cluster_text, drbd_state, watch_cluster
from hacert.observe.coverage import raise_unseen
from hacert.observe.fence_record import FenceRound, fence_rounds
from hacert.observe.lines import SkippedLines
from hacert.observe.moments import Moment
from hacert.observe.ping import PingLog
from hacert.observe.syslog_window import SyslogWindow
from hacert.observe.waiting import wait_for

# ---------------------------------------------------------------- naming, failing, evidence


ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth"}


def ordinal(n: int) -> str:
    return ORDINALS.get(n, f"{n}th")


def fail(record: Any, diagnosis: str, detail: str = "") -> NoReturn:
    """The case FAILED: the diagnosis in the report, then the ClusterFailure."""
    record.diagnosis(diagnosis)
    raise ClusterFailure(diagnosis + (f": {detail}" if detail else ""))


def refusal_words(refused: ClusterRefused) -> str:
    """What the cluster manager said when it refused (its last words on stderr, else stdout)."""
    said = (refused.stderr or "").strip() or (refused.stdout or "").strip()
    return " | ".join(said.splitlines()[-3:]) or "(it said nothing)"


def attach_pings(record: Any, logs: Sequence[PingLog]) -> None:
    skipped = SkippedLines("ping output")
    for log in logs:
        record.attach_text(f"ping {log.address} from {log.source}", log.text())
        skipped.add(log.skipped)
    skipped.report(record)


def attach_evidence(record: Any, lab: Any, window: SyslogWindow, before: str, via: list[str],
                    pings: Sequence[PingLog] = ()) -> None:
    """The cluster's status before and after, the syslog window, and the pings' output."""
    record.attach_text("cluster status before", before)
    record.attach_text("cluster status after", cluster_text(lab, via))
    lines = window.lines()
    record.attach_syslog(lines)
    window.skipped(lines).report(record)
    if pings:
        attach_pings(record, pings)


def window_lines(window: SyslogWindow, nodes: list[str]) -> dict[str, list[str]]:
    return {n: lines for n, lines in window.lines().items() if n in nodes}


# ---------------------------------------------------------------- where to ping from


def label_case(record: Any, feature: str, subject: str, story: str, title: str) -> None:
    """Name the case in the report (Allure feature, subject, story and title)."""
    record.feature(feature)
    record.subject(subject)
    record.story(story)
    record.title(title)


def audit_healthy(record: Any, guard: Any) -> Any:
    """The first step of every case: the guard's audit of the lab (its cluster status)."""
    with record.step("audit the lab healthy"):
        return guard.audit()


def ping_source(inv: Inventory, vm_name: str | None, avoid: Iterable[str] = (), prefer_not: Iterable[str] = ()) -> str:
    """The node to ping a VM (or service address) from.

    The inventory's `ping_from` when it names a node the case does not take down;
    else the first node neither taken down (`avoid`) nor involved (`prefer_not`);
    else the first node not taken down. 'observer' and 'self' are not served yet:
    the harness host never pings lab addresses, and pinging from inside the VM needs
    a login to it; both fall back to a node (the case records which one it used).
    """
    avoid, prefer_not = set(avoid), set(prefer_not)
    if vm_name is not None:
        chosen = inv.vm(vm_name).ping_from
        if chosen and chosen not in ("observer", "self") and chosen not in avoid:
            return chosen
    names = [n.name for n in inv.nodes]
    for name in names:
        if name not in avoid and name not in prefer_not:
            return name
    for name in names:
        if name not in avoid:
            return name
    raise ValueError(f"no node is left to ping from (every node is taken down: {', '.join(sorted(avoid))})")


# ---------------------------------------------------------------- moving VMs home


def migrate_home(lab: Any, guard: Any, vms: Sequence[str], via: Sequence[str], timeout: float) -> list[str]:
    """Bring each VM or service of `vms` home (its inventory home): one running away is live-migrated
    (a VM) or relocated (a service), one stopped is enabled there; one the cluster is still starting
    or moving is waited for first. Problems (empty: all home)."""
    inv = lab.inventory
    homes = expected_homes(inv)
    guests = {v.name for v in inv.vms}
    problems: list[str] = []
    for name in vms:
        home = homes.get(name)
        if home is None:
            continue
        look = watch_cluster(lab, via, lambda s, n=name: _settled(s, n), timeout)
        owner = owner_of(inv, look.status, name)
        if owner == home:
            continue
        guard.changed("service", name)
        try:
            # the failures that moved it away may ban it from home (pacemaker's migration-threshold)
            lab.cluster.reset_failures(name, via=owner or home)
            if owner is None:
                lab.cluster.enable(name, node=home, via=home)
            elif name in guests:
                lab.cluster.migrate(name, home, via=owner)
            else:
                lab.cluster.relocate(name, home, via=owner)
        except HacertError as exc:
            problems.append(f"{name} could not be moved home to {home}: {exc}")
            continue
        look = watch_cluster(lab, via, lambda s, n=name, h=home: owner_of(inv, s, n) == h, timeout)
        if not look.met:
            problems.append(f"{name} is not back on {home} within {timeout:g} s ({state_words(inv, look.status, name)})")
    return problems


def _settled(status: Any, name: str) -> bool:
    """The cluster is not busy with `name` (starting, stopping, migrating or recovering it)."""
    svc = find_service(status, name)
    return svc is None or svc.state in ("started", "stopped", "disabled", "failed")


def movable_services(inv: Inventory, home: str | None = None) -> list[str]:
    """The inventory's non-storage services (those homed on `home`, when given): what a case that
    takes a node away must bring home with the VMs."""
    return [svc.name for svc in inv.services if not svc.storage and (home is None or svc.home == home)]


# ---------------------------------------------------------------- where things run


def started(inv: Inventory, name: str, avoid: str | None = None) -> Callable[[Any], bool]:
    """until(status): `name` runs (on a node other than `avoid`, when given)."""
    def check(status: Any) -> bool:
        owner = owner_of(inv, status, name)
        return owner is not None and owner != avoid
    return check


def running_vms(inv: Inventory, status: Any, node: str) -> list[str]:
    return [v.name for v in inv.vms if owner_of(inv, status, v.name) == node]


def away_target(inv: Inventory, status: Any, vm: str, leaving: str) -> str | None:
    """Where to move a VM off `leaving`: its failover domain's order, then any online node."""
    order = inv.vm_candidates(vm) + [n.name for n in inv.nodes]
    for node in order:
        if node != leaving and online(inv, status, node):
            return node
    return None


def storage_started(inv: Inventory, node: str) -> Callable[[Any], bool]:
    names = inv.node(node).storage_services

    def check(status: Any) -> bool:
        return online(inv, status, node) and all(owner_of(inv, status, s) == node for s in names)
    return check


def wait_storage(lab: Any, nodes: list[str], timeout: float) -> tuple[bool, dict[str, str]]:
    """Wait until DRBD is Connected and UpToDate/UpToDate on every node of `nodes` that has
    storage services in the inventory (the others have no replicated storage to wait for)."""
    nodes = [n for n in nodes if lab.inventory.node(n).storage_services]

    def look() -> tuple[bool, dict[str, str]]:
        texts: dict[str, str] = {}
        ready = True
        for node in nodes:
            ok, text = drbd_state(lab, node)
            texts[node] = text
            ready = ready and ok is not False
        return ready, texts

    try:
        return wait_for(f"DRBD Connected and UpToDate on {', '.join(nodes) or 'no node'}", look, lambda seen: seen[0],
                        timeout=max(timeout, 1e-3), interval=0.2)
    except WaitTimeout as timed_out:
        return timed_out.last_seen  # type: ignore[return-value]


def wait_fenced(record: Any, inv: Inventory, window: SyslogWindow, survivors: list[str], name: str,
                crashed: float) -> tuple[FenceRound, Moment]:
    """Wait (expectations.fence_timeout from the crash) for a survivor's syslog to record the fence of
    `name`: that round, and when it was seen (judged on when it was measured, not on the look having
    begun in time). No fence in a survivor's syslog that could not be read is no finding (unseen)."""
    timeout = inv.expectations.fence_timeout
    looks = [crashed, crashed]  # [the look before's start, this look's start]
    rounds: list[FenceRound] = []

    def look() -> FenceRound | None:
        looks[:] = [looks[1], time.time()]
        rounds[:] = [r for r in fence_rounds(inv, window_lines(window, survivors)) if r.victim == name]
        return next((r for r in rounds if r.succeeded is not None), None)

    try:
        fenced = wait_for(f"a survivor to fence {name}", look, lambda found: found is not None,
                          timeout=timeout, interval=0.2)
    except WaitTimeout:
        raise_unseen(window.unseen(survivors, f"{{node}} logged the fence of {name}", crashed))
        fail(record, f"{name} was not fenced within {timeout:g} s of its crash",
             "; ".join(f"{r.fencer} tried: {', '.join(f.result for f in r.failures) or 'no result'}"
                       for r in rounds) or "no survivor started fencing it")
    return fenced, Moment(looks[0], time.time())
