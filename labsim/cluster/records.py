"""The simulated cluster's records: each node's runtime state, the resources (services and VMs),
fence and failure records, the codes and names the tools print."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

STATE_CODES = {
    "stopped": 110, "starting": 111, "started": 112, "stopping": 113, "failed": 114,
    "uninitialized": 115, "checking": 116, "error": 117, "recovering": 118,
    "disabled": 119, "migrating": 120,
}
DRBD_MINORS = 3  # r0..r2 as in the tutorial; DRBD resources are not part of the inventory
FENCE_AGENTS = {"ipmi": "fence_ipmilan", "redfish": "fence_redfish", "pdu": "fence_apc_snmp", "scsi": "fence_scsi"}
SCSI_KEY_FILE = "/var/run/cluster/fence_scsi.key"
"""Where fence_scsi (RHEL 6/7) keeps the key it registered for this node."""


def _mono() -> float:
    return time.monotonic()


@dataclass
class NodeRuntime:
    name: str
    member_name: str
    node_id: int
    votes: int
    autostart: bool = True
    cman: bool = False
    rgmanager: bool = False
    member: bool = False
    joinable: bool = False
    joined_at: float | None = None  # wall clock
    incarnation: int = 0
    last_ok: float = 0.0
    start_timer: Any = None
    standby: bool = False
    scsi_registered: bool = False  # its key on the shared disk: registered when cman starts (unfencing), removed by a fence
    drbd: bool = False
    drbd_sync_until: float = 0.0
    drbd_sync_role: str | None = None  # "source" | "target" while resyncing
    drbd_peer_outdated: bool = False
    next_domid: int = 1
    domids: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, "MigrationJob"] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)


@dataclass
class MigrationJob:
    source: str
    target: str
    elapsed_ms: int
    downtime_ms: int
    completed: float


@dataclass
class Resource:
    """An rgmanager resource group (`service:NAME` or `vm:NAME`)."""

    name: str
    kind: str  # "vm" | "service"
    candidates: list[str]
    ordered: bool
    restricted: bool
    nofailback: bool
    home: str | None
    storage: bool = False
    address: str | None = None
    state: str = "stopped"
    owner: str | None = None
    last_owner: str | None = None
    restarts: list[float] = field(default_factory=list)
    restart_total: int = 0
    last_transition: float = field(default_factory=time.time)
    running_on: str | None = None  # where the VM's domain actually runs
    switchover_until: float = 0.0
    busy: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass
class FenceRecord:
    target: str
    by: str
    action: str
    ok: bool
    method: str | None
    completed: float  # wall clock


@dataclass
class FailureRecord:
    """A failed resource action as pacemaker records it (crm_mon's <failures>), per node."""

    resource: str
    node: str
    task: str
    interval_ms: int
    rc: int
    rc_text: str
    call: int
    when: float  # wall clock


@dataclass
class _FenceOp:
    victim: str
    fencer: str
    methods: list[Any]  # hacert.labsim.fencing.SimMethod, the victim's configured methods in order
    index: int = 0


class ClusterError(Exception):
    """A clusvcadm/pcs request the cluster refuses (message as the tool prints it)."""
