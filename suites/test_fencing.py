"""Testing Fencing (seed 002): hang every node and cut every node's power; the cluster must fence it.

The seed's Test / Victim / Pass table, for every node of the inventory:

- hang the victim (`echo c > /proc/sysrq-trigger`, or the inventory's hang
  method) and confirm it took (it stops answering; else the case is
  inconclusive); a survivor declares it failed and fences it with the first
  method, IPMI — proven by the cluster's own fence record (the device or
  method index it names, looked up in the cluster's fence configuration:
  never a device's name), by the victim's BMC, and by its PDU outlet staying
  on — then the victim boots, rejoins and gets its services back;
- cut the victim's PDU outlet (`fence_apc_snmp -n N -o off`) after checking its
  label and its load; within seconds the victim, and only the victim, goes dark
  (else the outlet goes back on at once: a miswired lab, not the cluster); the
  survivor's IPMI attempt fails ("error from agent") because the BMC lost its
  power too, and the first method independent of the power (the PDU) then
  succeeds, its outlet coming back on by itself;
- with SCSI-3 persistent-reservation fencing (seed 001), the victim's own key
  (fence_scsi's key file on the victim) is removed from the shared disk and the
  reservation stays with a survivor.

Times are measured from the fault (hang, cut) by polling the survivors'
status and syslog; each moment is the window between the last poll that did
not see it and the first that did, narrowed by the syslog line's own stamp.
A deadline is judged on that moment, not on the look having begun in time;
a proof that rests on samples (the outlet stayed on) needs the samples.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pytest

from hacert.drivers.errors import HacertError, LabError, Miswired
from hacert.drivers.parsers._common import ParseError
from hacert.drivers.parsers.syslog import (
    CorosyncMembers,
    CorosyncProcessorFailed,
    parse_syslog_events,
)
from hacert.model.inventory import Inventory, Node
from hacert.fixtures.plan import plan_steps
from hacert.observe.clocks import ClockReading, reading_of, stamp_window
from hacert.observe.cluster_state import (
    describe_status,
    find_service,
    is_online,
    member_state,
    where_running,
)
from hacert.observe.fence_record import (
    REBOOTING_METHODS,
    FenceConfig,
    FenceRound,
    fence_method,
    fence_rounds,
    read_fence_config,
)
from hacert.model.bounds import Bound
from hacert.observe.coverage import Coverage, Unseen, raise_unseen
from hacert.observe.lines import count_unreadable_syslog
from hacert.model.scope import INDEPENDENT_METHODS, POWER_DEPENDENT_METHODS, require_independent_fence
from hacert.drivers.errors import ClusterFailure, Inconclusive, NotApplicable
from hacert.procedures.hang import HangCheck, hang, hang_words
from hacert.observe.moments import Edge, Moment
from hacert.procedures.power_cut import PowerCutCheck, check_loads

FEATURE = "Fencing"
pytestmark = pytest.mark.destructive

POLL = 0.1
"""Seconds between two looks at the survivors while waiting for the cluster."""

METHOD_WORDS = {"ipmi": "IPMI", "redfish": "Redfish", "pdu": "the PDU", "scsi": "SCSI-3 reservations"}
OUTLET_BLIND = 1.0
"""Seconds the outlet sampler may go without reading an outlet before a PDU reboot (off for a
second in labsim, five on an APC by default) could have slipped by unseen."""


def fail(message: str) -> NoReturn:
    """End the case as a failure of the cluster; the message is also the summary's diagnosis."""
    raise ClusterFailure(message)


def syslog_events(lines: list[str]) -> list[Any]:
    """The typed events of syslog lines; lines that are not syslog are skipped."""
    out: list[Any] = []
    for line in lines:
        try:
            out += parse_syslog_events([line])
        except ParseError:
            continue
    return out


def syslog_window(event: Any, reading: ClockReading | None) -> tuple[float, float] | None:
    """When the event of a syslog line happened, on the controller's clock: its stamp (the node's
    local time, classic stamps truncated to the second) corrected by the node's clock `reading`,
    as (earliest, latest); None for a line without a stamp."""
    stamp = getattr(getattr(event, "line", None), "timestamp", None)
    return None if stamp is None else stamp_window(stamp, reading)


def syslog_epoch(event: Any, reading: ClockReading | None = None) -> float | None:
    """The earliest the event of a syslog line can have happened, on the controller's clock."""
    window = syslog_window(event, reading)
    return None if window is None else window[0]


# ---------------------------------------------------------------- watching devices


def _own_bmc(bmc: Any) -> Any:
    """A copy of the lab's BMC driver for the sampling thread, with its own lock, so a sample in
    flight (up to the BMC timeout while the BMC is dark) never holds up the case's own BMC calls.
    Its timeout stays the driver's: a shorter one abandons pyghmi logins in flight, and that
    leaves pyghmi unable to reach the BMC for ~35 s after it answers again (measured)."""
    own = copy.copy(getattr(bmc, "unwrapped", bmc))  # the sampler only reads: no device lock
    if hasattr(own, "_lock"):
        own._lock = threading.Lock()
        own._cmd = None
    return own


class DeviceSampler:
    """Polls the victim's BMC (power state) and PDU outlets through the fence window, each in its
    own thread (a BMC call that takes its whole timeout leaves the outlets watched).

    The BMC keeps answering while the node is hung; it goes dark when its outlet is cut. A PDU
    always answers: an outlet read that fails is no reading (`coverage`), never "dark".
    """

    def __init__(self, lab: Any, node: Node, interval: float = POLL, bmc: bool = True) -> None:
        self.lab = lab
        self.node = node
        self.interval = interval
        self.bmc = _own_bmc(lab.bmc(node.name)) if bmc else None
        self.samples: list[tuple[float, str, str]] = []  # (t, source, value)
        self.coverage = {source: Coverage(f"the sampler of {source}") for source in self.outlets}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sampler {node.name}", daemon=True)
        self._outlet_thread = threading.Thread(target=self._run_outlets, name=f"outlet sampler {node.name}", daemon=True)

    @property
    def outlets(self) -> list[str]:
        return [f"{ref.pdu}/{ref.outlet}" for ref in self.node.power]

    def start(self) -> "DeviceSampler":
        self._thread.start()
        self._outlet_thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling; do not wait (a BMC call in flight may take its whole timeout; the
        thread ends by itself after it)."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set() and self.bmc is not None:
            started = time.time()
            if self._sample("bmc", self.bmc.power_status) == "no answer":
                self.bmc = None  # a dark BMC: one sample says so; more would only risk pyghmi's stale sessions
            self._stop.wait(max(0.0, self.interval - (time.time() - started)))

    def _run_outlets(self) -> None:
        while not self._stop.is_set() and self.node.power:
            started = time.time()
            for ref in self.node.power:
                self._sample(f"{ref.pdu}/{ref.outlet}", lambda ref=ref: self.lab.pdu(ref.pdu).outlet_status(ref.outlet))
            self._stop.wait(max(0.0, self.interval - (time.time() - started)))

    def _sample(self, source: str, read: Any) -> str:
        coverage = self.coverage.get(source)
        try:
            value = str(read())
        except LabError as exc:
            value = "no answer"
            if coverage is not None:
                coverage.failed(exc)
        except Exception as exc:  # an answer no one reads: no reading either (the thread goes on)
            value = "unreadable"
            if coverage is not None:
                coverage.failed(exc)
        else:
            if coverage is not None:
                coverage.ok()
        self.samples.append((time.time(), source, value))
        return value

    def seen(self, source: str, value: str, start: float = 0.0, end: float = float("inf")) -> list[float]:
        return [t for t, s, v in list(self.samples) if s == source and v == value and start <= t <= end]

    def first_dark(self, source: str, start: float, end: float) -> float | None:
        """When `source` first read off within [start, end] (a read that failed is no reading: `unseen`)."""
        times = self.seen(source, "off", start, end)
        return min(times) if times else None

    def unseen(self, source: str, start: float, end: float, needed: str, t0: float | None = None,
               longest: float = OUTLET_BLIND) -> list[Unseen]:
        """Where `source` was not read for more than `longest` s within [start, end]."""
        return self.coverage[source].unseen(start, end, longest, needed, t0)

    def timeline(self) -> dict[str, list[tuple[float, str]]]:
        out: dict[str, list[tuple[float, str]]] = {}
        for t, source, value in list(self.samples):
            series = out.setdefault(source, [])
            if not series or series[-1][1] != value:
                series.append((t, value))
        return out


# ---------------------------------------------------------------- watching the cluster


@dataclass
class FenceWatch:
    """Looks at the survivors again and again: membership, then the fence in their syslogs."""

    lab: Any
    victim: Node
    survivors: list[str]
    since: float
    marks: dict[str, Any] = field(default_factory=dict)
    status: Any = None
    declared: Edge = field(init=False)
    started: Edge = field(init=False)
    ipmi_failed: Edge = field(init=False)
    succeeded: Edge = field(init=False)
    rounds: list[FenceRound] = field(default_factory=list)
    windows: dict[str, list[str]] = field(default_factory=dict)
    config: FenceConfig | None = None
    """The cluster's fence configuration (devices, agents, each node's methods), read before the fault."""

    def __post_init__(self) -> None:
        self.declared = Edge(self.since)
        self.started = Edge(self.since)
        self.ipmi_failed = Edge(self.since)
        self.succeeded = Edge(self.since)

    @property
    def inv(self) -> Inventory:
        return self.lab.inventory

    @classmethod
    def mark(cls, lab: Any, victim: Node) -> "FenceWatch":
        """Mark every survivor's syslog before the fault."""
        survivors = [peer.name for peer in lab.inventory.peers(victim.name)]
        config = read_fence_config(lab, via=survivors[0])
        marks = {name: lab.node(name).syslog_mark() for name in survivors}
        return cls(lab, victim, survivors, time.time(), marks, config=config)

    def rebase(self, since: float) -> None:
        """The fault happens at `since`: nothing before it counts as 'not yet seen'."""
        self.since = since
        self.__post_init__()

    def look(self) -> None:
        """One look at every survivor's syslog, then at the membership through the first survivor."""
        start = time.time()
        for survivor in self.survivors:
            self.windows[survivor] = self.lab.node(survivor).syslog_since(self.marks[survivor])
        end = time.time()
        self.rounds = [r for r in fence_rounds(self.inv, self.windows, self.config) if r.victim == self.victim.name]
        # each line's stamp is on the clock of the survivor that logged it (the round's fencer)
        started = next(((r.fencer, r.started) for r in self.rounds if r.started is not None), None)
        ipmi = [(r.fencer, f.event) for r in self.rounds for f in r.failures if f.method in POWER_DEPENDENT_METHODS]
        done = next(((r.fencer, r.succeeded) for r in self.rounds if r.succeeded is not None), None)
        self.started.look(bool(self.rounds), start, end, self._window(*started) if started is not None else None)
        self.ipmi_failed.look(bool(ipmi), start, end, self._window(*ipmi[0]) if ipmi else None)
        self.succeeded.look(done is not None, start, end, self._window(*done) if done is not None else None)
        lost = [e for e in self._events(self.survivors[0]) if isinstance(e, CorosyncProcessorFailed)]
        start = time.time()
        self.status = self.lab.cluster.status(via=self.survivors[0])
        end = time.time()
        self.declared.look(not is_online(self.inv, self.status, self.victim.name), start, end,
                           self._window(self.survivors[0], lost[0]) if lost else None)

    def _window(self, node: str, event: Any) -> tuple[float, float] | None:
        """When `event` was logged, on the controller's clock: its stamp corrected by the offset of
        the node whose syslog holds the line (else `node`'s)."""
        raw = str(getattr(getattr(event, "line", None), "raw", "")).strip()
        logged_by = next((name for name, lines in self.windows.items() if raw and any(ln.strip() == raw for ln in lines)), node)
        return syslog_window(event, reading_of(self.lab, logged_by))

    def _events(self, survivor: str) -> list[Any]:
        """Typed syslog events of the survivor's window as of the previous look."""
        return syslog_events(self.windows.get(survivor, []))

    def until(self, done: Any, deadline: float) -> bool:
        """Look every POLL s until `done()` or the wall-clock `deadline`; True when done."""
        while True:
            self.look()
            if done():
                return True
            if time.time() >= deadline:
                return False
            time.sleep(max(0.0, min(POLL, deadline - time.time())))

    @property
    def fence_round(self) -> FenceRound | None:
        """The round that fenced the victim (else the latest one)."""
        done = [r for r in self.rounds if r.succeeded is not None]
        return done[0] if done else (self.rounds[-1] if self.rounds else None)

    def failures_text(self) -> str:
        rnd = self.fence_round
        if rnd is None or not rnd.failures:
            return ""
        agents: dict[str, list[str]] = {}
        for f in rnd.failures:
            agents.setdefault(f.agent, []).append(f.result)
        parts = [f"{agent} failed {len(results)}x ('{results[0]}')" for agent, results in agents.items()]
        return "; ".join(parts)

    def state_text(self) -> str:
        return describe_status(self.inv, self.status)

    def configured(self) -> str:
        """The victim's fence methods as the cluster is configured: '1: ipmi (dev-a1: fence_ipmilan); ...'."""
        return self.config.describe(self.victim.name) if self.config is not None else "not read"

    def fenced_with(self, rnd: FenceRound | None) -> str:
        """Which device or method the cluster's record names, and where that was read."""
        if rnd is None or rnd.succeeded is None:
            return "no fence recorded"
        if rnd.device:
            dev = self.config.devices.get(rnd.device) if self.config is not None else None
            agent = dev.agent if dev is not None else "not in the cluster's configuration"
            return f"device {rnd.device} ({agent}), named in the fencer's log"
        if rnd.method_index is not None:
            methods = self.config.methods(self.victim.name) if self.config is not None else ()
            devices = ", ".join(methods[rnd.method_index]) if rnd.method_index < len(methods) else "?"
            failed = ", ".join(f.device or "?" for f in rnd.failures)
            return (f"method {rnd.method_index + 1} ({devices}), the one after the last that failed"
                    + (f" (dev {failed})" if failed else " (none failed)") + f" in fenced's record, from the {rnd.method_source}")
        return "the record names no device or method"


# ---------------------------------------------------------------- the victim comes back


def wait_rejoined(watch: FenceWatch, after: float, what: str) -> float:
    """Wait (expectations.rejoin_timeout from `after`) until the victim is an online member again.
    The moment is narrowed by the survivor's corosync line listing the victim among the members."""
    inv, victim, survivor = watch.inv, watch.victim, watch.survivors[0]
    victim_id = getattr(member_state(inv, watch.status, victim.name), "id", None)
    edge = Edge(after)
    timeout = inv.expectations.rejoin_timeout
    deadline = after + timeout
    while True:
        start = time.time()
        status = watch.lab.cluster.status(via=survivor)
        end = time.time()
        watch.status = status
        stamp = None
        if is_online(inv, status, victim.name) and victim_id is not None:
            lines = watch.lab.node(survivor).syslog_since(watch.marks[survivor])
            events = syslog_events(lines)
            fenced = [i for i, e in enumerate(events) if type(e).__name__ in ("FenceSucceeded", "PeerFenced")]
            joins = [e for e in events[(fenced[-1] if fenced else 0):]
                     if isinstance(e, CorosyncMembers) and victim_id in e.node_ids]
            stamp = syslog_window(joins[0], reading_of(watch.lab, survivor)) if joins else None
        edge.look(is_online(inv, status, victim.name), start, end, stamp)
        if edge.moment is not None:
            if edge.moment.t > deadline:  # seen by a look that began in time, measured after the deadline
                fail(f"{victim.name} did not rejoin the cluster within {timeout:g} s of {what}: it rejoined "
                     f"{edge.moment.t - after:.1f} s after")
            return edge.moment.t
        if time.time() >= deadline:
            break
        time.sleep(POLL)
    alive = _answers(watch.lab, victim.name)
    why = ("it booted (SSH answers) but did not join: its cluster stack did not start at boot"
           if alive else "it never came back (SSH does not answer)")
    fail(f"{victim.name} did not rejoin the cluster within {timeout:g} s of {what}: {why}; "
         f"last cluster state: {watch.state_text()}")


def _answers(lab: Any, node: str) -> bool:
    try:
        return bool(lab.node(node).reachable(timeout=2))
    except HacertError:
        return False


def wait_services_home(watch: FenceWatch, after: float) -> float:
    """The victim's services back on it: storage started by the cluster, VMs migrated home where
    the failover domain does not fail back by itself. Returns when the last one was home: seen by
    polling, or when the harness's own migrate/relocate returned (those commands return once done)."""
    lab, inv, victim = watch.lab, watch.inv, watch.victim
    timeout = inv.expectations.services_back_timeout
    deadline = time.time() + timeout
    storage = list(victim.storage_services)
    vms = [vm.name for vm in inv.vms_on(victim.name)]
    others = [svc.name for svc in inv.services if svc.home == victim.name and svc.name not in storage]
    edges = {name: Edge(after) for name in storage + vms + others}
    if not edges:
        return after  # nothing lives on the victim: its services are back when it is
    home: dict[str, bool] = {}
    while True:
        start = time.time()
        status = lab.cluster.status(via=watch.survivors[0])
        end = time.time()
        watch.status = status
        for name, edge in edges.items():
            home[name] = where_running(inv, status, name) == victim.name
            edge.look(home[name], start, end)
        if all(edge.moment is not None for edge in edges.values()):
            back = max(edge.t for edge in edges.values())  # type: ignore[type-var]
            if back > deadline:  # seen by a look that began in time, measured after the deadline
                last = max(edges, key=lambda n: edges[n].t or 0.0)
                fail(f"{victim.name} rejoined but its services were not back within {timeout:g} s: {last} was back "
                     f"only {back - after:.1f} s after it rejoined")
            return back
        storage_up = all(home[name] for name in storage)
        for name in vms + others:
            if home[name] or not storage_up:
                continue
            svc = find_service(status, name)
            if svc is None or svc.state != "started" or _fails_back(inv, name):
                continue  # still being recovered elsewhere (move it once it runs), or the cluster brings it home
            if name in vms:
                lab.cluster.migrate(name, victim.name)
            else:
                lab.cluster.relocate(name, victim.name)
            done = time.time()
            edges[name].moment = Moment(done, done)
            home[name] = True
        if time.time() >= deadline:
            break
        time.sleep(POLL)
    missing = [name for name, edge in edges.items() if edge.moment is None]
    fail(f"{victim.name} rejoined but its services were not back within {timeout:g} s: "
         f"{', '.join(missing)} not running on it; last cluster state: {watch.state_text()}")


def _fails_back(inv: Inventory, name: str) -> bool:
    domain = None
    for vm in inv.vms:
        if vm.name == name:
            domain = vm.domain
    for svc in inv.services:
        if svc.name == name:
            domain = svc.domain
    if domain is None:
        return False
    d = inv.domain(domain)
    return d.ordered and not d.nofailback


def rebooted_since(lab: Any, node: str, moment: float) -> bool:
    """Did the node boot after `moment` (its uptime is shorter than the time since)?"""
    text = lab.node(node).read_file("/proc/uptime").split()
    return bool(text) and float(text[0]) < time.time() - moment


def attach_evidence(record: Any, watch: FenceWatch, sampler: DeviceSampler, t0: float) -> None:
    windows = {name: lines for name, lines in watch.windows.items()}
    if any(windows.values()):
        record.attach_syslog(windows, name="survivors' syslog during the fence")
    count_unreadable_syslog(windows).report(record)
    rows = [{"t": round(t - t0, 3), "source": s, "value": v} for t, s, v in list(sampler.samples)]
    if rows:
        record.attach_csv("victim's BMC and PDU outlets, polled", rows)
    events = [(t, label) for t, label in (
        (watch.declared.t, "declared failed"), (watch.started.t, "fence start"),
        (watch.ipmi_failed.t, "IPMI failed"), (watch.succeeded.t, "fence success")) if t is not None]
    try:
        record.attach_timeline(events=[(t0, "fault")] + events, states=sampler.timeline(), t0=t0)
    except Exception as exc:  # a picture must never fail a case
        record.fact("timeline", f"not drawn: {exc}")


def record_times(record: Any, watch: FenceWatch, t0: float, fault: str) -> None:
    def since(t: float | None) -> float | None:
        return None if t is None else t - t0

    expect = watch.inv.expectations
    record.number(f"{fault} to declared failed", since(watch.declared.t), "s")
    record.number(f"{fault} to fence start", since(watch.started.t), "s")
    record.number(f"{fault} to fence success", since(watch.succeeded.t), "s", expected=Bound.at_most(expect.fence_timeout))


def judge_fenced_in_time(watch: FenceWatch, t0: float, fault: str) -> None:
    """A fence seen by a look that began before the deadline, but measured after it, is no fence in time."""
    limit = watch.inv.expectations.fence_timeout
    if watch.succeeded.t is not None and watch.succeeded.t - t0 > limit:
        fail(f"no fence of {watch.victim.name} within {limit:g} s of {fault}: it was fenced "
             f"{watch.succeeded.t - t0:.1f} s after")


# ---------------------------------------------------------------- the cases


@plan_steps(
    "audit the lab healthy (members, quorum, services home, BMCs and outlets on)",
    "mark the survivors' syslog; poll {victim}'s BMC and PDU outlet from now on",
    "hang {victim} (sysrq 'c' or the inventory's hang method)",
    "wait up to {expect.fence_timeout} s for a survivor to declare {victim} failed and fence it",
    "prove IPMI fenced it: fence log, BMC power cycle, PDU outlet never off",
    "wait up to {expect.rejoin_timeout} s for {victim} to boot and rejoin",
    "wait up to {expect.services_back_timeout} s for its services (migrate VMs home if nofailback)",
    touches=["ssh all", "bmc {victim}", "outlets {victim}", "cluster"],
)
def test_hang_and_fence(victim: Any, lab: Any, guard: Any, record: Any) -> None:
    """Hang a node; a survivor fences it by IPMI; it reboots and rejoins."""
    inv: Inventory = lab.inventory
    node = inv.node(victim.node)
    if not inv.peers(node.name):
        raise NotApplicable(f"{node.name} has no peer to fence it")
    first = node.fence[0] if node.fence else None
    record.subject(node.name)
    record.title(f"Hang {node.name} — a survivor fences it by {METHOD_WORDS.get(first or '', first or 'nothing')}")
    record.story("Testing Fencing: hang the victim")

    with record.step("audit the lab healthy"):
        guard.audit()
    with record.step(f"mark the survivors' syslog and watch {node.name}'s BMC and PDU outlet"):
        watch = FenceWatch.mark(lab, node)
        sampler = DeviceSampler(lab, node)
    sampler.start()
    try:
        _hang_fence_and_recover(lab, guard, record, node, watch, sampler)
    finally:  # the evidence goes with the case whatever happened, once the waits are over
        sampler.stop()
        attach_evidence(record, watch, sampler, watch.since)


def _hang_fence_and_recover(lab: Any, guard: Any, record: Any, node: Node, watch: FenceWatch, sampler: DeviceSampler) -> None:
    inv: Inventory = lab.inventory
    expect = inv.expectations
    first = node.fence[0] if node.fence else None
    survivor = watch.survivors[0]
    victim_key = _own_scsi_key(lab, node.name) if "scsi" in node.fence else None
    with record.step(f"hang {node.name}: {hang_words(node)}"):
        guard.changed("hang", node.name, node.hang.method)
        t0 = hang(lab, node)
        watch.rebase(t0)
        took = HangCheck(lab, node, t0).start()
    with record.step(f"wait up to {expect.fence_timeout:g} s for a survivor to declare {node.name} failed and fence it"):
        fenced = watch.until(lambda: watch.succeeded.moment is not None or took.refuted, t0 + expect.fence_timeout)
    with record.step(f"confirm the hang took: {node.name} stopped answering"):
        took.wait()  # Inconclusive: a node that still answers was never hung, whatever the cluster did
        record.fact("hang", took.evidence())
    record_times(record, watch, t0, "hang")
    rnd = watch.fence_round
    method = fence_method(inv, rnd)
    record.method(method or "none")
    record.fact("fence configuration", watch.configured())
    record.fact("fenced with", watch.fenced_with(rnd))
    if not fenced:
        if watch.declared.moment is None:
            detail = "no survivor even declared it failed"
        elif watch.started.moment is None:
            detail = f"declared failed after {watch.declared.t - t0:.1f} s but no fencing started"
        elif watch.failures_text():
            detail = f"fencing started after {watch.started.t - t0:.1f} s ({watch.failures_text()}) and never succeeded"
        else:
            detail = f"fencing started after {watch.started.t - t0:.1f} s and had not finished"
        fail(f"no fence of {node.name} within {expect.fence_timeout:g} s of the hang: {detail}; "
             f"last cluster state: {watch.state_text()}")
    judge_fenced_in_time(watch, t0, "the hang")
    require_method_known(watch, rnd, method)
    fence_end = watch.succeeded.moment.after if watch.succeeded.moment else time.time()
    bmc_proof = ""
    unseen: list[Unseen] = []
    expected = METHOD_WORDS.get(first or "", first or "its first method")
    how = method_words(watch, rnd, method)
    with record.step(f"prove {expected} fenced {node.name}: fence log, BMC, PDU outlet"):
        # keep watching the outlet a moment after the fence: a PDU reboot must not slip between two looks
        time.sleep(POLL * 3)
        window_end = time.time()
        dark = {o: sampler.first_dark(o, t0, window_end) for o in sampler.outlets}
        cut = [f"{o} went off at +{t - t0:.1f} s" for o, t in dark.items() if t is not None]
        if method != first:
            why = (f"{'IPMI' if first == 'ipmi' else expected} attempt failed with '{rnd.failures[0].result}'"
                   if rnd and rnd.failures else f"{expected} is not what succeeded")
            fail(f"{node.name} was fenced by {METHOD_WORDS.get(method or '', method)}, not {expected}: {why}; the cluster's "
                 f"record: {how}" + (f"; its outlet {', '.join(cut)}" if cut else ""))
        if method in POWER_DEPENDENT_METHODS and cut:
            fail(f"the cluster's record says {node.name} was fenced by {METHOD_WORDS[method]} ({how}), but its PDU outlet was cut: "
                 f"{', '.join(cut)}")
        if method == "pdu" and len(cut) < len(sampler.outlets):
            untouched = [o for o, t in dark.items() if t is None]
            fail(f"the cluster's record says {node.name} was fenced by the PDU ({how}), but its outlet "
                 f"{', '.join(untouched)} never went off (polled every {POLL:g} s from the hang to +{window_end - t0:.1f} s)")
        if method == "scsi" and victim_key is not None:
            keys = [_key_int(k) for k in _scsi_view(lab, survivor)[0]]
            if victim_key in keys:
                fail(f"the cluster's record says {node.name} was fenced by SCSI-3 reservations ({how}), but its key "
                     f"0x{victim_key:x} is still registered on the shared disk")
            record.fact("SCSI key", f"{node.name}'s key 0x{victim_key:x} removed from the shared disk")
        if method != "pdu":
            for outlet in sampler.outlets:  # "stayed on" rests on the samples: the outlet was read all through
                unseen += sampler.unseen(outlet, t0, window_end, f"{outlet} was cut during the fence", t0)
            record.fact("PDU outlet", f"{', '.join(sampler.outlets) or 'none'} stayed on through the fence")
        else:
            record.fact("PDU outlet", "; ".join(cut))
        off = sampler.seen("bmc", "off", t0, window_end)
        if off:
            bmc_proof = f"its BMC read power off at +{off[0] - t0:.1f} s"
    sampler.stop()
    if method not in REBOOTING_METHODS:
        with record.step(f"reboot {node.name}: a {METHOD_WORDS.get(method or '', method)} fence leaves it hung (seed 001)"):
            lab.bmc(node.name).power_cycle()
            fence_end = time.time()
    with record.step(f"wait up to {expect.rejoin_timeout:g} s for {node.name} to boot and rejoin"):
        rejoined = wait_rejoined(watch, fence_end, "its fence")
        record.number("hang to rejoin", rejoined - t0, "s")
    if method in POWER_DEPENDENT_METHODS:
        with record.step(f"check {node.name}'s BMC power-cycled it"):
            if not bmc_proof:
                # a cycle can be quicker than one poll of the BMC: the node's uptime proves the reset instead
                if not rebooted_since(lab, node.name, t0):
                    fail(f"the cluster's record says {node.name} was fenced by {METHOD_WORDS[method]} ({how}), but it never rebooted: "
                         "its BMC never read power off and its uptime predates the hang")
                bmc_proof = "its BMC power-cycled it (the node rebooted while its outlet stayed on)"
            record.fact("BMC evidence", bmc_proof)
            if method == "redfish":
                record.fact("BMC log", bmc_log_since(lab, node.name, t0))
    with record.step(f"wait up to {expect.services_back_timeout:g} s for {node.name}'s services to come back"):
        back = wait_services_home(watch, rejoined)
        record.number("hang to services back", back - t0, "s")
    raise_unseen(unseen)
    record.diagnosis(f"{node.name} fenced by {METHOD_WORDS.get(method or '', method)} "
                     f"{watch.succeeded.t - t0:.1f} s after the hang; rejoined at +{rejoined - t0:.1f} s")


def bmc_log_since(lab: Any, node: str, since: float) -> str:
    """What the BMC's own log service recorded since `since` (its resets: who asked for which reset type).
    The BMC's clock is its own: entries are kept from a minute before, and shown as the BMC stamped them."""
    from datetime import datetime

    try:
        lines = lab.bmc(node).sel()
    except LabError as exc:
        return f"not read ({exc})"
    kept = []
    for line in lines:
        try:
            stamp = datetime.fromisoformat(line.split(" | ")[1]).timestamp()
        except (IndexError, ValueError):
            continue
        if stamp >= since - 60:
            kept.append(line)
    return "; ".join(kept[-4:]) or "no entry since the fault"


def method_words(watch: FenceWatch, rnd: FenceRound | None, method: str | None) -> str:
    """'IPMI: device fence-pilot-pdu1 (fence_ipmilan), named by pacemaker-fenced's record'."""
    return f"{METHOD_WORDS.get(method or '', method or 'an unknown method')}: {watch.fenced_with(rnd)}"


def require_method_known(watch: FenceWatch, rnd: FenceRound | None, method: str | None) -> None:
    """The record must say which method fenced, or the case cannot judge it (never guessed from names)."""
    if method is not None:
        return
    raise Inconclusive(f"the cluster fenced {watch.victim.name} but hacert cannot tell by which method: "
                       f"{watch.fenced_with(rnd)}; the cluster's configuration: {watch.configured()}")


def bmc_methods_before(node: Node, expected: str | None) -> list[str]:
    """The node's fence methods through its own BMC (IPMI, Redfish) listed before `expected`."""
    if expected not in node.fence:
        return []
    return [m for m in node.fence[: node.fence.index(expected)] if m in POWER_DEPENDENT_METHODS]


def bmc_words(node: Node, expected: str | None) -> str:
    """'IPMI', 'Redfish' (or 'IPMI and Redfish'): how the BMC methods before `expected` are named."""
    return " and ".join(METHOD_WORDS.get(m, m) for m in bmc_methods_before(node, expected)) or "the BMC"


def independent_method(node: Node) -> str | None:
    """The node's first fence method that works whatever happened to its power (the PDU, SCSI-3)."""
    return next((m for m in node.fence if m in INDEPENDENT_METHODS), None)


@plan_steps(
    "audit the lab healthy",
    "check each outlet feeding {victim} is named as the inventory expects (refuse otherwise)",
    "where the PDU meters its outlets: check each outlet carries a load (refuse otherwise)",
    "mark the survivors' syslog; poll {victim}'s BMC and PDU outlet from now on",
    "cut {victim}'s outlet(s) (fence_apc_snmp -n N -o off)",
    "within seconds: {victim}'s BMC and SSH go dark, every peer's and every switch on that PDU still answer "
    "(else the outlets go back on at once: a miswired lab)",
    "wait up to {expect.fence_timeout} s: IPMI must fail ('error from agent') where it comes first, then the first "
    "method independent of the power (the PDU, SCSI-3) must succeed",
    "make sure the outlet is on again; wait up to {expect.rejoin_timeout} s for {victim} to rejoin",
    "wait for its services",
    touches=["ssh all", "bmc all", "outlets {victim}", "cluster"],
)
def test_pdu_power_cut(victim: Any, lab: Any, guard: Any, record: Any) -> None:
    """Cut a node's power at its PDU outlet; IPMI fails, the first power-independent method fences it."""
    inv: Inventory = lab.inventory
    node = inv.node(victim.node)
    record.subject(node.name)
    require_independent_fence(inv, node)
    expected = independent_method(node)
    ipmi_first = bool(bmc_methods_before(node, expected))
    record.title(f"Cut {node.name}'s power — " + (f"{bmc_words(node, expected)} fails, " if ipmi_first else "")
                 + f"{METHOD_WORDS.get(expected or '', expected)} fences it")
    record.story("Testing Fencing: cut the victim's power")
    if not node.power:
        raise NotApplicable(f"{node.name} has no PDU outlet in the inventory: its power cannot be cut")

    with record.step("audit the lab healthy"):
        guard.audit()
    with record.step(f"check the outlets feeding {node.name} are the ones the inventory names"):
        for ref in node.power:
            shown = lab.pdu(ref.pdu).outlet_name(ref.outlet)
            if ref.shared:
                fail(f"refused: PDU {ref.pdu} outlet {ref.outlet} is declared shared (it feeds more than {node.name}); "
                     "cutting it would take down more than the victim; touched nothing")
            if shown != ref.name:
                fail(f"refused: PDU {ref.pdu} outlet {ref.outlet} is named {shown!r} on the PDU, but the inventory "
                     f"expects {ref.name!r} for {node.name}; the outlet may feed another device; touched nothing")
    with record.step(f"check each outlet feeding {node.name} carries a load (where the PDU meters outlets)"):
        record.fact("outlet load before the cut", "; ".join(check_loads(lab, node)))
    with record.step(f"mark the survivors' syslog and watch {node.name}'s PDU outlet"):
        watch = FenceWatch.mark(lab, node)
        sampler = DeviceSampler(lab, node, bmc=False)  # its BMC goes dark with the outlet: nothing to poll
    sampler.start()
    try:
        _cut_fence_and_recover(lab, guard, record, node, watch, sampler, expected, ipmi_first)
    finally:  # the evidence goes with the case whatever happened, once the waits are over
        sampler.stop()
        attach_evidence(record, watch, sampler, watch.since)


def _cut_fence_and_recover(lab: Any, guard: Any, record: Any, node: Node, watch: FenceWatch, sampler: DeviceSampler,
                           expected: str | None, ipmi_first: bool) -> None:
    t0 = time.time()
    with record.step(f"cut {node.name}'s power: " + ", ".join(f"fence_apc_snmp -n {r.outlet} -o off ({r.pdu})" for r in node.power)):
        for index, ref in enumerate(node.power):
            guard.changed("outlet", f"{ref.pdu}/{ref.outlet}")
            sent = time.time()
            lab.pdu(ref.pdu).outlet_off(ref.outlet)
            if index == 0:
                t0 = sent
        cut_done = time.time()
        watch.rebase(t0)

        def power_back() -> float | None:
            times = [t for o in sampler.outlets for t in sampler.seen(o, "on", cut_done)]
            return min(times) if times else None

        physical = PowerCutCheck(lab, node, t0, power_back).start()

    def confirm_physical() -> None:
        """The cut darkened the victim and nothing else (else the outlets are back on: a lab error)."""
        try:
            physical.wait()
        except Miswired:
            if physical.restored_at is not None:
                record.number("power cut to outlet back on", physical.restored_at - t0, "s")
            raise
        record.fact("power cut", physical.evidence())

    try:
        diagnosis = _judge_power_cut(lab, record, node, watch, t0, expected, ipmi_first, physical)
    except (AssertionError, HacertError):
        confirm_physical()  # a miswired lab ends the case as a lab error, whatever the cluster then did
        raise
    with record.step(f"confirm the cut darkened {node.name} and nothing else"):
        confirm_physical()
    record.diagnosis(diagnosis)


def _judge_power_cut(lab: Any, record: Any, node: Node, watch: FenceWatch, t0: float, expected: str | None,
                     ipmi_first: bool, physical: PowerCutCheck) -> str:
    """Wait for the fence and judge it; returns the diagnosis of a pass."""
    inv: Inventory = lab.inventory
    expect = inv.expectations
    expected_words = METHOD_WORDS.get(expected or "", expected or "a power-independent method")
    bmc = bmc_words(node, expected)
    with record.step(f"wait up to {expect.fence_timeout:g} s: " + (f"{bmc} fails, then " if ipmi_first else "")
                     + f"{expected_words} fences {node.name}"):
        fenced = watch.until(lambda: watch.succeeded.moment is not None or physical.miswired, t0 + expect.fence_timeout)
    if physical.miswired:
        physical.wait()
    record_times(record, watch, t0, "power cut")
    record.number("power cut to IPMI failure", None if watch.ipmi_failed.t is None else watch.ipmi_failed.t - t0, "s")
    rnd = watch.fence_round
    method = fence_method(inv, rnd)
    record.method(method or "none")
    record.fact("fence configuration", watch.configured())
    record.fact("fenced with", watch.fenced_with(rnd))
    if not fenced:
        tried = watch.failures_text()
        if watch.started.moment is None:
            detail = "no fencing started"
        elif tried:
            detail = f"{tried}, and no other method succeeded (is {expected_words} a fence method of the cluster?)"
        else:
            detail = "fencing started but no method finished"
        fail(f"no fence of {node.name} within {expect.fence_timeout:g} s of its power cut: {detail}; "
             f"last cluster state: {watch.state_text()}; the cluster's fence configuration for it: {watch.configured()}")
    judge_fenced_in_time(watch, t0, "its power cut")
    require_method_known(watch, rnd, method)
    how = method_words(watch, rnd, method)
    with record.step((f"prove {bmc} failed and " if ipmi_first else "prove ") + f"{expected_words} succeeded"):
        ipmi_failures = [f for f in (rnd.failures if rnd else []) if f.method in POWER_DEPENDENT_METHODS]
        if ipmi_first and not ipmi_failures:
            fail(f"{node.name} was fenced by {METHOD_WORDS.get(method or '', method)} without an {bmc} failure ({how}): "
                 f"with its power cut, its BMC cannot answer, so {bmc} must have failed first")
        if method != expected:
            fail(f"{node.name} was fenced by {METHOD_WORDS.get(method or '', method)}, not {expected_words}, after its "
                 f"power was cut ({how})")
        record.fact(f"{bmc} result", ipmi_failures[0].result if ipmi_failures else "not tried")
    fence_end = watch.succeeded.moment.after if watch.succeeded.moment else time.time()
    with record.step(f"make sure {node.name}'s outlet is on again"):
        by_itself = []
        for ref in node.power:
            pdu = lab.pdu(ref.pdu)
            settle = time.time() + max(5.0, expect.fence_timeout / 2)
            while pdu.outlet_status(ref.outlet) != "on" and time.time() < settle:
                time.sleep(POLL)
            if pdu.outlet_status(ref.outlet) != "on":
                pdu.outlet_on(ref.outlet)
                record.fact(f"outlet {ref.pdu}/{ref.outlet}", "stayed off after the fence; turned on by the harness")
            else:
                by_itself.append(f"{ref.pdu}/{ref.outlet}")
        if method == "pdu" and len(by_itself) < len(node.power):
            fail(f"the cluster's record says the PDU fenced {node.name} ({how}), but its outlet stayed off: the "
                 "PDU's reboot never switched it back on")
        if method == "pdu":
            record.fact("PDU evidence", f"{', '.join(by_itself)} came back on by itself after the fence (the PDU's reboot)")
    with record.step(f"wait up to {expect.rejoin_timeout:g} s for {node.name} to boot and rejoin"):
        rejoined = wait_rejoined(watch, fence_end, "its fence")
        record.number("power cut to rejoin", rejoined - t0, "s")
    with record.step(f"wait up to {expect.services_back_timeout:g} s for {node.name}'s services to come back"):
        back = wait_services_home(watch, rejoined)
        record.number("power cut to services back", back - t0, "s")
    failed_first = f"{bmc} failed ({watch.failures_text()}); " if ipmi_failures else ""
    return f"{failed_first}fenced by {expected_words} {watch.succeeded.t - t0:.1f} s after the cut"


# ---------------------------------------------------------------- SCSI-3 persistent reservations



def _scsi_view(lab: Any, via: str) -> tuple[list[str], str | None]:
    from hacert.drivers.parsers.sg_persist import parse_sg_persist

    device = _scsi_device(lab.inventory)
    shell = lab.node(via)
    keys = parse_sg_persist(shell.run(f"sg_persist -n -i -k {device}").stdout).keys or []
    holder = parse_sg_persist(shell.run(f"sg_persist -n -i -r {device}").stdout).reservation
    return [k.lower() for k in keys], holder.key.lower() if holder else None


SCSI_KEY_FILES = ("/var/run/cluster/fence_scsi.key", "/var/run/cluster.key")
"""Where fence_scsi keeps the key it registered for the node it runs on (RHEL 6/7; fence-agents 4.12)."""


def _key_int(key: str) -> int:
    """'0x9a3f0001' (sg_persist, no leading zeros) or '9a3f0001' (fence_scsi's file) -> the number."""
    return int(key.strip().lower().removeprefix("0x"), 16)


def _own_scsi_key(lab: Any, node: str) -> int | None:
    """The registration key `node` itself says it holds (fence_scsi's key file), None when it has none."""
    shell = lab.node(node)
    for path in SCSI_KEY_FILES:
        done = shell.run(f"cat {path}", check=False)
        text = done.stdout.strip()
        if done.exit_code == 0 and text:
            try:
                return _key_int(text.splitlines()[0])
            except ValueError:
                continue
    return None


def _key_owners(lab: Any) -> dict[int, str]:
    """{key: node} for every node fenced by SCSI whose key file could be read."""
    out: dict[int, str] = {}
    for n in lab.inventory.nodes:
        if "scsi" in n.fence:
            key = _own_scsi_key(lab, n.name)
            if key is not None:
                out[key] = n.name
    return out


def _scsi_device(inv: Inventory) -> str:
    netlab = inv.netlab or {}
    return str(netlab.get("scsi_device", "/dev/sdb"))


def _votes(lab: Any, via: str) -> tuple[int, bool]:
    from hacert.drivers.parsers.cman import parse_cman_status

    status = parse_cman_status(lab.node(via).run("cman_tool status").stdout)
    return int(status.total_votes), bool(status.quorate)


@plan_steps(
    "audit the lab healthy; read the shared disk's keys and reservation (sg_persist -i -k / -i -r) and the votes",
    "hang {victim}",
    "wait up to {expect.fence_timeout} s for its key to be removed from the disk",
    "check the reservation is held by a survivor, the votes dropped by {victim}'s, the cluster is quorate",
    "reboot {victim} through its BMC (the fence left it hung); wait for it to rejoin and for its services",
    touches=["ssh all", "bmc {victim}", "cluster"],
)
def test_scsi_fencing(victim: Any, lab: Any, guard: Any, record: Any) -> None:
    """SCSI-3 persistent-reservation fencing: the hung node loses its key on the shared disk."""
    inv: Inventory = lab.inventory
    node = inv.node(victim.node)
    expect = inv.expectations
    if "scsi" not in node.fence:
        raise NotApplicable(f"{node.name} is not fenced by SCSI-3 reservations (its fence methods: {', '.join(node.fence)})")
    if inv.cluster.manager != "rgmanager":
        raise Inconclusive("hacert reads the votes of a SCSI-3 fence from cman_tool; it cannot judge one on pacemaker")
    record.subject(node.name)
    record.title(f"Hang {node.name} — its SCSI-3 key is removed from the shared disk")
    record.story("Test node failure and IO fencing (SCSI-3 persistent reservations)")
    survivor = inv.peers(node.name)[0].name
    with record.step("audit the lab healthy and read keys, reservation and votes"):
        guard.audit()
        owners = _key_owners(lab)
        victim_key = next((key for key, owner in owners.items() if owner == node.name), None)
        if victim_key is None:
            raise Inconclusive(f"{node.name}'s own registration key could not be read (none of {', '.join(SCSI_KEY_FILES)} "
                               "on it): hacert cannot tell whether the key a fence removes is the victim's")
        record.fact("victim's key", f"0x{victim_key:x} (fence_scsi's key file on {node.name})")
        keys_before, holder_before = _scsi_view(lab, survivor)
        votes_before, _ = _votes(lab, survivor)
        record.fact("keys before", " ".join(keys_before))
        if victim_key not in {_key_int(k) for k in keys_before}:
            fail(f"{node.name}'s key 0x{victim_key:x} is not registered on {_scsi_device(inv)} before the hang "
                 f"(keys: {' '.join(keys_before) or 'none'}): the cluster did not unfence it when it joined")
    with record.step(f"hang {node.name}: {hang_words(node)}"):
        guard.changed("hang", node.name, node.hang.method)
        t0 = hang(lab, node)
        took = HangCheck(lab, node, t0).start()
    with record.step(f"wait up to {expect.fence_timeout:g} s for a key to leave the disk and {node.name}'s votes the cluster"):
        deadline = t0 + expect.fence_timeout
        previous = t0
        while True:
            looked = time.time()
            keys, holder = _scsi_view(lab, survivor)
            votes, quorate = _votes(lab, survivor)
            if len(keys) < len(keys_before) and votes <= votes_before - node.votes:
                break
            if took.refuted:
                took.wait()
            if time.time() >= deadline:
                took.wait()
                fail(f"no SCSI-3 fence of {node.name} within {expect.fence_timeout:g} s: the disk has {len(keys)} keys "
                     f"({' '.join(keys)}; {len(keys_before)} before the hang) and cman_tool status {votes} votes "
                     f"({votes_before} before)")
            previous = looked
            time.sleep(POLL * 2)
        seen = Moment(previous, time.time())  # judged on when it was measured, not on the look having begun in time
        record.number("hang to key removed and votes dropped", seen.t - t0, "s", expected=Bound.at_most(expect.fence_timeout))
        if seen.t > deadline:
            fail(f"no SCSI-3 fence of {node.name} within {expect.fence_timeout:g} s: its key left the disk and its votes "
                 f"the cluster {seen.t - t0:.1f} s after the hang")
        took.wait()
        record.fact("hang", took.evidence())
    with record.step(f"check the removed key is {node.name}'s, the reservation holder, the votes and the quorum"):
        gone = sorted(set(keys_before) - set(keys))
        record.fact("keys removed", " ".join(gone))
        whose = ", ".join(f"{k} ({owners.get(_key_int(k), 'no node claims it')})" for k in gone)
        if [_key_int(k) for k in gone] != [victim_key]:
            still = "still registered" if victim_key in {_key_int(k) for k in keys} else "gone as well"
            fail(f"the SCSI-3 fence of {node.name} removed {whose or 'no key'}, not {node.name}'s own key 0x{victim_key:x} "
                 f"(read from its fence_scsi key file), which is {still}")
        if holder is None or holder in gone:
            fail(f"after fencing {node.name} the reservation is held by {holder or 'nobody'}, not by a survivor")
        if votes != votes_before - node.votes:
            fail(f"cman_tool status shows {votes} votes after the fence of {node.name}; expected {votes_before} - {node.votes}")
        if not quorate:
            fail(f"the cluster lost quorum after the fence of {node.name}")
        if holder_before is not None:
            record.fact("reservation", f"{holder_before} -> {holder}")
    _reboot_hung_victim(lab, record, node)


def _reboot_hung_victim(lab: Any, record: Any, node: Node) -> None:
    """The procedure's return to the ideal state after a fence that leaves its victim hung (SCSI-3
    reservations, seed 001): reboot it through its BMC, wait for it to rejoin and for its services."""
    expect = lab.inventory.expectations
    watch = FenceWatch.mark(lab, node)
    with record.step(f"reboot {node.name} through its BMC: a SCSI-3 fence leaves it hung (seed 001)"):
        lab.bmc(node.name).power_cycle()
        rebooted = time.time()
    with record.step(f"wait up to {expect.rejoin_timeout:g} s for {node.name} to boot and rejoin"):
        rejoined = wait_rejoined(watch, rebooted, "its reboot")
        record.number("reboot to rejoin", rejoined - rebooted, "s")
    with record.step(f"wait up to {expect.services_back_timeout:g} s for {node.name}'s services to come back"):
        wait_services_home(watch, rejoined)
