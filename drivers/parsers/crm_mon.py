"""`crm_mon --as-xml` (pacemaker 1.1, root <crm_mon>) and `crm_mon --output-as=xml`
(pacemaker 2.x, root <pacemaker-result>) -> CrmStatus."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime

from ._common import Unparsed, ParseError, element_text, parse_xml
from .fencing import FenceEvent

__all__ = ["CrmNode", "CrmResource", "CrmFailure", "CrmFailCount", "CrmStatus", "CrmMonRefused", "crm_time", "parse_crm_mon"]


class CrmMonRefused(ParseError):
    """crm_mon answered, in well-formed XML, with its own error instead of the cluster's status
    (pacemaker stopped, or still starting). ``said`` is that answer in one line."""

    def __init__(self, reason: str, line: str | None, said: str) -> None:
        super().__init__(reason, line)
        self.said = said


@dataclass(frozen=True)
class CrmNode:
    """A <nodes>/<node>. ``type`` is 'member', 'remote' or 'ping'."""

    name: str
    id: str | None
    online: bool
    standby: bool
    standby_onfail: bool
    maintenance: bool
    pending: bool
    unclean: bool
    shutdown: bool
    expected_up: bool
    is_dc: bool
    resources_running: int | None
    type: str | None


@dataclass(frozen=True)
class CrmResource:
    """A primitive <resource>, one per instance (clone instances repeat the id).

    ``nodes`` are the nodes it runs on (empty when stopped); ``group``,
    ``clone`` and ``bundle`` name the containers it sits in, if any;
    ``agent`` is resource_agent as printed ('ocf::heartbeat:IPaddr2',
    'stonith:fence_xvm').
    """

    id: str
    agent: str | None
    role: str
    active: bool
    failed: bool
    managed: bool
    blocked: bool
    orphaned: bool
    target_role: str | None
    nodes: list[str] = field(default_factory=list)
    group: str | None = None
    clone: str | None = None
    bundle: str | None = None


@dataclass(frozen=True)
class CrmFailure:
    """A <failures>/<failure> (a failed resource action). ``interval_ms`` is 0 for a one-time
    action (start, stop, probe), the recurring monitor's interval otherwise."""

    op_key: str
    node: str
    status: str | None
    exitstatus: str | None
    exitcode: int | None
    exitreason: str | None
    task: str | None
    call: int | None
    last_rc_change: str | None
    interval_ms: int | None = None

    @property
    def resource(self) -> str:
        """The resource id: op_key is '<resource>_<task>_<interval>'."""
        parts = self.op_key.rsplit("_", 2)
        return parts[0] if len(parts) == 3 else self.op_key


@dataclass(frozen=True)
class CrmFailCount:
    """A <node_history>/<node>/<resource_history> carrying a fail count (pacemaker keeps it per
    node and resource until a cleanup or its failure-timeout)."""

    node: str
    resource: str
    fail_count: int
    migration_threshold: int | None
    last_failure: str | None


@dataclass(frozen=True)
class CrmStatus:
    """The cluster as crm_mon sees it.

    ``schema`` is 'legacy' (<crm_mon version=...>, pacemaker 1.1) or
    'pacemaker-result' (2.x); ``version`` is the crm_mon version attribute or
    the api-version respectively. ``quorum`` comes from current_dc/@with_quorum
    (None without a DC). ``dc`` is current_dc/@name, or the node flagged
    is_dc when the DC element carries no name (pacemaker 2.0.4 regression
    output). ``fence_history`` is None when the XML has no <fence_history>
    element (not requested / not available), a list otherwise.
    """

    schema: str
    version: str | None
    quorum: bool | None
    dc: str | None
    nodes: dict[str, CrmNode]
    resources: list[CrmResource]
    failures: list[CrmFailure]
    fence_history: list[FenceEvent] | None
    nodes_configured: int | None = None
    resources_configured: int | None = None
    dc_version: str | None = None
    stack: str | None = None
    last_update: str | None = None
    last_change: str | None = None
    cluster_options: dict[str, str] = field(default_factory=dict)
    request: str | None = None
    fail_counts: list[CrmFailCount] = field(default_factory=list)
    extra: list[Unparsed] = field(default_factory=list)
    """elements this parser does not model, kept as their XML (tickets, bans, what a newer pacemaker adds)"""
    skipped: dict[str, int] = field(default_factory=dict)
    """known-harmless elements not read (the node attributes), counted by tag"""

    def resource(self, rid: str) -> list[CrmResource]:
        """Every instance of a resource id (clones have several)."""
        return [r for r in self.resources if r.id == rid]

    @property
    def online_nodes(self) -> list[str]:
        return [n.name for n in self.nodes.values() if n.online]


def _bool(elem: ET.Element, name: str) -> bool:
    return elem.get(name, "false").lower() == "true"


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().lstrip("-").isdigit() else None


def parse_crm_mon(text: str) -> CrmStatus:
    """Parse crm_mon XML of either generation."""
    root = parse_xml(text, "crm_mon XML")
    if root.tag == "crm_mon":
        schema, version = "legacy", root.get("version")
    elif root.tag == "pacemaker-result":
        schema, version = "pacemaker-result", root.get("api-version")
    else:
        raise ParseError("crm_mon XML: root is neither <crm_mon> nor <pacemaker-result>", element_text(root))
    summary = root.find("summary")
    if summary is None:
        status = root.find("status")
        if status is not None and status.get("code") not in (None, "0"):
            code, message = status.get("code"), status.get("message")
            raise CrmMonRefused(f"crm_mon XML: crm_mon failed (code {code}: {message})", element_text(status),
                                f"{message} (code {code})")
        errors = [e.text or "" for e in root.iterfind("status/errors/error")]
        if errors:  # pacemaker 2.1 while its CIB is not up yet: code 0 ("OK"), exit 0, no cluster status
            raise CrmMonRefused(f"crm_mon XML: no cluster status: {'; '.join(errors)}", element_text(root),
                                "; ".join(errors) + " (pacemaker still starting)")
        raise ParseError("crm_mon XML: no <summary> element", element_text(root))

    nodes = {}
    for node in root.iterfind("nodes/node"):
        name = node.get("name")
        if name is None:
            raise ParseError("crm_mon XML: <node> without name", element_text(node))
        nodes[name] = CrmNode(
            name=name, id=node.get("id"), online=_bool(node, "online"), standby=_bool(node, "standby"),
            standby_onfail=_bool(node, "standby_onfail"), maintenance=_bool(node, "maintenance"),
            pending=_bool(node, "pending"), unclean=_bool(node, "unclean"), shutdown=_bool(node, "shutdown"),
            expected_up=_bool(node, "expected_up"), is_dc=_bool(node, "is_dc"),
            resources_running=_int(node.get("resources_running")), type=node.get("type"),
        )

    dc_elem = summary.find("current_dc")
    dc = quorum = dc_version = None
    if dc_elem is not None and dc_elem.get("present", "true") == "true":
        dc = dc_elem.get("name") or next((n.name for n in nodes.values() if n.is_dc), None)
        quorum = _bool(dc_elem, "with_quorum") if dc_elem.get("with_quorum") is not None else None
        dc_version = dc_elem.get("version") or None

    resources: list[CrmResource] = []
    res_root = root.find("resources")
    if res_root is not None:
        _collect(res_root, {}, resources)

    failures = []
    for f in root.iterfind("failures/failure"):
        if f.get("op_key") is None or f.get("node") is None:
            raise ParseError("crm_mon XML: <failure> without op_key or node", element_text(f))
        failures.append(CrmFailure(
            op_key=f.get("op_key"), node=f.get("node"), status=f.get("status"),
            exitstatus=f.get("exitstatus"), exitcode=_int(f.get("exitcode")), exitreason=f.get("exitreason"),
            task=f.get("task"), call=_int(f.get("call")), last_rc_change=f.get("last-rc-change"),
            interval_ms=_int(f.get("interval")),
        ))

    fail_counts = []
    for node in root.iterfind("node_history/node"):
        for history in node.iterfind("resource_history"):
            count = history.get("fail-count")
            if count is None:
                continue
            if node.get("name") is None or history.get("id") is None:
                raise ParseError("crm_mon XML: <resource_history> without its node or id", element_text(history))
            fail_counts.append(CrmFailCount(
                node=node.get("name"), resource=history.get("id"), fail_count=_fail_count(count, history),
                migration_threshold=_int(history.get("migration-threshold")), last_failure=history.get("last-failure"),
            ))

    history_elem = root.find("fence_history")
    history = None
    if history_elem is not None:
        history = [_fence_event(e) for e in history_elem.iterfind("fence_event")]

    def summary_attr(tag: str, attr: str) -> str | None:
        e = summary.find(tag)
        return None if e is None else e.get(attr)

    options = summary.find("cluster_options")
    extra, skipped = _unmodelled(root, res_root)
    return CrmStatus(
        schema=schema, version=version, quorum=quorum, dc=dc, nodes=nodes, resources=resources,
        failures=failures, fence_history=history,
        nodes_configured=_int(summary_attr("nodes_configured", "number")),
        resources_configured=_int(summary_attr("resources_configured", "number")),
        dc_version=dc_version, stack=summary_attr("stack", "type"),
        last_update=summary_attr("last_update", "time") or None,
        last_change=summary_attr("last_change", "time") or None,
        cluster_options=dict(options.attrib) if options is not None else {},
        request=root.get("request"),
        fail_counts=fail_counts,
        extra=extra, skipped=skipped,
    )


# What parse_crm_mon reads, per element; anything else is kept in `extra` (or counted, when harmless).
_MODELLED = {
    "": {"summary", "nodes", "resources", "node_history", "failures", "fence_history", "status"},
    "summary": {"stack", "current_dc", "last_update", "last_change", "nodes_configured", "resources_configured",
                "cluster_options"},
    "nodes": {"node"},
    "failures": {"failure"},
    "node_history": {"node"},
    "fence_history": {"fence_event"},
}
_HARMLESS = {"node_attributes"}  # attribute values per node: nothing the harness judges
_RESOURCE_TAGS = {"resource", "group", "clone", "bundle", "replica"}


def _unmodelled(root: ET.Element, resources: ET.Element | None) -> tuple[list[Unparsed], dict[str, int]]:
    extra: list[Unparsed] = []
    skipped: dict[str, int] = {}

    def keep(path: str, elem: ET.Element) -> None:
        if len(elem) == 0 and not elem.attrib and not (elem.text or "").strip():
            skipped[f"empty {elem.tag}"] = skipped.get(f"empty {elem.tag}", 0) + 1  # says "none": harmless
            return
        extra.append(Unparsed(f"{path}/{elem.tag}", ET.tostring(elem, encoding="unicode").strip(), "not modelled"))

    for section, known in _MODELLED.items():
        parent = root if not section else root.find(section)
        for child in parent if parent is not None else ():
            if child.tag in known:
                continue
            if not section and child.tag in _HARMLESS:
                skipped[child.tag] = skipped.get(child.tag, 0) + 1
            else:
                keep(root.tag + (f"/{section}" if section else ""), child)

    def walk(elem: ET.Element, path: str) -> None:
        for child in elem:
            if child.tag in _RESOURCE_TAGS - {"resource"}:
                walk(child, f"{path}/{child.tag}")
            elif child.tag != "resource":
                keep(path, child)

    if resources is not None:
        walk(resources, f"{root.tag}/resources")
    return extra, skipped


def _fail_count(text: str, elem: ET.Element) -> int:
    """A fail count; pacemaker prints INFINITY as 1000000 (and some versions the word itself)."""
    if text.strip().upper() in ("INFINITY", "+INFINITY"):
        return 1000000
    value = _int(text)
    if value is None:
        raise ParseError(f"crm_mon XML: fail-count {text!r} is not a number", element_text(elem))
    return value


_CTIME = re.compile(r"^(?:[A-Z][a-z]{2} )?(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<time>\d\d:\d\d:\d\d) (?P<year>\d{4})$")
_ISO = re.compile(r"^(?P<date>\d{4}-\d\d-\d\d)[ T](?P<time>\d\d:\d\d:\d\d)(?:\.\d+)? ?(?P<zone>Z|[+-]\d\d:?\d\d)?$")


def crm_time(text: str | None) -> datetime | None:
    """A crm_mon time stamp: 'Thu Mar 26 05:58:43 2020' (ctime, the node's local time; pacemaker
    1.1, 2.0 and the node history) or '2026-12-06 23:28:35Z' / '2025-01-08 08:59:30 +09:00'
    (pacemaker 2.1's <failure> last-rc-change, with its zone). None for a missing or unknown stamp."""
    if not text:
        return None
    text = text.strip()
    if m := _CTIME.match(text):
        try:
            return datetime.strptime(f"{m['mon']} {m['day']} {m['time']} {m['year']}", "%b %d %H:%M:%S %Y")
        except ValueError:
            return None
    if m := _ISO.match(text):
        zone = m["zone"] or ""
        zone = "+00:00" if zone == "Z" else (zone if ":" in zone or not zone else f"{zone[:3]}:{zone[3:]}")
        try:
            return datetime.fromisoformat(f"{m['date']}T{m['time']}{zone}")
        except ValueError:
            return None
    return None


def _collect(elem: ET.Element, context: dict[str, str], out: list[CrmResource]) -> None:
    for child in elem:
        if child.tag == "resource":
            if child.get("id") is None or child.get("role") is None:
                raise ParseError("crm_mon XML: <resource> without id or role", element_text(child))
            out.append(CrmResource(
                id=child.get("id"), agent=child.get("resource_agent"), role=child.get("role"),
                active=_bool(child, "active"), failed=_bool(child, "failed"),
                managed=child.get("managed", "true") == "true", blocked=_bool(child, "blocked"),
                orphaned=_bool(child, "orphaned"), target_role=child.get("target_role"),
                nodes=[n.get("name") for n in child.iterfind("node") if n.get("name")],
                group=context.get("group"), clone=context.get("clone"), bundle=context.get("bundle"),
            ))
        elif child.tag in ("group", "clone", "bundle"):
            _collect(child, {**context, child.tag: child.get("id")}, out)
        elif child.tag == "replica":
            _collect(child, context, out)


def _fence_event(e: ET.Element) -> FenceEvent:
    state = e.get("state") or e.get("status")
    if e.get("target") is None or e.get("action") is None or state is None:
        raise ParseError("crm_mon XML: <fence_event> without target, action or state", element_text(e))
    return FenceEvent(
        target=e.get("target"), action=e.get("action"), state=state, origin=e.get("origin"),
        client=e.get("client"), delegate=e.get("delegate") or None, completed=e.get("completed"),
        exit_reason=e.get("exit-reason") or None,
    )
