"""Reachability in the simulated lab: which node answers an address (its own bonds' or one the
cluster registered), over which network, and whether a ping from a node gets through; files the
cluster provides on the nodes (`cat PATH`)."""

from __future__ import annotations

import ipaddress
from typing import Callable

from hacert.labsim.devices.bonding import BondModel
from hacert.labsim.world.records import Registered


class Reachability:
    """Part of World (hacert.labsim.world.model); runs under world.lock."""

    def address_of(self, node: str, network: str | None = None) -> str | None:
        """The node's address on `network` (default: the heartbeat network, else its first bond)."""
        spec = self.inventory.node(node)
        network = network or self.inventory.cluster.heartbeat_network
        for bond in spec.bonds:
            if network is None or bond.network == network:
                return bond.address
        return spec.bonds[0].address if spec.bonds else None

    def resolve(self, name: str) -> str | None:
        """Host name or address → address, as the nodes' /etc/hosts would."""
        try:
            ipaddress.ip_address(name)
            return name
        except ValueError:
            pass
        short = name.split(".")[0]
        for node in self.inventory.nodes:
            if name in (node.name, node.member_name) or short == node.name:
                parts = name.split(".")
                network = parts[1] if len(parts) > 1 and any(b.network == parts[1] for b in node.bonds) else None
                return self.address_of(node.name, network)
        for vm in self.inventory.vms:
            if short == vm.name:
                return vm.address
        return None

    def register_address(self, address: str, owner_fn: Callable[[], str | None], network: str | None = None) -> None:
        """`address` answers from whichever node `owner_fn()` names (None: nobody), reached
        over `network` (default: the network whose addresses are numerically closest)."""
        with self.lock:
            self._addresses[address] = Registered(owner_fn, network)

    def register_file(self, path: str, provider: Callable[[str], str | None]) -> None:
        """`cat PATH` on a node prints `provider(node)` (None: no such file)."""
        with self.lock:
            self._files[path] = provider

    def file_provider(self, path: str) -> Callable[[str], str | None] | None:
        return self._files.get(path)

    def _bond_on(self, node: str, network: str) -> BondModel | None:
        for bond in self.nodes[node].bonds.values():
            if bond.network == network:
                return bond
        return None

    def _network_for(self, address: str) -> str | None:
        try:
            target = int(ipaddress.ip_address(address))
        except ValueError:
            return None
        best: tuple[int, str] | None = None
        for node in self.inventory.nodes:
            for bond in node.bonds:
                distance = abs(int(ipaddress.ip_address(bond.address)) - target)
                if best is None or distance < best[0]:
                    best = (distance, bond.network)
        return best[1] if best else None

    def _egress_ok(self, node: str, network: str) -> bool:
        model = self.nodes[node]
        if model.state != "up":
            return False
        bond = self._bond_on(node, network)
        if bond is None or bond.active is None:
            return False
        nic = model.nics[bond.active]
        if not nic.carrier or nic.cable is None:
            return False
        return self.switches[nic.cable[0]].state == "up"

    def reachable(self, from_node: str, address: str) -> bool:
        """Would a ping from `from_node` to `address` be answered right now?"""
        with self.lock:
            if self.nodes[from_node].state != "up":
                return False
            if address in self._own_addresses:
                target, bond_name = self._own_addresses[address]
                network = self.nodes[target].bonds[bond_name].network
            elif address in self._addresses:
                registered = self._addresses[address]
                target = registered.owner()
                network = registered.network or self._network_for(address)
                if target is None or network is None:
                    return False
            else:
                return False
            if target == from_node:
                return True
            return self._egress_ok(from_node, network) and self._egress_ok(target, network)
