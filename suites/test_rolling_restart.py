"""Rolling restart (Pacemaker CTS's RestartOnebyOne, as a rolling upgrade does it), once per
lab: every node in the inventory's order is

- drained (`pcs node standby` / `clusvcadm -M` and `-r`), its VMs live-migrated away,
- its cluster stack stopped and started again; it rejoins, with its storage where it has some,
- filled again (`pcs node unstandby`; failback, else a live migration home);

while every VM's address is pinged from start to end and every move is watched on every
node's hypervisor: no VM is ever stopped, and each VM's lost pings stay within the migration
budget times the moves it made.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from hacert.fixtures.guard import LabNotReady
from hacert.fixtures.plan import plan_steps
from hacert.model.bounds import Bound
from hacert.model.inventory import Inventory
from hacert.observe.coverage import Unseen, raise_unseen
from hacert.procedures import rolling, standby
from hacert.procedures.vm import (
    SyslogWindow,
    audit_healthy,
    cluster_text,
    label_case,
)
from hacert.observe.cluster_view import status_via

FEATURE = "Rolling restart"


@plan_steps(
    "audit the lab healthy; ping every VM every {expect.ping_interval} s from a node of the lab",
    "for each node in turn: drain it (standby / clusvcadm -M), no VM stops",
    "stop and start its cluster stack; it rejoins within {expect.rejoin_timeout} s, its storage back",
    "it takes its VMs back live (unstandby; failback, else a live migration home)",
    "per VM: no stop seen by any hypervisor; lost pings <= {expect.migration_max_lost_pings} per move, "
    "longest gap <= {expect.migration_max_gap} s",
    touches=["ssh all", "cluster"],
)
@pytest.mark.destructive
def test_rolling_restart(lab: Any, guard: Any, record: Any) -> None:
    """Restart every node's cluster stack in turn, its VMs moved away live; no VM ever stops."""
    inv: Inventory = lab.inventory
    via = [n.name for n in inv.nodes]
    label_case(record, FEATURE, inv.lab, "Rolling restart (CTS RestartOnebyOne)",
               f"Restart {', '.join(via)} one by one — no VM stops")

    audit_healthy(record, guard)
    before = cluster_text(lab, via)
    window = SyslogWindow(lab)
    pings = standby.Pings.start(lab, [v.name for v in inv.vms])
    began = time.time()
    unseen: list[Unseen] = []
    counts: dict[str, int] = {}
    drained: str | None = None
    try:
        with record.step("ping every VM"):
            problem = pings.wait_answering(inv.expectations.vm_restart_timeout)
            if problem:
                raise LabNotReady(problem)
        for name in via:
            leaving = standby.running_on(inv, status_via(lab, via), name)
            with record.step(f"drain {name} ({', '.join(leaving) or 'no VM'})"):
                drained = name
                for move in standby.drain(lab, guard, record, name, via):
                    unseen += move.judge(record, f"the drain of {name}")
                    counts[move.vm] = counts.get(move.vm, 0) + 1
            with record.step(f"restart {name}'s cluster stack"):
                figures = rolling.restart_stack(lab, guard, record, name, via)
                record.number(f"{name}: stack stop seen", figures["left"], "s")
                record.number(f"{name}: start to rejoin", figures["rejoined"], "s",
                              expected=Bound.below(inv.expectations.rejoin_timeout))
                if "storage" in figures:
                    record.number(f"{name}: start to storage ready", figures["storage"], "s")
            with record.step(f"{name} takes its VMs back"):
                standby.undrain(lab, name, via)
                drained = None
                for move in standby.fill(lab, guard, record, name, leaving, via):
                    unseen += move.judge(record, f"the return to {name}")
                    counts[move.vm] = counts.get(move.vm, 0) + 1
        logs = pings.stop()
        with record.step("judge: per VM, lost pings and the longest gap within the migration budget"):
            record.number("rolling restart", time.time() - began, "s")
            standby.judge_pings(record, inv, logs, counts, began)
            unseen += pings.unseen("{vm} went silent during the rolling restart", began)
        raise_unseen(unseen)
    finally:
        logs = standby.wind_up(lab, record, drained, via, pings, before, window)
    record.diagnosis(f"{len(via)} node(s) restarted in turn with {sum(counts.values())} live migration(s), no VM stopped; "
                     + ", ".join(f"{vm} lost {log.lost} pings" for vm, log in logs.items()))
