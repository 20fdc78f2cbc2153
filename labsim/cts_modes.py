"""What the CTS-style case families need of the simulated cluster: maintenance mode, frozen
services, and the seeded faults of standby, maintenance and rolling restarts.

- pacemaker: `pcs property set maintenance-mode=true|false`. While it is on the cluster
  manages nothing: no monitor runs (a VM whose domain died is not noticed, so not recovered),
  nothing is moved; crm_mon reports `maintenance-mode="true"` and every resource
  `managed="false"`, pcs status its "Resource management is DISABLED" banner and "(unmanaged)".
- rgmanager: `clusvcadm -Z SERVICE` freezes a service (no status checks, no recovery),
  `clusvcadm -U` unfreezes it; clustat shows the flag (`flags="1" flags_str="frozen"`).
- When management resumes, the next status check finds a dead domain and recovers it.

Seeded faults (`simulation.faults`, target a VM or none):

- `standby_stops_vm`: a VM drained off a node (pacemaker: a node in standby; rgmanager: the
  `clusvcadm -M` that drains it) is stopped and started on the target instead of live-migrated;
- `maintenance_recovers`: the status checks ignore maintenance mode and frozen flags, so a
  failed resource is recovered while the cluster was told to leave it alone;
- `rolling_restart_restarts_vm`: a live migration to or from a node whose cluster stack was
  restarted since the lab started falls back to stop and start (as between an upgraded and an
  old node whose versions do not migrate).

The model holds one `CtsState` (`state(model)`); the cluster model asks it at a few hooks.
"""

from __future__ import annotations

from typing import Any

FIRST_INCARNATION = 4
"""The incarnation ClusterModel.start gives a node that was up when the lab started."""


class CtsState:
    """Maintenance mode and frozen services of one simulated cluster."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.maintenance = False
        self.frozen: set[str] = set()  # full names ('vm:web01')

    def unmanaged(self, res: Any) -> bool:
        """The cluster was told to leave `res` alone (maintenance mode, or the service is frozen)."""
        return self.maintenance or res.full_name in self.frozen

    def watched(self, res: Any) -> bool:
        """Does the periodic status check look at `res` (and recover it)?"""
        return not self.unmanaged(res) or self.model.inv.fault("maintenance_recovers", res.name)

    def restart_instead(self, res: Any, target: str) -> bool:
        """A live migration of `res` to `target` that a seeded fault turns into stop and start."""
        model, source = self.model, res.owner
        if source is None:
            return False
        if model.inv.fault("standby_stops_vm", res.name):
            if model.manager != "pacemaker" or model.nodes[source].standby:
                return True
        if model.inv.fault("rolling_restart_restarts_vm", res.name):
            restarted = [n for n in (source, target) if model.nodes[n].incarnation > FIRST_INCARNATION]
            if restarted:
                return True
        return False


def state(model: Any) -> CtsState:
    """The model's CtsState (made on first use)."""
    found = model.__dict__.get("_cts")
    if found is None:
        found = model.__dict__["_cts"] = CtsState(model)
    return found


def restart_for_migration(model: Any, res: Any, target: str) -> None:
    """What the faults do instead of a live migration: stop the domain, start it on `target`."""
    model._rgm(res.owner, f"Migration of {res.full_name} to {model.nodes[target].member_name} failed; return code 1")
    model.relocate(res, target)


# ------------------------------------------------------------ shell commands


def pcs_property(ctx: Any, model: Any, args: list[str]) -> int:
    """`pcs property set maintenance-mode=true|false` (pcs prints nothing on success)."""
    if len(args) >= 2 and args[0] == "set":
        name, _, value = args[1].partition("=")
        if name == "maintenance-mode" and value.lower() in ("true", "false"):
            with ctx.world.lock:
                set_maintenance(model, value.lower() == "true")
            return 0
        if name == "maintenance-mode":
            ctx.io.write_err(f"Error: '{value}' is not a valid maintenance-mode value, use 'false', 'true'\n")
            return 1
    ctx.io.write_err(f"Error: pcs property {' '.join(args)} is not simulated\n")
    return 1


def set_maintenance(model: Any, on: bool) -> None:
    cts = state(model)
    if cts.maintenance == on:
        return
    cts.maintenance = on
    model._notify()


def clusvcadm_freeze(ctx: Any, model: Any, res: Any, op: str) -> int:
    """`clusvcadm -Z` / `-U`: rgmanager's freeze and unfreeze of one service."""
    word = "freezing" if op == "-Z" else "unfreezing"
    ctx.io.write(f"Local machine {word} {res.full_name}...")
    with ctx.world.lock:
        cts = state(model)
        if op == "-Z":
            cts.frozen.add(res.full_name)
        else:
            cts.frozen.discard(res.full_name)
        model._notify()
    ctx.io.write("Success\n")
    return 0


# ------------------------------------------------------------ what the status outputs show


def maintenance_mode(model: Any) -> bool:
    return state(model).maintenance


def managed(model: Any, res: Any) -> bool:
    return not state(model).unmanaged(res)


def frozen(model: Any, res: Any) -> bool:
    return res.full_name in state(model).frozen
