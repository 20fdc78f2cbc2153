"""Maintenance mode (Pacemaker CTS's MaintenanceMode and ResourceRecover), once per lab, on
the inventory's first VM:

- maintenance on: `pcs property set maintenance-mode=true` (pacemaker), every resource group
  frozen with `clusvcadm -Z` (rgmanager); the cluster's status must say so;
- the VM is destroyed on its host; for the time the cluster is given to restart a VM
  (`vm_restart_timeout`) it must NOT be recovered (no hypervisor runs it, its address stays
  silent) and nothing may move;
- maintenance off: the cluster recovers it within `vm_restart_timeout`; its failures are
  cleaned up and it goes home.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from hacert.drivers.errors import Inconclusive, WaitTimeout
from hacert.fixtures.guard import LabNotReady
from hacert.fixtures.plan import plan_steps
from hacert.model.bounds import Bound
from hacert.model.inventory import Inventory
from hacert.observe.cluster_state import find_service, node_of
from hacert.observe.coverage import raise_unseen
from hacert.procedures import maintenance
from hacert.procedures.standby import HostsPoller, fail
from hacert.procedures.vm import (
    SyslogWindow,
    audit_healthy,
    cluster_text,
    label_case,
    migrate_home,
    owner_of,
    ping_source,
    state_words,
    watch_cluster,
)
from hacert.observe.cluster_view import status_via
from hacert.observe.ping import Ping
from hacert.observe.waiting import wait_for

FEATURE = "Standby and maintenance"
POLL = 0.2


@plan_steps(
    "audit the lab healthy; ping the inventory's first VM from a node not hosting it",
    "maintenance on: 'pcs property set maintenance-mode=true' / 'clusvcadm -Z' every group; the status shows it",
    "destroy the VM on its host (its destroy_command)",
    "for {expect.vm_restart_timeout} s: no node runs it, its address stays silent, nothing moves",
    "maintenance off: the cluster recovers it within {expect.vm_restart_timeout} s",
    "clean up its failures; it goes home",
    touches=["ssh all", "cluster", "vms"],
)
@pytest.mark.destructive
def test_maintenance_mode(lab: Any, guard: Any, record: Any) -> None:
    """In maintenance mode a failed resource is not recovered and nothing moves; it is after."""
    inv: Inventory = lab.inventory
    expect = inv.expectations
    via = [n.name for n in inv.nodes]
    if not inv.vms:
        raise LabNotReady("the inventory lists no VM to fail in maintenance mode")
    spec = inv.vms[0]
    vm = spec.name
    label_case(record, FEATURE, vm, "Maintenance mode (CTS MaintenanceMode)",
               f"Maintenance mode: destroyed {vm} is left alone, recovered after")

    status = audit_healthy(record, guard)
    host = owner_of(inv, status, vm) or spec.home
    others = [n for n in via if n != host]
    pinger = ping_source(inv, vm, prefer_not={host})
    before = cluster_text(lab, via)
    window = SyslogWindow(lab)
    ping = Ping.on(lab, pinger, spec.address, expect.ping_interval, vm).start()
    record.fact("pinged from", pinger)
    poller = HostsPoller(lab, vm, host, others)
    names: list[str] = []
    on = False
    try:
        with record.step(f"ping {spec.address} from {pinger}"):
            if ping.wait_answers(time.time() - 1, timeout=expect.vm_restart_timeout) is None:
                raise LabNotReady(f"{vm} ({spec.address}) does not answer pings from {pinger}")
        with record.step("maintenance on; the cluster's status shows it"):
            guard.changed("service", vm)
            on = True
            names = maintenance.enter(lab, status, host)
            status = status_via(lab, via)
            maintenance.require_taken(lab, status, names)
            owners = maintenance.owners(inv, status, names)
            record.fact("left alone", ", ".join(names))
        command = spec.destroy_command.format(vm=vm, node=host)
        with record.step(f"destroy {vm}: '{command}' on {host}"):
            guard.expect("failure", vm)
            poller.start()
            destroyed = time.time()
            lab.node(host).run(command, timeout=30)
        with record.step(f"for {expect.vm_restart_timeout:g} s: {vm} stays down, nothing moves"):
            gone = _wait_gone(poller, destroyed, expect.vm_restart_timeout)
            if gone is None:
                raise Inconclusive(f"{vm} still ran on {host} {expect.vm_restart_timeout:g} s after '{command}': "
                                   "the failure did not take, maintenance mode cannot be judged")
            record.number("destroy seen by the hypervisor", gone - destroyed, "s")
            deadline = destroyed + expect.vm_restart_timeout
            while time.time() < deadline:
                back = [t for t, states in poller.samples if t > gone and any(s == "running" for s in states.values())]
                if back:
                    where = [n for n, s in next(st for t, st in poller.samples if t == back[0]).items() if s == "running"]
                    raise fail(record, f"the cluster recovered {vm} in maintenance mode: {', '.join(where)} ran it "
                                       f"{back[0] - destroyed:.1f} s after its destroy (maintenance must leave a failed "
                                       "resource alone)")
                now = status_via(lab, via)
                if _acting(inv, now, vm, host):
                    raise fail(record, f"the cluster recovered {vm} in maintenance mode: {state_words(inv, now, vm)} "
                                       f"{time.time() - destroyed:.1f} s after its destroy (maintenance must leave a failed "
                                       "resource alone)")
                # the failed VM itself is judged by the hypervisors and its address (a status that
                # shows it stopped may only report what the cluster saw)
                moved = {n: (o, owner_of(inv, now, n)) for n, o in owners.items() if n != vm and owner_of(inv, now, n) != o}
                if moved:
                    raise fail(record, "in maintenance mode the cluster moved "
                               + "; ".join(f"{n} from {a or 'nowhere'} to {b or 'nowhere'}" for n, (a, b) in moved.items()))
                answered = [t for _, t in ping.log().replies if t > gone + expect.ping_interval]
                if answered:
                    raise fail(record, f"{vm}'s address {spec.address} answered again {answered[0] - destroyed:.1f} s "
                                       "after its destroy, in maintenance mode")
                time.sleep(POLL)  # the hold the procedure demands: every look above until the deadline
            held = time.time() - destroyed
            record.number("left alone in maintenance", held, "s", expected=Bound.at_least(expect.vm_restart_timeout))
            raise_unseen(poller.unseen(destroyed, time.time(), t0=destroyed))
        with record.step("maintenance off: the cluster recovers it"):
            ended = time.time()
            maintenance.leave(lab, names, host)
            on = False
            gap = ping.wait_back(destroyed, expect.vm_restart_timeout)
            look = watch_cluster(lab, via, lambda s: owner_of(inv, s, vm) is not None and
                                 state_words(inv, s, vm).startswith("started"), expect.vm_restart_timeout)
            if gap is None or not look.met:
                raise fail(record, f"{vm} was not recovered within {expect.vm_restart_timeout:g} s of maintenance's end: "
                                   f"it is {state_words(inv, look.status, vm)}")
            assert gap.end is not None
            record.number("recovered after maintenance ended", gap.end - ended, "s",
                          expected=Bound.below(expect.vm_restart_timeout))
            record.fact("recovered on", owner_of(inv, look.status, vm))
        with record.step(f"clean up {vm}'s failures; it goes home"):
            problems = migrate_home(lab, guard, [vm], via, expect.services_back_timeout)
            if problems:
                raise fail(record, problems[0])
    finally:
        poller.stop()
        if on:
            try:
                maintenance.leave(lab, names, host)
            except Exception as exc:  # the guard's audit reports what is left
                record.fact("maintenance off after the failure", repr(exc))
        log = ping.stop()
        record.attach_text(f"ping {log.address} from {log.source}", log.text())
        record.attach_csv(f"domain state of {vm}", poller.rows(), header=["time", *poller.order])
        record.attach_text("cluster status before", before)
        record.attach_text("cluster status after", cluster_text(lab, via))
        record.attach_syslog(window.lines())
    record.diagnosis(f"{vm} left down for {held:.1f} s in maintenance mode, nothing moved; recovered "
                     f"{gap.end - ended:.1f} s after maintenance ended")


def _wait_gone(poller: HostsPoller, since: float, timeout: float) -> float | None:
    """When the hypervisors first saw the VM run nowhere after `since` (None: not within `timeout`)."""
    def first_gone() -> float | None:
        return next((t for t, states in list(poller.samples)
                     if t >= since and not any(s == "running" for s in states.values())), None)

    try:
        return wait_for("the hypervisors to see the VM run nowhere", first_gone, lambda t: t is not None,
                        timeout=timeout, interval=0.05)
    except WaitTimeout:
        return None


ACTING = ("starting", "recovering", "migrating", "stopping")
"""Service states that mean the cluster is doing something to it (a failed or stopped one it only reports)."""


def _acting(inv: Inventory, status: Any, vm: str, host: str) -> bool:
    """The cluster is recovering `vm` (starting, stopping or moving it) or runs it off `host`."""
    svc = find_service(status, vm)
    if svc is None:
        return False
    owner = node_of(inv, svc.owner)
    return svc.state in ACTING or (owner is not None and owner != host)
