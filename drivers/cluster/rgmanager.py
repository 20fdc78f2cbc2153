"""Red Hat cluster 3 (cman + rgmanager): clustat, clusvcadm, cman_tool, init scripts."""

from __future__ import annotations

import shlex
from typing import Any

from ..errors import ClusterRefused
from ..registry import CLUSTER_MANAGERS
from ..parsers import FenceSetup, ParseError, parse_clustat, parse_cluster_conf, parse_cman_status
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
    ServiceState,
    note_unread,
)

_STATES = {
    "started": STARTED,
    "stopped": STOPPED,
    "disabled": DISABLED,
    "failed": FAILED,
    "recovering": RECOVERING,
    "recoverable": RECOVERING,
    "starting": STARTING,
    "stopping": STOPPING,
    "migrating": MIGRATING,
}


CLUSTER_CONF = "/etc/cluster/cluster.conf"


@CLUSTER_MANAGERS.register("rgmanager")
class RgmanagerCluster(ClusterManager):
    kind = "rgmanager"

    def status(self, via: str | None = None) -> ClusterStatus:
        """`clustat -x` on `via` (or the first node that answers); plain `clustat` if -x is refused."""
        node, text = self._first_answer(via, "clustat -x")
        source = "clustat -x"
        try:
            raw = parse_clustat(text)
        except ParseError:
            text = self._run(node, "clustat", idempotent=True).stdout
            source = "clustat"
            raw = parse_clustat(text)
        note_unread(f"{node}: {source}", raw.unparsed)
        return self.to_status(raw, node, source)

    def fence_setup(self, via: str | None = None) -> FenceSetup:
        """/etc/cluster/cluster.conf: the fence devices and every node's methods."""
        _, text = self._first_answer(via, f"cat {CLUSTER_CONF}")
        return parse_cluster_conf(text)

    def to_status(self, raw: Any, via: str = "", source: str = "clustat") -> ClusterStatus:
        """A parsed clustat record -> ClusterStatus (quorum disks are not members)."""
        members: dict[str, Member] = {}
        for m in raw.members:
            if getattr(m, "qdisk", False):
                continue
            name = self.node_name(m.name) or m.name
            flags = tuple(f for f, on in (("rgmanager", m.rgmanager), ("estranged", getattr(m, "estranged", False))) if on)
            members[name] = Member(name=name, id=m.id, online=m.online, local=m.local, member_name=m.name, flags=flags)
        services: dict[str, ServiceState] = {}
        for s in raw.services:
            kind, _, short = s.name.partition(":") if ":" in s.name else ("service", "", s.name)
            services[short] = ServiceState(
                name=short,
                kind=kind,
                owner=self.node_name(s.owner),
                state=_STATES.get(s.state.lower(), s.state.lower()),
                last_owner=self.node_name(s.last_owner),
                raw_state=s.state,
            )
        return ClusterStatus(quorate=raw.quorate, members=members, services=services, via=via, source=source, raw=raw)

    def cman_status(self, via: str | None = None) -> Any:
        """`cman_tool status`, parsed (nodes, expected_votes, total_votes, quorum, flags, node_name)."""
        _, text = self._first_answer(via, "cman_tool status")
        return parse_cman_status(text)

    # ------------------------------------------------------------ commands

    def service_ref(self, svc: str, kind: str | None = None) -> str:
        """'vm:NAME' for the inventory's VMs (clusvcadm needs the prefix), 'service:NAME' otherwise."""
        if ":" in svc:
            return svc
        if kind is None:
            is_vm = self.inventory is not None and any(vm.name == svc for vm in self.inventory.vms)
            kind = "vm" if is_vm else "service"
        return f"{kind}:{svc}"

    def _clusvcadm(self, args: list[str], via: str | None) -> str:
        node = self._via_for(via)
        cmd = "clusvcadm " + " ".join(shlex.quote(a) for a in args)
        result = self._run(node, cmd, check=False)
        if result.exit_code != 0:
            raise ClusterRefused(node, cmd, result.exit_code, result.stdout, result.stderr)
        return result.stdout

    def enable(self, svc: str, node: str | None = None, via: str | None = None) -> None:
        args = ["-e", self.service_ref(svc)]
        if node is not None:
            args += ["-m", self.member_name(node)]
        self._clusvcadm(args, via)

    def disable(self, svc: str, via: str | None = None) -> None:
        self._clusvcadm(["-d", self.service_ref(svc)], via)

    def relocate(self, svc: str, node: str, via: str | None = None) -> None:
        self._clusvcadm(["-r", self.service_ref(svc), "-m", self.member_name(node)], via)

    def migrate(self, vm: str, node: str, via: str | None = None) -> None:
        self._clusvcadm(["-M", self.service_ref(vm, "vm"), "-m", self.member_name(node)], via)

    def freeze(self, svc: str, via: str | None = None) -> None:
        """`clusvcadm -Z`: rgmanager stops checking (and recovering) the service where it runs."""
        self._clusvcadm(["-Z", self.service_ref(svc)], via)

    def unfreeze(self, svc: str, via: str | None = None) -> None:
        """`clusvcadm -U`: status checks, and recovery, resume."""
        self._clusvcadm(["-U", self.service_ref(svc)], via)

    def stop_stack(self, node: str, whole_cluster: bool = False) -> None:
        """rgmanager first (it stops the node's services), then cman — the tutorial's order."""
        self._run(node, "/etc/init.d/rgmanager stop")
        self._run(node, "/etc/init.d/cman stop")

    def start_stack(self, node: str) -> None:
        self._run(node, "/etc/init.d/cman start")
        self._run(node, "/etc/init.d/rgmanager start")
