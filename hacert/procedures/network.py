"""The network redundancy procedure (seed 002, "Testing Network Redundancy"): its instruments
and its steps.

The seed's tester watches sixteen terminals: a ping flood per bond per node,
`/proc/net/bonding/bondN` of every bond, syslog and `cman_tool status`. A `Scene` is those
terminals for one case (hacert.observe.ping, .bonds, .membership), with clocks, and the
evidence it keeps; `Timeline` is everything it saw plus the harness's own actions, as one
table (CSV) with times relative to the start of the case. The steps: pull a bond's cable
and see the backup take over (`failover`), restore it and see the primary return after
the updelay (`return_to_primary`), judge the floods (`judge_floods`), the switch power
cycle's returns and flapping (`judge_returns`, `judge_flapping`, `judge_switch_floods`),
and the return to the ideal state (`wait_ideal`).

"+N s" in a message counts from the fault: the cable pull, or the moment the switch's power
came back. Nothing passes on silence: a check that rests on what did not happen (no fence,
no flap, no loss) needs the instruments to have seen the whole case; where one was blind
the case ends inconclusive (or a lab error, when a device stopped answering), after every
failure that was seen has been judged.

All times are the controller's wall-clock seconds (`time.time()`); `ping -D` stamps and
syslog stamps are brought to it by each node's measured offset (hacert.observe.clocks).
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, NoReturn, Sequence

from hacert.drivers.errors import ClusterFailure, DeviceUnreachable, HacertError, LabError
from hacert.drivers.parsers import ParseError, parse_bonding
from hacert.drivers.parsers.syslog import (
    CorosyncMembershipFormed,
    CorosyncProcessorFailed,
    FenceRequested,
    FenceScheduled,
    FenceStarted,
    FenceSucceeded,
    PeerFenced,
    QuorumChanged,
)
from hacert.model.bounds import Bound
from hacert.model.inventory import Bond, Inventory, SlaveLink
from hacert.observe.bonds import BondChange, BondWatcher
from hacert.observe.clocks import reading_of, stamp_window
from hacert.observe.coverage import Unseen, raise_unseen
from hacert.observe.lines import SkippedLines, count_unreadable_syslog, syslog_events
from hacert.observe.membership import ClusterWatcher, describe_membership_change
from hacert.observe.ping import Ping, PingLog, clock_text
from hacert.observe.syslog_merge import merge_syslog
from hacert.observe.waiting import WaitTimeout, sleep_demanded, wait_for

POLL_INTERVAL = 0.1
"""How often the bond watcher reads every watched bond's status file and the NICs' carrier (s):
the measured times are this exact, and a node answers 10 such reads a second without effort."""
CLUSTER_POLL_INTERVAL = 0.5
PROGRESS_FROM = 5.0
"""Waits at least this long show live progress (what is awaited, elapsed, remaining)."""
SETTLE_REPLIES = 5
"""After a failover, let every flood show this many answered probes before judging it."""
BOND_BLIND = 3.0
"""Seconds the bond watcher may go without reading a node's bonds (a slow poll on a loaded
machine included) before what it did not see (a flap, an early return) could matter: longer,
and 'no change' is no finding."""
CLUSTER_BLIND = 10.0
"""Seconds without a cluster status before 'membership unchanged' is no finding (a member that
leaves and rejoins takes longer; the survivors' syslogs are read besides)."""
FLOOD_BLIND = 3.0
"""Seconds of a flood's run its probes may leave unaccounted (the SSH channel opening and closing)."""

# Syslog lines that mean the cluster noticed the network fault: it must not.
BAD_NEWS = (FenceStarted, FenceSucceeded, FenceScheduled, FenceRequested, PeerFenced,
            CorosyncProcessorFailed, CorosyncMembershipFormed, QuorumChanged)

FloodPair = tuple[str, str, str, str]  # (source node, target node, target address, network)


def fmt(seconds: float) -> str:
    return f"{seconds:.1f}" if abs(seconds) < 10 else f"{seconds:.0f}"



# ---------------------------------------------------------------- timeline


@dataclass
class Timeline:
    """Every event of a case on one clock; `t0` is the case's reference (the fault)."""

    t0: float
    rows: list[tuple[float, str, str, str]] = field(default_factory=list)

    def add(self, t: float, lane: str, event: str, detail: str = "") -> None:
        self.rows.append((t, lane, event, detail))

    def add_bonds(self, watcher: BondWatcher) -> None:
        for ch in watcher.changes:
            self.add(ch.t, f"{ch.node}/{ch.bond}", "active slave", f"{ch.previous} -> {ch.active}")
        for ln in watcher.links:
            self.add(ln.t, f"{ln.node}/{ln.nic}", "link up" if ln.up else "link down", "")

    def add_floods(self, floods: Iterable[PingLog]) -> None:
        for flood in floods:
            for a, b, n in flood.loss_windows():
                self.add(a, f"ping {flood.label}", "loss", f"{n} lost over {b - a + flood.interval:.2f} s")

    def add_membership(self, watcher: ClusterWatcher, member_to_node: Callable[[str], str]) -> None:
        for ch in watcher.changes:
            self.add(ch.t, "cluster", "membership", describe_membership_change(ch, self.t0, member_to_node))

    def sorted_rows(self) -> list[tuple[float, str, str, str]]:
        return sorted(self.rows, key=lambda r: r[0])

    HEADER = ("t_rel_s", "wall_clock", "lane", "event", "detail")

    def table(self) -> list[tuple[str, str, str, str, str]]:
        """Rows for the CSV: time since t0, wall clock (ms), lane, event, detail."""
        out = []
        for t, lane, event, detail in self.sorted_rows():
            out.append((f"{t - self.t0:.3f}", clock_text(t), lane, event, detail))
        return out

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(self.HEADER)
        writer.writerows(self.table())
        return buffer.getvalue()


# ---------------------------------------------------------------- the scene of one case


@dataclass
class Scene:
    """What one case watches (the seed's sixteen terminals) and the evidence it keeps."""

    lab: Any
    guard: Any
    record: Any
    title: str
    watch: dict[str, list[Bond]]
    flood_pairs: list[FloodPair]
    t0: float = 0.0
    started: float = 0.0
    watcher: BondWatcher | None = None
    cluster: ClusterWatcher | None = None
    floods: list[Ping] = field(default_factory=list)
    results: list[PingLog] = field(default_factory=list)
    timeline: Timeline = field(default_factory=lambda: Timeline(time.time()))
    marks: dict[str, Any] = field(default_factory=dict)
    bad_news: list[str] = field(default_factory=list)
    snapshots: list[tuple[str, dict[tuple[str, str], str]]] = field(default_factory=list)
    syslog: dict[str, list[str]] = field(default_factory=dict)
    syslog_errors: dict[str, HacertError] = field(default_factory=dict)
    unseen: list[Unseen] = field(default_factory=list)
    """What an instrument did not see that a check needed; judged last (`require_seen`)."""
    skipped_ping: SkippedLines = field(default_factory=lambda: SkippedLines("ping output"))
    skipped_syslog: SkippedLines = field(default_factory=lambda: SkippedLines("syslog"))
    ended: float = 0.0
    _stopped: bool = False

    @property
    def inv(self) -> Inventory:
        return self.lab.inventory

    def shell(self, node: str) -> Any:
        return self.lab.node(node)

    # -- start and stop

    def start(self) -> "Scene":
        self.t0 = self.started = time.time()
        self.timeline.t0 = self.t0
        for node in sorted({*self.watch, *(p[0] for p in self.flood_pairs)}):
            self.marks[node] = self.shell(node).syslog_mark()
        self.watcher = BondWatcher(
            {node: self.shell(node) for node in self.watch},
            {node: [(b.name, b.status_file, [b.primary.nic, b.backup.nic]) for b in bonds]
             for node, bonds in self.watch.items()},
            interval=POLL_INTERVAL,
        ).start()
        self.snapshots.append(("before", self.watcher.snapshot()))
        self.cluster = ClusterWatcher(lambda: self.lab.cluster.status(), interval=CLUSTER_POLL_INTERVAL).start()
        for source, target, address, network in self.flood_pairs:
            flood = Ping(self.shell(source), source, address, self.inv.expectations.ping_interval, target=target,
                         network=network, skipped=self.skipped_ping, offset=self._offset(source))
            flood.start()
            self.floods.append(flood)
        self.wait_settled(self.t0)
        for flood in self.floods:
            if flood.replies_since(self.t0) == 0:
                raise LabError(flood.source, flood.address, f"ping {flood.address} before the fault",
                               f"lab not ready: {flood.source} gets no answer from {flood.target or flood.address}")
        return self

    def _offset(self, node: str) -> float:
        """Seconds `node`'s clock is ahead of the controller's (measured before the case; hacert.observe.clocks)."""
        reading = reading_of(self.lab, node)
        return reading.offset if reading is not None else 0.0

    def stop_floods(self) -> list[PingLog]:
        """Stop every flood (once) and keep what each direction saw."""
        floods, self.floods = self.floods, []
        for flood in floods:
            try:
                self.results.append(flood.stop())
            except (HacertError, ParseError) as exc:  # nothing of it was seen: no verdict on the network
                now = time.time()
                self.unseen.append(Unseen(f"the ping flood {flood.source} -> {flood.address}", self.started, now, 1,
                                          "packets were lost", exc, self.t0))
        return self.results

    def stop(self) -> None:
        """Stop every instrument and attach the evidence; safe to call twice, and after a failure."""
        if self._stopped:
            return
        self._stopped = True
        self.ended = time.time()
        self.stop_floods()
        if self.watcher is not None:
            self.snapshot("after")
            self.watcher.stop()
        if self.cluster is not None:
            self.cluster.stop()
        for node, mark in self.marks.items():
            try:
                self.syslog[node] = list(self.shell(node).syslog_since(mark))
            except HacertError as exc:
                self.syslog_errors[node] = exc
                self.syslog[node] = [f"(syslog of {node} unreadable: {exc})"]
        count_unreadable_syslog({n: lines for n, lines in self.syslog.items() if n not in self.syslog_errors},
                                self.skipped_syslog)
        self._attach()

    def snapshot(self, label: str) -> None:
        """Keep every watched bond's status file as it is now (evidence)."""
        if self.watcher is not None:
            self.watcher.wait_polls(1, timeout=2.0)
            self.snapshots.append((label, self.watcher.snapshot()))

    # -- acting on the lab

    def act(self, lane: str, event: str, action: Callable[[], Any],
            links: Sequence[tuple[str, str]] = (), up: bool = False) -> float:
        """Do `action()` and say when it took effect, on the timeline.

        The moment is the first change of carrier to `up` seen on any of `links`
        (node, NIC) — a cable pull happens somewhere inside the driver's call
        (SNMP set, read-back) or before a person confirms it — kept within the
        call; without links, the midpoint of the call."""
        assert self.watcher is not None
        before = time.time()
        action()
        after = time.time()
        t = (before + after) / 2
        seen = [self.watcher.wait_link(node, nic, up, after=before - POLL_INTERVAL, timeout=POLL_INTERVAL * 4)
                for node, nic in links]
        stamps = [ch.t for ch in seen if ch is not None]
        if stamps:
            t = max(before, min(min(stamps), after))
        self.timeline.add(t, lane, event)
        return t

    def pull(self, node: str, link: SlaveLink) -> float:
        ports = self.lab.switch_ports(link.switch)
        self.guard.changed("port", f"{link.switch}/{link.port}", f"{node}/{link.nic}")
        return self.act(f"{node}/{link.nic}", f"cable pulled ({link.switch} port {link.port})",
                        lambda: ports.port_down(link.port), links=[(node, link.nic)], up=False)

    def plug(self, node: str, link: SlaveLink) -> float:
        ports = self.lab.switch_ports(link.switch)
        return self.act(f"{node}/{link.nic}", f"cable restored ({link.switch} port {link.port})",
                        lambda: ports.port_up(link.port))

    # -- what was seen

    def updelay(self, node: str, bond: Bond) -> float:
        """The bond's updelay (s), from its own status file ('Up Delay (ms)')."""
        assert self.watcher is not None
        return self.watcher.status[(node, bond.name)].up_delay_ms / 1000.0

    def slack(self, node: str, bond: Bond) -> float:
        """How much shorter than the truth a measured interval may look: each end is seen up to a
        poll interval plus half the slowest poll late, and the bond acts on a miimon tick."""
        assert self.watcher is not None
        miimon = self.watcher.status[(node, bond.name)].mii_polling_interval_ms / 1000.0
        return 2 * POLL_INTERVAL + self.watcher.slowest_poll + miimon

    def await_active(self, node: str, bond: Bond, slave: str, after: float, timeout: float,
                     what: str) -> BondChange | None:
        """The first change of `bond` to `slave` after `after`, waiting up to `timeout` s with live
        progress on long waits (the watcher timestamps the change; this only waits for it)."""
        assert self.watcher is not None
        watcher = self.watcher
        if timeout < PROGRESS_FROM:
            return watcher.wait_active(node, bond.name, slave, after=after, timeout=max(0.0, timeout))
        try:
            return wait_for(what, lambda: watcher.change_to(node, bond.name, slave, after), lambda c: c is not None,
                            timeout=timeout, interval=POLL_INTERVAL)
        except WaitTimeout:
            return None

    def seen_from(self, t: float) -> float:
        """The earliest time stamp a change that happened at `t` may carry (stamps are poll midpoints)."""
        assert self.watcher is not None
        return t - self.watcher.slowest_poll / 2 - 0.01

    def active(self, node: str, bond: Bond) -> str | None:
        assert self.watcher is not None
        return self.watcher.active.get((node, bond.name))

    def slaves_text(self, node: str, bond: Bond) -> str:
        assert self.watcher is not None
        status = self.watcher.status[(node, bond.name)]
        return ", ".join(f"{s.name} MII {s.mii_status}" for s in status.slaves)

    def wait_settled(self, after: float) -> None:
        """Let every flood answer a few probes after `after` (traffic flows again), bounded."""
        deadline = time.monotonic() + self.inv.expectations.failover_timeout + 2.0
        for flood in self.floods:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                wait_for(f"{flood.label} to answer {SETTLE_REPLIES} probes", lambda f=flood: f.replies_since(after),
                         lambda answered: answered >= SETTLE_REPLIES, timeout=left, interval=flood.interval, progress=False)
            except WaitTimeout:
                pass  # bounded: the floods are judged on what they saw

    def check_cluster(self, where: str, before: str | None = None) -> None:
        """Bad news from the cluster: membership, quorum and fencing (syslog is read by `stop`).

        Membership changes before `t0` are said to happen `before` (default: `where`). A status
        the watcher could not read, or a syslog that could not be read, is no news: it is
        what was not seen (`unseen`), judged after every failure that was seen."""
        assert self.cluster is not None
        for change in self.cluster.changes:
            when = where if change.t >= self.t0 or before is None else before
            self.bad_news.append(f"membership changed {when} at "
                                 + describe_membership_change(change, self.t0, self._node_name))
        refused = [(t, exc) for t, exc in self.cluster.coverage.failures
                   if isinstance(exc, HacertError) and not isinstance(exc, DeviceUnreachable)]
        if refused and not self.cluster.changes:
            # a node answered and its cluster tool failed: the cluster's own trouble, not a blind instrument
            t, error = refused[0]
            self.bad_news.append(f"the cluster's status could not be read {where} at +{fmt(t - self.t0)} s: {error}")
        self.unseen += self.cluster.unseen(self.started, self.ended or time.time(), CLUSTER_BLIND,
                                           f"the membership or the quorum changed {where}", self.t0)
        for node, error in self.syslog_errors.items():
            self.unseen.append(Unseen(f"{node}'s syslog", self.started, self.ended or time.time(), 1,
                                      f"{node} logged a fence or a membership change {where}", error, self.t0))
        for node, lines in self.syslog.items():
            if node in self.syslog_errors:
                continue
            # every line on its own: one a parser does not know hides nothing around it (counted by `stop`)
            for event in syslog_events(lines, SkippedLines("syslog"), node):
                if isinstance(event, BAD_NEWS):
                    self.bad_news.append(self._logged(node, event, where, before))
                    break

    def watched_throughout(self, what: str) -> None:
        """Every watched node's bonds were read through the whole case (else `what` cannot be told)."""
        assert self.watcher is not None
        for node in self.watch:
            self.unseen += self.watcher.unseen(node, self.started, self.ended or time.time(), BOND_BLIND,
                                               what.format(node=node), self.t0)

    def floods_seen(self) -> None:
        """Every flood's probes account for its whole run (else its losses were not all seen)."""
        for r in self.results:
            self.unseen += r.unseen(FLOOD_BLIND, self.t0, f"{r.label} lost packets")

    def require_seen(self) -> None:
        """Last: what an instrument did not see ends the case inconclusive (a lab error when a device
        stopped answering) — a check never passes on samples it does not have."""
        raise_unseen(self.unseen)

    def blind_then(self, node: str, start: float, what: str) -> None:
        """Before calling the absence of a change a failure: the watcher must have read `node` all along
        since `start` (no gap longer than half the wait, nor than BOND_BLIND, up to now)."""
        assert self.watcher is not None
        end = time.time()
        longest = min(BOND_BLIND, max(4 * POLL_INTERVAL, (end - start) / 2))
        raise_unseen(self.watcher.unseen(node, start, end, longest, what, self.t0))

    def _logged(self, node: str, event: Any, where: str, before: str | None) -> str:
        """"NODE logged WHERE at +N s: LINE": the line's stamp on the controller's clock (corrected by
        the node's measured offset); a line from before `t0` happened `before` (default: `where`)."""
        raw = event.line.raw.strip()
        stamp = getattr(event.line, "timestamp", None)
        if stamp is None:
            return f"{node} logged {where}: {raw}"
        earliest, latest = stamp_window(stamp, reading_of(self.lab, node))
        when = where if before is None or latest >= self.t0 else before
        return f"{node} logged {when} at {earliest - self.t0:+.1f} s: {raw}"

    def _node_name(self, member: str) -> str:
        try:
            return self.inv.node_by_member(member).name
        except KeyError:
            return member

    # -- evidence

    def _attach(self) -> None:
        rec = self.record
        self.skipped_syslog.report(rec)
        self.skipped_ping.report(rec)
        if self.watcher is not None:
            self.watcher.skipped.report(rec)
        for label, texts in self.snapshots:
            for (node, bond), text in sorted(texts.items()):
                rec.attach_text(f"{node} {bond} status file, {label}", text)
        bonding = {node: [ln for ln in lines if " kernel: " in ln and ("bond" in ln or "NIC Link" in ln)]
                   for node, lines in self.syslog.items()}
        rec.attach_text("syslog bonding lines", merge_syslog(bonding) or "(none)\n")
        rec.attach_syslog(self.syslog)
        rec.attach_text("ping flood summaries", "\n".join(r.summary() for r in self.results) + "\n")
        for r in self.results:
            rec.attach_text(f"ping {r.label}", r.output)
        if self.watcher is not None:
            self.timeline.add_bonds(self.watcher)
        if self.cluster is not None:
            self.timeline.add_membership(self.cluster, self._node_name)
        self.timeline.add_floods(self.results)
        rec.attach_csv("timeline.csv", self.timeline.table(), header=Timeline.HEADER)
        events = [(t, f"{event} {lane}") for t, lane, event, _ in self.timeline.sorted_rows()
                  if event not in ("loss", "link up", "link down", "active slave")]
        gaps = [(a, b + r.interval, f"{n} lost") for r in self.results for a, b, n in r.loss_windows()]
        states: dict[str, list[tuple[float, Any]]] = {}
        if self.watcher is not None:
            for node, bonds in self.watch.items():
                for bond in bonds:
                    changes = self.watcher.changes_of(node, bond.name)
                    if not changes:
                        continue
                    states[f"{node}/{bond.name}"] = [(self.started, changes[0].previous)] + [(c.t, c.active) for c in changes]
        rec.attach_timeline(events, gaps, states, name="timeline", title=self.title, t0=self.t0)


def floods_both_ways(inv: Inventory, node: str, bond: Bond) -> list[FloodPair]:
    peer, address = inv.bond_peer(node, bond.name)
    pairs: list[FloodPair] = [(node, peer, address, bond.network)]
    if peer:
        pairs.append((peer, node, bond.address, bond.network))
    return pairs


def require_primary(scene: Scene, node: str, bond: Bond) -> None:
    active = scene.active(node, bond)
    if active != bond.primary.nic:
        raise LabError(f"{node}/{bond.name}", bond.status_file, "check the bond is on its primary",
                       f"lab not ready: the active slave is {active}, not {bond.primary.nic}")


def fail(scene: Scene, message: str) -> NoReturn:
    scene.record.diagnosis(message)
    raise ClusterFailure(message)


# ---------------------------------------------------------------- per-bond cable pulls


def failover(scene: Scene, node: str, bond: Bond, link: SlaveLink, to: SlaveLink, what: str) -> BondChange:
    """Pull `link`'s cable; the bond must make `to` active within failover_timeout. Returns the change."""
    exp = scene.inv.expectations
    assert scene.watcher is not None
    t_pull = scene.pull(node, link)
    # the bound counts from the pull itself (the driver's call may have taken part of it), plus one poll
    change = scene.watcher.wait_active(node, bond.name, to.nic, after=scene.seen_from(t_pull),
                                       timeout=max(0.05, t_pull + exp.failover_timeout + POLL_INTERVAL - time.time()))
    if change is None:
        scene.blind_then(node, t_pull, f"{bond.name} on {node} did {what}")
        status = scene.watcher.status[(node, bond.name)]
        missing = "" if any(s.name == to.nic for s in status.slaves) else f"; {to.nic} is not a slave of {bond.name}"
        fail(scene, f"{bond.name} on {node} did not {what} within {fmt(exp.failover_timeout)} s after "
                    f"{link.nic}'s cable was pulled: the active slave is {scene.active(node, bond) or 'none'} "
                    f"({scene.slaves_text(node, bond)}{missing})")
    seconds = max(0.0, change.t - t_pull)
    scene.record.number(f"seconds to {what}", seconds, "s", expected=Bound.at_most(exp.failover_timeout))
    if seconds > exp.failover_timeout:  # seen by a poll that began in time, measured after the deadline
        fail(scene, f"{bond.name} on {node} did not {what} within {fmt(exp.failover_timeout)} s after "
                    f"{link.nic}'s cable was pulled: it did {seconds:.2f} s after")
    return change


def link_up(scene: Scene, node: str, link: SlaveLink, after: float) -> float:
    """The NIC sees link again after its cable was restored: when."""
    assert scene.watcher is not None
    seen = scene.watcher.wait_link(node, link.nic, True, after=after - POLL_INTERVAL,
                                   timeout=scene.inv.expectations.failover_timeout + 5.0)
    if seen is None:
        raise LabError(f"{link.switch} port {link.port}", f"{node}/{link.nic}", "restore the cable",
                       f"{link.nic} on {node} shows no link after its cable was restored")
    return max(seen.t, after)


def judge_early_return(scene: Scene, node: str, bond: Bond, seconds: float) -> None:
    updelay = scene.updelay(node, bond)
    seconds = max(seconds, 0.0)  # seen in the same look as the link: no earlier than it
    if updelay <= 0:
        fail(scene, f"{bond.name} on {node} returned to {bond.primary.nic} {fmt(seconds)} s after its link came "
                    f"up: its updelay is 0 ms ({bond.status_file}: 'Up Delay (ms): 0'), so it goes back to a "
                    f"switch as soon as it shows link, before the switch can move data")
    if seconds < updelay - scene.slack(node, bond):
        fail(scene, f"{bond.name} on {node} returned to {bond.primary.nic} {fmt(seconds)} s after its link came up, "
                    f"before updelay ({fmt(updelay)} s) ran out")


def return_to_primary(scene: Scene, node: str, bond: Bond, t_up: float, judge: bool) -> float:
    """Wait for the primary to be active again after its link came up at `t_up`; judge the updelay."""
    exp = scene.inv.expectations
    assert scene.watcher is not None
    updelay = scene.updelay(node, bond)
    bound = updelay + exp.primary_return_margin
    change = scene.await_active(node, bond, bond.primary.nic, after=t_up - POLL_INTERVAL,
                                timeout=t_up + bound + scene.slack(node, bond) - time.time(),
                                what=f"{bond.name} on {node} to return to {bond.primary.nic} (updelay {fmt(updelay)} s)")
    if change is None:
        scene.blind_then(node, t_up, f"{bond.name} on {node} returned to {bond.primary.nic}")
        fail(scene, f"{bond.name} on {node} did not return to {bond.primary.nic} within {fmt(bound)} s after its "
                    f"link came up (updelay {fmt(updelay)} s + {fmt(exp.primary_return_margin)} s): still on "
                    f"{scene.active(node, bond) or 'none'} ({scene.slaves_text(node, bond)})")
    seconds = change.t - t_up
    slack = scene.slack(node, bond)
    if judge:
        # the bound the judgement applies: the updelay .. updelay + margin, each side widened by what a poll may miss
        scene.record.number("seconds link-up to primary active", seconds, "s",
                            expected=Bound.between(max(0.0, updelay - slack), bound + slack))
        scene.record.number("updelay", updelay, "s")
        judge_early_return(scene, node, bond, seconds)
    if seconds > bound + slack:  # seen by a poll that began in time, measured after the deadline
        fail(scene, f"{bond.name} on {node} did not return to {bond.primary.nic} within {fmt(bound)} s after its "
                    f"link came up (updelay {fmt(updelay)} s + {fmt(exp.primary_return_margin)} s): it did "
                    f"{seconds:.2f} s after")
    return change.t


def judge_floods(scene: Scene, windows: list[tuple[str, float, float]]) -> None:
    """Each direction loses at most the budget in each window (what, start, end); numbers recorded.
    A flood whose probes do not cover its run is noted unseen (judged at the end of the case)."""
    budget = scene.inv.expectations.cable_pull_max_lost
    problems = []
    scene.floods_seen()
    for r in scene.results:
        scene.record.number(f"packets lost {r.label}", r.lost, "packets")
        scene.record.number(f"longest gap {r.label}", r.longest_gap, "s")
        for what, start, end in windows:
            lost = r.lost_between(start, end)
            if lost > budget:
                problems.append(f"the ping flood {r.label} lost {lost} packets {what} "
                                f"(at most {budget} allowed; longest gap {r.longest_gap:.2f} s)")
    if problems:
        fail(scene, "; ".join(problems))


def variant_failover(scene: Scene, node: str, bond: Bond) -> None:
    with scene.record.step(f"pull {node}/{bond.primary.nic}, the active slave of {bond.name}: "
                           f"{bond.backup.nic} takes over"):
        change = failover(scene, node, bond, bond.primary, bond.backup, f"fail over to {bond.backup.nic}")
        scene.snapshot("during")
    with scene.record.step("judge the ping floods"):
        scene.wait_settled(change.t)
        scene.stop_floods()
        judge_floods(scene, [("when the cable was pulled", 0.0, float("inf"))])
    with scene.record.step(f"restore {node}/{bond.primary.nic}; {bond.name} returns to it"):
        t_plug = scene.plug(node, bond.primary)
        return_to_primary(scene, node, bond, link_up(scene, node, bond.primary, t_plug), judge=False)


def variant_updelay_return(scene: Scene, node: str, bond: Bond) -> None:
    with scene.record.step(f"pull {node}/{bond.primary.nic}: {bond.backup.nic} takes over"):
        failover(scene, node, bond, bond.primary, bond.backup, f"fail over to {bond.backup.nic}")
        scene.snapshot("during")
    with scene.record.step(f"restore {node}/{bond.primary.nic}: {bond.name} waits its updelay, then returns"):
        t_plug = scene.plug(node, bond.primary)
        t_up = link_up(scene, node, bond.primary, t_plug)
        t_back = return_to_primary(scene, node, bond, t_up, judge=True)
    with scene.record.step("judge the ping floods"):
        scene.wait_settled(t_back)
        scene.stop_floods()
        judge_floods(scene, [("when the cable was pulled", 0.0, t_plug),
                              ("during the return", t_plug, float("inf"))])


def variant_backup_lost(scene: Scene, node: str, bond: Bond) -> None:
    assert scene.watcher is not None
    with scene.record.step(f"pull and restore {node}/{bond.primary.nic}"):
        failover(scene, node, bond, bond.primary, bond.backup, f"fail over to {bond.backup.nic}")
        t_plug = scene.plug(node, bond.primary)
        t_up = link_up(scene, node, bond.primary, t_plug)
        early = scene.watcher.change_to(node, bond.name, bond.primary.nic, after=t_plug - POLL_INTERVAL)
        if early is not None:
            judge_early_return(scene, node, bond, early.t - t_up)
        scene.snapshot("during")
    updelay = scene.updelay(node, bond)
    # The seed: "After just a few seconds" — well inside the updelay.
    sleep_demanded(max(0.0, t_up + min(0.25 * updelay, 5.0) - time.time()),
                   f"a moment inside {bond.name}'s updelay before pulling its backup")
    with scene.record.step(f"pull the backup {node}/{bond.backup.nic} inside the updelay: "
                           f"{bond.primary.nic} takes over at once"):
        take = failover(scene, node, bond, bond.backup, bond.primary, f"take {bond.primary.nic} back at once")
        if take.t >= t_up + updelay - scene.slack(node, bond):
            fail(scene, f"{bond.name} on {node} only returned to {bond.primary.nic} when its updelay ran out "
                        f"({fmt(take.t - t_up)} s after link-up), not at once when the backup was lost")
    with scene.record.step("judge the ping floods"):
        scene.wait_settled(take.t)
        scene.stop_floods()
        judge_floods(scene, [("when the primary was pulled", 0.0, t_plug),
                              ("when the backup was pulled", t_plug, float("inf"))])
    with scene.record.step(f"restore {node}/{bond.backup.nic}"):
        link_up(scene, node, bond.backup, scene.plug(node, bond.backup))


VARIANTS: dict[str, Callable[[Scene, str, Bond], None]] = {
    "failover": variant_failover,
    "updelay_return": variant_updelay_return,
    "backup_lost_during_updelay": variant_backup_lost,
}


def wait_ideal(scene: Scene, pairs: list[tuple[str, Bond]]) -> None:
    """Return to the ideal state: every bond on its primary with both slaves up (bounded by its updelay)."""
    for node, bond in pairs:
        shell = scene.lab.node(node)
        bound = scene.updelay(node, bond) + scene.inv.expectations.primary_return_margin + 1.0
        try:
            wait_for(f"{bond.name} on {node} to be back on {bond.primary.nic} with both slaves up",
                     lambda: parse_bonding(shell.read_file(bond.status_file)),
                     lambda current: current.active_slave == bond.primary.nic and all(s.up for s in current.slaves),
                     timeout=bound, interval=POLL_INTERVAL)
        except WaitTimeout as timed_out:
            current = timed_out.last_seen
            fail(scene, f"{bond.name} on {node} is not back on {bond.primary.nic} with both slaves up "
                        f"{fmt(bound)} s later: active {current.active_slave or 'none'}, "
                        + ", ".join(f"{s.name} MII {s.mii_status}" for s in current.slaves))


def switch_power_off(sc: Scene, name: str, power: Any, moving: list[tuple[str, Bond]],
                     cabled: list[tuple[str, str]]) -> float:
    """Cut switch `name`'s power: every bond whose primary is cabled to it (`moving`) fails over within
    failover_timeout, the floods settle, the cluster stays quorate. When the cut took effect."""
    assert sc.watcher is not None
    exp = sc.inv.expectations
    sc.guard.changed("switch_power", name)
    t_off = sc.act(name, "power cut", power.power_off, links=cabled, up=False)
    late = []
    for node, bond in moving:
        change = sc.watcher.wait_active(node, bond.name, bond.backup.nic, after=sc.seen_from(t_off),
                                        timeout=max(0.05, t_off + exp.failover_timeout + POLL_INTERVAL - time.time()))
        if change is None:
            sc.blind_then(node, t_off, f"{bond.name} on {node} failed over to {bond.backup.nic}")
            late.append(f"{bond.name} on {node} did not fail over to {bond.backup.nic} within "
                        f"{fmt(exp.failover_timeout)} s after {name} lost power (active: "
                        f"{sc.active(node, bond) or 'none'}; {sc.slaves_text(node, bond)})")
        else:
            seconds = max(0.0, change.t - t_off)
            sc.record.number(f"seconds to failover {node}/{bond.name}", seconds, "s",
                             expected=Bound.at_most(exp.failover_timeout))
            if seconds > exp.failover_timeout:  # seen by a poll that began in time, measured after the deadline
                late.append(f"{bond.name} on {node} did not fail over to {bond.backup.nic} within "
                            f"{fmt(exp.failover_timeout)} s after {name} lost power: it did {seconds:.2f} s after")
    if late:
        fail(sc, "; ".join(late))
    sc.wait_settled(t_off)
    sc.snapshot("during")
    if not sc.lab.cluster.status().quorate:
        fail(sc, f"the cluster lost quorum after {name} lost power")
    return t_off


def switch_power_on(sc: Scene, name: str, power: Any, moving: list[tuple[str, Bond]], pairs: list[tuple[str, Bond]],
                    soak_seconds: float) -> tuple[float, float]:
    """Restore switch `name`'s power: every moving bond returns to its primary within the switch's boot, the
    updelay and the margin; then the soak. When the power came back and when the soak ended (`sc.t0` is
    the power's return from here on)."""
    exp = sc.inv.expectations
    t_on = sc.act(name, "power restored", power.power_on)
    sc.t0 = sc.timeline.t0 = t_on
    bound = exp.switch_boot_timeout + max((sc.updelay(n, b) for n, b in pairs), default=0.0) \
        + exp.primary_return_margin
    for node, bond in moving:
        back = sc.await_active(node, bond, bond.primary.nic, after=t_on, timeout=t_on + bound - time.time(),
                               what=f"{bond.name} on {node} to return to {bond.primary.nic} after {name} boots")
        if back is None:
            sc.blind_then(node, t_on, f"{bond.name} on {node} returned to {bond.primary.nic}")
            fail(sc, f"{bond.name} on {node} did not return to {bond.primary.nic} within {fmt(bound)} s after "
                     f"{name}'s power came back (switch boot {fmt(exp.switch_boot_timeout)} s + updelay + "
                     f"{fmt(exp.primary_return_margin)} s): still on {sc.active(node, bond) or 'none'}")
        if back.t - t_on > bound:  # seen by a poll that began in time, measured after the deadline
            fail(sc, f"{bond.name} on {node} did not return to {bond.primary.nic} within {fmt(bound)} s after "
                     f"{name}'s power came back: it did {back.t - t_on:.2f} s after")
    sleep_demanded(max(0.0, t_on + soak_seconds - time.time()),
                   f"soak: {fmt(soak_seconds)} s after {name}'s power came back")
    t_end = time.time()
    return t_on, t_end


def judge_returns(sc: Scene, pairs: list[tuple[str, Bond]], switch: str, cabled: list[tuple[str, str]],
                   t_on: float) -> tuple[list[str], list[tuple[str, Bond]]]:
    """No bond went back to a slave on the switch before its updelay ran out after that slave's last bounce.

    Returns the problems and the bonds that returned too early."""
    assert sc.watcher is not None
    bounces = max((max(0, sum(1 for ch in sc.watcher.links_of(node, nic, after=t_on) if ch.up) - 1)
                   for node, nic in cabled), default=0)
    sc.record.number("link bounces seen", bounces, "bounces")
    problems: list[str] = []
    early: list[tuple[str, Bond]] = []
    for node, bond in pairs:
        mine = {link.nic for link in bond.slaves if link.switch == switch}
        updelay = sc.updelay(node, bond)
        for change in sc.watcher.changes_of(node, bond.name, after=t_on):
            if change.active not in mine:
                continue
            links = sc.watcher.links_of(node, change.active, after=t_on - POLL_INTERVAL)
            ups = [ch for ch in links if ch.up and ch.t <= change.t]
            later_downs = [ch for ch in links if not ch.up and ch.t > change.t]
            since = change.t - (ups[-1].t if ups else t_on)
            # the bound the judgement applies: the updelay, less what a poll may miss
            sc.record.number(f"seconds link-up to primary active {node}/{bond.name}", since, "s",
                             expected=Bound.at_least(max(0.0, updelay - sc.slack(node, bond))))
            why = ""
            if later_downs:
                why = f"while it was still bouncing its links ({len(later_downs)} more link loss(es) followed)"
            elif since < updelay - sc.slack(node, bond):
                why = f"{fmt(since)} s after its last link-up"
            if why:
                limit = f"before updelay ({fmt(updelay)} s) ran out" if updelay > 0 else "its updelay is 0 ms"
                problems.append(f"{bond.name} on {node} returned to {change.active} {fmt(change.t - t_on)} s after "
                                f"the switch came up, {why}: {limit}")
                early.append((node, bond))
                break  # the first premature return says it; the flapping that follows is its consequence
    return problems, early


def judge_flapping(sc: Scene, pairs: list[tuple[str, Bond]], moving: list[tuple[str, Bond]],
                    t_off: float) -> list[str]:
    """A moving bond changes twice (failover, return), the others never."""
    assert sc.watcher is not None
    problems = []
    for node, bond in pairs:
        flips = sc.watcher.changes_of(node, bond.name, after=sc.seen_from(t_off))
        expected = 2 if (node, bond) in moving else 0
        if len(flips) > expected:
            path = " -> ".join([str(flips[0].previous)] + [str(f.active) for f in flips])
            problems.append(f"{bond.name} on {node} flapped: {len(flips)} changes of active slave ({path})")
    return problems


def judge_switch_floods(sc: Scene, switch: str, carries_primaries: bool, t_on: float, t_end: float) -> list[str]:
    """Loss per direction within budget per event (none at all for a backup-only switch); the soak's worst window."""
    budget = sc.inv.expectations.cable_pull_max_lost
    problems = []
    sc.floods_seen()
    worst: tuple[float, int, str, float] = (0.0, 0, "", 0.0)
    for r in sc.results:
        sc.record.number(f"packets lost {r.label}", r.lost, "packets")
        sc.record.number(f"longest gap {r.label}", r.longest_gap, "s")
        for a, b, n in r.loss_windows():
            span = b - a + r.interval
            if b >= t_on and a <= t_end and span > worst[0]:
                worst = (span, n, r.label, a - t_on)
        if not carries_primaries:
            if r.lost:
                problems.append(f"the ping flood {r.label} lost {r.lost} packets while {switch}, which carries only "
                                f"backup links, was power-cycled (none allowed)")
            continue
        for what, start, end in (("when the switch lost power", 0.0, t_on), ("after it came back", t_on, t_end)):
            lost = r.lost_between(start, end)
            if lost > budget:
                problems.append(f"the ping flood {r.label} lost {lost} packets {what} (at most {budget} allowed)")
    sc.record.number("worst loss window during soak", worst[0], "s")
    if worst[1]:
        sc.record.fact("worst loss window during soak",
                       f"{worst[1]} probes over {worst[0]:.2f} s on {worst[2]} at +{fmt(worst[3])} s")
    return problems
