"""The cluster's state as a person reads it: where each service runs, who is an online member,
in the inventory's names (a ClusterStatus from hacert.drivers.cluster speaks the cluster's member names)."""

from __future__ import annotations

from typing import Any, Iterable

from hacert.model.inventory import Inventory



def short_name(service: str) -> str:
    """'vm:NAME' -> 'NAME'; names without a prefix are returned as is."""
    return service.split(":", 1)[1] if ":" in service else service


def find_service(status: Any, name: str) -> Any | None:
    """The ServiceState of `name` (with or without its 'vm:'/'service:' prefix) in a ClusterStatus."""
    services = getattr(status, "services", {}) or {}
    if name in services:
        return services[name]
    for key, value in services.items():
        if short_name(key) == name:
            return value
    return None


def node_of(inv: Inventory, member: str | None) -> str | None:
    """The inventory node name of a cluster member name (None stays None; unknown names stay as given)."""
    if not member:
        return None
    try:
        return inv.node_by_member(member).name
    except KeyError:
        return member


def member_state(inv: Inventory, status: Any, node: str) -> Any | None:
    """The Member entry of inventory node `node` in a ClusterStatus."""
    for key, member in (getattr(status, "members", {}) or {}).items():
        if node_of(inv, getattr(member, "name", key)) == node:
            return member
    return None


def is_online(inv: Inventory, status: Any, node: str) -> bool:
    member = member_state(inv, status, node)
    return bool(member is not None and member.online)


def where_running(inv: Inventory, status: Any, service: str) -> str | None:
    """The node a service or VM runs on (None: not started)."""
    svc = find_service(status, service)
    if svc is None or svc.state != "started":
        return None
    return node_of(inv, svc.owner)


def expected_homes(inv: Inventory) -> dict[str, str | None]:
    """Every service and VM → the node it must run on (None: anywhere, as long as it runs)."""
    homes: dict[str, str | None] = {svc.name: svc.home for svc in inv.services}
    homes.update({vm.name: vm.home for vm in inv.vms})
    return homes


def describe_status(inv: Inventory, status: Any) -> str:
    """One line a person reads: quorum, members, where each service runs."""
    if status is None:
        return "(no cluster status)"
    members = []
    for key, member in (getattr(status, "members", {}) or {}).items():
        name = node_of(inv, getattr(member, "name", key)) or key
        members.append(f"{name} {'online' if member.online else 'offline'}")
    services = []
    for name in expected_homes(inv):
        svc = find_service(status, name)
        if svc is None:
            services.append(f"{name} missing")
        else:
            owner = node_of(inv, svc.owner)
            services.append(f"{name} {svc.state}{' on ' + owner if owner else ''}")
    quorum = "quorate" if getattr(status, "quorate", False) else "NOT quorate"
    return f"{quorum}; members: {', '.join(members) or 'none'}; services: {', '.join(services) or 'none'}"


__all__ = [
    "describe_status", "expected_homes", "find_service", "is_online", "member_state", "node_of", "short_name", "where_running",
]


def owner_of(inv: Inventory, status: Any, name: str) -> str | None:
    """The node `name` runs on (None: not started)."""
    return where_running(inv, status, name)


def state_words(inv: Inventory, status: Any, name: str) -> str:
    """'started on an-node02', 'failed (last on an-node01)', 'missing'."""
    if status is None:
        return "unknown (no cluster status)"
    svc = find_service(status, name)
    if svc is None:
        return "missing from the cluster status"
    owner = node_of(inv, svc.owner)
    last = node_of(inv, getattr(svc, "last_owner", None))
    if owner:
        return f"{svc.state} on {owner}"
    return f"{svc.state}" + (f" (last on {last})" if last else "")


def online(inv: Inventory, status: Any, node: str) -> bool:
    return is_online(inv, status, node)


def up_nodes(lab: Any, exclude: Iterable[str] = ()) -> list[str]:
    skip = set(exclude)
    return [n.name for n in lab.inventory.nodes if n.name not in skip]
