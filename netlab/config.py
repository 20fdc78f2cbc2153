"""The `netlab:` section of an inventory, and the names/addresses netlab derives from it.

Everything netlab creates on the host is named with `prefix` (network namespaces,
the management bridge, veth ends). Addresses come from `subnet` (a /24 used only
inside netlab's own namespaces): node i (0-based) .11+i, its BMC .101+i, switch j .151+j, PDU j .201+j.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hacert.model.inventory import Inventory


FAKETIME_LIBRARY = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
"""Debian's libfaketime (package libfaketime, pulled in by faketime)."""


class NetlabError(RuntimeError):
    """netlab cannot build or run the lab (what is missing is in the message)."""


@dataclass(frozen=True)
class NetlabSettings:
    prefix: str = "hn-"
    subnet: str = "10.213.7"
    boot_delay: float = 6.0
    """Seconds from power on to the node's init (its BIOS and kernel): long enough that a node fenced while
    still a member cannot start its stack before the survivor's fence agent confirmed the power-on (a node
    back in ~1 s rejoined first and stopped itself: "We were allegedly just fenced")."""
    stack_at_boot: bool = True
    workdir: str = "/tmp/netlab"
    ready_timeout: float = 120.0
    token_ms: int = 3000
    fence_delay: int = 5  # seconds, on the first node's IPMI device (against fence races)
    fence_names: str = "misleading"  # stonith ids: misleading (fence-pilot-pduK is a BMC, st-nodeK-bmc an outlet) | plain
    dummies: int = 2
    no_stack_at_boot: tuple[str, ...] = ()
    # bonds (user-space, like the kernel's active-backup) and switches
    bond_miimon_ms: int = 100
    bond_updelay_ms: int = 2000
    bond_downdelay_ms: int = 0
    bond_status_dir: str = "/run/netlab/bonding"
    prefix_length: int = 16
    switch_boot: float = 3.0
    switch_bounces: int = 2
    switch_bounce_interval: float = 1.0
    # guests (part 2)
    vm_network: str = "ifn"
    guest_memory_mb: int = 128
    # node clocks: seconds a node's clock runs ahead of the host's (negative: behind), by libfaketime
    # preloaded into the node's init and everything it starts, and into every SSH session
    clock_offsets: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def of(inv: Inventory) -> "NetlabSettings":
        raw: dict[str, Any] = dict(inv.netlab or {})
        known = set(NetlabSettings.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise NetlabError(f"netlab: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        if "no_stack_at_boot" in raw:
            raw["no_stack_at_boot"] = tuple(raw["no_stack_at_boot"])
        offsets = raw.get("clock_offsets") or {}
        if not isinstance(offsets, dict):
            raise NetlabError(f"netlab.clock_offsets must map node names to seconds (got {offsets!r})")
        nodes = {n.name for n in inv.nodes}
        for node, seconds in offsets.items():
            if node not in nodes:
                raise NetlabError(f"netlab.clock_offsets: {node!r} is no node of this lab (nodes: {', '.join(sorted(nodes))})")
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or abs(seconds) > 86400:
                raise NetlabError(f"netlab.clock_offsets.{node} must be seconds within a day (got {seconds!r})")
        raw["clock_offsets"] = {node: float(seconds) for node, seconds in offsets.items()}
        settings = NetlabSettings(**raw)
        if settings.fence_names not in ("misleading", "plain"):
            raise NetlabError(f"netlab.fence_names must be 'misleading' or 'plain' (got {settings.fence_names!r})")
        if not re.fullmatch(r"[a-z][a-z0-9]{0,3}-", settings.prefix):
            raise NetlabError(f"netlab.prefix must be 1-4 lowercase letters/digits and a dash (got {settings.prefix!r})")
        if not re.fullmatch(r"(10|172\.(1[6-9]|2\d|3[01])|192\.168)(\.\d{1,3}){0,2}", settings.subnet) \
                or settings.subnet.count(".") != 2:
            raise NetlabError(f"netlab.subnet must be the first three octets of a private /24 (got {settings.subnet!r})")
        return settings


@dataclass(frozen=True)
class Plan:
    """Names and addresses of one lab's netlab objects."""

    inventory: Inventory
    settings: NetlabSettings
    workdir: Path
    nodes: list[str] = field(default_factory=list)

    @staticmethod
    def of(inv: Inventory, workdir: Path | None = None) -> "Plan":
        settings = NetlabSettings.of(inv)
        if len(inv.nodes) > 8:
            raise NetlabError("netlab builds at most 8 nodes")
        return Plan(inv, settings, Path(workdir or settings.workdir) / inv.lab, [n.name for n in inv.nodes])

    @property
    def prefix(self) -> str:
        return self.settings.prefix

    @property
    def mgmt_ns(self) -> str:
        return f"{self.prefix}mgmt"

    @property
    def bridge(self) -> str:
        return f"{self.prefix}br0"

    def node_ns(self, node: str) -> str:
        return f"{self.prefix}{node}"

    def index(self, node: str) -> int:
        return self.nodes.index(node)

    def veth(self, node: str) -> str:
        return f"{self.prefix}n{self.index(node)}"

    def node_ip(self, node: str) -> str:
        return f"{self.settings.subnet}.{11 + self.index(node)}"

    def bmc_ip(self, node: str) -> str:
        return f"{self.settings.subnet}.{101 + self.index(node)}"

    def pdu_ip(self, pdu: str) -> str:
        return f"{self.settings.subnet}.{201 + [p.name for p in self.inventory.pdus].index(pdu)}"

    def switch_ns(self, switch: str) -> str:
        return f"{self.prefix}sw-{switch}"

    def switch_ip(self, switch: str) -> str:
        return f"{self.settings.subnet}.{151 + [s.name for s in self.inventory.switches].index(switch)}"

    def ring_ip(self, node: str) -> str:
        """The node's corosync address: its bond on the cluster's heartbeat network, else its management address."""
        network = self.inventory.cluster.heartbeat_network
        for bond in self.inventory.node(node).bonds:
            if bond.network == network:
                return bond.address
        return self.node_ip(node)

    @property
    def mgmt_ip(self) -> str:
        return f"{self.settings.subnet}.1"

    def node_dir(self, node: str) -> Path:
        return self.workdir / "nodes" / node

    def clock_env(self, node: str) -> dict[str, str]:
        """The environment that puts `node` on its own clock (netlab.clock_offsets) through Debian's
        libfaketime: the wall clock shifted, the monotonic clocks left alone (corosync's and
        pacemaker's timers run on them); empty for a node on the host's clock."""
        offset = self.settings.clock_offsets.get(node)
        if not offset:
            return {}
        return {"LD_PRELOAD": FAKETIME_LIBRARY, "FAKETIME": f"{offset:+g}s", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
