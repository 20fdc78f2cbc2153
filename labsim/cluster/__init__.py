"""The simulated cluster: membership, fencing, rgmanager services and VMs, DRBD.

One model (`model.ClusterModel`) serves both flavours (cman + rgmanager, pacemaker): the shell
commands in hacert.labsim.cluster_commands only render it differently. Its jobs, one module each:
`records` (runtime state, resources, fence and failure records), `membership` (cman, heartbeat,
quorum), `fenced` (the fence daemon), `services` (rgmanager/pacemaker: services, VMs, relocation,
migration, admin requests, failure record, standby), `storage` (DRBD, SCSI reservations).
"""

from hacert.labsim.cluster.model import ClusterModel, attach_cluster
from hacert.labsim.cluster.records import (
    DRBD_MINORS, FENCE_AGENTS, SCSI_KEY_FILE, STATE_CODES, ClusterError, FailureRecord, FenceRecord, MigrationJob,
    NodeRuntime, Resource,
)

__all__ = ["ClusterModel", "attach_cluster", "DRBD_MINORS", "FENCE_AGENTS", "SCSI_KEY_FILE", "STATE_CODES",
           "ClusterError", "FailureRecord", "FenceRecord", "MigrationJob", "NodeRuntime", "Resource"]
