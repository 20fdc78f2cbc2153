"""The one interface to a cluster manager, and the one typed status both give.

Names: members and owners are reported by the inventory's node names
(`an-node01`) when an inventory is given, by the cluster's own member names
otherwise; `Member.member_name` always keeps the cluster's name. Services
are keyed by their short name ('vm0001-dev', 'storage_an01') with `kind`
saying what they are ('vm', 'service', or a pacemaker resource agent class).
Commands accept inventory node names and translate them.
"""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

from ..errors import DeviceUnreachable, HacertError
from ..node import run_marked
from ..parsers import SyslogEvent, parse_syslog_events

_LOG = logging.getLogger("hacert.cluster")
_NOTED: set[tuple[str, tuple[str, ...]]] = set()


def note_unread(source: str, unread: Sequence[Any]) -> None:
    """Say once (per process) what of a status output the parser does not model (`Unparsed` items):
    the case's captured log, and so its evidence in the report, shows what the harness did not read."""
    if not unread:
        return
    key = (source, tuple(sorted({str(getattr(u, "where", u)) for u in unread})))
    if key in _NOTED:
        return
    _NOTED.add(key)
    _LOG.warning("%s: %d part(s) of the output not read by hacert: %s", source, len(unread),
                 "; ".join(str(u)[:300] for u in unread[:5]) + (" ..." if len(unread) > 5 else ""))

# Normalized service states (the raw word is kept in ServiceState.raw_state).
STARTED, STOPPED, DISABLED, FAILED, RECOVERING, STARTING, STOPPING, MIGRATING = (
    "started",
    "stopped",
    "disabled",
    "failed",
    "recovering",
    "starting",
    "stopping",
    "migrating",
)


@dataclass(frozen=True)
class Member:
    name: str
    id: int | None
    online: bool
    local: bool
    member_name: str = ""
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceState:
    name: str
    kind: str
    owner: str | None
    state: str
    last_owner: str | None = None
    raw_state: str = ""
    nodes: tuple[str, ...] = ()

    @property
    def running(self) -> bool:
        return self.state == STARTED and self.owner is not None


@dataclass(frozen=True)
class ClusterStatus:
    quorate: bool | None
    members: dict[str, Member]
    services: dict[str, ServiceState]
    via: str = ""
    source: str = ""
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def online(self) -> list[str]:
        return [m.name for m in self.members.values() if m.online]

    def owner(self, service: str) -> str | None:
        return self.services[service].owner if service in self.services else None


class Shell(Protocol):
    """What a cluster manager needs from a node (hacert.drivers.node.NodeShell fits)."""

    name: str

    def run(self, cmd: str, timeout: float | None = None, check: bool = True) -> Any: ...

    def syslog_since(self, mark: Any) -> list[str]: ...


class NoNodeAnswers(DeviceUnreachable):
    """No node could be asked for the cluster status: the lab's SSH is down, not a
    verdict on the cluster (a cluster that lost every node is seen by other means)."""

    def __init__(self, attempted: str, detail: str = "") -> None:
        super().__init__("cluster", "every node over SSH", attempted, detail)


FENCE_EVENT_NAMES = (
    "FenceStarted",
    "FenceAgentFailed",
    "FenceSucceeded",
    "FenceFailed",
    "FenceScheduled",
    "FenceRequested",
    "FenceOperationResult",
    "FenceDeviceResult",
    "PeerFenced",
    "DrbdFencePeerResult",
)


class ClusterManager(abc.ABC):
    """rgmanager/cman or pacemaker, driven through the nodes' shells."""

    kind: str = ""

    def __init__(self, shells: Mapping[str, Shell], inventory: Any = None, timeout: float = 60.0) -> None:
        self.shells = dict(shells)
        self.inventory = inventory
        self.timeout = timeout

    # ------------------------------------------------------------ names

    def member_name(self, node: str) -> str:
        """Inventory node name -> the cluster's member name (unchanged when unknown)."""
        if self.inventory is not None:
            try:
                return self.inventory.node(node).member_name
            except KeyError:
                pass
        return node

    def node_name(self, member: str | None) -> str | None:
        """Cluster member name -> inventory node name (unchanged when unknown)."""
        if member is None or self.inventory is None:
            return member
        try:
            return self.inventory.node_by_member(member).name
        except KeyError:
            return member

    def _order(self, via: str | None) -> Sequence[str]:
        if via is not None:
            if via not in self.shells:
                raise KeyError(f"no shell for node {via!r} (known: {', '.join(self.shells)})")
            return [via]
        return list(self.shells)

    def _run(self, node: str, cmd: str, check: bool = True, timeout: float | None = None, *, idempotent: bool = False,
             took_effect: Callable[[], bool] | None = None) -> Any:
        """`cmd` on `node`; `idempotent` / `took_effect`: what may be done when its connection drops
        (see hacert.drivers.node.NodeShell.run)."""
        return run_marked(self.shells[node], cmd, timeout=timeout or self.timeout, check=check,
                          idempotent=idempotent, took_effect=took_effect)

    def _first_answer(self, via: str | None, cmd: str) -> tuple[str, str]:
        """Run `cmd` on `via`, or on the first node that answers; (node, stdout)."""
        problems = []
        for node in self._order(via):
            try:
                return node, self._run(node, cmd, idempotent=True).stdout  # every caller reads
            except DeviceUnreachable as exc:
                problems.append(str(exc))
        raise NoNodeAnswers(f"no node answered {cmd!r}", "; ".join(problems))

    # ------------------------------------------------------------ the interface

    @abc.abstractmethod
    def status(self, via: str | None = None) -> ClusterStatus: ...

    @abc.abstractmethod
    def enable(self, svc: str, node: str | None = None, via: str | None = None) -> None: ...

    @abc.abstractmethod
    def disable(self, svc: str, via: str | None = None) -> None: ...

    @abc.abstractmethod
    def relocate(self, svc: str, node: str, via: str | None = None) -> None: ...

    @abc.abstractmethod
    def migrate(self, vm: str, node: str, via: str | None = None) -> None: ...

    @abc.abstractmethod
    def stop_stack(self, node: str, whole_cluster: bool = False) -> None:
        """Stop the node's resource manager and cluster stack. `whole_cluster`: every node is being
        stopped (a cold stop), so losing quorum with the last one is intended."""

    @abc.abstractmethod
    def start_stack(self, node: str) -> None: ...

    @abc.abstractmethod
    def fence_setup(self, via: str | None = None) -> Any:
        """The cluster's fence configuration (a `hacert.drivers.parsers.FenceSetup`: devices with their
        agents, each node's methods in order), read on `via` or the first node that answers."""

    def reset_failures(self, svc: str, via: str | None = None) -> None:
        """Forget the service's recorded failures (a manager that bans a node after N failures
        would keep it away from its home); nothing to do where failures are not kept."""

    def fence_events(self, via: str, since_mark: Any) -> list[SyslogEvent]:
        """Fencing events in `via`'s syslog since `since_mark` (a NodeShell.syslog_mark())."""
        lines = [line for line in self.shells[via].syslog_since(since_mark) if line.strip()]
        if not lines:
            return []
        return [e for e in parse_syslog_events(lines) if type(e).__name__ in FENCE_EVENT_NAMES]

    def _via_for(self, via: str | None) -> str:
        return via if via is not None else next(iter(self.shells))
