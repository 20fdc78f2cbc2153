"""Controlled moves (seed 002's live migration, seed 003's service relocation), for every VM
and every node it may run on, and every non-storage service and member:

- live-migrate a VM (`clusvcadm -M` / a pacemaker move) while a timestamped high-rate ping
  watches its address; the VM never stops (its domain state on source and target is polled
  through the move), and lost pings and the longest gap stay within the inventory's budget;
- relocate a service (`clusvcadm -r`) to another member and back; its address answers
  after each move.
"""

from __future__ import annotations

import time

from hacert.drivers.errors import ClusterRefused, HacertError
from hacert.fixtures.guard import Guard
from hacert.fixtures.plan import plan_steps
from hacert.fixtures.report import Record
from hacert.lab.build import Lab
from hacert.model.bounds import Bound
from hacert.model.inventory import Inventory
from hacert.model.matrix import MigrationCase, ServiceMove
from hacert.observe.cluster_state import owner_of, state_words
from hacert.observe.cluster_view import cluster_text, watch_cluster
from hacert.observe.coverage import Unseen, raise_unseen
from hacert.observe.domains import DomainPoller
from hacert.observe.ping import Ping
from hacert.observe.syslog_window import SyslogWindow
from hacert.procedures.vm import attach_evidence, audit_healthy, fail, label_case, ping_source, refusal_words

FEATURE = "Migration"


# ---------------------------------------------------------------- live migration


@plan_steps(
    "audit the lab healthy",
    "ping the VM's address every {expect.ping_interval} s (ping -D -O) from the inventory's ping_from or an uninvolved node",
    "poll 'virsh domstate' on source and target through the move",
    "live-migrate it to the target (clusvcadm -M / pacemaker move)",
    "assert the new owner, that it never stopped, lost pings <= {expect.migration_max_lost_pings} "
    "and longest gap <= {expect.migration_max_gap} s; record virsh domjobinfo --completed downtime",
    "live-migrate it back",
    touches=["ssh all", "vm {migration.vm}", "cluster"],
)
def test_live_migration(migration: MigrationCase, lab: Lab, guard: Guard, record: Record) -> None:
    """Live-migrate a VM to another node and back; pings barely notice."""
    inv: Inventory = lab.inventory
    expect = inv.expectations
    spec = inv.vm(migration.vm)
    name, target = spec.name, migration.target
    via = [n.name for n in inv.nodes]
    label_case(record, FEATURE, name, "Controlled VM Migration",
               f"Live-migrate {name} to {target} and back — lost pings within budget")

    status = audit_healthy(record, guard)
    source = owner_of(inv, status, name) or migration.source
    pinger = ping_source(inv, name, prefer_not={source, target})
    before = cluster_text(lab, via)
    window = SyslogWindow(lab)
    ping = Ping.on(lab, pinger, spec.address, expect.ping_interval, name).start()
    record.fact("pinged from", pinger)
    domains = DomainPoller(lab, name, source, target)
    started: float | None = None
    unseen: list[Unseen] = []
    try:
        with record.step(f"ping {spec.address} from {pinger} every {expect.ping_interval:g} s"):
            if ping.wait_answers(time.time() - 1, timeout=expect.vm_restart_timeout) is None:
                raise HacertError(f"lab not ready: {name} ({spec.address}) does not answer pings from {pinger}")
        domains.start()
        with record.step(f"live-migrate {name} from {source} to {target}"):
            guard.changed("service", name)
            started = time.time()
            try:
                lab.cluster.migrate(name, target, via=source)
            except ClusterRefused as refused:
                fail(record, f"the cluster refused to live-migrate {name} from {source} to {target}: "
                             f"'{refused.command}' exited {refused.exit_code}: {refusal_words(refused)}")
            look = watch_cluster(lab, via, lambda s: owner_of(inv, s, name) == target, expect.services_back_timeout)
            record.number("migration command", time.time() - started, "s")
            if not look.met:
                fail(record, f"{name} was not moved to {target}: it is {state_words(inv, look.status, name)}"
                     + look.when(started))
            moved = look.at
        with record.step("let the ping see the VM on its new host"):
            if ping.wait_answers(time.time(), timeout=expect.vm_restart_timeout, count=5) is None:
                fail(record, f"{name} runs on {target} but its address {spec.address} does not answer pings from {pinger}")
        domains.stop()
        log = ping.stop()
        with record.step("judge: never stopped, lost pings and longest gap within budget"):
            record.fact("new owner", target)
            record.attach_csv("domain state through the move", domains.rows(), header=["time", source, target])
            downtime = lab.virsh(target).downtime_ms(name)
            record.number("hypervisor downtime", downtime, "ms")
            record.number("lost pings", log.lost, "packets", expected=Bound.at_most(expect.migration_max_lost_pings))
            record.number("longest gap", log.longest_silence(), "s", expected=Bound.at_most(expect.migration_max_gap))
            stops = domains.stopped_at()
            if stops:
                assert started is not None
                fail(record, f"{name} stopped during its migration to {target}: neither {source} nor {target} "
                             f"ran it at +{stops[0] - started:.2f} s")
            if log.lost > expect.migration_max_lost_pings or log.longest_silence() > expect.migration_max_gap:
                fail(record, f"migration of {name} lost {log.lost} pings (budget {expect.migration_max_lost_pings}), "
                             f"longest gap {log.longest_silence():.1f} s")
            # "never stopped" and "lost within budget" rest on samples: the poller and the ping saw the whole move
            unseen += domains.unseen(started, moved, t0=started)
            unseen += ping.unseen(f"{name} went silent during its migration", t0=started)
        with record.step(f"live-migrate {name} back to {source}"):
            lab.cluster.migrate(name, source, via=target)
            look = watch_cluster(lab, via, lambda s: owner_of(inv, s, name) == source, expect.services_back_timeout)
            if not look.met:
                fail(record, f"{name} did not migrate back to {source}: it is {state_words(inv, look.status, name)}")
        raise_unseen(unseen)
    finally:
        domains.stop()
        final = ping.stop()
        attach_evidence(record, lab, window, before, via, [final])
        if started is not None:
            states = {f"{name} on {source}": [(t, src or "-") for t, src, _ in domains.samples],
                      f"{name} on {target}": [(t, dst or "-") for t, _, dst in domains.samples]}
            record.attach_timeline([(started, f"migrate to {target}")], final.closed_gaps(), states, t0=started)
    record.diagnosis(f"migration of {name} to {target} lost {log.lost} pings, longest gap {log.longest_silence():.2f} s"
                     + (f", hypervisor downtime {downtime:g} ms" if downtime is not None else ""))


# ---------------------------------------------------------------- service relocation


@plan_steps(
    "audit the lab healthy",
    "relocate {service_move.service} to {service_move.target} (clusvcadm -r / pacemaker move)",
    "its address answers from another node",
    "relocate it back; its address answers again",
    touches=["ssh all", "cluster"],
)
def test_service_relocate(service_move: ServiceMove, lab: Lab, guard: Guard, record: Record) -> None:
    """Relocate a cluster service to another member and back; its address keeps answering."""
    inv: Inventory = lab.inventory
    expect = inv.expectations
    svc = next(s for s in inv.services if s.name == service_move.service)
    target = service_move.target
    via = [n.name for n in inv.nodes]
    label_case(record, FEATURE, svc.name, "Service relocation (clusvcadm -r)",
               f"Relocate {svc.name} to {target} and back")

    status = audit_healthy(record, guard)
    source = owner_of(inv, status, svc.name) or service_move.source
    before = cluster_text(lab, via)
    window = SyslogWindow(lab)
    ping = None
    if svc.address:
        pinger = ping_source(inv, None, prefer_not={source, target})
        ping = Ping.on(lab, pinger, svc.address, expect.ping_interval, svc.name).start()
    try:
        if ping is not None:
            with record.step(f"ping {svc.address} from {ping.source}"):
                if ping.wait_answers(time.time() - 1, timeout=expect.services_back_timeout) is None:
                    raise HacertError(f"lab not ready: {svc.name} ({svc.address}) does not answer pings from {ping.source}")
        for frm, to in ((source, target), (target, source)):
            with record.step(f"relocate {svc.name} from {frm} to {to}"):
                guard.changed("service", svc.name)
                moved = time.time()
                lab.cluster.relocate(svc.name, to, via=frm)
                look = watch_cluster(lab, via, lambda s, t=to: owner_of(inv, s, svc.name) == t, expect.services_back_timeout)
                if not look.met:
                    fail(record, f"{svc.name} was not relocated to {to}: it is {state_words(inv, look.status, svc.name)}"
                         + look.when(moved))
                record.number(f"relocation to {to}", look.at - moved, "s")
            if ping is not None:
                with record.step(f"{svc.address} answers on {to}"):
                    if ping.wait_answers(look.at, timeout=expect.services_back_timeout) is None:
                        fail(record, f"{svc.name} runs on {to} but its address {svc.address} does not answer from {ping.source}")
                    gap = ping.log().outage_after(moved)
                    record.number(f"{svc.address} silent, move to {to}", gap.seconds if gap else 0.0, "s")
    finally:
        attach_evidence(record, lab, window, before, via, [ping.stop()] if ping is not None else [])
    record.diagnosis(f"{svc.name} relocated to {target} and back to {source}")
