"""Cluster managers: one interface (`ClusterManager`), one typed status, two flavours."""

from __future__ import annotations

from typing import Any, Mapping

from .base import (
    DISABLED,
    FAILED,
    MIGRATING,
    RECOVERING,
    STARTED,
    STARTING,
    STOPPED,
    STOPPING,
    ClusterManager,
    ClusterStatus,
    Member,
    NoNodeAnswers,
    ServiceState,
    Shell,
)
from .pacemaker import PacemakerCluster
from .rgmanager import RgmanagerCluster

from ..registry import CLUSTER_MANAGERS

MANAGERS: dict[str, type[ClusterManager]] = {"rgmanager": RgmanagerCluster, "pacemaker": PacemakerCluster}
"""The managers this package ships; `CLUSTER_MANAGERS` (hacert.drivers.registry) holds every one registered."""


def make_cluster_manager(manager: str, shells: Mapping[str, Shell], inventory: Any = None, timeout: float = 60.0) -> ClusterManager:
    """The inventory's cluster.manager ('rgmanager', 'pacemaker', or any a module registers in
    `CLUSTER_MANAGERS`) -> its ClusterManager."""
    if manager not in CLUSTER_MANAGERS:
        raise ValueError(f"unknown cluster manager {manager!r} (known: {', '.join(CLUSTER_MANAGERS.kinds())})")
    cls = CLUSTER_MANAGERS.get(manager)
    return cls(shells, inventory, timeout)


__all__ = [
    "ClusterManager",
    "ClusterStatus",
    "Member",
    "ServiceState",
    "Shell",
    "NoNodeAnswers",
    "RgmanagerCluster",
    "PacemakerCluster",
    "make_cluster_manager",
    "MANAGERS",
    "STARTED",
    "STOPPED",
    "DISABLED",
    "FAILED",
    "RECOVERING",
    "STARTING",
    "STOPPING",
    "MIGRATING",
]
