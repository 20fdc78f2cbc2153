"""VM recovery (seed 002's "Uncontrolled VM Migration and Node Failure" and "Controlled VM
Migration And Node Withdrawal", seed 004's guest destroy and host reboot), for every VM and
node of the inventory:

- destroy a VM on its host: the cluster restarts it there, twice; the destroy past
  `max_restarts` inside `restart_expire_time` makes it relocate to another node;
- withdraw a node (its VMs migrated away, resource manager then cluster stack stopped),
  reboot it, let it rejoin; every VM keeps running throughout;
- crash a node hosting VMs: it is fenced and each of its VMs starts on a survivor.

Downtimes are read from timestamped pings against the VMs' addresses, sent from a node
of the lab (never from the harness host).
"""

from __future__ import annotations

import time

import pytest

from hacert.drivers.errors import NotApplicable
from hacert.fixtures.guard import Guard, LabNotReady
from hacert.fixtures.plan import plan_steps
from hacert.fixtures.report import Record
from hacert.lab.build import Lab
from hacert.model.bounds import Bound
from hacert.model.inventory import Inventory
from hacert.model.matrix import NodeCase, VmCase
from hacert.model.scope import require_relocation
from hacert.observe.cluster_state import online, owner_of, state_words
from hacert.observe.cluster_view import cluster_text, watch_cluster
from hacert.observe.coverage import Unseen, raise_unseen
from hacert.observe.ping import Ping
from hacert.observe.restarts import RestartHistory, fail_count_still_counted, restarts_still_counted
from hacert.observe.syslog_window import SyslogWindow
from hacert.procedures.hang import HangCheck, hang, hang_words
from hacert.procedures.vm import (
    attach_evidence,
    attach_pings,
    audit_healthy,
    away_target,
    fail,
    label_case,
    migrate_home,
    movable_services,
    ordinal,
    ping_source,
    running_vms,
    started,
    storage_started,
    wait_fenced,
    wait_storage,
)

FEATURE = "VM recovery"


def not_ready(why: str) -> LabNotReady:
    """A lab that cannot start the case is an error of the case, not a cluster failure."""
    return LabNotReady(why)


# ---------------------------------------------------------------- destroy x3 -> relocate


@plan_steps(
    "audit the lab healthy; ping {vm}'s address from a node not hosting it (ping -D -O); read the "
    "restarts of {vm} the cluster still counts from before the case (rgmanager's 'Recovering failed service' "
    "lines of the last restart_expire_time; pacemaker's fail count): they count toward the threshold",
    "on {vm}'s host, destroy it (the inventory's destroy_command, default 'virsh destroy'); "
    "the cluster restarts it on the same host; measure its downtime from the ping",
    "once it answers again, destroy it again: same host again (max_restarts {expect.max_restarts} times)",
    "destroy it once more inside restart_expire_time ({expect.restart_expire_time} s): "
    "the cluster must relocate it ('Restart threshold ... exceeded')",
    "live-migrate it back to its home node",
    touches=["ssh all", "vm {vm}", "cluster"],
)
@pytest.mark.destructive
def test_vm_destroy_relocates(vm: VmCase, lab: Lab, guard: Guard, record: Record) -> None:
    """Destroy a VM until the cluster gives up restarting it in place and relocates it."""
    inv: Inventory = lab.inventory
    spec = inv.vm(vm.vm)
    expect = inv.expectations
    name = spec.name
    destroys = expect.max_restarts + 1
    label_case(record, FEATURE, name, "Uncontrolled VM failure: destroy the VM until the cluster relocates it",
               f"Destroy {name} up to {destroys} times — restarted in place {expect.max_restarts} times, then relocated")
    require_relocation(inv, name)
    via = [n.name for n in inv.nodes]

    status = audit_healthy(record, guard)
    guard.expect("failure", name)  # its failures are this case's doing, not the cluster's
    host = owner_of(inv, status, name) or spec.home
    source = ping_source(inv, name, prefer_not={host})
    before = cluster_text(lab, via)
    window = SyslogWindow(lab)
    carried = carried_restarts(record, lab, inv, name, status, host)
    ping = Ping.on(lab, source, spec.address, expect.ping_interval, name).start()
    record.fact("pinged from", source)
    command = spec.destroy_command.format(vm=name, node=host)
    moments: list[tuple[float, str]] = []
    try:
        with record.step(f"ping {spec.address} from {source}"):
            if ping.wait_answers(time.time() - 1, timeout=expect.vm_restart_timeout) is None:
                raise not_ready(f"{name} ({spec.address}) does not answer pings from {source}")
        first: float | None = None
        owner: str | None = host
        number = 0
        while owner == host and number < destroys:
            number += 1
            if first is not None and time.time() - first >= expect.restart_expire_time:
                record.verdict("inconclusive", f"the {ordinal(number)} destroy of {name} would come "
                               f"{time.time() - first:.0f} s after the first, outside restart_expire_time "
                               f"({expect.restart_expire_time:g} s): the restart threshold cannot be judged")
            with record.step(f"destroy #{number}: '{command}' on {host}"):
                guard.changed("service", name)
                sent = time.time()
                lab.node(host).run(command, timeout=30)
                moments.append((sent, f"destroy #{number}"))
                first = first if first is not None else sent
            with record.step(f"wait up to {expect.vm_restart_timeout:g} s for the cluster to start {name} again"):
                gap = ping.wait_back(sent, expect.vm_restart_timeout)
                look = watch_cluster(lab, via, started(inv, name), 1.0 if gap is None else expect.vm_restart_timeout)
                if gap is None:
                    fail(record, f"{name} was not recovered after destroy #{number} on {host}: "
                                 f"it is {state_words(inv, look.status, name)} {expect.vm_restart_timeout:g} s later",
                         f"its address {spec.address} stayed silent from {source}")
                if not look.met:
                    fail(record, f"{name} answers again after destroy #{number} but the cluster reports it "
                                 f"{state_words(inv, look.status, name)}")
                owner = owner_of(inv, look.status, name)
                record.number(f"downtime after destroy {number}", gap.seconds, "s", expected=Bound.below(expect.vm_restart_timeout))
                record.number(f"pings lost after destroy {number}", gap.lost, "packets")
            fewest, most = carried.counted_between(sent, time.time())
            threshold = f"max_restarts {expect.max_restarts}, window {expect.restart_expire_time:g} s"
            if fewest or most:
                threshold += f", {restarts_words(fewest, most)} from before this case still counted"
            if owner != host and most + number - 1 < expect.max_restarts:
                if carried.unreadable:
                    record.verdict("inconclusive", f"{name} relocated to {owner} after destroy #{number}; the restarts "
                                   f"counted from before this case are unknown: {carried.unreadable_words()}")
                fail(record, f"{name} was relocated to {owner} after destroy #{number}, before its restart "
                             f"threshold ({threshold})")
            if owner == host and fewest + number - 1 >= expect.max_restarts:
                fail(record, f"{name} restarted on {host} a {ordinal(number)} time instead of relocating ({threshold})")
        assert first is not None
        if sent - first >= expect.restart_expire_time:
            record.verdict("inconclusive", f"the {number} destroys of {name} took {sent - first:.0f} s, more "
                           f"than restart_expire_time ({expect.restart_expire_time:g} s)")
        record.number("first to last destroy", sent - first, "s", expected=Bound.below(expect.restart_expire_time))
        record.fact("relocated to", owner)
        said = [line for lines in window.lines().values() for line in lines if "Restart threshold" in line]
        record.fact("cluster log", said[0].split(": ", 1)[-1] if said else "(no 'Restart threshold' line found)")
        with record.step(f"live-migrate {name} back to {spec.home}"):
            problems = migrate_home(lab, guard, [name], via, expect.services_back_timeout)
            if problems:
                fail(record, problems[0])
    finally:
        log = ping.stop()
        attach_pings(record, [log])
        attach_evidence(record, lab, window, before, via)
        if moments:
            record.attach_timeline(moments, log.closed_gaps(), t0=moments[0][0])
    in_case = number - 1
    earlier = f" (and {len(carried.restarts)} from before this case, still counted)" if carried.restarts else ""
    record.diagnosis(f"{name} restarted on {host} {in_case} time{'s' if in_case != 1 else ''}{earlier}, "
                     f"relocated to {owner} on destroy #{number}")


def carried_restarts(record: Record, lab: Lab, inv: Inventory, name: str, status: object, host: str) -> RestartHistory:
    """The restarts of `name` the cluster still counts from before this case (another case's, an
    engineer's): rgmanager keeps them in memory for restart_expire_time and says so only in syslog;
    pacemaker's fail count on the host (failure-timeout = restart_expire_time) is in its status."""
    expect = inv.expectations
    now = time.time()
    if inv.cluster.manager == "rgmanager":
        carried = restarts_still_counted(lab, name, expect.restart_expire_time, now)
    else:
        carried = fail_count_still_counted(lab, status, name, host, expect.restart_expire_time, now)
    record.fact("restarts still counted from before the case", carried.words(now))
    if carried.unreadable:
        record.fact("restarts unknown", carried.unreadable_words())
    return carried


def restarts_words(fewest: int, most: int) -> str:
    return f"{fewest}" if fewest == most else f"{fewest} or {most} (one expired meanwhile)"


# ---------------------------------------------------------------- withdraw and rejoin


@plan_steps(
    "audit the lab healthy; ping every VM from a node other than {node}",
    "live-migrate the VMs running on {node} to other nodes",
    "stop the resource manager, then the cluster stack on {node}",
    "the other nodes see {node} offline; every VM keeps running",
    "reboot {node} (IPMI power cycle); wait up to {expect.rejoin_timeout} s for it to rejoin",
    "its cluster stack and storage come back (DRBD UpToDate where present)",
    "its VMs and services return (priority failback, migrated or relocated home)",
    touches=["ssh all", "bmc {node}", "cluster"],
)
@pytest.mark.destructive
def test_node_withdraw_rejoin(node: NodeCase, lab: Lab, guard: Guard, record: Record) -> None:
    """Withdraw a node from the cluster, reboot it and let it rejoin; no VM stops."""
    inv: Inventory = lab.inventory
    expect = inv.expectations
    name = node.node
    others = [n.name for n in inv.peers(name)]
    label_case(record, FEATURE, name, "Controlled VM Migration And Node Withdrawal",
               f"Withdraw {name}: migrate its VMs away, stop its cluster stack, reboot it, rejoin")

    status = audit_healthy(record, guard)
    before = cluster_text(lab, others)
    window = SyslogWindow(lab)
    pings = [Ping.on(lab, ping_source(inv, v.name, avoid={name}), v.address, expect.ping_interval, v.name)
             for v in inv.vms]
    for p in pings:
        p.start()
    moved: list[str] = []
    try:
        with record.step("ping every VM"):
            for p in pings:
                if p.wait_answers(time.time() - 1, timeout=expect.vm_restart_timeout) is None:
                    raise not_ready(f"{p.subject} ({p.address}) does not answer pings from {p.source}")
        for vm_name in running_vms(inv, status, name):
            target = away_target(inv, status, vm_name, name)
            if target is None:
                fail(record, f"{vm_name} has nowhere to go: no other node it may run on is online")
            with record.step(f"live-migrate {vm_name} from {name} to {target}"):
                guard.changed("service", vm_name)
                lab.cluster.migrate(vm_name, target, via=name)
                look = watch_cluster(lab, others, lambda s, v=vm_name, t=target: owner_of(inv, s, v) == t,
                                     expect.services_back_timeout)
                if not look.met:
                    fail(record, f"{vm_name} did not move to {target}: {state_words(inv, look.status, vm_name)}")
                moved.append(vm_name)
        with record.step(f"stop the resource manager, then the cluster stack on {name}"):
            guard.changed("stack", name)
            stopped = time.time()
            lab.cluster.stop_stack(name)
        with record.step(f"the other nodes see {name} offline; every VM keeps running"):
            look = watch_cluster(lab, others, lambda s: not online(inv, s, name), expect.services_back_timeout)
            if not look.met:
                fail(record, f"{', '.join(others)} still list {name} online {expect.services_back_timeout:g} s "
                             f"after its cluster stack stopped")
            down = [v.name for v in inv.vms if owner_of(inv, look.status, v.name) is None]
            if down:
                fail(record, f"withdrawing {name} stopped {', '.join(down)}: "
                             + "; ".join(f"{v} is {state_words(inv, look.status, v)}" for v in down))
        with record.step(f"reboot {name} through its BMC (power cycle)"):
            guard.changed("power", name)
            lab.bmc(name).power_cycle()
            # The BMC acts once logged in and answers as it does: its answer, not the middle of the
            # call (a real BMC's login is most of it), is when the node went down.
            cycled = time.time()
        with record.step(f"wait up to {expect.rejoin_timeout:g} s for {name} to rejoin"):
            look = watch_cluster(lab, others, lambda s: online(inv, s, name), expect.rejoin_timeout)
            if not look.met:
                fail(record, f"{name} did not rejoin the cluster within {expect.rejoin_timeout:g} s of its reboot"
                     + look.when(cycled), "the cluster still lists it offline; its cluster stack did not start")
            record.number("reboot to rejoin", look.t - cycled, "s", expected=Bound.below(expect.rejoin_timeout))
        with record.step(f"wait up to {expect.services_back_timeout:g} s for {name}'s stack and storage"):
            look = watch_cluster(lab, others, storage_started(inv, name), expect.services_back_timeout)
            if not look.met:
                fail(record, f"{name} rejoined but its storage did not start: "
                             + "; ".join(f"{s} is {state_words(inv, look.status, s)}" for s in inv.node(name).storage_services))
            ready, texts = wait_storage(lab, [name, *others], expect.services_back_timeout)
            for n, text in texts.items():
                record.attach_text(f"/proc/drbd on {n}", text)
            if not ready:
                fail(record, f"DRBD on {name} did not return to Connected UpToDate/UpToDate within "
                             f"{expect.services_back_timeout:g} s")
            record.number("reboot to storage ready", time.time() - cycled, "s")
        with record.step("VMs and services return home (failback, live migration, relocation)"):
            problems = migrate_home(lab, guard, [*(v.name for v in inv.vms), *movable_services(inv)], others,
                                    expect.services_back_timeout)
            if problems:
                fail(record, problems[0])
        logs = [p.stop() for p in pings]
        with record.step("no VM stopped while the node was withdrawn and rebooted"):
            for p, log in zip(pings, logs):
                silent = log.longest_silence(after=stopped)
                if silent > expect.migration_max_gap:
                    fail(record, f"{p.subject} went silent for {silent:.1f} s while {name} was withdrawn and rebooted "
                                 f"(budget {expect.migration_max_gap:g} s)")
            record.number("pings lost, all VMs", sum(log.lost for log in logs), "packets")
            # "no VM stopped" rests on the pings: each saw the whole case
            unseen: list[Unseen] = []
            for p in pings:
                unseen += p.unseen(f"{p.subject} went silent while {name} was withdrawn and rebooted", t0=stopped)
            raise_unseen(unseen)
    finally:
        attach_pings(record, [p.stop() for p in pings])
        attach_evidence(record, lab, window, before, [*others, name])
    record.diagnosis(f"{name} withdrew ({len(moved)} VM(s) migrated away), rebooted and rejoined; no VM stopped")


# ---------------------------------------------------------------- crash -> VMs recover elsewhere


@plan_steps(
    "audit the lab healthy; ping each VM running on {node} from a survivor",
    "crash {node} (sysrq 'c' or the inventory's hang method)",
    "wait up to {expect.fence_timeout} s for a survivor to fence it",
    "each of its VMs starts on a survivor; measure each VM's downtime from the ping",
    "wait up to {expect.rejoin_timeout} s for {node} to return; wait for storage to resync",
    "live-migrate its VMs home; relocate its services home",
    touches=["ssh all", "bmc {node}", "outlets {node}", "cluster"],
)
@pytest.mark.destructive
def test_node_crash_recovers_vms(node: NodeCase, lab: Lab, guard: Guard, record: Record) -> None:
    """Crash a node hosting VMs: it is fenced, its VMs start on survivors, it returns."""
    inv: Inventory = lab.inventory
    expect = inv.expectations
    name = node.node
    survivors = [n.name for n in inv.peers(name)]
    label_case(record, FEATURE, name, "Uncontrolled VM Migration and Node Failure",
               f"Crash {name} — it is fenced and its VMs start on a survivor")

    status = audit_healthy(record, guard)
    victims = running_vms(inv, status, name)
    if not victims:
        raise NotApplicable(f"{name} hosts no VM: this case has no VM to recover")
    before = cluster_text(lab, survivors)
    window = SyslogWindow(lab)
    pings = {v: Ping.on(lab, ping_source(inv, v, avoid={name}), inv.vm(v).address, expect.ping_interval, v)
             for v in victims}
    for p in pings.values():
        p.start()
    try:
        with record.step("ping each of its VMs"):
            for v, p in pings.items():
                if p.wait_answers(time.time() - 1, timeout=expect.vm_restart_timeout) is None:
                    raise not_ready(f"{v} ({p.address}) does not answer pings from {p.source}")
        with record.step(f"crash {name}: {hang_words(inv.node(name))}"):
            guard.changed("hang", name, inv.node(name).hang.method)
            crashed = hang(lab, inv.node(name))
            took = HangCheck(lab, inv.node(name), crashed).start()
        with record.step(f"confirm the crash took: {name} stopped answering"):
            took.wait()  # Inconclusive when it still answers: nothing to recover from
            record.fact("crash", took.evidence())
        with record.step(f"wait up to {expect.fence_timeout:g} s for a survivor to fence {name}"):
            fenced, seen = wait_fenced(record, inv, window, survivors, name, crashed)
            if seen.t - crashed > expect.fence_timeout:
                fail(record, f"{name} was not fenced within {expect.fence_timeout:g} s of its crash: the fence was "
                             f"measured {seen.t - crashed:.1f} s after it")
            record.fact("fenced by", f"{fenced.fencer} ({fenced.method or 'method unknown'})")
        budget = expect.fence_timeout + expect.vm_restart_timeout
        with record.step(f"each VM of {name} starts on a survivor (within {budget:g} s of the crash)"):
            look = watch_cluster(lab, survivors, lambda s: all(started(inv, v, avoid=name)(s) for v in victims),
                                 max(1.0, budget - (time.time() - crashed)))
            if not look.met:
                lost = [v for v in victims if not started(inv, v, avoid=name)(look.status)]
                fail(record, f"{', '.join(lost)} did not start on a survivor after {name} crashed: "
                             + "; ".join(f"{v} is {state_words(inv, look.status, v)}" for v in lost))
            for v, p in pings.items():
                gap = p.wait_back(crashed, max(1.0, budget - (time.time() - crashed)))
                if gap is None:
                    fail(record, f"{v} is started on {owner_of(inv, look.status, v)} but its address {p.address} "
                                 f"does not answer again from {p.source}")
                record.number(f"{v} downtime", gap.seconds, "s", expected=Bound.below(budget))
                record.number(f"{v} pings lost", gap.lost, "packets")
                record.fact(f"{v} started on", owner_of(inv, look.status, v))
        with record.step(f"wait up to {expect.rejoin_timeout:g} s for {name} to return"):
            look = watch_cluster(lab, survivors, lambda s: online(inv, s, name), expect.rejoin_timeout)
            if not look.met:
                fail(record, f"{name} did not rejoin the cluster within {expect.rejoin_timeout:g} s of its fence"
                     + look.when(crashed))
            record.number("crash to rejoin", look.t - crashed, "s")
        with record.step("wait for storage to resync before moving VMs home"):
            look = watch_cluster(lab, survivors, storage_started(inv, name), expect.services_back_timeout)
            if not look.met:
                fail(record, f"{name} rejoined but its storage did not start")
            ready, texts = wait_storage(lab, [name, *survivors], expect.services_back_timeout)
            for n, text in texts.items():
                record.attach_text(f"/proc/drbd on {n}", text)
            if not ready:
                fail(record, f"DRBD on {name} did not resync (Connected UpToDate/UpToDate) within "
                             f"{expect.services_back_timeout:g} s")
        with record.step("live-migrate its VMs home, relocate its services home"):
            problems = migrate_home(lab, guard, [*victims, *movable_services(inv, name)], [*survivors, name],
                                    expect.services_back_timeout)
            if problems:
                fail(record, problems[0])
    finally:
        attach_pings(record, [p.stop() for p in pings.values()])
        attach_evidence(record, lab, window, before, [*survivors, name])
    record.diagnosis(f"{name} fenced by {fenced.fencer}; " + ", ".join(
        f"{v} back after {pings[v].final.outage_after(crashed).seconds:.1f} s" for v in victims
        if pings[v].final is not None and pings[v].final.outage_after(crashed) is not None
        and pings[v].final.outage_after(crashed).seconds is not None))
