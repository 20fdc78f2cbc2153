"""Pure parsers: real command output (str) -> typed, frozen dataclass records.

No I/O and no pytest here. Every parser raises ParseError (a ValueError)
quoting the offending line for input it cannot read, including empty input;
none returns a silently empty record.

    parse_bonding(text)          /proc/net/bonding/bondN        -> BondStatus
    parse_clustat(text)          clustat / clustat -x           -> ClusterStatus
    parse_cman_status(text)      cman_tool status               -> CmanStatus
    parse_cman_nodes(text)       cman_tool nodes                -> list[CmanNode]
    parse_crm_mon(text)          crm_mon XML (1.1 and 2.x)      -> CrmStatus
    parse_stonith_history(text)  stonith_admin --history '*'    -> list[FenceEvent]
    parse_cluster_conf(text)     /etc/cluster/cluster.conf      -> FenceSetup
    parse_cib_fencing(text)      cibadmin --query               -> FenceSetup
    parse_ping(text)             a ping run                     -> PingResult
    parse_ping_line(line)        one streamed ping line         -> PingLine | None
    parse_virsh_list(text)       virsh list --all               -> VirshList
    parse_virsh_dominfo(text)    virsh dominfo                  -> DomInfo
    parse_virsh_domstate(text)   virsh domstate [--reason]      -> DomState
    parse_domjobinfo(text)       virsh domjobinfo [--completed] -> DomJobInfo
    parse_drbd(text)             /proc/drbd, drbd init status   -> DrbdStatus
    parse_sg_persist(text)       sg_persist -i -k / -i -r       -> SgPersist
    parse_ip_link(text)          ip -o link                     -> list[IpLink]
    parse_syslog_line(line, year=None)     one syslog line      -> SyslogLine
    parse_syslog_events(lines, year=None)  a syslog window      -> list[SyslogEvent subclasses]
"""

from types import ModuleType as _ModuleType

from ._common import ParseError
from .bonding import BondSlave, BondStatus, parse_bonding
from .clustat import ClusterMember, ClusterService, ClusterStatus, parse_clustat
from .cman import CmanNode, CmanStatus, parse_cman_nodes, parse_cman_status
from .crm_mon import CrmFailCount, CrmFailure, CrmMonRefused, CrmNode, CrmResource, CrmStatus, crm_time, parse_crm_mon
from .drbd import DrbdMinor, DrbdStatus, parse_drbd
from .fence_config import FenceDeviceConf, FenceMethodConf, FenceSetup, FenceUse, parse_cib_fencing, parse_cluster_conf
from .fencing import FenceEvent, parse_stonith_history
from .ip_link import IpLink, parse_ip_link
from .ping import (
    PingError, PingFlood, PingHeader, PingLine, PingLocalError, PingNoAnswer, PingPipe, PingReply,
    PingResult, PingRtt, PingStats, PingStatsHeader, parse_ping, parse_ping_line,
)
from .sg_persist import Reservation, SgPersist, parse_sg_persist
from .syslog import (
    EVENT_TYPES, BondActiveChanged, BondLinkDown, BondLinkDownAgain, BondLinkDownPending, BondLinkUp,
    BondLinkUpAgain, BondLinkUpPending, BondNoActiveInterface, CorosyncMembers, CorosyncMembershipFormed,
    CorosyncProcessorFailed, DlmConnectionClosed, DrbdFencePeerResult, FenceAgentFailed, FenceDeviceResult,
    FenceFailed, FenceOperationResult, FenceRequested, FenceScheduled, FenceStarted, FenceSucceeded,
    NicLinkDown, NicLinkUp, NodeStateChanged, PeerFenced, QuorumChanged, ResourceOperationResult,
    ServiceMarkedStopped, ServiceRecovering, ServiceRecoveryStarted, ServiceRelocated,
    ServiceRestartThresholdExceeded, ServiceStarted, ServiceStarting, ServiceStatusFailed, ServiceStopping,
    ServiceFailed, ServiceStartFailed, ServiceTakeover, SyslogEvent, SyslogLine, parse_syslog_events, parse_syslog_line,
)
from .virsh import (
    DomInfo, DomJobInfo, DomState, VirshList, parse_domjobinfo, parse_virsh_dominfo, parse_virsh_domstate,
    parse_virsh_list,
)

__all__ = [name for name, value in dict(globals()).items()
           if not name.startswith("_") and not isinstance(value, _ModuleType)]
