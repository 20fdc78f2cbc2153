"""Physical checks around cutting a node's power: the outlets carry a load before the cut, and the
cut darkens the victim and only the victim.

A PDU outlet's label is what someone wrote on it; the cable is what counts. Before cutting, a PDU
that meters its outlets must show a load on each outlet of a running victim. Within seconds of the
cut the victim's BMC and SSH must go dark while every peer's SSH and BMC, and every switch fed by
the same PDU, still answer. When another node or device went dark (or the victim did not) the
outlets go back on at once and the case ends as a lab error (`Miswired`): the lab is cabled
otherwise than labelled, which says nothing about the cluster.
"""

from __future__ import annotations

import copy
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from hacert.drivers.errors import HacertError, LabError, Miswired, WaitTimeout
from hacert.model.inventory import Inventory, Node
from hacert.observe.waiting import wait_for

PHYSICAL_WINDOW = 8.0
"""Seconds after the cut within which the victim must have gone dark (its BMC answers within its
timeout, 5 s by default, before it is called dark)."""
SSH_PROBE = 2.0
"""Seconds a node's SSH is given to send its banner."""
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
MARGIN = 0.5
"""Seconds before the victim's outlet was seen on again within which its answers do not count (the
outlet is polled every 0.1 s; a BMC needs longer than that to answer once powered)."""
PROBE_SLACK = 5.0
"""Seconds a probe may go on past the window: a look begun before its end, another's second look."""


def outlet_words(ref: Any) -> str:
    return f"{ref.pdu} outlet {ref.outlet} labelled {ref.name}"


def check_loads(lab: Any, node: Node) -> list[str]:
    """Each outlet feeding the running `node` carries a load, where its PDU meters outlets; returns
    the readings ('pdu2/1: 1.6 A', 'pdu2/1: not metered'). An outlet that carries nothing feeds
    nothing that runs: `Miswired`, before anything is cut."""
    readings = []
    for ref in node.power:
        pdu = lab.pdu(ref.pdu)
        read = getattr(pdu, "outlet_load", None)
        load = read(ref.outlet) if callable(read) else None
        if load is None:
            readings.append(f"{ref.pdu}/{ref.outlet}: not metered")
            continue
        readings.append(f"{ref.pdu}/{ref.outlet}: {load:.1f} A")
        if load <= 0:
            raise Miswired(ref.pdu, getattr(pdu, "address", ""), f"read the load of outlet {ref.outlet}",
                           f"{outlet_words(ref)} carries no load (0.0 A) while {node.name} is running: it feeds "
                           f"nothing that is on, so it cannot be {node.name}'s; touched nothing")
    return readings


def _own(driver: Any) -> Any:
    """A copy of a driver for a probe thread: its own lock and connection, never the case's."""
    own = copy.copy(getattr(driver, "unwrapped", driver))
    if hasattr(own, "_lock"):
        own._lock = threading.Lock()
    for attr in ("_cmd", "_conn"):
        if hasattr(own, attr):
            setattr(own, attr, None)
    return own


@dataclass
class Probe:
    """One thing that must (victim) or must not (others) go dark after the cut."""

    subject: str  # 'an-node02', 'switch sw1'
    what: str  # 'SSH', 'BMC', 'SNMP'
    answers: Callable[[], bool]
    victim: bool
    dark_at: float | None = None
    looks: int = 0
    answered: list[tuple[float, float]] = field(default_factory=list)  # (asked, answered) of each answer


@dataclass
class PowerCutCheck:
    """Runs the probes in threads right after the cut; switches the outlets back on at once when
    the cut darkened something else (or not the victim)."""

    lab: Any
    node: Node
    cut_at: float
    power_back: Callable[[], float | None] = lambda: None
    """When any of the victim's outlets was first seen on again after the cut (the cluster's PDU fence
    switches it back on): a victim's answer that came after that proves nothing."""
    window: float = PHYSICAL_WINDOW
    probes: list[Probe] = field(default_factory=list)
    restored_at: float | None = None
    finding: str = ""
    detail: str = ""
    _done: threading.Event = field(default_factory=threading.Event)

    @property
    def inv(self) -> Inventory:
        return self.lab.inventory

    def start(self) -> "PowerCutCheck":
        self.probes = self._probes()
        threading.Thread(target=self._run, name=f"power-cut check {self.node.name}", daemon=True).start()
        return self

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def miswired(self) -> bool:
        return self._done.is_set() and bool(self.finding)

    def wait(self) -> None:
        """Return once the victim was seen dark and nothing else was; else raise `Miswired`
        (the outlets are already back on)."""
        self._done.wait(self.window + 20)
        if not self._done.is_set():
            raise LabError(f"power-cut check of {self.node.name}", "", "probe the nodes after the cut",
                           "the probes did not finish")
        if self.finding:
            ref = self.node.power[0]
            raise Miswired(ref.pdu, "", f"cut outlet {ref.outlet}", self.finding, self.detail)

    def evidence(self) -> str:
        dark = [f"{p.subject}'s {p.what} dark at +{p.dark_at - self.cut_at:.1f} s" for p in self.probes
                if p.victim and p.dark_at is not None]
        lit = sorted({f"{p.subject}" for p in self.probes if not p.victim and p.dark_at is None})
        return "; ".join(dark) + (f"; still answering: {', '.join(lit)}" if lit else "")

    # ------------------------------------------------------------ the probes

    def _probes(self) -> list[Probe]:
        node = self.node
        out = [Probe(node.name, "SSH", self._ssh(node.name), True), Probe(node.name, "BMC", self._bmc(node.name), True)]
        for peer in self.inv.peers(node.name):
            out += [Probe(peer.name, "SSH", self._ssh(peer.name), False), Probe(peer.name, "BMC", self._bmc(peer.name), False)]
        pdus = {ref.pdu for ref in node.power}
        for switch in self.inv.switches:
            if switch.power.method == "pdu" and switch.power.pdu in pdus and switch.ports.method == "snmp":
                out.append(Probe(f"switch {switch.name}", "SNMP", self._switch(switch.name), False))
        return out

    def _ssh(self, name: str) -> Callable[[], bool]:
        shell = self.lab.node(name)
        return lambda: bool(shell.reachable(timeout=SSH_PROBE))

    def _bmc(self, name: str) -> Callable[[], bool]:
        holder: dict[str, Any] = {}

        def answers() -> bool:
            if "bmc" not in holder:
                holder["bmc"] = _own(self.lab.bmc(name))
            try:
                holder["bmc"].power_status()
            except LabError:
                return False
            return True

        return answers

    def _switch(self, name: str) -> Callable[[], bool]:
        def answers() -> bool:
            ports = self.lab.switch_ports(name)
            snmp = getattr(getattr(ports, "unwrapped", ports), "snmp", None)
            if snmp is None:
                return True  # nothing to ask it through
            try:
                snmp.get_one(SYS_UPTIME)
            except LabError:
                return False
            return True

        return answers

    def _watch(self, probe: Probe, results: "queue.Queue[Probe]") -> None:
        """A victim's probe: until it is dark, its power is back (the fence) or the window ends. Another's:
        twice, dark only if both fail."""
        deadline = self.cut_at + self.window

        def settled() -> bool:
            """One look; True once the probe has its answer (dark, or seen enough)."""
            started = time.time()
            probe.looks += 1
            if not probe.answers():
                if probe.victim or probe.looks >= 2:
                    probe.dark_at = started
                    return True
                return False  # another's: once more, a moment later, before it is called dark
            probe.answered.append((started, time.time()))
            return not probe.victim or time.time() >= deadline or self.power_back() is not None

        try:
            # bounded by the window (a victim's look past it ends the watch), plus room for a second look
            wait_for(f"{probe.subject}'s {probe.what} to go dark", settled, interval=0.3, progress=False,
                     timeout=max(deadline - time.time(), 0.0) + PROBE_SLACK)
        except WaitTimeout:
            pass  # still answering when even the slack ran out: judged on what it saw (`lit`)
        except HacertError:
            probe.dark_at = probe.dark_at or time.time()
        finally:
            results.put(probe)

    def lit(self, probe: Probe) -> bool:
        """A victim's probe that answered while its outlets were still off (and never went dark): it has
        power from somewhere else. An answer that came with the power back (or just before it was seen
        back: MARGIN) is no evidence: a call started in the dark can complete once the fence restored it."""
        if probe.dark_at is not None:
            return False
        back = self.power_back()
        limit = float("inf") if back is None else back - MARGIN
        return any(answered < limit for _, answered in probe.answered)

    def _run(self) -> None:
        results: queue.Queue[Probe] = queue.Queue()
        try:
            for probe in self.probes:
                threading.Thread(target=self._watch, args=(probe, results), name=f"probe {probe.subject} {probe.what}",
                                 daemon=True).start()
            pending = len(self.probes)
            while pending:
                try:
                    probe = results.get(timeout=self.window + 15)
                except queue.Empty:
                    break
                pending -= 1
                if not probe.victim and self._subject_dark(probe.subject):
                    break  # another node or device lost power: no need to wait for the rest
            others = [p for p in self.probes if not p.victim and self._subject_dark(p.subject)]
            victim_lit = [p for p in self.probes if p.victim and self.lit(p)]
            if not others and not victim_lit:
                return
            self._restore()
            self._describe(others, victim_lit)
        finally:
            self._done.set()

    def _subject_dark(self, subject: str) -> bool:
        """Another node or device lost its power when one of its probes went dark (twice) and none of
        them answered since the cut: a BMC missing its logins on a busy network while its node's SSH
        answers lost nothing, and a node whose SSH went dark while its BMC (on the same supply) was
        still being asked did."""
        probes = [p for p in self.probes if not p.victim and p.subject == subject]
        return any(p.dark_at is not None for p in probes) and not any(p.answered for p in probes)

    def _restore(self) -> None:
        """The outlets go back on at once: the cut darkened what it must not have."""
        for ref in self.node.power:
            try:
                self.lab.pdu(ref.pdu).outlet_on(ref.outlet)
            except HacertError as exc:
                self.detail += f"; could not switch {ref.pdu} outlet {ref.outlet} back on: {exc}"
        self.restored_at = time.time()

    def _describe(self, others: list[Probe], victim_lit: list[Probe]) -> None:
        labels = ", ".join(outlet_words(ref) for ref in self.node.power)
        back = f"switched back on {self.restored_at - self.cut_at:.1f} s after the cut" if self.restored_at else ""
        if others:
            dark: dict[str, list[str]] = {}
            for p in others:
                dark.setdefault(p.subject, []).append(
                    f"its {p.what} stopped answering at +{p.dark_at - self.cut_at:.1f} s" if p.dark_at is not None
                    else f"its {p.what} did not answer")
            fed = " and ".join(dark)
            self.finding = f"{labels} feeds {fed}" + (f", not {self.node.name}" if victim_lit else f" as well as {self.node.name}")
            self.detail = "; ".join(f"{who}: {', '.join(what)}" for who, what in dark.items())
            if victim_lit:
                self.detail += f"; {self.node.name} kept its power ({', '.join(p.what for p in victim_lit)} still answering)"
        elif len(victim_lit) == len([p for p in self.probes if p.victim]):
            self.finding = f"{labels} does not feed {self.node.name}"
            self.detail = (f"{self.node.name}'s {' and '.join(p.what for p in victim_lit)} kept answering with the "
                           f"outlet off (up to +{max(a for p in victim_lit for _, a in p.answered) - self.cut_at:.1f} s)")
        else:
            self.finding = (f"{labels} does not feed all of {self.node.name}: its "
                            f"{' and '.join(p.what for p in victim_lit)} kept answering with the outlet off")
            self.detail = "; ".join(f"{p.subject}'s {p.what} went dark at +{p.dark_at - self.cut_at:.1f} s"
                                    for p in self.probes if p.victim and p.dark_at is not None)
        self.detail = "; ".join(part for part in (self.detail.strip("; "), back,
                                                 "the lab is cabled otherwise than labelled: the cluster was not judged") if part)
