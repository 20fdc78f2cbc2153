"""`cman_tool status` -> CmanStatus and `cman_tool nodes` -> list[CmanNode]."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._common import ParseError, nonblank_lines, split_key_value, to_int

__all__ = ["CmanStatus", "CmanNode", "parse_cman_status", "parse_cman_nodes"]


@dataclass(frozen=True)
class CmanStatus:
    """`cman_tool status`.

    ``node_votes`` and ``quorum_device_votes`` are None when cman does not
    print them (no qdisk, older builds). ``activity_blocked`` is True when the
    quorum line reads 'Quorum: 2 Activity blocked' (cman's inquorate marker);
    ``quorate`` is False then, otherwise total_votes >= quorum. ``flags`` is
    the 'Flags:' line split into words ([] when empty), e.g. ['2node'],
    ['Dirty']. ``extra`` keeps lines this parser does not name.
    """

    version: str
    config_version: int
    cluster_name: str
    cluster_id: int | None
    cluster_member: bool | None
    cluster_generation: int | None
    membership_state: str | None
    nodes: int
    expected_votes: int
    total_votes: int
    node_votes: int | None
    quorum_device_votes: int | None
    quorum: int
    activity_blocked: bool
    active_subsystems: int | None
    flags: list[str]
    ports_bound: list[int]
    node_name: str
    node_id: int
    multicast_addresses: list[str]
    node_addresses: list[str]
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def quorate(self) -> bool:
        return not self.activity_blocked and self.total_votes >= self.quorum


_INT_KEYS = {
    "Config Version": "config_version",
    "Cluster Id": "cluster_id",
    "Cluster Generation": "cluster_generation",
    "Nodes": "nodes",
    "Expected votes": "expected_votes",
    "Total votes": "total_votes",
    "Node votes": "node_votes",
    "Quorum device votes": "quorum_device_votes",
    "Active subsystems": "active_subsystems",
    "Node ID": "node_id",
}
_TEXT_KEYS = {
    "Version": "version",
    "Cluster Name": "cluster_name",
    "Membership state": "membership_state",
    "Node name": "node_name",
}
_LIST_KEYS = {
    "Flags": "flags",
    "Multicast addresses": "multicast_addresses",
    "Node addresses": "node_addresses",
}
_REQUIRED = ("version", "config_version", "cluster_name", "nodes", "expected_votes",
             "total_votes", "quorum", "node_name", "node_id")
_OPTIONAL = {"cluster_id": None, "cluster_member": None, "cluster_generation": None,
             "membership_state": None, "node_votes": None, "quorum_device_votes": None,
             "active_subsystems": None, "flags": [], "ports_bound": [],
             "multicast_addresses": [], "node_addresses": []}


def parse_cman_status(text: str) -> CmanStatus:
    """Parse `cman_tool status` (trailing spaces and indentation tolerated)."""
    lines = nonblank_lines(text, "cman_tool status")
    values: dict = {"activity_blocked": False}
    extra: dict[str, str] = {}
    for lineno, raw in lines:
        line = raw.strip()
        key, value = split_key_value(line, lineno, "cman_tool status")
        if key in _INT_KEYS:
            values[_INT_KEYS[key]] = to_int(value, raw, lineno, "cman_tool status")
        elif key in _TEXT_KEYS:
            values[_TEXT_KEYS[key]] = value
        elif key in _LIST_KEYS:
            values[_LIST_KEYS[key]] = value.split()
        elif key == "Quorum":
            m = re.fullmatch(r"(\d+)\s*(Activity blocked)?", value)
            if not m:
                raise ParseError("cman_tool status: unreadable Quorum", raw, lineno)
            values["quorum"] = int(m.group(1))
            values["activity_blocked"] = m.group(2) is not None
        elif key == "Ports Bound":
            values["ports_bound"] = [to_int(p, raw, lineno, "cman_tool status") for p in value.split()]
        elif key == "Cluster Member":
            values["cluster_member"] = value == "Yes"
        else:
            extra[key] = value
    for name in _REQUIRED:
        if name not in values:
            raise ParseError(f"cman_tool status: no {name} line (truncated output?)", lines[-1][1], lines[-1][0])
    return CmanStatus(**{**_OPTIONAL, **values}, extra=extra)


@dataclass(frozen=True)
class CmanNode:
    """One `cman_tool nodes` row. ``status`` is the Sts letter: M member,
    X dead, d disallowed; ``joined`` is None for nodes that never joined;
    ``addresses`` come from the indented 'Addresses:' lines of `-a`."""

    node_id: int
    status: str
    incarnation: int
    joined: str | None
    name: str
    addresses: list[str] = field(default_factory=list)

    @property
    def member(self) -> bool:
        return self.status == "M"


_NODES_HEAD = re.compile(r"^Node\s+Sts\s+Inc\s+Joined\s+Name$")
_NODE_ROW = re.compile(r"^(\d+)\s+([MXd])\s+(\d+)\s+(?:(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s+)?(\S+)$")


def parse_cman_nodes(text: str) -> list[CmanNode]:
    """Parse `cman_tool nodes [-a]` (the 'NOTE: ... disallowed nodes' preamble is skipped)."""
    lines = [(n, raw) for n, raw in nonblank_lines(text, "cman_tool nodes")
             if not raw.startswith(("NOTE: There are", "      members list may seem"))]
    if not lines:
        raise ParseError("cman_tool nodes: no node table", text.strip().splitlines()[-1])
    head_no, head = lines[0]
    if not _NODES_HEAD.match(head.strip()):
        raise ParseError("cman_tool nodes: expected the 'Node  Sts   Inc   Joined   Name' header", head, head_no)
    rows: list[list] = []
    for lineno, raw in lines[1:]:
        line = raw.strip()
        if line.startswith("Addresses:") and rows:
            rows[-1][5].extend(line.partition(":")[2].split())
            continue
        m = _NODE_ROW.match(line)
        if not m:
            raise ParseError("cman_tool nodes: unrecognised row", raw, lineno)
        rows.append([int(m.group(1)), m.group(2), int(m.group(3)), m.group(4), m.group(5), []])
    return [CmanNode(*row) for row in rows]
