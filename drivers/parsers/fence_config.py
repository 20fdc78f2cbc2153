"""A cluster's fence configuration: which devices exist, of which agent, and which of them fence
which node in which order.

    parse_cluster_conf(text)  /etc/cluster/cluster.conf (cman/rgmanager)      -> FenceSetup
    parse_cib_fencing(text)   cibadmin --query [--scope configuration] (pacemaker) -> FenceSetup

cluster.conf: each `<clusternode>` lists `<fence><method name=...><device name=... port=.../>`;
a `<fencedevice name=... agent=...>` says what the device is. fenced tries the methods in order
and logs a failure as "dev M.D" (M = the method's index, D = the device's index in it).

CIB: every `<primitive class="stonith" type="AGENT">` is a device; which nodes it fences comes
from its `pcmk_host_list` / `pcmk_host_map` and the `<fencing-topology>` levels, which also give
the order (level 1 first). Without a topology every device that names the node is one method,
in CIB order (`ordered` is then False: pacemaker picks them by priority).

Only the attributes that say what and whom a device fences are kept (`KEPT_PARAMETERS`); passwords,
logins and communities are never read into the records.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ._common import ParseError

__all__ = ["FenceDeviceConf", "FenceMethodConf", "FenceSetup", "FenceUse", "KEPT_PARAMETERS", "parse_cib_fencing", "parse_cluster_conf"]

KEPT_PARAMETERS = frozenset({
    "ip", "ipaddr", "ipport", "udpport", "port", "plug", "nodename", "devices", "key",
    "pcmk_host_list", "pcmk_host_map", "pcmk_host_check", "pcmk_host_argument",
})
"""Attributes that say where a device is and whom it fences (never credentials)."""


@dataclass(frozen=True)
class FenceDeviceConf:
    """One configured fence device: its name (cluster.conf name, CIB id) and agent ('fence_ipmilan')."""

    name: str
    agent: str
    params: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def address(self) -> str | None:
        return self.params.get("ip") or self.params.get("ipaddr")

    @property
    def host_list(self) -> list[str]:
        """pcmk_host_list's names (pacemaker splits it on commas and blanks)."""
        return [h for h in re.split(r"[\s,;]+", self.params.get("pcmk_host_list", "")) if h]

    @property
    def host_map(self) -> dict[str, str]:
        """pcmk_host_map: 'node1:1;node2:2' (also comma- or blank-separated) -> {node: port}."""
        out: dict[str, str] = {}
        for item in re.split(r"[\s,;]+", self.params.get("pcmk_host_map", "")):
            if ":" in item or "=" in item:
                node, _, port = item.replace("=", ":").partition(":")
                if node:
                    out[node] = port
        return out


@dataclass(frozen=True)
class FenceUse:
    """A device as one method uses it for one node: the port/plug it acts on for that node."""

    device: str
    port: str | None = None


@dataclass(frozen=True)
class FenceMethodConf:
    """One fence method (a cman `<method>`, a pacemaker topology level): every device must succeed."""

    name: str
    uses: tuple[FenceUse, ...]


@dataclass(frozen=True)
class FenceSetup:
    """The fence configuration as the cluster holds it, by the cluster's own node names."""

    source: str  # 'cluster.conf' | 'cib'
    devices: dict[str, FenceDeviceConf]
    methods: dict[str, tuple[FenceMethodConf, ...]]
    ordered: bool = True
    """False: pacemaker without a fencing topology (the order of `methods` is the CIB's, not the fencer's)."""


def _xml(text: str, what: str) -> ET.Element:
    start = text.find("<")
    if start < 0:
        raise ParseError(f"{what}: no XML in the output", text.strip().splitlines()[0] if text.strip() else "")
    body = text[start:]
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        lines = body.splitlines()
        raise ParseError(f"{what}: not well-formed XML ({exc})", lines[min(exc.position[0], len(lines)) - 1]) from None


def _kept(attrs: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in attrs.items() if k in KEPT_PARAMETERS}


# ---------------------------------------------------------------- cman / rgmanager


def parse_cluster_conf(text: str) -> FenceSetup:
    """/etc/cluster/cluster.conf -> the fence devices and each node's methods (in order)."""
    root = _xml(text, "cluster.conf")
    if root.tag != "cluster":
        raise ParseError(f"cluster.conf: the root element is <{root.tag}>, not <cluster>", root.tag)
    devices: dict[str, FenceDeviceConf] = {}
    for dev in root.iter("fencedevice"):
        name, agent = dev.get("name"), dev.get("agent")
        if not name or not agent:
            raise ParseError("cluster.conf: a <fencedevice> without name or agent", ET.tostring(dev, encoding="unicode").strip())
        devices[name] = FenceDeviceConf(name, agent, _kept(dict(dev.attrib)))
    methods: dict[str, tuple[FenceMethodConf, ...]] = {}
    for node in root.iter("clusternode"):
        name = node.get("name")
        if not name:
            raise ParseError("cluster.conf: a <clusternode> without a name", ET.tostring(node, encoding="unicode").strip())
        found = []
        for index, method in enumerate(node.findall("./fence/method")):
            uses = []
            for dev in method.findall("device"):
                ref = dev.get("name")
                if not ref:
                    raise ParseError(f"cluster.conf: a <device> without a name in {name}'s method {index}",
                                     ET.tostring(dev, encoding="unicode").strip())
                uses.append(FenceUse(ref, dev.get("port") or dev.get("plug") or dev.get("nodename")))
            found.append(FenceMethodConf(method.get("name") or str(index), tuple(uses)))
        methods[name] = tuple(found)
    return FenceSetup("cluster.conf", devices, methods)


# ---------------------------------------------------------------- pacemaker


def parse_cib_fencing(text: str) -> FenceSetup:
    """`cibadmin --query` (the whole CIB or `--scope configuration`) -> the stonith devices and,
    per node, its levels in order."""
    root = _xml(text, "CIB")
    devices: dict[str, FenceDeviceConf] = {}
    for prim in root.iter("primitive"):
        if prim.get("class") != "stonith":
            continue
        params: dict[str, str] = {}
        for attrs in prim.findall("instance_attributes"):
            for pair in attrs.findall("nvpair"):
                if pair.get("name") and pair.get("value") is not None:
                    params[pair.get("name", "")] = pair.get("value", "")
        rid, agent = prim.get("id"), prim.get("type")
        if not rid or not agent:
            raise ParseError("CIB: a stonith primitive without id or type", ET.tostring(prim, encoding="unicode").strip()[:200])
        devices[rid] = FenceDeviceConf(rid, agent, _kept(params))
    if not devices and root.find(".//resources") is None and root.tag != "resources":
        raise ParseError("CIB: no <resources> section in the output", text.strip().splitlines()[0] if text.strip() else "")
    nodes = [n.get("uname") for n in root.iter("node") if n.get("uname") and n.get("type", "member") == "member"]
    levels: dict[str, list[tuple[int, FenceMethodConf]]] = {}
    topology = list(root.iter("fencing-level"))
    for level in topology:
        index = int(level.get("index", "0"))
        targets = _level_targets(level, nodes, devices)
        names = [d for d in re.split(r"[\s,]+", level.get("devices", "")) if d]
        for target in targets:
            uses = tuple(FenceUse(d, _port_for(devices.get(d), target)) for d in names)
            levels.setdefault(target, []).append((index, FenceMethodConf(str(index), uses)))
    methods: dict[str, tuple[FenceMethodConf, ...]] = {
        target: tuple(m for _, m in sorted(found, key=lambda pair: pair[0])) for target, found in levels.items()}
    if topology:
        return FenceSetup("cib", devices, methods)
    for dev in devices.values():
        for target in list(dev.host_list) + [n for n in dev.host_map if n not in dev.host_list]:
            methods.setdefault(target, ())
            methods[target] += (FenceMethodConf(dev.name, (FenceUse(dev.name, _port_for(dev, target)),)),)
    return FenceSetup("cib", devices, methods, ordered=False)


def _level_targets(level: ET.Element, nodes: list[str | None], devices: dict[str, FenceDeviceConf]) -> list[str]:
    if level.get("target"):
        return [level.get("target", "")]
    pattern = level.get("target-pattern")
    if pattern:
        known = [n for n in nodes if n] or sorted({h for d in devices.values() for h in d.host_list})
        return [n for n in known if re.fullmatch(pattern, n)]
    return []  # target-attribute: the node attribute's values are in the status section, not here


def _port_for(dev: FenceDeviceConf | None, target: str) -> str | None:
    if dev is None:
        return None
    mapped = dev.host_map.get(target)
    if mapped:
        return mapped
    return dev.params.get("plug") or dev.params.get("port")
