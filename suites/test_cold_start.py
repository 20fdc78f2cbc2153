"""Complete Cold Shut Down And Cold Starting The Cluster (seed 002).

Disable every VM, stop the resource manager and the cluster stack on every
node, power every node off and confirm it through its BMC; then power them all
on through IPMI inside post_join_delay, wait for a quorate cluster with every
member and the storage services started, enable every VM on its home node, and
check every VM runs where it belongs and that nothing was fenced on the way.

"Nothing was fenced" is read from every node's syslog: a node whose syslog
cannot be read at the end leaves it unseen (inconclusive, or a lab error), and
a cluster no node ever gave a status of is not a cluster that failed to start.
Deadlines are judged on when the awaited state was measured.
"""

from __future__ import annotations

import time

import pytest

from hacert.drivers.errors import HacertError, LabError
from hacert.fixtures.guard import Guard
from hacert.fixtures.plan import plan_steps
from hacert.fixtures.report import Record
from hacert.lab.build import Lab
from hacert.model.bounds import Bound
from hacert.model.inventory import Inventory
from hacert.observe.cluster_state import describe_status, where_running
from hacert.observe.coverage import Unseen, raise_unseen
from hacert.observe.lines import SkippedLines
from hacert.observe.moments import Moment
from hacert.procedures.cold_start import (
    fail,
    fences_logged,
    service_state,
    wait_bmc,
    wait_cluster,
    wait_cold_start,
    where_words,
)
from hacert.procedures.vm import migrate_home

FEATURE = "Cold stop and cold start"
pytestmark = [pytest.mark.destructive, pytest.mark.slow]


@plan_steps(
    "audit the lab healthy",
    "disable every VM (clusvcadm -d / pcs resource disable)",
    "stop the resource manager, then the cluster stack, on every node",
    "power every node off through its BMC; confirm off through every BMC",
    "power every node on through IPMI within post_join_delay ({cluster.post_join_delay} s)",
    "wait up to {expect.cold_start_timeout} s for quorum, every member and the storage services",
    "enable every VM on its home node; check placement; every service on its home node; check nothing was fenced",
    touches=["ssh all", "bmc all", "cluster"],
)
def test_cold_stop_start(lab: Lab, guard: Guard, record: Record) -> None:
    """Cold-stop the whole cluster, cold-start it, bring every VM up on its home node."""
    inv: Inventory = lab.inventory
    expect = inv.expectations
    nodes = [n.name for n in inv.nodes]
    record.subject(inv.cluster.name)
    record.title(f"Cold stop and cold start of {inv.cluster.name} ({len(nodes)} nodes, {len(inv.vms)} VMs)")
    record.story("Complete Cold Shut Down And Cold Starting The Cluster")

    with record.step("audit the lab healthy"):
        guard.audit()
    with record.step("disable every VM"):
        for vm in inv.vms:
            guard.changed("service", vm.name)
            lab.cluster.disable(vm.name)
        wait_cluster(lab, nodes, "every VM disabled", expect.services_back_timeout,
                      lambda s: all(service_state(s, vm.name) in ("disabled", "stopped") for vm in inv.vms))
    with record.step("stop the resource manager and the cluster stack on every node"):
        for node in nodes:
            guard.changed("stack", node)
            lab.cluster.stop_stack(node, whole_cluster=True)
    # every node's syslog from here on (it survives the power cycle): nothing in it may be a fence
    marks = {node: lab.node(node).syslog_mark() for node in nodes}
    with record.step("power every node off through its BMC and confirm it is off"):
        for node in nodes:
            guard.changed("power", node)
            lab.bmc(node).power_off()
        for node in nodes:
            wait_bmc(lab, node, "off", 30.0)
    with record.step(f"power every node on through IPMI within post_join_delay ({inv.cluster.post_join_delay:g} s)"):
        powered: dict[str, float] = {}
        for node in nodes:
            asked = time.time()
            lab.bmc(node).power_on()
            powered[node] = Moment(asked, time.time()).t  # the chassis came on within the call
        t0 = min(powered.values())
        spread = max(powered.values()) - t0
        record.number("power-on spread", spread, "s", expected=Bound.below(inv.cluster.post_join_delay))
        if spread >= inv.cluster.post_join_delay:
            raise LabError("BMCs", "-", "power every node on within post_join_delay",
                           f"the last node was powered on {spread:.1f} s after the first")
    with record.step(f"wait up to {expect.cold_start_timeout:g} s for quorum, every member and the storage services"):
        quorate_at, members_at, storage_at = wait_cold_start(lab, nodes, marks, t0)
        if storage_at - t0 > expect.cold_start_timeout:  # seen by a look that began in time, measured after
            fail(f"the cluster did not come back within {expect.cold_start_timeout:g} s of power-on: quorum, every "
                 f"member and the storage services only {storage_at - t0:.1f} s after")
        record.number("power-on to quorum", quorate_at - t0, "s")
        record.number("power-on to all members", members_at - t0, "s")
        record.number("power-on to storage started", storage_at - t0, "s")
    with record.step("enable every VM on its home node"):
        for vm in inv.vms:
            lab.cluster.enable(vm.name, node=vm.home)
        status, vms_at = wait_cluster(lab, nodes, "every VM started on its home node", expect.services_back_timeout,
                                       lambda s: all(where_running(inv, s, vm.name) == vm.home for vm in inv.vms))
        misplaced = [f"{vm.name} {where_words(inv, status, vm.name)} (home {vm.home})"
                     for vm in inv.vms if where_running(inv, status, vm.name) != vm.home]
        if misplaced:
            fail(f"after the cold start not every VM runs where it belongs: {', '.join(misplaced)}; "
                 f"last cluster state: {describe_status(inv, status)}")
        record.number("power-on to VMs started", vms_at - t0, "s")
    services = [svc.name for svc in inv.services if not svc.storage]
    if services:
        with record.step("every service on its home node (relocated there where the cluster started it elsewhere)"):
            problems = migrate_home(lab, guard, services, nodes, expect.services_back_timeout)
            if problems:
                fail(f"after the cold start: {'; '.join(problems)}")
    with record.step("check nothing was fenced during the cold start"):
        unread: dict[str, HacertError] = {}
        skipped = SkippedLines("syslog")
        fences = fences_logged(lab, marks, unread, skipped)
        skipped.report(record)
        if fences:
            fail(f"{'; '.join(fences)} during the cold start")
        # "nothing was fenced" rests on every node's syslog: one that cannot be read leaves it unseen
        raise_unseen(Unseen(f"{node}'s syslog", t0, time.time(), 1, f"{node} logged a fence during the cold start",
                            error, t0) for node, error in unread.items())
    record.diagnosis(f"cold start: quorate {quorate_at - t0:.1f} s, all members {members_at - t0:.1f} s, "
                     f"VMs home {vms_at - t0:.1f} s after power-on; nothing fenced")
