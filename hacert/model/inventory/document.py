"""The whole inventory of one lab (`Inventory`) and its look-ups by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    PrivateAttr,
)

from hacert.model.inventory.common import Name, Strict
from hacert.model.inventory.expectations import Expectations, Safety
from hacert.model.inventory.lab import Cluster, FailoverDomain, Node, Pdu, Service, Switch, Vm
from hacert.model.inventory.simulation import Simulation


class Inventory(Strict):
    lab: Name
    description: str = ""
    cluster: Cluster
    nodes: list[Node] = Field(min_length=2)
    pdus: list[Pdu] = []
    switches: list[Switch] = []
    failover_domains: list[FailoverDomain] = []
    vms: list[Vm] = []
    services: list[Service] = []
    expectations: Expectations = Expectations()
    safety: Safety = Safety()
    simulation: Simulation | None = None
    netlab: dict[str, Any] | None = None

    _source: Path | None = PrivateAttr(default=None)
    _checksum: str = PrivateAttr(default="")

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def checksum(self) -> str:
        return self._checksum

    @property
    def simulated(self) -> bool:
        return self.simulation is not None

    def node(self, name: str) -> Node:
        return _by_name(self.nodes, name, "node")

    def node_by_member(self, member_name: str) -> Node:
        for node in self.nodes:
            if member_name in (node.member_name, node.name) or member_name.split(".")[0] == node.name:
                return node
        raise KeyError(f"no node is called {member_name!r} in the cluster")

    def pdu(self, name: str) -> Pdu:
        return _by_name(self.pdus, name, "PDU")

    def switch(self, name: str) -> Switch:
        return _by_name(self.switches, name, "switch")

    def vm(self, name: str) -> Vm:
        return _by_name(self.vms, name, "VM")

    def domain(self, name: str) -> FailoverDomain:
        return _by_name(self.failover_domains, name, "failover domain")

    def peers(self, node: str) -> list[Node]:
        return [n for n in self.nodes if n.name != node]

    def vms_on(self, node: str) -> list[Vm]:
        return [vm for vm in self.vms if vm.home == node]

    def bond_peer(self, node: str, bond: str) -> tuple[str, str]:
        """(peer node name, peer address) to ping across `bond`'s network from `node`."""
        own = self.node(node).bond(bond)
        for peer in self.peers(node):
            for other in peer.bonds:
                if other.network == own.network and (own.ping_peer in (None, other.address)):
                    return peer.name, other.address
        if own.ping_peer:
            return "", own.ping_peer
        raise KeyError(f"no peer on network {own.network} for {node}/{bond}")

    def vm_candidates(self, vm: str) -> list[str]:
        """Nodes a VM may run on, in the failover domain's priority order."""
        spec = self.vm(vm)
        if spec.domain:
            return list(self.domain(spec.domain).nodes)
        return [spec.home] + [n.name for n in self.peers(spec.home)]

    def fault(self, name: str, target: str | None = None) -> bool:
        return self.simulation is not None and self.simulation.fault(name, target)

    def adversity(self, name: str, target: str | None = None) -> bool:
        return self.simulation is not None and self.simulation.adversity(name, target)

    def clock_offset(self, node: str) -> float:
        """Seconds a simulated node's clock runs ahead of the controller's (0 on real labs: measured there)."""
        return float(self.simulation.clock_offsets.get(node, 0.0)) if self.simulation is not None else 0.0


def _by_name(items: list[Any], name: str, what: str) -> Any:
    for item in items:
        if item.name == name:
            return item
    raise KeyError(f"no {what} named {name!r} (known: {', '.join(i.name for i in items)})")
