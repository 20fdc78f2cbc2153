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

MANAGERS: dict[str, type[ClusterManager]] = {"rgmanager": RgmanagerCluster, "pacemaker": PacemakerCluster}


def make_cluster_manager(manager: str, shells: Mapping[str, Shell], inventory: Any = None, timeout: float = 60.0) -> ClusterManager:
    """'rgmanager' or 'pacemaker' (the inventory's cluster.manager) -> its ClusterManager."""
    try:
        cls = MANAGERS[manager]
    except KeyError:
        raise ValueError(f"unknown cluster manager {manager!r} (known: {', '.join(MANAGERS)})") from None
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
