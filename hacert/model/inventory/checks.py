"""Cross-checks no single section can see: references between sections, shared outlets and ports,
secrets that must exist."""

from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
)

from hacert.model.inventory.common import key_path
from hacert.model.inventory.document import Inventory
from hacert.model.inventory.lab import Node, SlaveLink

# ---------------------------------------------------------------- cross-checks


def cross_check(inv: Inventory, environ: typing.Mapping[str, str], base: Path) -> list[tuple[tuple[Any, ...], str]]:
    """Problems that no single section can see: references, sharing, secrets."""
    out: list[tuple[tuple[Any, ...], str]] = []

    def unique(items: list[Any], section: str) -> set[str]:
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item.name in seen:
                out.append(((section, i, "name"), f"duplicate name {item.name!r}"))
            seen.add(item.name)
        return seen

    node_names = unique(inv.nodes, "nodes")
    pdu_names = unique(inv.pdus, "pdus")
    switch_names = unique(inv.switches, "switches")
    domain_names = unique(inv.failover_domains, "failover_domains")
    unique(inv.vms, "vms")
    unique(inv.services, "services")
    pdu_outlets = {p.name: p.outlets for p in inv.pdus}
    out += [(("cluster", "fence_delay", n), f"{n!r} is no node of this lab") for n in inv.cluster.fence_delay if n not in node_names]

    outlet_users: dict[tuple[str, int], list[tuple[tuple[Any, ...], bool]]] = {}

    def check_outlet(loc: tuple[Any, ...], pdu: str | None, outlet: int | None, shared: bool) -> None:
        if pdu is None or outlet is None:
            return
        if pdu not in pdu_names:
            out.append((loc + ("pdu",), f"PDU {pdu!r} is not in pdus ({', '.join(sorted(pdu_names)) or 'none'})"))
            return
        if outlet > pdu_outlets[pdu]:
            out.append((loc + ("outlet",), f"PDU {pdu} has {pdu_outlets[pdu]} outlets, not {outlet}"))
        outlet_users.setdefault((pdu, outlet), []).append((loc, shared))

    used_ports: dict[tuple[str, str], str] = {}
    for n, node in enumerate(inv.nodes):
        where = ("nodes", n)
        if not inv.simulated:
            if node.ssh is None:
                out.append((where + ("ssh",), "is required for a real lab (how the harness logs in to the node)"))
            if "ipmi" in node.fence and node.bmc is None:
                out.append((where + ("bmc",), "fence method 'ipmi' needs a 'bmc' section"))
            if node.bmc is not None and not node.bmc.host:
                out.append((where + ("bmc", "host"), "is required for a real lab (the BMC's address)"))
        out.extend(_bmc_protocol_problems(node, where))
        if "pdu" in node.fence and not node.power:
            out.append((where + ("fence",), "fence method 'pdu' needs the node's 'power' outlets"))
        if len(set(node.fence)) != len(node.fence):
            out.append((where + ("fence",), "a fence method is listed twice"))
        for o, ref in enumerate(node.power):
            check_outlet(where + ("power", o), ref.pdu, ref.outlet, ref.shared)
        bond_names: set[str] = set()
        for b, bond in enumerate(node.bonds):
            if bond.name in bond_names:
                out.append((where + ("bonds", b, "name"), f"duplicate bond {bond.name!r} on {node.name}"))
            bond_names.add(bond.name)
            if bond.primary.nic == bond.backup.nic:
                out.append((where + ("bonds", b, "backup", "nic"), "the backup slave is the primary slave"))
            for role in ("primary", "backup"):
                link: SlaveLink = getattr(bond, role)
                loc = where + ("bonds", b, role)
                if link.switch not in switch_names:
                    out.append((loc + ("switch",), f"switch {link.switch!r} is not in switches ({', '.join(sorted(switch_names)) or 'none'})"))
                    continue
                key = (link.switch, link.port)
                cable = f"{node.name}/{link.nic}"
                if key in used_ports:
                    out.append((loc + ("port",), f"{link.switch} port {link.port} is already cabled to {used_ports[key]}"))
                used_ports[key] = cable
        if node.hang.method == "ifdown" and node.hang.interface and node.bonds:
            known = {b.name for b in node.bonds} | {s.nic for b in node.bonds for s in b.slaves}
            if node.hang.interface not in known:
                out.append((where + ("hang", "interface"), f"{node.hang.interface!r} is none of {node.name}'s bonds or NICs"))
        for s, svc in enumerate(node.storage_services):
            if svc not in {x.name for x in inv.services}:
                out.append((where + ("storage_services", s), f"service {svc!r} is not in services"))

    for s, switch in enumerate(inv.switches):
        if switch.power.method == "pdu":
            check_outlet(("switches", s, "power"), switch.power.pdu, switch.power.outlet, False)
        if switch.ports.method == "snmp" and not inv.simulated and not switch.ports.host:
            out.append((("switches", s, "ports", "host"), "port method 'snmp' needs the switch's management 'host'"))

    for (pdu, outlet), users in outlet_users.items():
        if len(users) > 1 and not all(shared for _, shared in users):
            first = key_path(users[0][0])
            for loc, _ in users[1:]:
                out.append((loc + ("outlet",), f"{pdu} outlet {outlet} also feeds {first}; declare 'shared: true' on both if that is real"))

    networks_per_node = [{b.network for b in node.bonds} for node in inv.nodes]
    if inv.cluster.heartbeat_network:
        for n, nets in enumerate(networks_per_node):
            if inv.nodes[n].bonds and inv.cluster.heartbeat_network not in nets:
                out.append((("cluster", "heartbeat_network"), f"{inv.nodes[n].name} has no bond on network {inv.cluster.heartbeat_network!r}"))

    for d, domain in enumerate(inv.failover_domains):
        for i, member in enumerate(domain.nodes):
            if member not in node_names:
                out.append((("failover_domains", d, "nodes", i), f"node {member!r} is not in nodes"))
        if len(set(domain.nodes)) != len(domain.nodes):
            out.append((("failover_domains", d, "nodes"), "a node is listed twice"))

    observers = {"observer", "self"}
    for v, vm in enumerate(inv.vms):
        if vm.home not in node_names:
            out.append((("vms", v, "home"), f"home node {vm.home!r} is not in nodes ({', '.join(sorted(node_names))})"))
        if vm.domain is not None:
            if vm.domain not in domain_names:
                out.append((("vms", v, "domain"), f"failover domain {vm.domain!r} is not in failover_domains"))
            elif vm.home in node_names and vm.home not in inv.domain(vm.domain).nodes:
                out.append((("vms", v, "home"), f"home node {vm.home} is not in failover domain {vm.domain}"))
        if vm.ping_from is not None and vm.ping_from not in node_names | observers:
            out.append((("vms", v, "ping_from"), f"must be a node name, 'observer' or 'self' (got {vm.ping_from!r})"))
        if vm.ping_from == "self" and vm.ssh is None:
            out.append((("vms", v, "ping_from"), "'self' needs the VM's 'ssh' section"))
    for s, svc in enumerate(inv.services):
        if svc.home is not None and svc.home not in node_names:
            out.append((("services", s, "home"), f"home node {svc.home!r} is not in nodes"))
        if svc.domain is not None and svc.domain not in domain_names:
            out.append((("services", s, "domain"), f"failover domain {svc.domain!r} is not in failover_domains"))

    if inv.simulation:
        for f, fault in enumerate(inv.simulation.faults):
            if fault.target is not None and not _fault_target_exists(inv, fault.target):
                out.append((("simulation", "faults", f, "target"), f"{fault.target!r} is no node, node/bond, switch or VM of this lab"))
        devices = {n.name for n in inv.nodes} | {p.name for p in inv.pdus} | {s.name for s in inv.switches}
        for f, device_fault in enumerate(inv.simulation.device_faults):
            if device_fault.target is not None and device_fault.target not in devices:
                out.append((("simulation", "device_faults", f, "target"), f"{device_fault.target!r} is no node, PDU or switch of this lab"))
        vm_names = {v.name for v in inv.vms}
        for a, adversity in enumerate(inv.simulation.adversities):
            if adversity.target is not None and adversity.target not in node_names | vm_names:
                out.append((("simulation", "adversities", a, "target"), f"{adversity.target!r} is no node or VM of this lab"))
        for node in inv.simulation.clock_offsets:
            if node not in node_names:
                out.append((("simulation", "clock_offsets", node), f"{node!r} is no node of this lab"))
    else:
        out.extend(_missing_secrets(inv, environ, base))

    if inv.safety.production and inv.safety.destructive:
        out.append((("safety", "destructive"), "a production inventory cannot allow destructive cases"))
    return out


def _bmc_protocol_problems(node: Node, where: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], str]]:
    """A BMC fence method must speak the BMC's protocol (a simulated node without 'bmc' has an IPMI one)."""
    protocol = node.bmc.protocol if node.bmc is not None else None
    out: list[tuple[tuple[Any, ...], str]] = []
    if "redfish" in node.fence and protocol != "redfish":
        out.append((where + ("fence",), "fence method 'redfish' needs 'bmc: {protocol: redfish, ...}'"))
    if "ipmi" in node.fence and protocol == "redfish":
        out.append((where + ("fence",), "fence method 'ipmi' on a Redfish BMC: name it 'redfish' (or give the BMC 'protocol: ipmi')"))
    return out


def _fault_target_exists(inv: Inventory, target: str) -> bool:
    names = {n.name for n in inv.nodes} | {s.name for s in inv.switches} | {v.name for v in inv.vms}
    names |= {f"{n.name}/{b.name}" for n in inv.nodes for b in n.bonds}
    return target in names


def _missing_secrets(inv: Inventory, environ: typing.Mapping[str, str], base: Path) -> list[tuple[tuple[Any, ...], str]]:
    out: list[tuple[tuple[Any, ...], str]] = []

    def visit(model: Any, loc: tuple[Any, ...]) -> None:
        if isinstance(model, BaseModel):
            for field in type(model).model_fields:
                value = getattr(model, field)
                if field.endswith("_env") and value:
                    if value not in environ:
                        out.append((loc + (field,), f"environment variable {value} is not set"))
                elif field.endswith("_file") and value and field != "key_file":
                    if not _resolve_path(value, base).is_file():
                        out.append((loc + (field,), f"file {value} does not exist"))
                elif field == "key_file" and value and not _resolve_path(value, base).is_file():
                    out.append((loc + (field,), f"key file {value} does not exist"))
                else:
                    visit(value, loc + (field,))
        elif isinstance(model, list):
            for i, item in enumerate(model):
                visit(item, loc + (i,))

    visit(inv, ())
    return out


def _resolve_path(value: str, base: Path) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base / path
