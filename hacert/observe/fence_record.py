"""What the cluster's own record says about a fencing: who fenced whom, with which device and which
method, which attempts failed.

The method is never guessed from a device's name. It comes from two facts the cluster holds:

- its fence configuration (`FenceConfig`, read from /etc/cluster/cluster.conf or the CIB): every
  device's agent (`fence_ipmilan` -> the node's BMC, `fence_apc_snmp` -> a PDU outlet, ...), which
  node it fences, and each node's methods (cman `<method>`s, pacemaker topology levels) in order;
- its fencing record (the fencer's syslog): pacemaker's fencer names the device that returned OK
  ("Operation 'reboot' [PID] targeting NODE using DEVICE returned 0"); cman's fenced names the method
  index of each failure ("fence NODE dev M.D agent AGENT result: error from agent") and only says
  "fence NODE success" for the one that worked. fenced walks the methods in order and starts over
  after the last, so the method that succeeded is the one after the last failed method index of
  that round (the first one when none failed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hacert.model.inventory import Inventory

from hacert.observe.cluster_state import node_of

# ---------------------------------------------------------------- what kind of device an agent drives

AGENT_METHODS: Mapping[str, str] = {
    # the node's own management controller: it loses power with the node
    **{agent: "ipmi" for agent in (
        "fence_ipmilan", "fence_ipmilanplus", "fence_idrac", "fence_ilo", "fence_ilo2", "fence_ilo3", "fence_ilo4",
        "fence_ilo5", "fence_ilo_ssh", "fence_ilo3_ssh", "fence_ilo4_ssh", "fence_ilo5_ssh", "fence_ilo_moonshot",
        "fence_imm", "fence_rsa", "fence_rsb", "fence_drac", "fence_drac5", "fence_ibmblade",
        "fence_bladecenter", "fence_intelmodular", "fence_ipmilan_ssh", "fence_amt", "fence_amt_ws")},
    # the same management controller over Redfish (HTTPS + JSON): also dies with the node's power
    "fence_redfish": "redfish",
    # a switched PDU outlet feeding the node
    **{agent: "pdu" for agent in (
        "fence_apc", "fence_apc_snmp", "fence_raritan", "fence_raritan_px3", "fence_eaton_snmp", "fence_eaton_ssh",
        "fence_cdu", "fence_wti", "fence_ipdu", "fence_emerson", "fence_netio", "fence_epc")},
    # the shared storage's reservations
    **{agent: "scsi" for agent in ("fence_scsi", "fence_mpath")},
}
"""Fence agent (its program, as cluster.conf's `agent` and the CIB's `type` name it) -> method kind."""

REBOOTING_METHODS = ("ipmi", "redfish", "pdu")
"""Fence methods that power-cycle the victim (SCSI-3 fencing only cuts it off its storage)."""


def method_of_agent(agent: str) -> str | None:
    """The method kind an agent program drives: 'fence_ipmilan' -> 'ipmi', 'stonith:fence_apc_snmp' ->
    'pdu', 'fence_scsi' -> 'scsi'; None for an agent hacert does not know. Agent programs only:
    a device's own name says nothing (use `FenceConfig.kind`)."""
    name = agent.strip().lower().rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    return AGENT_METHODS.get(name)


# ---------------------------------------------------------------- the configuration, in inventory names


@dataclass(frozen=True)
class FenceDevice:
    """A configured fence device, with what the cluster's configuration says about it."""

    name: str
    agent: str
    method: str | None  # kind, from the agent: 'ipmi' | 'redfish' | 'pdu' | 'scsi' | None
    nodes: tuple[str, ...] = ()  # inventory names of the nodes it is configured to fence
    address: str | None = None
    ports: Mapping[str, str] = field(default_factory=dict)  # node -> the port/plug it acts on for that node

    def label(self) -> str:
        return f"{self.name} ({self.agent})"


@dataclass(frozen=True)
class FenceConfig:
    """The cluster's fence devices and each node's methods, in inventory node names."""

    source: str
    devices: Mapping[str, FenceDevice]
    levels: Mapping[str, tuple[tuple[str, ...], ...]]  # node -> its methods in order, each a tuple of device names
    ordered: bool = True

    @classmethod
    def of(cls, inv: Inventory, setup: Any) -> "FenceConfig":
        """From a parsed `hacert.drivers.parsers.fence_config.FenceSetup`."""
        nodes_of: dict[str, list[str]] = {}
        ports: dict[str, dict[str, str]] = {}
        levels: dict[str, tuple[tuple[str, ...], ...]] = {}
        for member, methods in setup.methods.items():
            node = node_of(inv, member) or member
            levels[node] = tuple(tuple(use.device for use in method.uses) for method in methods)
            for method in methods:
                for use in method.uses:
                    nodes_of.setdefault(use.device, [])
                    if node not in nodes_of[use.device]:
                        nodes_of[use.device].append(node)
                    if use.port:
                        ports.setdefault(use.device, {})[node] = use.port
        devices: dict[str, FenceDevice] = {}
        for name, conf in setup.devices.items():
            targets = list(nodes_of.get(name, []))
            for member in list(conf.host_list) + list(conf.host_map):
                node = node_of(inv, member) or member
                if node not in targets:
                    targets.append(node)
            port_map = dict(ports.get(name, {}))
            for member, port in conf.host_map.items():
                port_map.setdefault(node_of(inv, member) or member, port)
            devices[name] = FenceDevice(name, conf.agent, method_of_agent(conf.agent), tuple(targets), conf.address, port_map)
        return cls(setup.source, devices, levels, setup.ordered)

    def kind(self, device: str) -> str | None:
        """The method kind of a device, from its agent (None: unknown device or agent)."""
        dev = self.devices.get(device)
        return dev.method if dev is not None else None

    def methods(self, node: str) -> tuple[tuple[str, ...], ...]:
        return tuple(self.levels.get(node, ()))

    def method_kind(self, node: str, index: int) -> str | None:
        """The kind of `node`'s method number `index` (0-based): its devices' kind when they agree."""
        methods = self.methods(node)
        if not 0 <= index < len(methods):
            return None
        kinds = {self.kind(d) for d in methods[index]}
        return kinds.pop() if len(kinds) == 1 else None

    def kinds(self, node: str) -> list[str | None]:
        return [self.method_kind(node, i) for i in range(len(self.methods(node)))]

    def describe(self, node: str) -> str:
        """'1: ipmi (dev-a1: fence_ipmilan); 2: pdu (dev-b1: fence_apc_snmp port 1)' for a report."""
        parts = []
        for i, devices in enumerate(self.methods(node)):
            used = []
            for name in devices:
                dev = self.devices.get(name)
                agent = dev.agent if dev is not None else "not configured"
                port = dev.ports.get(node) if dev is not None else None
                used.append(f"{name}: {agent}" + (f" port {port}" if port else ""))
            parts.append(f"{i + 1}: {self.method_kind(node, i) or 'unknown'} ({', '.join(used)})")
        return "; ".join(parts) or "no fence method configured"


def read_fence_config(lab: Any, via: str | None = None) -> FenceConfig:
    """The lab cluster's fence configuration (cluster.conf or the CIB), read over SSH from `via`."""
    return FenceConfig.of(lab.inventory, lab.cluster.fence_setup(via=via))


# ---------------------------------------------------------------- the record


@dataclass(frozen=True)
class FenceFailure:
    """One failed fence attempt: what failed as a person reads it ('fence_ipmilan' from cman, 'DEVICE
    (AGENT)' from pacemaker), what it said, the method kind it belongs to, the device ('M.D' for
    cman) and (cman) the method's index."""

    agent: str
    result: str
    event: Any
    method: str | None = None
    device: str | None = None
    method_index: int | None = None


@dataclass
class FenceRound:
    """One fencing of one victim as a survivor logged it: started, failed attempts, success."""

    victim: str
    fencer: str
    started: Any = None
    failures: list[FenceFailure] = field(default_factory=list)
    succeeded: Any = None
    method: str | None = None
    gave_up: bool = False
    device: str | None = None
    """The device the record names as the one that fenced (pacemaker)."""
    method_index: int | None = None
    """The index of the method that fenced among the victim's configured methods (cman)."""
    method_source: str = ""
    """Where `method` was read: 'device' (the record's device, the configuration's agent), 'method index'
    (fenced's failures and the configured methods), 'inventory' (no configuration to read)."""


def fence_method(inv: Inventory, rnd: FenceRound | None) -> str | None:
    """The method that fenced `rnd.victim`, as `fence_rounds` read it from the record (None when the
    round did not succeed, or when the record does not say)."""
    if rnd is None or rnd.succeeded is None:
        return None
    return rnd.method


def _index(dev: str) -> tuple[int | None, int | None]:
    m = re.fullmatch(r"(\d+)\.(\d+)", dev)
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


def fence_rounds(inv: Inventory, windows: dict[str, list[str]], config: FenceConfig | None = None) -> list[FenceRound]:
    """Every fencing found in the syslog windows {node: lines}, per victim, in each node's order.

    Reads cman's fenced ("fencing node X", "fence X dev M.D agent A result: error from agent",
    "fence X success") and pacemaker's fencer/controller lines alike. With `config` (the cluster's
    fence configuration) each round's `method` and each failure's `method` are read from the
    devices' agents; without it cman's method indexes are looked up in the inventory's `fence`
    list (`method_source` 'inventory') and a pacemaker device's kind stays unknown.
    """
    from hacert.drivers.parsers._common import ParseError
    from hacert.drivers.parsers.syslog import (
        FenceAgentFailed, FenceDeviceResult, FenceFailed, FenceOperationResult, FenceRequested,
        FenceStarted, FenceSucceeded, PeerFenced, parse_syslog_events,
    )

    rounds: list[FenceRound] = []
    for fencer, lines in windows.items():
        events = []
        for line in lines:
            try:
                events += parse_syslog_events([line])
            except ParseError:
                continue  # a line that is not syslog (a continuation) carries no fence news
        open_rounds: dict[str, FenceRound] = {}
        last_failed: dict[str, int] = {}

        def current(target: str, event: Any) -> FenceRound:
            if target not in open_rounds:
                rnd = FenceRound(target, fencer, started=event)
                open_rounds[target] = rnd
                rounds.append(rnd)
                last_failed.pop(target, None)
            return open_rounds[target]

        for event in events:
            target = node_of(inv, getattr(event, "node", None))
            if target is None:
                continue
            if isinstance(event, FenceStarted | FenceRequested):
                current(target, event)
            elif isinstance(event, FenceAgentFailed):
                index, _ = _index(event.device)
                kind = _cman_kind(inv, config, target, index) or method_of_agent(event.agent)
                current(target, event).failures.append(
                    FenceFailure(event.agent, event.result, event, kind, event.device, index))
                if index is not None:
                    last_failed[target] = index
            elif isinstance(event, FenceDeviceResult):
                rnd = current(target, event)
                kind = config.kind(event.device) if config is not None else None
                if event.ok:
                    rnd.device, rnd.method, rnd.method_source = event.device, kind, "device"
                else:
                    agent = config.devices[event.device].agent if config and event.device in config.devices else None
                    rnd.failures.append(FenceFailure(f"{event.device} ({agent})" if agent else event.device,
                                                     event.result, event, kind, event.device))
            elif isinstance(event, FenceSucceeded) or (isinstance(event, FenceOperationResult | PeerFenced) and event.ok):
                if target not in open_rounds and any(r.victim == target and r.fencer == fencer for r in rounds):
                    continue  # pacemaker logs one fencing's success twice (fencer and controller)
                rnd = current(target, event)
                rnd.succeeded = event
                if isinstance(event, FenceSucceeded) and rnd.method_source != "device":
                    _cman_success(inv, config, rnd, last_failed.get(target))
                open_rounds.pop(target, None)
            elif isinstance(event, FenceFailed):
                current(target, event).gave_up = True
    return rounds


def _cman_methods(inv: Inventory, config: FenceConfig | None, victim: str) -> tuple[int, str]:
    if config is not None and config.methods(victim):
        return len(config.methods(victim)), "method index"
    try:
        return len(inv.node(victim).fence), "inventory"
    except KeyError:
        return 0, "inventory"


def _cman_kind(inv: Inventory, config: FenceConfig | None, victim: str, index: int | None) -> str | None:
    if index is None:
        return None
    count, source = _cman_methods(inv, config, victim)
    if source == "method index":
        return config.method_kind(victim, index) if config is not None else None
    fence = inv.node(victim).fence if count else []
    return fence[index] if 0 <= index < len(fence) else None


def _cman_success(inv: Inventory, config: FenceConfig | None, rnd: FenceRound, last_failed: int | None) -> None:
    """fenced logs no method for a success: it is the one after the last failed method index
    (fenced walks the methods in order and starts over after the last), or the first."""
    count, source = _cman_methods(inv, config, rnd.victim)
    if not count:
        return
    index = 0 if last_failed is None else (last_failed + 1) % count
    rnd.method_index = index
    rnd.method = _cman_kind(inv, config, rnd.victim, index)
    rnd.method_source = source


def cut_short(rnd: FenceRound, rounds: Iterable[FenceRound]) -> bool:
    """A round that never finished because its fencer was fenced itself (the loser of a fence race,
    whose request died with it): no fencing left pending."""
    return rnd.succeeded is None and any(o.victim == rnd.fencer and o.succeeded is not None for o in rounds)


def rounds_of(rounds: Iterable[FenceRound], victim: str) -> list[FenceRound]:
    return [r for r in rounds if r.victim == victim]


__all__ = [
    "AGENT_METHODS", "cut_short", "FenceConfig", "FenceDevice", "FenceFailure", "FenceRound", "REBOOTING_METHODS", "fence_method",
    "fence_rounds", "method_of_agent", "read_fence_config", "rounds_of",
]
