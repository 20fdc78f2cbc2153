"""Maintenance mode: the cluster told to leave its resources alone must leave them alone.

- pacemaker: `pcs property set maintenance-mode=true` (crm_mon then reports
  `maintenance-mode="true"` and every resource `managed="false"`);
- rgmanager has no cluster-wide switch: every resource group is frozen (`clusvcadm -Z`,
  clustat's flag `frozen`), which stops its status checks and so its recovery.

Whether maintenance took is read back from the cluster's own status before anything is failed
(a switch the cluster did not take makes the case inconclusive, never a pass). While it holds,
a VM destroyed on its host must stay down (no node's hypervisor runs it, its address stays
silent) and nothing may move, for as long as the cluster is otherwise given to restart a VM
(`expectations.vm_restart_timeout`); once maintenance ends the cluster must recover it within
that time.
"""

from __future__ import annotations

from typing import Any, Sequence

from hacert.drivers.errors import Inconclusive
from hacert.model.inventory import Inventory
from hacert.observe.cluster_state import find_service
from hacert.procedures.standby import is_pacemaker
from hacert.procedures.vm import owner_of


def groups(inv: Inventory, status: Any) -> list[str]:
    """Every resource group the inventory names that the cluster reports (VMs and services)."""
    names = [v.name for v in inv.vms] + [s.name for s in inv.services]
    return [n for n in names if find_service(status, n) is not None]


def enter(lab: Any, status: Any, via: str) -> list[str]:
    """Switch maintenance on; the groups it was switched on for (rgmanager freezes each)."""
    inv: Inventory = lab.inventory
    if is_pacemaker(inv):
        lab.cluster.set_maintenance(True, via=via)
        return groups(inv, status)
    frozen = []
    for name in groups(inv, status):
        lab.cluster.freeze(name, via=via)
        frozen.append(name)
    return frozen


def leave(lab: Any, names: Sequence[str], via: str) -> None:
    if is_pacemaker(lab.inventory):
        lab.cluster.set_maintenance(False, via=via)
        return
    for name in names:
        lab.cluster.unfreeze(name, via=via)


def unmanaged(lab: Any, status: Any, names: Sequence[str]) -> list[str]:
    """The groups of `names` the cluster's status reports as left alone (pacemaker: maintenance-mode
    on and the resource unmanaged; rgmanager: the group frozen)."""
    raw = getattr(status, "raw", None)
    if raw is None:
        return []
    if is_pacemaker(lab.inventory):
        if str(getattr(raw, "cluster_options", {}).get("maintenance-mode", "false")).lower() != "true":
            return []
        return [n for n in names if raw.resource(n) and not any(r.managed for r in raw.resource(n))]
    out = []
    for svc in getattr(raw, "services", []):
        short = svc.name.partition(":")[2] or svc.name
        if short in names and any(f.lower() in ("frozen", "z") for f in svc.flags):
            out.append(short)
    return out


def require_taken(lab: Any, status: Any, names: Sequence[str]) -> None:
    """Inconclusive when the cluster does not report every one of `names` left alone."""
    left = unmanaged(lab, status, names)
    missing = [n for n in names if n not in left]
    if missing:
        what = "maintenance-mode=true and managed=\"false\"" if is_pacemaker(lab.inventory) else "the flag 'frozen'"
        raise Inconclusive(f"the cluster took the maintenance switch but its status ({status.source} via {status.via}) "
                           f"does not show {what} for {', '.join(missing)}: whether it leaves them alone cannot be judged")


def owners(inv: Inventory, status: Any, names: Sequence[str]) -> dict[str, str | None]:
    return {n: owner_of(inv, status, n) for n in names}
