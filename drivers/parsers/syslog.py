"""Syslog lines -> SyslogLine, and syslog windows -> the typed events the suites wait for.

Timestamps: classic 'Dec 13 12:42:39' (no year: pass ``year``, default the
current year; a window that crosses New Year moves on to the next year) and
RFC 3339 ('2022-04-21T13:21:51.257803+02:00', rsyslog high precision).

The event wording is taken from real logs: cman/fenced, corosync 1.x
(RHEL 6) and 2.x/3.x, rgmanager, the bonding driver (2.6.32 wording
'bonding: bond0: ... for interface eth0' and the newer
'bond0: (slave eth0): ...'), e1000e-style NIC link lines, DRBD's fence-peer
helper, and pacemaker 1.1/2.x fencing and resource results.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from ._common import ParseError

__all__ = [
    "SyslogLine", "parse_syslog_line", "parse_syslog_events", "SyslogEvent", "EVENT_TYPES",
    "FenceStarted", "FenceAgentFailed", "FenceSucceeded", "FenceFailed",
    "FenceRequested", "FenceScheduled", "FenceOperationResult", "FenceDeviceResult", "PeerFenced",
    "CorosyncProcessorFailed", "CorosyncMembershipFormed", "CorosyncMembers", "QuorumChanged",
    "DlmConnectionClosed", "NodeStateChanged",
    "ServiceStatusFailed", "ServiceStopping", "ServiceRecovering", "ServiceRecoveryStarted",
    "ServiceRestartThresholdExceeded", "ServiceStarting", "ServiceStarted", "ServiceRelocated",
    "ServiceTakeover", "ServiceMarkedStopped", "ServiceStartFailed", "ServiceFailed", "ResourceOperationResult",
    "BondLinkDown", "BondLinkDownPending", "BondLinkDownAgain", "BondLinkUpPending",
    "BondLinkUpAgain", "BondLinkUp", "BondActiveChanged", "BondNoActiveInterface",
    "NicLinkDown", "NicLinkUp", "DrbdFencePeerResult",
]

_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_CLASSIC = re.compile(
    r"^(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d) (?P<host>\S+) (?P<rest>.*)$")
_ISO = re.compile(
    r"^(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) (?P<host>\S+) (?P<rest>.*)$")
_TAG = re.compile(r"^(?P<prog>[^\s\[\]:]+)(?:\[(?P<pid>\d+)\])?:(?:\s+(?P<msg>.*))?$")


@dataclass(frozen=True)
class SyslogLine:
    """One syslog line. ``program`` / ``pid`` are None when the line has no
    'tag[pid]:' ; ``message`` is the text after the tag, stripped."""

    timestamp: datetime
    host: str
    program: str | None
    pid: int | None
    message: str
    raw: str = field(repr=False, default="")


def parse_syslog_line(line: str, year: int | None = None) -> SyslogLine:
    """Parse one line; ``year`` completes classic timestamps (default: this year)."""
    text = line.rstrip("\r\n")
    if m := _CLASSIC.match(text):
        month = _MONTHS.get(m.group("mon"))
        try:
            if month is None:
                raise ValueError(m.group("mon"))
            when = datetime(year if year is not None else datetime.now().year, month, int(m.group("day")),
                            int(m.group("h")), int(m.group("m")), int(m.group("s")))
        except ValueError:
            raise ParseError("syslog: invalid timestamp", line) from None
    elif m := _ISO.match(text):
        try:
            when = datetime.fromisoformat(m.group("iso"))
        except ValueError:
            raise ParseError("syslog: invalid timestamp", line) from None
    else:
        raise ParseError("syslog: not a syslog line (no timestamp and host)", line)
    rest = m.group("rest")
    if t := _TAG.match(rest):
        return SyslogLine(when, m.group("host"), t.group("prog"),
                          int(t.group("pid")) if t.group("pid") else None, (t.group("msg") or "").strip(), text)
    return SyslogLine(when, m.group("host"), None, None, rest.strip(), text)


# ----------------------------------------------------------------- events


@dataclass(frozen=True)
class SyslogEvent:
    """Base of every event: ``line`` is the syslog line it came from."""

    line: SyslogLine

    @property
    def timestamp(self) -> datetime:
        return self.line.timestamp

    @property
    def host(self) -> str:
        return self.line.host


# fenced (cman): "fencing node X", "fence X dev 0.0 agent fence_ipmilan result: error from agent",
# "fence X success" (fenced and fence_node), "fence X failed".
@dataclass(frozen=True)
class FenceStarted(SyslogEvent):
    node: str


@dataclass(frozen=True)
class FenceAgentFailed(SyslogEvent):
    node: str
    device: str
    agent: str
    result: str


@dataclass(frozen=True)
class FenceSucceeded(SyslogEvent):
    node: str


@dataclass(frozen=True)
class FenceFailed(SyslogEvent):
    node: str


# pacemaker fencing.
@dataclass(frozen=True)
class FenceScheduled(SyslogEvent):
    """schedulerd: 'Cluster node X will be fenced: peer is no longer part of the cluster'."""

    node: str
    reason: str


@dataclass(frozen=True)
class FenceRequested(SyslogEvent):
    """controld: 'Requesting fencing (reboot) of node X'."""

    node: str
    action: str


@dataclass(frozen=True)
class _FencedBy(SyslogEvent):
    """`node` fenced (`action`) by `executioner` for `client`; ``ok`` when the result is OK."""

    node: str
    action: str
    executioner: str
    client: str
    result: str

    @property
    def ok(self) -> bool:
        return self.result == "OK"


@dataclass(frozen=True)
class FenceOperationResult(_FencedBy):
    """fenced: "Operation 'reboot' targeting X on|by Y for CLIENT: OK" (pacemaker 2.x) or
    'Operation reboot of X by Y for CLIENT: OK' (1.1)."""


@dataclass(frozen=True)
class FenceDeviceResult(SyslogEvent):
    """fenced: "Operation 'reboot' [PID] (call N from C) for host 'X' with device 'D' returned: 0 (OK)"
    (pacemaker 2.0) or "Operation 'reboot' [PID] targeting X using D returned 1" (2.1)."""

    node: str
    action: str
    device: str
    rc: int
    result: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


@dataclass(frozen=True)
class PeerFenced(_FencedBy):
    """controld: 'Peer X was terminated (reboot) by Y on behalf of C: OK'."""


# membership.
@dataclass(frozen=True)
class CorosyncProcessorFailed(SyslogEvent):
    """'[TOTEM ] A processor failed, forming new configuration.'"""


@dataclass(frozen=True)
class CorosyncMembershipFormed(SyslogEvent):
    """'[TOTEM ] A processor joined or left the membership and a new membership was formed.'
    (corosync 1.x) or '[TOTEM ] A new membership (1.116f4) was formed. Members left: 2' (2.x/3.x);
    ``ring_id``, ``joined`` and ``left`` are only known from the latter."""

    ring_id: str | None = None
    joined: list[int] = field(default_factory=list)
    left: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class CorosyncMembers(SyslogEvent):
    """'[QUORUM] Members[1]: 2' — the member count and node ids after a change."""

    count: int
    node_ids: list[int]


@dataclass(frozen=True)
class QuorumChanged(SyslogEvent):
    """cman '[CMAN  ] quorum lost, blocking activity' / 'quorum regained, resuming activity';
    votequorum 'This node is within the (non-)primary component ...'."""

    quorate: bool


@dataclass(frozen=True)
class DlmConnectionClosed(SyslogEvent):
    """kernel: 'dlm: closing connection to node 1'."""

    node_id: int


@dataclass(frozen=True)
class NodeStateChanged(SyslogEvent):
    """pacemaker-controld/crmd: 'Node X state is now lost' (or 'member')."""

    node: str
    state: str


# rgmanager.  ``service`` is the name as rgmanager prints it ('vm:vm0001-dev').
@dataclass(frozen=True)
class _ServiceEvent(SyslogEvent):
    service: str


@dataclass(frozen=True)
class ServiceStatusFailed(SyslogEvent):
    """'status on vm "vm0001-dev" returned 7 (unspecified)' — a resource's status check failed."""

    resource_type: str
    resource_name: str
    code: int
    reason: str

    @property
    def service(self) -> str:
        return f"{self.resource_type}:{self.resource_name}"


@dataclass(frozen=True)
class ServiceStopping(_ServiceEvent):
    """'Stopping service vm:X'."""


@dataclass(frozen=True)
class ServiceRecovering(_ServiceEvent):
    """'Service vm:X is recovering'."""


@dataclass(frozen=True)
class ServiceRecoveryStarted(_ServiceEvent):
    """'Recovering failed service vm:X' — restart in place (threshold not reached)."""


@dataclass(frozen=True)
class ServiceRestartThresholdExceeded(_ServiceEvent):
    """'Restart threshold for vm:X exceeded; attempting to relocate'."""


@dataclass(frozen=True)
class ServiceStarting(_ServiceEvent):
    """'Starting stopped service X' / 'Starting disabled service X'."""


@dataclass(frozen=True)
class ServiceStarted(_ServiceEvent):
    """'Service vm:X started'."""


@dataclass(frozen=True)
class ServiceRelocated(_ServiceEvent):
    """'Service vm:X is now running on member 2' (after a relocation)."""

    member_id: int


@dataclass(frozen=True)
class ServiceTakeover(_ServiceEvent):
    """'Taking over service vm:X from down member an-node01.alteeve.ca'."""

    from_member: str


@dataclass(frozen=True)
class ServiceMarkedStopped(_ServiceEvent):
    """'Marking service:storage_an01 as stopped: Restricted domain unavailable'."""

    reason: str


@dataclass(frozen=True)
class ServiceStartFailed(_ServiceEvent):
    """'#68: Failed to start vm:X; return value: 1' — a start (or restart) did not succeed."""

    code: int


@dataclass(frozen=True)
class ServiceFailed(_ServiceEvent):
    """'#43: Service vm:X has failed; can not start.' — the service is in the failed state."""


@dataclass(frozen=True)
class ResourceOperationResult(SyslogEvent):
    """pacemaker-controld: 'Result of start operation for p-IP1 on node1: ok'."""

    resource: str
    operation: str
    node: str
    result: str

    @property
    def ok(self) -> bool:
        return self.result == "ok"


# bonding.  ``interface`` is the slave NIC.
@dataclass(frozen=True)
class BondLinkDown(SyslogEvent):
    """'link status definitely down for interface eth0, disabling it'."""

    bond: str
    interface: str


@dataclass(frozen=True)
class BondLinkDownPending(SyslogEvent):
    """'link status down for active interface eth0, disabling it in 200 ms' (downdelay)."""

    bond: str
    interface: str
    delay_ms: int


@dataclass(frozen=True)
class BondLinkDownAgain(SyslogEvent):
    """'link status down again after 55000 ms for interface eth0' (bounced during updelay)."""

    bond: str
    interface: str
    after_ms: int


@dataclass(frozen=True)
class BondLinkUpPending(SyslogEvent):
    """'link status up for interface eth0, enabling it in 120000 ms' (updelay starts)."""

    bond: str
    interface: str
    delay_ms: int


@dataclass(frozen=True)
class BondLinkUpAgain(SyslogEvent):
    """'link status up again after 0 ms for interface eth0' (came back during downdelay)."""

    bond: str
    interface: str
    after_ms: int


@dataclass(frozen=True)
class BondLinkUp(SyslogEvent):
    """'link status definitely up for interface eth0, 1000 Mbps full duplex.'"""

    bond: str
    interface: str
    speed_mbps: int | None
    duplex: str | None


@dataclass(frozen=True)
class BondActiveChanged(SyslogEvent):
    """'making interface eth3 the new active one.'"""

    bond: str
    interface: str


@dataclass(frozen=True)
class BondNoActiveInterface(SyslogEvent):
    """'now running without any active interface !'"""

    bond: str


@dataclass(frozen=True)
class NicLinkDown(SyslogEvent):
    """'e1000e: eth0 NIC Link is Down'."""

    interface: str
    driver: str


@dataclass(frozen=True)
class NicLinkUp(SyslogEvent):
    """'e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx'."""

    interface: str
    driver: str
    speed_mbps: int
    duplex: str
    flow_control: str | None


@dataclass(frozen=True)
class DrbdFencePeerResult(SyslogEvent):
    """'block drbd1: fence-peer helper returned 7 (peer was stonithed)'."""

    minor: int
    code: int
    meaning: str


EVENT_TYPES: tuple[type[SyslogEvent], ...] = tuple(
    obj for name, obj in list(globals().items())
    if isinstance(obj, type) and issubclass(obj, SyslogEvent) and obj is not SyslogEvent and not name.startswith("_"))

# ------------------------------------------------------------------ rules

_Factory = Callable[[SyslogLine, re.Match], "SyslogEvent | None"]
_RULES: list[tuple[frozenset[str], re.Pattern, _Factory]] = []


def _rule(programs: str, pattern: str, factory: _Factory) -> None:
    """Messages of these programs matching the pattern become factory(line, match)."""
    _RULES.append((frozenset(programs.split()), re.compile(pattern), factory))


def _ids(text: str | None) -> list[int]:
    return [int(t) for t in (text or "").split()]


_FENCED = "fenced fence_node"
_COROSYNC = "corosync"
_RGMANAGER = "rgmanager clurgmgrd"
_PCMK_FENCED = "pacemaker-fenced stonith-ng"
_PCMK_CONTROLD = "pacemaker-controld crmd"
_PCMK_SCHEDULERD = "pacemaker-schedulerd pengine"

_rule(_FENCED, r"^fencing node (?P<node>\S+)$", lambda ln, m: FenceStarted(ln, m["node"]))
_rule(_FENCED, r"^fence (?P<node>\S+) dev (?P<dev>\S+) agent (?P<agent>\S+) result: (?P<result>.+)$",
    lambda ln, m: FenceAgentFailed(ln, m["node"], m["dev"], m["agent"], m["result"]))
_rule(_FENCED, r"^fence (?P<node>\S+) success$", lambda ln, m: FenceSucceeded(ln, m["node"]))
_rule(_FENCED, r"^fence (?P<node>\S+) failed$", lambda ln, m: FenceFailed(ln, m["node"]))

_rule(_PCMK_SCHEDULERD, r"^Cluster node (?P<node>\S+) will be fenced: (?P<reason>.+)$",
    lambda ln, m: FenceScheduled(ln, m["node"], m["reason"]))
_rule(_PCMK_CONTROLD, r"^Requesting fencing \((?P<action>\w+)\) of node (?P<node>\S+)$",
    lambda ln, m: FenceRequested(ln, m["node"], m["action"]))
_rule(_PCMK_FENCED, r"^Operation '?(?P<action>\w+)'? (?:targeting|of) (?P<node>\S+) (?:on|by) (?P<by>\S+) "
                    r"for (?P<client>\S+?): (?P<result>[^(]+?)(?: \(.*\))?$",
    lambda ln, m: FenceOperationResult(ln, m["node"], m["action"], m["by"], m["client"], m["result"]))
_rule(_PCMK_FENCED, r"^Operation '(?P<action>\w+)' \[\d+\] (?:\(call \d+ from \S+\) )?for host '(?P<node>[^']+)' "
                    r"with device '(?P<device>[^']+)' returned: (?P<rc>-?\d+) \((?P<result>[^)]*)\)$",
    lambda ln, m: FenceDeviceResult(ln, m["node"], m["action"], m["device"], int(m["rc"]), m["result"]))
# pacemaker 2.1 (fenced_commands.c, log_async_result): "Operation 'ACTION' [PID] targeting NODE using
# DEVICE returned RC" with " (EXIT REASON)", ", retrying with NEXT", " (and merged)" after it when
# they apply, or "did not complete (EXECUTION STATUS)" instead of "returned RC".
_rule(_PCMK_FENCED, r"^(?:error: )?Operation '(?P<action>\w+)' (?:\[\d+\] )?targeting (?P<node>\S+) "
                    r"using (?P<device>\S+) (?:returned (?P<rc>-?\d+)(?: \((?P<reason>.*?)\))?|did not complete "
                    r"\((?P<status>[^)]*)\)(?: \((?P<reason2>.*?)\))?)(?:, retrying with \S+)?(?: \(and merged\))?\s*$",
    lambda ln, m: FenceDeviceResult(ln, m["node"], m["action"], m["device"], int(m["rc"]) if m["rc"] else -1,
                                    ("OK" if m["rc"] == "0" else (m["reason"] or "error")) if m["rc"]
                                    else f"did not complete ({m['status']})" + (f": {m['reason2']}" if m["reason2"] else "")))
_rule(_PCMK_CONTROLD, r"^Peer (?P<node>\S+) was terminated \((?P<action>\w+)\) by (?P<by>\S+) "
                      r"on behalf of (?P<client>\S+?): (?P<result>.+)$",
    lambda ln, m: PeerFenced(ln, m["node"], m["action"], m["by"], m["client"], m["result"]))
_rule(_PCMK_CONTROLD, r"^Node (?P<node>\S+) state is now (?P<state>\w+)$",
    lambda ln, m: NodeStateChanged(ln, m["node"], m["state"]))
_rule(_PCMK_CONTROLD, r"^Result of (?P<op>\w+) operation for (?P<rsc>\S+) on (?P<node>\S+): (?P<result>[^|]+?)"
                      r"(?: \|.*)?$",
    lambda ln, m: ResourceOperationResult(ln, m["rsc"], m["op"], m["node"], m["result"]))

_rule(_COROSYNC, r"^\[TOTEM *\] A processor failed, forming new configuration\.?$",
    lambda ln, m: CorosyncProcessorFailed(ln))
_rule(_COROSYNC, r"^\[TOTEM *\] A processor joined or left the membership and a new membership was formed\.?$",
    lambda ln, m: CorosyncMembershipFormed(ln))
_rule(_COROSYNC, r"^\[TOTEM *\] A new membership \((?P<ring>[^)]*)\) was formed\. Members"
                 r"(?: joined:(?P<joined>[\d ]+?))?(?: left:(?P<left>[\d ]+?))?$",
    lambda ln, m: CorosyncMembershipFormed(ln, m["ring"], _ids(m["joined"]), _ids(m["left"])))
_rule(_COROSYNC, r"^\[QUORUM *\] Members\[(?P<n>\d+)\]:(?P<ids>[\d ]*)$",
    lambda ln, m: CorosyncMembers(ln, int(m["n"]), _ids(m["ids"])))
_rule(_COROSYNC, r"^\[CMAN *\] quorum lost, blocking activity$", lambda ln, m: QuorumChanged(ln, False))
_rule(_COROSYNC, r"^\[CMAN *\] quorum regained, resuming activity$", lambda ln, m: QuorumChanged(ln, True))
_rule(_COROSYNC, r"^\[QUORUM *\] This node is within the non-primary component and will NOT provide any "
                 r"services\.$", lambda ln, m: QuorumChanged(ln, False))
_rule(_COROSYNC, r"^\[QUORUM *\] This node is within the primary component and will provide service\.$",
    lambda ln, m: QuorumChanged(ln, True))

_rule(_RGMANAGER, r'^status on (?P<type>\w+) "(?P<name>[^"]+)" returned (?P<code>\d+) \((?P<reason>[^)]*)\)$',
    lambda ln, m: ServiceStatusFailed(ln, m["type"], m["name"], int(m["code"]), m["reason"]))
_rule(_RGMANAGER, r"^Stopping service (?P<svc>\S+)$", lambda ln, m: ServiceStopping(ln, m["svc"]))
_rule(_RGMANAGER, r"^Service (?P<svc>\S+) is recovering$", lambda ln, m: ServiceRecovering(ln, m["svc"]))
_rule(_RGMANAGER, r"^Recovering failed service (?P<svc>\S+)$", lambda ln, m: ServiceRecoveryStarted(ln, m["svc"]))
_rule(_RGMANAGER, r"^Restart threshold for (?P<svc>\S+) exceeded; attempting to relocate$",
    lambda ln, m: ServiceRestartThresholdExceeded(ln, m["svc"]))
_rule(_RGMANAGER, r"^Starting (?:stopped|disabled) service (?P<svc>\S+)$",
    lambda ln, m: ServiceStarting(ln, m["svc"]))
_rule(_RGMANAGER, r"^Service (?P<svc>\S+) started$", lambda ln, m: ServiceStarted(ln, m["svc"]))
_rule(_RGMANAGER, r"^Service (?P<svc>\S+) is now running on member (?P<id>\d+)$",
    lambda ln, m: ServiceRelocated(ln, m["svc"], int(m["id"])))
_rule(_RGMANAGER, r"^Taking over service (?P<svc>\S+) from down member (?P<member>\S+)$",
    lambda ln, m: ServiceTakeover(ln, m["svc"], m["member"]))
_rule(_RGMANAGER, r"^Marking (?P<svc>\S+) as stopped: (?P<reason>.+)$",
    lambda ln, m: ServiceMarkedStopped(ln, m["svc"], m["reason"]))
_rule(_RGMANAGER, r"^#68: Failed to start (?P<svc>\S+); return value: (?P<code>-?\d+)$",
    lambda ln, m: ServiceStartFailed(ln, m["svc"], int(m["code"])))
_rule(_RGMANAGER, r"^#43: Service (?P<svc>\S+) has failed; can not start\.?$", lambda ln, m: ServiceFailed(ln, m["svc"]))

_rule("kernel", r"^dlm: closing connection to node (?P<id>\d+)$",
    lambda ln, m: DlmConnectionClosed(ln, int(m["id"])))
# 'e1000e: eth0 NIC Link is Down' (2.6.32) / 'e1000e 0000:00:19.0 eth0: NIC Link is Down' (newer)
_NIC = r"^(?P<drv>[\w-]+)(?::| [\w:.]+) (?P<nic>[^\s:]+):? NIC Link is "
_rule("kernel", _NIC + r"Down$", lambda ln, m: NicLinkDown(ln, m["nic"], m["drv"]))
_rule("kernel", _NIC + r"Up (?P<speed>\d+) Mbps (?P<duplex>\w+) Duplex(?:, Flow Control: (?P<fc>.+))?$",
    lambda ln, m: NicLinkUp(ln, m["nic"], m["drv"], int(m["speed"]), m["duplex"].lower(), m["fc"]))
_rule("kernel", r"^block drbd(?P<minor>\d+): fence-peer helper returned (?P<code>\d+) \((?P<meaning>[^)]*)\)$",
    lambda ln, m: DrbdFencePeerResult(ln, int(m["minor"]), int(m["code"]), m["meaning"]))

# Bonding: 'bonding: bond0: <text>' / 'bond0: <text>' (2.6.32) or 'bond0: (slave eth0): <text>' (newer).
_BOND_PREFIX = re.compile(r"^(?:bonding: )?(?P<bond>[\w.-]+):(?: \(slave (?P<slave>[^)]+)\):)? (?P<text>.+)$")
_BOND_RULES: list[tuple[re.Pattern, Callable[[SyslogLine, str, str, re.Match], SyslogEvent]]] = [
    (re.compile(r"^link status definitely down(?: for interface (?P<nic>[^\s,]+))?, disabling (?:it|slave)$"),
     lambda ln, b, nic, m: BondLinkDown(ln, b, nic)),
    (re.compile(r"^link status down for (?:active |backup )?interface(?: (?P<nic>[^\s,]+))?, "
                r"disabling it in (?P<ms>\d+) ms\.?$"),
     lambda ln, b, nic, m: BondLinkDownPending(ln, b, nic, int(m["ms"]))),
    (re.compile(r"^link status down again after (?P<ms>\d+) ms(?: for interface (?P<nic>\S+?))?\.?$"),
     lambda ln, b, nic, m: BondLinkDownAgain(ln, b, nic, int(m["ms"]))),
    (re.compile(r"^link status up(?: for interface (?P<nic>[^\s,]+))?, enabling it in (?P<ms>\d+) ms\.?$"),
     lambda ln, b, nic, m: BondLinkUpPending(ln, b, nic, int(m["ms"]))),
    (re.compile(r"^link status up again after (?P<ms>\d+) ms(?: for interface (?P<nic>\S+?))?\.?$"),
     lambda ln, b, nic, m: BondLinkUpAgain(ln, b, nic, int(m["ms"]))),
    (re.compile(r"^link status definitely up(?: for interface (?P<nic>[^\s,]+?))?"
                r"(?:, (?P<speed>\d+) Mbps (?P<duplex>\w+) duplex)?\.?$"),
     lambda ln, b, nic, m: BondLinkUp(ln, b, nic, int(m["speed"]) if m["speed"] else None, m["duplex"])),
    (re.compile(r"^making interface(?: (?P<nic>\S+?))? the new active one(?: \d+ ms earlier)?\.?$"),
     lambda ln, b, nic, m: BondActiveChanged(ln, b, nic)),
]
_NO_ACTIVE = re.compile(r"^(?:bonding: )?(?P<bond>[\w.-]+): now running without any active interface ?!$")
_PCMK_SEVERITY = re.compile(r"^(?:notice|warning|error|info|crit|debug|trace|err):\s+")
_KERNEL_TIME = re.compile(r"^\[\s*\d+\.\d+\]\s+")


def _event_for(line: SyslogLine) -> SyslogEvent | None:
    program = (line.program or "").rsplit("/", 1)[-1]
    message = line.message
    if program == "kernel":
        message = _KERNEL_TIME.sub("", message)
        if m := _NO_ACTIVE.match(message):
            return BondNoActiveInterface(line, m["bond"])
        if (m := _BOND_PREFIX.match(message)) and m["text"].startswith(("link status", "making interface")):
            for pattern, factory in _BOND_RULES:
                if t := pattern.match(m["text"]):
                    nic = t.groupdict().get("nic") or m["slave"]
                    return factory(line, m["bond"], nic, t) if nic else None
    elif program.startswith(("pacemaker-", "stonith-ng", "crmd", "pengine")):
        message = _PCMK_SEVERITY.sub("", message)
    for programs, pattern, factory in _RULES:
        if program in programs and (m := pattern.match(message)):
            return factory(line, m)
    return None


def parse_syslog_events(lines: Iterable[str] | str, year: int | None = None,
                        on_bad_line: Callable[[ParseError], None] | None = None) -> list[SyslogEvent]:
    """The events found in a syslog window, in order.

    ``lines`` is the window (a string or an iterable of lines). Lines that
    are valid syslog but carry no known event are skipped; a line that is not
    syslog at all raises ParseError, as does an empty window. Classic
    timestamps get ``year`` (default: this year) and move to the next year
    when the month wraps from December to January.

    With ``on_bad_line``, a line that is not syslog (a continuation, a truncated
    or binary line, another program's format) is handed to it as a ParseError
    and skipped, one line at a time, and an empty window has no events.
    """
    if isinstance(lines, str):
        lines = lines.splitlines()
    year = year if year is not None else datetime.now().year
    events: list[SyslogEvent] = []
    seen = False
    previous_month = None
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        seen = True
        try:
            parsed = parse_syslog_line(raw, year)
        except ParseError as exc:
            if on_bad_line is None:
                raise ParseError(exc.reason, raw, lineno) from None
            on_bad_line(ParseError(exc.reason, raw, lineno))
            continue
        if _CLASSIC.match(raw) and previous_month is not None and parsed.timestamp.month < previous_month - 6:
            year += 1
            parsed = parse_syslog_line(raw, year)
        if _CLASSIC.match(raw):
            previous_month = parsed.timestamp.month
        if event := _event_for(parsed):
            events.append(event)
    if not seen and on_bad_line is None:
        raise ParseError("empty syslog window", "")
    return events
