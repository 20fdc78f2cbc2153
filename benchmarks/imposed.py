"""P1: the waits a run's procedures impose, from the simulated lab's ground truth.

A wait is imposed when the harness cannot go on before the LAB has done
something that takes time by design. Every such wait is an interval between a
cause and its effect in the lab's event log (hacert.labsim.core.read_event_log), for
the same subject, the effect being the first match after the cause:

| wait             | cause                                   | effect                                    |
|------------------|-----------------------------------------|-------------------------------------------|
| updelay          | carrier {node, nic, up: true}           | bond_active {node, slave: nic} or         |
|                  |                                         | bond_slave {node, nic, up: true}          |
| failover         | carrier {node, nic, up: false}          | bond_active {node, previous: nic}         |
| boot             | node_state {node, state: booting}       | node_state {node, state: up}              |
| cluster start    | node_state {node, state: up}            | member_joined {node}                      |
| failure detected | node_state {node, hung|off}             | member_lost {node}                        |
| fence            | member_lost {node}                      | fence_done {node}                         |
| post-join delay  | member_joined {node: X}                 | fence_start {by: X} (no member_lost)      |
| VM restart       | vm_down {vm}                            | vm_up {vm}                                |
| service move     | service_state {service, starting|stopping|migrating|recovering} | its next service_state |
| switch boot      | switch_state {switch, booting}          | switch_state {switch, up}                 |
| BMC boot         | outlet {on: true}                       | bmc {answers: true}                       |

plus every `sleep_demanded` interval the run made (the soak, "a moment inside
the updelay": benchmarks.probe records them). The imposed time is the length
of the UNION of these intervals (overlapping waits count once), and

    P1 overhead ratio = wall time of the pytest run / imposed time

so 1.0 is a harness that costs nothing beyond what the procedures force;
everything else (starting pytest and the lab, audits, ping floods settling,
reading syslog, drawing timelines, restoring) is overhead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

Event = dict[str, Any]
Match = Callable[[Event], bool]

HORIZON = 180.0
"""An effect later than this after its cause (s) is not paired with it."""


@dataclass(frozen=True)
class Wait:
    start: float
    end: float
    label: str

    @property
    def seconds(self) -> float:
        return self.end - self.start


def _node(e: Event) -> str:
    return str(e.get("node", ""))


def _names(inventory: Any) -> Callable[[str], str]:
    """Member name or inventory name -> inventory name."""
    mapping: dict[str, str] = {}
    if inventory is not None:
        for node in inventory.nodes:
            mapping[node.name] = node.name
            member = getattr(node, "member_name", None) or getattr(node, "cluster_name", None)
            if member:
                mapping[str(member)] = node.name
    return lambda name: mapping.get(name, name)


def _pairs(events: list[Event], label: str, cause: Match, effect: Callable[[Event, Event], bool],
           horizon: float = HORIZON) -> list[Wait]:
    out = []
    for i, c in enumerate(events):
        if not cause(c):
            continue
        for e in events[i + 1:]:
            if e["t"] - c["t"] > horizon:
                break
            if effect(c, e):
                out.append(Wait(c["t"], e["t"], label))
                break
    return out


def _horizons(inventory: Any) -> dict[str, float]:
    """How long after its cause each effect may come (s), from the lab's timings with a margin:
    an effect later than that is the harness's doing (it acted late), not the lab's wait."""
    t = inventory.simulation.timing if inventory is not None and inventory.simulation else None
    if t is None:
        return {k: 30.0 for k in ("updelay", "failover", "boot", "cluster", "detect", "fence", "postjoin",
                                  "vm", "service", "switch", "bmc", "resync")}
    post_join = float(getattr(inventory.cluster, "post_join_delay", 0) or 0)
    return {
        "updelay": t.updelay_ms / 1000.0 + 1.0,
        "failover": 3 * t.miimon_ms / 1000.0 + t.downdelay_ms / 1000.0 + 1.0,
        "boot": t.boot + 5.0,
        "cluster": t.cluster_start + post_join + t.late_cold_start_extra + 10.0,
        "detect": 3 * t.token_timeout + 5.0,
        "fence": t.ipmi_fence + t.ipmi_fence_failure + t.pdu_fence + t.slow_fence_extra + 10.0,
        "postjoin": post_join + 10.0,
        "vm": 30.0,
        "service": 30.0,
        "switch": t.switch_boot + 2 * t.switch_bounces * t.switch_bounce_interval + 5.0,
        "bmc": t.bmc_boot + 2.0,
        "resync": max(0.5, t.cluster_start * 2) + 1.0,  # labsim's DRBD resync after a peer returns
    }


TRANSITIONAL = ("starting", "stopping", "migrating", "recovering", "relocating")
"""Service states the cluster leaves by itself (stopped/disabled/failed wait for a person)."""


def lab_waits(events: list[Event], inventory: Any = None) -> list[Wait]:
    """Every cause→effect interval of the table above, found in one lab's event log."""
    name = _names(inventory)
    h = _horizons(inventory)
    ev = sorted(events, key=lambda e: e["t"])
    waits: list[Wait] = []

    def carrier_changed_between(c: Event, e: Event) -> bool:
        return any(x["kind"] == "carrier" and _node(x) == _node(c) and x.get("nic") == c.get("nic")
                   and c["t"] < x["t"] < e["t"] for x in ev)

    waits += _pairs(ev, "updelay", lambda c: c["kind"] == "carrier" and c.get("up") is True,
                    lambda c, e: _node(e) == _node(c) and ((e["kind"] == "bond_active" and e.get("slave") == c["nic"])
                                                           or (e["kind"] == "bond_slave" and e.get("nic") == c["nic"] and e.get("up") is True))
                    and not carrier_changed_between(c, e), horizon=h["updelay"])
    waits += _pairs(ev, "failover", lambda c: c["kind"] == "carrier" and c.get("up") is False,
                    lambda c, e: e["kind"] == "bond_active" and _node(e) == _node(c) and e.get("previous") == c["nic"],
                    horizon=h["failover"])
    waits += _pairs(ev, "boot", lambda c: c["kind"] == "node_state" and c.get("state") == "booting",
                    lambda c, e: e["kind"] == "node_state" and _node(e) == _node(c) and e.get("state") == "up",
                    horizon=h["boot"])
    waits += _pairs(ev, "cluster start", lambda c: c["kind"] == "node_state" and c.get("state") == "up",
                    lambda c, e: e["kind"] == "member_joined" and name(_node(e)) == _node(c), horizon=h["cluster"])
    waits += _pairs(ev, "failure detected", lambda c: c["kind"] == "node_state" and c.get("state") in ("hung", "off"),
                    lambda c, e: e["kind"] == "member_lost" and name(_node(e)) == _node(c), horizon=h["detect"])
    waits += _pairs(ev, "fence", lambda c: c["kind"] == "member_lost",
                    lambda c, e: e["kind"] == "fence_done" and name(_node(e)) == name(_node(c)), horizon=h["fence"])
    lost = {name(_node(e)) for e in ev if e["kind"] == "member_lost"}
    waits += _pairs(ev, "post-join delay", lambda c: c["kind"] == "member_joined",
                    lambda c, e: e["kind"] == "fence_start" and name(str(e.get("by", ""))) == name(_node(c))
                    and name(_node(e)) not in lost, horizon=h["postjoin"])
    waits += _pairs(ev, "VM restart", lambda c: c["kind"] == "vm_down",
                    lambda c, e: e["kind"] == "vm_up" and e.get("vm") == c.get("vm"), horizon=h["vm"])
    waits += _pairs(ev, "service move", lambda c: c["kind"] == "service_state" and c.get("state") in TRANSITIONAL,
                    lambda c, e: e["kind"] == "service_state" and e.get("service") == c.get("service")
                    and e.get("state") != c.get("state"), horizon=h["service"])
    waits += _pairs(ev, "switch boot", lambda c: c["kind"] == "switch_state" and c.get("state") == "booting",
                    lambda c, e: e["kind"] == "switch_state" and e.get("switch") == c.get("switch") and e.get("state") == "up",
                    horizon=h["switch"])
    waits += _pairs(ev, "storage resync", lambda c: c["kind"] == "drbd_sync",
                    lambda c, e: e["kind"] == "drbd_synced" and _node(e) == _node(c), horizon=h["resync"])
    waits += _pairs(ev, "BMC boot", lambda c: c["kind"] == "outlet" and c.get("on") is True,
                    lambda c, e: e["kind"] == "bmc" and e.get("answers") is True, horizon=h["bmc"])
    return waits


def demanded_waits(demanded: Iterable[dict[str, Any]]) -> list[Wait]:
    return [Wait(float(d["start"]), float(d["end"]), f"demanded: {d['why']}") for d in demanded]


def union_seconds(waits: Iterable[Wait], start: float | None = None, end: float | None = None) -> float:
    """Length of the union of the intervals, clipped to [start, end]."""
    spans = []
    for w in waits:
        a = w.start if start is None else max(w.start, start)
        b = w.end if end is None else min(w.end, end)
        if b > a:
            spans.append((a, b))
    spans.sort()
    total, cur_a, cur_b = 0.0, None, None
    for a, b in spans:
        if cur_b is None or a > cur_b:
            if cur_b is not None:
                total += cur_b - cur_a  # type: ignore[operator]
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    if cur_b is not None:
        total += cur_b - cur_a  # type: ignore[operator]
    return total


def by_label(waits: Iterable[Wait]) -> dict[str, tuple[int, float]]:
    """label -> (count, total seconds), overlapping or not (for the table)."""
    out: dict[str, tuple[int, float]] = {}
    for w in waits:
        key = w.label if not w.label.startswith("demanded") else "demanded sleeps"
        n, s = out.get(key, (0, 0.0))
        out[key] = (n + 1, s + w.seconds)
    return out


@dataclass
class CaseCost:
    """One case: its wall time (setup start to teardown end) and the imposed waits inside it."""

    case: str
    wall: float
    imposed: float

    @property
    def overhead(self) -> float:
        return self.wall - self.imposed


def case_costs(phases: dict[str, dict[str, list[float]]], waits: list[Wait]) -> list[CaseCost]:
    out = []
    for case, ph in phases.items():
        spans = list(ph.values())
        if not spans:
            continue
        start, end = min(s[0] for s in spans), max(s[1] for s in spans)
        out.append(CaseCost(case, end - start, union_seconds(waits, start, end)))
    return sorted(out, key=lambda c: -c.overhead)
