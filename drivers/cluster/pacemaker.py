"""Pacemaker (corosync 2/3): crm_mon XML, pcs, stonith_admin."""

from __future__ import annotations

import shlex
import xml.etree.ElementTree as ET
from typing import Any, Callable

from ..errors import ClusterRefused, DeviceUnreachable
from ..registry import CLUSTER_MANAGERS
from ..parsers import (CrmMonRefused, FenceEvent, FenceSetup, ParseError, parse_cib_fencing, parse_crm_mon,
                       parse_stonith_history)
from .base import (DISABLED, FAILED, MIGRATING, STARTED, STARTING, STOPPED, STOPPING, ClusterManager, ClusterStatus,
                   Member, NoNodeAnswers, ServiceState, note_unread)

_ROLES = {
    "started": STARTED,
    "master": STARTED,
    "slave": STARTED,
    "promoted": STARTED,
    "unpromoted": STARTED,
    "stopped": STOPPED,
    "starting": STARTING,
    "stopping": STOPPING,
    "migrating": MIGRATING,
}


@CLUSTER_MANAGERS.register("pacemaker")
class PacemakerCluster(ClusterManager):
    kind = "pacemaker"

    def status(self, via: str | None = None) -> ClusterStatus:
        """From `via`, or the first node whose pacemaker answers (one that is stopped or still
        starting answers with an error status instead of the cluster's)."""
        command = "crm_mon --one-shot --inactive --output-as=xml"
        problems = []
        for node in self._order(via):
            try:
                raw = self._crm_mon(node, command)
            except DeviceUnreachable as exc:
                problems.append(str(exc))
                continue
            if isinstance(raw, str):
                problems.append(f"{node}: crm_mon: {raw}")
                continue
            return self.to_status(raw, node, "crm_mon --output-as=xml")
        raise NoNodeAnswers(f"no node's pacemaker answered {command!r}", "; ".join(problems))

    def _crm_mon(self, node: str, command: str) -> Any:
        """The parsed status, or crm_mon's own refusal (a str). Seen on netlab: the XML cut off
        mid-element when an SSH channel closed under load, so output that is neither is read once
        more before it counts as unreadable (ParseError)."""
        for last_try in (False, True):
            text = self._run(node, command, check=False, idempotent=True).stdout
            if not text.strip():
                return "no output (is pacemaker running?)"
            try:
                parsed = parse_crm_mon(text)
                note_unread(f"{node}: {command}", parsed.extra)
                return parsed
            except CrmMonRefused as refused:
                return refused.said
            except ParseError:
                if last_try:
                    raise
        raise AssertionError("unreachable")

    def to_status(self, raw: Any, via: str = "", source: str = "crm_mon") -> ClusterStatus:
        """A parsed crm_mon record -> ClusterStatus. `local` marks the node the status came from."""
        local_member = self.member_name(via) if via else None
        members: dict[str, Member] = {}
        for n in raw.nodes.values():
            if n.type not in (None, "member"):
                continue  # remote and ping nodes are not cluster members
            name = self.node_name(n.name) or n.name
            flags = tuple(
                flag
                for flag, on in (("standby", n.standby), ("unclean", n.unclean), ("maintenance", n.maintenance), ("dc", n.is_dc))
                if on
            )
            node_id = int(n.id) if n.id is not None and str(n.id).isdigit() else None
            members[name] = Member(name=name, id=node_id, online=n.online, local=n.name == local_member, member_name=n.name, flags=flags)
        services: dict[str, ServiceState] = {}
        by_id: dict[str, list[Any]] = {}
        for r in raw.resources:
            by_id.setdefault(r.id, []).append(r)
        for rid, instances in by_id.items():
            nodes = tuple(self.node_name(n) or n for r in instances for n in r.nodes)
            first = instances[0]
            if any(r.failed for r in instances):
                state = FAILED
            elif not nodes and (first.target_role or "").lower() == "stopped":
                state = DISABLED
            else:
                state = _ROLES.get(first.role.lower(), first.role.lower())
            kind = (first.agent or "").split(":")[0] or "resource"
            services[rid] = ServiceState(
                name=rid,
                kind="vm" if (first.agent or "").endswith(":VirtualDomain") else kind,
                owner=nodes[0] if len(nodes) == 1 else None,
                state=state,
                raw_state=first.role,
                nodes=nodes,
            )
        return ClusterStatus(quorate=raw.quorum, members=members, services=services, via=via, source=source, raw=raw)

    # ------------------------------------------------------------ commands

    def _pcs(self, args: list[str], via: str | None, *, idempotent: bool = False,
             took_effect: Callable[[str], bool] | None = None) -> str:
        """`pcs ARGS` on `via`; `took_effect(node)`: whether a move whose connection dropped had been made."""
        node = self._via_for(via)
        cmd = "pcs " + " ".join(shlex.quote(a) for a in args)
        result = self._run(node, cmd, check=False, idempotent=idempotent,
                           took_effect=None if took_effect is None else (lambda: took_effect(node)))
        if result.exit_code != 0:
            raise ClusterRefused(node, cmd, result.exit_code, result.stdout, result.stderr)
        return result.stdout

    def enable(self, svc: str, node: str | None = None, via: str | None = None) -> None:
        if node is not None:
            try:
                self._move(svc, node, via)
            except ClusterRefused as exc:
                # pcs 0.11 moves only a running resource ("...as it is not running at the moment");
                # a stopped one starts where its location preferences put it
                if "not running" not in str(exc):
                    raise
        self._pcs(["resource", "enable", svc], via, idempotent=True)  # sets target-role: the same twice

    def disable(self, svc: str, via: str | None = None) -> None:
        self._pcs(["resource", "disable", svc], via, idempotent=True)

    def relocate(self, svc: str, node: str, via: str | None = None) -> None:
        """`pcs resource move` (a location constraint: `clear()` it once the move is checked)."""
        self._move(svc, node, via)

    def _move(self, svc: str, node: str, via: str | None) -> None:
        """A move is not repeated when its connection dropped after it was made: pcs refuses a
        resource already where it is sent; `moved` tells."""
        self._pcs(["resource", "move", svc, self.member_name(node)], via,
                  took_effect=lambda asked: self.moved(svc, node, asked))

    def moved(self, svc: str, node: str, via: str) -> bool:
        """Did a `pcs resource move SVC NODE` take effect? The resource runs on (or is on its way to) NODE,
        or a move's location constraint (`cli-prefer-SVC`) sends it there."""
        raw = self._crm_mon(via, "crm_mon --one-shot --inactive --output-as=xml")
        if not isinstance(raw, str):
            state = self.to_status(raw, via).services.get(svc)
            if state is not None and node in state.nodes:
                return True
        text = self._run(via, "cibadmin --query --scope constraints", check=False, idempotent=True).stdout
        return _prefers(text, svc, self.member_name(node))

    def migrate(self, vm: str, node: str, via: str | None = None) -> None:
        """A move; pacemaker live-migrates when the resource has allow-migrate=true."""
        self.relocate(vm, node, via)

    def clear(self, svc: str, via: str | None = None) -> None:
        """Remove the constraints `relocate`/`migrate`/`enable(node=)` left behind."""
        self._pcs(["resource", "clear", svc], via, idempotent=True)

    def reset_failures(self, svc: str, via: str | None = None) -> None:
        """`pcs resource cleanup`: fail counts cleared, so the node migration-threshold banned is allowed again."""
        self._pcs(["resource", "cleanup", svc], via, idempotent=True)

    def standby(self, node: str, on: bool = True, via: str | None = None) -> None:
        """`pcs node standby|unstandby NODE`: a node in standby hosts nothing; pacemaker moves its
        resources away (live, for those with allow-migrate)."""
        self._pcs(["node", "standby" if on else "unstandby", self.member_name(node)], via)

    def set_maintenance(self, on: bool, via: str | None = None) -> None:
        """`pcs property set maintenance-mode=true|false`: while on, the cluster starts, stops,
        monitors and recovers nothing."""
        self._pcs(["property", "set", f"maintenance-mode={'true' if on else 'false'}"], via)

    def stop_stack(self, node: str, whole_cluster: bool = False) -> None:
        # pcs refuses to stop the node whose departure loses quorum unless forced
        self._run(node, "pcs cluster stop --force" if whole_cluster else "pcs cluster stop")

    def start_stack(self, node: str) -> None:
        self._run(node, "pcs cluster start")

    def fence_setup(self, via: str | None = None) -> FenceSetup:
        """The CIB's configuration: stonith devices (agent, pcmk_host_list/map, plug) and the fencing topology."""
        _, text = self._first_answer(via, "cibadmin --query --scope configuration")
        return parse_cib_fencing(text)

    def fence_history(self, via: str | None = None) -> list[FenceEvent]:
        """`stonith_admin --history '*'`, parsed (empty when nothing was ever fenced)."""
        _, text = self._first_answer(via, "stonith_admin --history '*'")
        if not text.strip() or text.strip().lower().startswith("0 event"):
            return []
        return parse_stonith_history(text)


def _prefers(constraints_xml: str, svc: str, member: str) -> bool:
    """Does the CIB's constraints section hold a move's constraint (cli-prefer-SVC) sending SVC to MEMBER?"""
    try:
        root = ET.fromstring(constraints_xml)
    except ET.ParseError:
        return False
    for loc in root.iter("rsc_location"):
        if loc.get("id", "").startswith("cli-prefer-") and loc.get("rsc") == svc and loc.get("node") == member:
            return True
    return False
