"""What a certification requires of a lab of a given shape.

`PROCEDURES` lists the documents' procedures as suites run them, each with the
matrix argument that multiplies it over the inventory; `required_cases` turns
them into the case ids a full certification must have run (a case that does
not apply to the lab's shape still runs, and reports itself not applicable).

`capability_findings` reads the inventory for what the documents require of
every lab and this one lacks: a finding fails the certification (it is never
"not applicable"). The suites raise the same finding from the case that needs
the capability (`require_independent_fence`, `require_relocation`), so it is
reported where a person looks for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from hacert.model import matrix
from hacert.model.inventory import Inventory, Node

from hacert.drivers.errors import CapabilityMissing

POWER_DEPENDENT_METHODS = ("ipmi", "redfish")
"""Fence methods that act through the node's own BMC: they die with its power."""
INDEPENDENT_METHODS = ("pdu", "scsi")
"""Fence methods that work whatever happened to the node's power."""


@dataclass(frozen=True)
class Procedure:
    module: str
    test: str
    args: tuple[str, ...]
    words: str


PROCEDURES: tuple[Procedure, ...] = (
    Procedure("test_fencing.py", "test_hang_and_fence", ("victim",), "hang every node: a survivor fences it by its first method"),
    Procedure("test_fencing.py", "test_pdu_power_cut", ("victim",), "cut every node's power: the second method fences it"),
    Procedure("test_fencing.py", "test_scsi_fencing", ("victim",), "SCSI-3 fencing removes the hung node's key"),
    Procedure("test_network.py", "test_bond_cable_pull", ("bond_case",), "pull each bond's cables"),
    Procedure("test_network.py", "test_switch_power_cycle", ("switch",), "power-cycle each switch, soak"),
    Procedure("test_vm_recovery.py", "test_vm_destroy_relocates", ("vm",), "destroy each VM three times: it relocates"),
    Procedure("test_vm_recovery.py", "test_node_withdraw_rejoin", ("node",), "withdraw each node and rejoin it"),
    Procedure("test_vm_recovery.py", "test_node_crash_recovers_vms", ("node",), "crash each node: its VMs restart elsewhere"),
    Procedure("test_migration.py", "test_live_migration", ("migration",), "live-migrate each VM to each node it may run on"),
    Procedure("test_migration.py", "test_service_relocate", ("service_move",), "relocate each service"),
    Procedure("test_cold_start.py", "test_cold_stop_start", (), "cold stop and cold start the whole cluster"),
    Procedure("test_daemon_kill.py", "test_daemon_kill", ("daemon_kill",),
              "SIGKILL each cluster daemon on each node: fenced or restarted, as the inventory says"),
    Procedure("test_split_brain.py", "test_split_brain", ("split",),
              "cut every heartbeat path of each node: one fence only, the favoured (fence delay) or majority side wins"),
    Procedure("test_quorum_loss.py", "test_quorum_loss", ("quorum",),
              "stop members to the quorum point: services stop with quorum and return with it (3+ nodes)"),
    Procedure("test_standby_drain.py", "test_standby_drain", ("node",), "drain each node (standby) with no VM stopped; it takes them back"),
    Procedure("test_maintenance_mode.py", "test_maintenance_mode", (), "in maintenance mode a failed VM is left alone, recovered after"),
    Procedure("test_rolling_restart.py", "test_rolling_restart", (), "restart every node's cluster stack in turn, no VM stopped"),
)


def case_key(nodeid: str) -> str:
    """'suites/test_fencing.py::test_hang_and_fence[an-node01]' -> 'test_fencing.py::test_hang_and_fence[an-node01]'
    (the folder a run was started from does not change which case it is)."""
    path, sep, rest = nodeid.partition("::")
    return path.rsplit("/", 1)[-1] + sep + rest


def required_cases(inv: Inventory, prefix_lab: bool = False) -> list[str]:
    """The case keys (see `case_key`) of a full certification of `inv`."""
    out: list[str] = []
    for proc in PROCEDURES:
        if not proc.args:
            out.append(f"{proc.module}::{proc.test}" + (f"[{inv.lab}]" if prefix_lab else ""))
            continue
        cases = matrix.cases(proc.args, [inv], prefix_lab)
        if not cases:
            out.append(f"{proc.module}::{proc.test}[none]")
        out += [f"{proc.module}::{proc.test}[{case.case_id}]" for case in cases]
    return out


# ---------------------------------------------------------------- capabilities


@dataclass(frozen=True)
class Finding:
    capability: str
    subject: str
    diagnosis: str


def independent_fence_finding(inv: Inventory, node: Node) -> Finding | None:
    """A node that only methods sharing its power can fence: its power cut is a single point of failure."""
    if not inv.peers(node.name):
        return None
    if any(m in INDEPENDENT_METHODS for m in node.fence):
        return None
    methods = ", ".join(node.fence) or "none"
    return Finding(
        "independent fence method", node.name,
        f"{node.name} has no second fence method independent of its power (fence methods: {methods}): "
        f"its BMC loses power with it, so after a power cut no survivor can fence {node.name} and the cluster "
        "blocks; the documents require a second method that works without the victim's power "
        "(the PDU, seed 002; SCSI-3 reservations, seed 001)",
    )


def vm_hosts(inv: Inventory, vm: str) -> list[str]:
    """Nodes the cluster may run `vm` on: a restricted failover domain's members, else every node."""
    spec = inv.vm(vm)
    if spec.domain and inv.domain(spec.domain).restricted:
        return list(inv.domain(spec.domain).nodes)
    return [n.name for n in inv.nodes]


def relocation_finding(inv: Inventory, vm: str) -> Finding | None:
    """A VM that may run on one node only cannot survive that node."""
    if len(inv.nodes) < 2:
        return None
    hosts = vm_hosts(inv, vm)
    if len(set(hosts)) >= 2:
        return None
    spec = inv.vm(vm)
    where = f"restricted failover domain {spec.domain}: {', '.join(hosts)}"
    return Finding(
        "VM relocation policy", vm,
        f"{vm} may run on one node only ({where}): when that node fails the VM stays down; the documents "
        "require every VM to restart on, or relocate to, another node (an ordered failover domain of two or more nodes)",
    )


def capability_findings(inv: Inventory) -> list[Finding]:
    """Everything the documents require of the lab that the inventory says it lacks."""
    found = [independent_fence_finding(inv, node) for node in inv.nodes]
    found += [relocation_finding(inv, vm.name) for vm in inv.vms]
    return [f for f in found if f is not None]


def _raise(finding: Finding | None) -> None:
    if finding is not None:
        raise CapabilityMissing(finding.capability, finding.diagnosis)


def require_independent_fence(inv: Inventory, node: Node) -> None:
    """Raise CapabilityMissing when `node` has no fence method that works without its power."""
    _raise(independent_fence_finding(inv, node))


def require_relocation(inv: Inventory, vm: str) -> None:
    """Raise CapabilityMissing when `vm` may run on one node only."""
    _raise(relocation_finding(inv, vm))


__all__ = [
    "Finding", "INDEPENDENT_METHODS", "POWER_DEPENDENT_METHODS", "PROCEDURES", "Procedure", "capability_findings",
    "case_key", "independent_fence_finding", "relocation_finding", "require_independent_fence",
    "require_relocation", "required_cases", "vm_hosts",
]
