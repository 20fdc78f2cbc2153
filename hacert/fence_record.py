"""What the cluster's own logs say about a fencing: who fenced whom, which attempts failed, which method won."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fixtures.inventory import Inventory

from .cluster_state import node_of



@dataclass(frozen=True)
class FenceFailure:
    """One failed fence attempt: the agent (or device) and what it said."""

    agent: str
    result: str
    event: Any


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


def method_of_agent(agent: str) -> str | None:
    """'fence_ipmilan' -> 'ipmi', 'fence_apc_snmp' -> 'pdu', 'fence_scsi' -> 'scsi' (device names too)."""
    name = agent.lower()
    if "ipmi" in name or "ilo" in name or "idrac" in name:
        return "ipmi"
    if "apc" in name or "pdu" in name or "raritan" in name or "eaton" in name:
        return "pdu"
    if "scsi" in name or "sbd" in name:
        return "scsi"
    return None


REBOOTING_METHODS = ("ipmi", "pdu")
"""Fence methods that power-cycle the victim (SCSI-3 fencing only cuts it off its storage)."""


def fence_method(inv: Inventory, rnd: FenceRound | None) -> str | None:
    """The method that fenced `rnd.victim`: the one the log names, else the victim's methods in
    order, skipping the attempts that failed (cman's fenced only names the agents that fail)."""
    if rnd is None or rnd.succeeded is None:
        return None
    if rnd.method:
        return rnd.method
    methods = inv.node(rnd.victim).fence
    return methods[len(rnd.failures) % len(methods)] if methods else None


def fence_rounds(inv: Inventory, windows: dict[str, list[str]]) -> list[FenceRound]:
    """Every fencing found in the syslog windows {node: lines}, per victim, in each node's order.

    Reads cman's fenced ("fencing node X", "fence X dev 0.0 agent A result: error from agent",
    "fence X success") and pacemaker's fencer/controller lines alike.
    """
    from drivers.parsers._common import ParseError
    from drivers.parsers.syslog import (
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

        def current(target: str, event: Any) -> FenceRound:
            if target not in open_rounds:
                rnd = FenceRound(target, fencer, started=event)
                open_rounds[target] = rnd
                rounds.append(rnd)
            return open_rounds[target]

        for event in events:
            target = node_of(inv, getattr(event, "node", None))
            if target is None:
                continue
            if isinstance(event, FenceStarted | FenceRequested):
                current(target, event)
            elif isinstance(event, FenceAgentFailed):
                current(target, event).failures.append(FenceFailure(event.agent, event.result, event))
            elif isinstance(event, FenceDeviceResult):
                rnd = current(target, event)
                if event.ok:
                    rnd.method = method_of_agent(event.device)
                else:
                    rnd.failures.append(FenceFailure(event.device, event.result, event))
            elif isinstance(event, FenceSucceeded) or (isinstance(event, FenceOperationResult | PeerFenced) and event.ok):
                if target not in open_rounds and any(r.victim == target and r.fencer == fencer for r in rounds):
                    continue  # pacemaker logs one fencing's success twice (fencer and controller)
                current(target, event).succeeded = event
                open_rounds.pop(target, None)
            elif isinstance(event, FenceFailed):
                current(target, event).gave_up = True
    return rounds


__all__ = ["FenceFailure", "FenceRound", "REBOOTING_METHODS", "fence_method", "fence_rounds", "method_of_agent"]
