"""Standby and drain (Pacemaker CTS's StandbyTest; the rgmanager way: relocate a node's
services off it with clusvcadm), for every node of the inventory:

- the node is drained: `pcs node standby` (pacemaker), or each VM live-migrated with
  `clusvcadm -M` and each other service relocated with `clusvcadm -r` (rgmanager);
- no VM stops: every node's hypervisor is polled through each move, and each VM's address
  is pinged throughout (lost pings and the longest gap within the migration budget);
- the node returns (`pcs node unstandby`) and takes its VMs back, live again (the failback
  its failover domains promise, else a live migration home).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from hacert.drivers.errors import NotApplicable
from hacert.fixtures.guard import LabNotReady
from hacert.fixtures.plan import plan_steps
from hacert.model.inventory import Inventory
from hacert.observe.coverage import Unseen, raise_unseen
from hacert.procedures import standby
from hacert.procedures.vm import SyslogWindow, audit_healthy, cluster_text, label_case

FEATURE = "Standby and maintenance"


@plan_steps(
    "audit the lab healthy; ping every VM every {expect.ping_interval} s from a node of the lab",
    "drain {node}: 'pcs node standby' (pacemaker) / 'clusvcadm -M' each VM, 'clusvcadm -r' each service (rgmanager)",
    "poll 'virsh domstate' of each leaving VM on every node: it never stops",
    "{node} hosts nothing; the cluster reports every VM started elsewhere",
    "'pcs node unstandby' (pacemaker); {node} takes back its VMs live (failback, else a live migration home)",
    "per VM: lost pings <= {expect.migration_max_lost_pings} per migration, longest gap <= {expect.migration_max_gap} s",
    touches=["ssh all", "cluster"],
)
@pytest.mark.destructive
def test_standby_drain(node: Any, lab: Any, guard: Any, record: Any) -> None:
    """Drain a node (standby) with no VM stopped; it takes them back when it returns."""
    inv: Inventory = lab.inventory
    name = node.node
    via = [n.name for n in inv.nodes]
    label_case(record, FEATURE, name, "Standby drain (CTS StandbyTest)",
               f"Drain {name} (standby) and fill it again — no VM stops")

    status = audit_healthy(record, guard)
    before = cluster_text(lab, via)
    window = SyslogWindow(lab)
    pings = standby.Pings.start(lab, [v.name for v in inv.vms])
    began = time.time()
    unseen: list[Unseen] = []
    counts: dict[str, int] = {}
    drained = False
    try:
        with record.step("ping every VM"):
            problem = pings.wait_answering(inv.expectations.vm_restart_timeout)
            if problem:
                raise LabNotReady(problem)
        leaving = standby.running_on(inv, status, name)
        if not leaving:
            raise NotApplicable(f"{name} hosts no VM: there is nothing to drain live off it")
        record.fact(f"VMs on {name}", ", ".join(leaving) or "none")
        with record.step(f"drain {name}"):
            drained = True
            moves = standby.drain(lab, guard, record, name, via)
        with record.step(f"no VM stopped while {name} drained"):
            for move in moves:
                unseen += move.judge(record, f"the drain of {name}")
                counts[move.vm] = counts.get(move.vm, 0) + 1
                record.fact(f"{move.vm} went to", move.target)
        with record.step(f"{name} returns and takes its VMs back"):
            standby.undrain(lab, name, via)
            drained = False
            moves = standby.fill(lab, guard, record, name, leaving, via)
            for move in moves:
                unseen += move.judge(record, f"the return to {name}")
                counts[move.vm] = counts.get(move.vm, 0) + 1
        logs = pings.stop()
        with record.step("judge: per VM, lost pings and the longest gap within the migration budget"):
            standby.judge_pings(record, inv, logs, counts, began)
            unseen += pings.unseen("{vm} went silent while " + name + " drained and returned", began)
        raise_unseen(unseen)
    finally:
        logs = standby.wind_up(lab, record, name if drained else None, via, pings, before, window)
    record.diagnosis(f"{name} drained and filled again with {sum(counts.values())} live migration(s), no VM stopped; "
                     + ", ".join(f"{vm} lost {log.lost} pings" for vm, log in logs.items()))
