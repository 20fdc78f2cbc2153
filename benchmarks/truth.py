"""P2: every measured figure of a run against the simulated lab's ground truth.

The run's figures are the `numbers` of each case in reports/summary.json
(fixtures/report_summary.py). The truth is the lab's event log
(hacert.labsim.core.read_event_log), restricted to the case's own time window (setup
start to teardown end, from benchmarks.probe; else the summary's started and
duration). Each figure name the suites record maps to a rule:

| figure (name in the summary)                    | truth from the event log                                  |
|-------------------------------------------------|-----------------------------------------------------------|
| seconds to fail over to X / take X back at once | carrier {node, nic: N, up: false} → bond_active {slave: X, previous: N or none} |
| seconds link-up to primary active [node/bond]   | last carrier {primary nic, up: true} → bond_active {slave: primary} |
| seconds to failover node/bond (switch cycle)    | outlet {the switch's outlet, on: false} → bond_active {previous: nic} |
| packets lost A -> B (net)                       | ping_done {node: A, target: B's address on net}: transmitted - received |
| longest gap A -> B (net), longest gap           | ping_done: (longest run of lost_seqs + 1) × ping interval |
| lost pings (migration)                          | ping_done {target: the VM's address}: transmitted - received |
| hypervisor downtime (ms)                        | migration {vm}: gap_end - gap_start |
| <fault> to declared failed / fence start / fence success / rejoin | fault → member_lost / fence_start / fence_done / member_joined {victim}; fault = node_state {victim, hung} (hang) or the first outlet {victim's outlet, on: false} (power cut) |
| power cut to IPMI failure                       | fault → fence_attempt {victim, method: ipmi, ok: false} |
| downtime after destroy N                        | the Nth vm_down {vm, reason: destroyed} → the next vm_up {vm} |
| pings lost after destroy N                      | lost_seqs of ping_done {target: the VM} sent (first_t + (seq-1) × interval) between destroy N and the next vm_up |
| pings lost, all VMs                             | ping_done {target: any VM address}: transmitted - received |
| VM downtime / VM pings lost (node crash)        | vm_down {vm} → vm_up {vm} / lost_seqs of ping_done {target: the VM} sent between them |
| crash to rejoin / reboot to rejoin              | first node_state {victim} leaving up → member_joined {victim} |

Figures without a rule (counts, spreads, "services back", ...) are listed as
not compared. Errors: |measured - truth| in seconds (times) or packets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

Event = dict[str, Any]


@dataclass
class Comparison:
    case: str
    figure: str
    unit: str
    measured: float | None
    truth: float | None
    rule: str

    @property
    def kind(self) -> str:
        return "packets" if self.unit == "packets" else "seconds"

    @property
    def error(self) -> float | None:
        if self.measured is None or self.truth is None:
            return None
        return abs(self.measured - self.truth)


def _first(events: Iterable[Event], **match: Any) -> Event | None:
    for e in events:
        if all(e.get(k) == v for k, v in match.items()):
            return e
    return None


def _after(events: list[Event], t: float) -> list[Event]:
    return [e for e in events if e["t"] >= t]


def _longest_gap(ping: Event, interval: float) -> float:
    lost = sorted(ping.get("lost_seqs") or [])
    run = best = 0
    previous = None
    for seq in lost:
        run = run + 1 if previous is not None and seq == previous + 1 else 1
        best = max(best, run)
        previous = seq
    return (best + 1) * interval


class CaseTruth:
    """The ground truth of one case: its lab's inventory and the events inside its window."""

    def __init__(self, case: dict[str, Any], inventory: Any, events: list[Event]) -> None:
        self.case = case
        self.inv = inventory
        self.events = sorted(events, key=lambda e: e["t"])
        self.subject = str(case.get("subject") or "")
        self.interval = float(inventory.expectations.ping_interval)

    # -- helpers over the inventory

    def _address(self, node: str, network: str) -> str | None:
        for bond in self.inv.node(node).bonds:
            if bond.network == network:
                return bond.address
        return None

    def _node_of_member(self, name: str) -> str:
        try:
            return self.inv.node_by_member(name).name
        except KeyError:
            return name

    def _bond(self, text: str) -> tuple[str, Any] | None:
        node, _, bond = text.partition("/")
        try:
            return node, self.inv.node(node).bond(bond)
        except (KeyError, ValueError, AttributeError):
            return None

    def _victim_events(self, kind: str, victim: str, **match: Any) -> list[Event]:
        return [e for e in self.events if e["kind"] == kind and self._node_of_member(str(e.get("node", ""))) == victim
                and all(e.get(k) == v for k, v in match.items())]

    def _fault(self, fault: str, victim: str) -> float | None:
        if fault == "hang":
            hung = self._victim_events("node_state", victim, state="hung")
            return hung[0]["t"] if hung else None
        if fault == "power cut":
            outlets = {(r.pdu, r.outlet) for r in self.inv.node(victim).power}
            cut = [e for e in self.events if e["kind"] == "outlet" and e.get("on") is False
                   and (e.get("pdu"), int(e.get("outlet", 0))) in outlets]
            return cut[0]["t"] if cut else None
        if fault in ("crash", "reboot"):
            left = [e for e in self.events if e["kind"] == "node_state" and e.get("node") == victim
                    and e.get("state") in ("hung", "off", "booting")]
            return left[0]["t"] if left else None
        return None

    def _pings(self, source: str | None, address: str | None) -> list[Event]:
        return [e for e in self.events if e["kind"] == "ping_done" and (source is None or e.get("node") == source)
                and (address is None or e.get("target") == address)]

    # -- the rules

    def truth(self, name: str, unit: str) -> tuple[float | None, str]:
        """(the true value, the rule used); (None, why) when there is no rule or no event."""
        m = re.fullmatch(r"seconds to (?:fail over to|take) (\S+)(?: back at once)?", name)
        if m and (nb := self._bond(self.subject)):
            node, bond = nb
            target = m.group(1)
            downs = [e for e in self.events if e["kind"] == "carrier" and e.get("node") == node
                     and e.get("up") is False and e.get("nic") in (bond.primary.nic, bond.backup.nic)]
            pairs = []
            for down in downs:
                # the bond may pass through "no active slave" (previous: None) on its way to the target
                active = next((e for e in _after(self.events, down["t"]) if e["kind"] == "bond_active"
                               and e.get("node") == node and e.get("bond") == bond.name and e.get("slave") == target
                               and e.get("previous") in (down["nic"], None) and e["t"] - down["t"] <= 10.0), None)
                if active is not None:
                    pairs.append(active["t"] - down["t"])
            if pairs:
                return (pairs[-1] if "back at once" in name else pairs[0]), "carrier down → bond_active"
            return None, "no carrier down → bond_active pair"
        m = re.fullmatch(r"seconds link-up to primary active(?: (\S+/\S+))?", name)
        if m and (nb := self._bond(m.group(1) or self.subject)):
            node, bond = nb
            backs = [e for e in self.events if e["kind"] == "bond_active" and e.get("node") == node
                     and e.get("bond") == bond.name and e.get("slave") == bond.primary.nic and e.get("previous")]
            for back in backs:
                ups = [e for e in self.events if e["kind"] == "carrier" and e.get("node") == node
                       and e.get("nic") == bond.primary.nic and e.get("up") is True and e["t"] <= back["t"]]
                if ups:
                    return back["t"] - ups[-1]["t"], "last carrier up → bond_active primary"
            return None, "no return to primary"
        m = re.fullmatch(r"seconds to failover (\S+/\S+)", name)
        if m and (nb := self._bond(m.group(1))):
            node, bond = nb
            sw = self.subject or ""
            power = self.inv.switch(sw).power if sw in [s.name for s in self.inv.switches] else None
            off = None
            if power is not None and power.method == "pdu":
                off = _first(self.events, kind="outlet", pdu=power.pdu, outlet=power.outlet, on=False)
            link = bond.primary if bond.primary.switch == sw else bond.backup
            if off is not None:
                act = _first(_after(self.events, off["t"]), kind="bond_active", node=node, bond=bond.name,
                             previous=link.nic)
                if act is not None:
                    return act["t"] - off["t"], "switch outlet off → bond_active"
            return None, "no switch outlet off → bond_active pair"
        m = re.fullmatch(r"(packets lost|longest gap) (\S+) -> (\S+) \((\S+)\)", name)
        if m:
            what, source, target, network = m.groups()
            address = self._address(target, network) if target in [n.name for n in self.inv.nodes] else target
            pings = self._pings(source, address)
            if not pings:
                return None, "no ping_done"
            if what == "packets lost":
                return float(sum(p["transmitted"] - p["received"] for p in pings)), "ping_done transmitted - received"
            return max(_longest_gap(p, self.interval) for p in pings), "ping_done (longest lost run + 1) × interval"
        if name in ("lost pings", "longest gap"):
            vm = self._vm()
            address = self.inv.vm(vm).address if vm else None
            pings = self._pings(None, address) if address else []
            if not pings:
                return None, "no ping_done to the VM"
            if name == "lost pings":
                return float(sum(p["transmitted"] - p["received"] for p in pings)), "ping_done transmitted - received"
            return max(_longest_gap(p, self.interval) for p in pings), "ping_done (longest lost run + 1) × interval"
        if name == "hypervisor downtime":
            mig = _first(self.events, kind="migration")
            if mig and mig.get("gap_start") is not None and mig.get("gap_end") is not None:
                return (mig["gap_end"] - mig["gap_start"]) * 1000.0, "migration gap_end - gap_start"
            return None, "no migration event"
        m = re.fullmatch(r"(hang|power cut|crash|reboot) to (declared failed|fence start|fence success|rejoin|IPMI failure)", name)
        if m:
            fault, what = m.groups()
            victim = self._victim()
            t0 = self._fault(fault, victim) if victim else None
            if t0 is None:
                return None, f"no {fault} event"
            kinds = {"declared failed": ("member_lost", {}), "fence start": ("fence_start", {}),
                     "fence success": ("fence_done", {"ok": True}), "rejoin": ("member_joined", {}),
                     "IPMI failure": ("fence_attempt", {"method": "ipmi", "ok": False})}
            kind, extra = kinds[what]
            after = [e for e in self._victim_events(kind, victim, **extra) if e["t"] >= t0]
            if not after:
                return None, f"no {kind} after the {fault}"
            return after[0]["t"] - t0, f"{fault} → {kind}"
        m = re.fullmatch(r"pings lost after destroy (\d+)", name)
        if m:
            vm = self._vm()
            address = self.inv.vm(vm).address if vm else None
            pings = self._pings(None, address) if address else []
            downs = [e for e in self.events if e["kind"] == "vm_down" and e.get("vm") == vm and e.get("reason") == "destroyed"]
            n = int(m.group(1))
            if not pings or len(downs) < n:
                return None, "no ping_done or destroy"
            up = _first(_after(self.events, downs[n - 1]["t"]), kind="vm_up", vm=vm)
            if up is None:
                return None, "no vm_up after the destroy"
            return self._lost_while_down(pings, downs[n - 1]["t"], up["t"]), "ping_done lost_seqs sent while the VM was down"
        if name == "pings lost, all VMs":
            addresses = {vm.address for vm in self.inv.vms}
            pings = [e for e in self.events if e["kind"] == "ping_done" and e.get("target") in addresses]
            if not pings:
                return None, "no ping_done to a VM"
            return float(sum(p["transmitted"] - p["received"] for p in pings)), "ping_done to every VM: transmitted - received"
        m = re.fullmatch(r"downtime after destroy (\d+)", name)
        if m:
            vm = self._vm()
            downs = [e for e in self.events if e["kind"] == "vm_down" and e.get("vm") == vm and e.get("reason") == "destroyed"]
            n = int(m.group(1))
            if len(downs) >= n:
                up = _first(_after(self.events, downs[n - 1]["t"]), kind="vm_up", vm=vm)
                if up is not None:
                    return up["t"] - downs[n - 1]["t"], "vm_down destroyed → vm_up"
            return None, "no vm_down → vm_up pair"
        m = re.fullmatch(r"(\S+) pings lost", name)
        if m and m.group(1) in [v.name for v in self.inv.vms]:
            # the crash's gap only: the same ping goes on while the VMs migrate home afterwards
            vm = m.group(1)
            pings = self._pings(None, self.inv.vm(vm).address)
            down = _first(self.events, kind="vm_down", vm=vm)
            up = _first(_after(self.events, down["t"]), kind="vm_up", vm=vm) if down else None
            if not pings or down is None or up is None:
                return None, "no ping_done to the VM or no vm_down → vm_up pair"
            return self._lost_while_down(pings, down["t"], up["t"]), "ping_done lost_seqs sent while the VM was down"
        m = re.fullmatch(r"(\S+) downtime", name)
        if m and m.group(1) in [v.name for v in self.inv.vms]:
            vm = m.group(1)
            down = _first(self.events, kind="vm_down", vm=vm)
            up = _first(_after(self.events, down["t"]), kind="vm_up", vm=vm) if down else None
            if down and up:
                return up["t"] - down["t"], "vm_down → vm_up"
            return None, "no vm_down → vm_up pair"
        return None, "no rule"

    def _lost_while_down(self, pings: list[Event], down: float, up: float) -> float:
        """Pings of `pings` lost that were sent while the VM was down (one interval of slack each side)."""
        start, end = down - self.interval, up + self.interval
        return float(sum(1 for p in pings for seq in p.get("lost_seqs") or []
                         if start <= p["first_t"] + (seq - 1) * self.interval < end))

    def _victim(self) -> str | None:
        names = [n.name for n in self.inv.nodes]
        if self.subject in names:
            return self.subject
        for name in names:
            if f"[{name}]" in self.case.get("id", "") or self.case.get("id", "").endswith(f"-{name}]"):
                return name
        return None

    def _vm(self) -> str | None:
        for vm in self.inv.vms:
            if vm.name == self.subject or vm.name in self.case.get("id", ""):
                return vm.name
        return None


def case_window(case: dict[str, Any], phases: dict[str, dict[str, list[float]]]) -> tuple[float, float]:
    ph = phases.get(case["id"])
    if ph:
        return min(s[0] for s in ph.values()), max(s[1] for s in ph.values())
    start = float(case.get("started") or 0.0)
    return start, start + float(case.get("duration_s") or 0.0)


def lab_of_case(case: dict[str, Any], labs: Iterable[str]) -> str | None:
    labs = sorted(labs, key=len, reverse=True)
    if len(labs) == 1:
        return labs[0]
    for lab in labs:
        if f"[{lab}-" in case["id"] or case["id"].endswith(f"[{lab}]"):
            return lab
    return None


def compare_run(cases: list[dict[str, Any]], inventories: dict[str, Any], events: dict[str, list[Event]],
                phases: dict[str, dict[str, list[float]]]) -> list[Comparison]:
    """Every number of every case that ran, with its truth (None when there is no rule or event)."""
    out: list[Comparison] = []
    for case in cases:
        if case.get("verdict") in ("skipped",) or not case.get("numbers"):
            continue
        lab = lab_of_case(case, inventories)
        if lab is None or lab not in events:
            continue
        start, end = case_window(case, phases)
        window = [e for e in events[lab] if start - 0.05 <= e["t"] <= end + 0.05]
        truth = CaseTruth(case, inventories[lab], window)
        for number in case["numbers"]:
            value = number.get("value")
            measured = float(value) if isinstance(value, (int, float)) else None
            unit = str(number.get("unit") or "")
            true, rule = truth.truth(str(number["name"]), unit)
            if unit == "ms" and measured is not None and true is not None:
                measured, true, unit = measured / 1000.0, true / 1000.0, "s"
            out.append(Comparison(case["id"], str(number["name"]), unit, measured, true, rule))
    return out


def worst(comparisons: list[Comparison]) -> tuple[float | None, float | None]:
    """(worst time error s, worst packet error) over the compared figures."""
    times = [c.error for c in comparisons if c.error is not None and c.kind == "seconds"]
    packets = [c.error for c in comparisons if c.error is not None and c.kind == "packets"]
    return (max(times) if times else None, max(packets) if packets else None)
