"""What the VM and service suites share: pings against guest addresses, the cluster's
view of where things run, domain states through a migration, DRBD, evidence.

Pings never start on the harness host: they run on a node of the lab (the
inventory's `vm.ping_from`, else a node the case leaves alone), as the
procedures do, with `ping -D -O` so every reply and every miss carries the
node's timestamp. Downtimes are read from those timestamps, each brought to the
controller's clock by the pinging node's measured offset (hacert.observe.clocks) before
it is compared with a moment the harness noted (a destroy sent, a crash).

Nothing passes on silence: a ping that printed nothing, a domain poller whose
every `virsh` failed, is what was not seen (`Unseen`), never "no outage". Lines
no parser knows are skipped one at a time and counted in the evidence.
"""

from __future__ import annotations

import shlex
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from hacert.drivers.errors import DeviceUnreachable, HacertError
from hacert.drivers.parsers import (
    ParseError,
    PingReply,
    PingStats,
    parse_drbd,
    parse_ping_line,
)
from hacert.model.inventory import Inventory
from hacert.observe.clocks import reading_of
from hacert.observe.coverage import Coverage, Unseen
from hacert.observe.lines import SkippedLines, count_unreadable_syslog
from hacert.drivers.errors import Inconclusive
from hacert.observe.moments import Moment
from hacert.observe.cluster_state import (
    describe_status,
    expected_homes,
    find_service,
    is_online,
    node_of,
    where_running,
)

POLL = 0.1
"""Seconds between two looks at the cluster while waiting for it."""
PING_BLIND = 3.0
"""Seconds of a ping's run its probes may leave unaccounted (its SSH channel opening and closing)."""
DOMSTATE_BLIND = 3.0
"""Seconds the domain poller may go without a reading of both ends before 'it never stopped' is no finding."""


# ---------------------------------------------------------------- where to ping from


def label_case(record: Any, feature: str, subject: str, story: str, title: str) -> None:
    """Name the case in the report (Allure feature, subject, story and title)."""
    record.feature(feature)
    record.subject(subject)
    record.story(story)
    record.title(title)


def audit_healthy(record: Any, guard: Any) -> Any:
    """The first step of every case: the guard's audit of the lab (its cluster status)."""
    with record.step("audit the lab healthy"):
        return guard.audit()


def ping_source(inv: Inventory, vm_name: str | None, avoid: Iterable[str] = (), prefer_not: Iterable[str] = ()) -> str:
    """The node to ping a VM (or service address) from.

    The inventory's `ping_from` when it names a node the case does not take down;
    else the first node neither taken down (`avoid`) nor involved (`prefer_not`);
    else the first node not taken down. 'observer' and 'self' are not served yet:
    the harness host never pings lab addresses, and pinging from inside the VM needs
    a login to it; both fall back to a node (the case records which one it used).
    """
    avoid, prefer_not = set(avoid), set(prefer_not)
    if vm_name is not None:
        chosen = inv.vm(vm_name).ping_from
        if chosen and chosen not in ("observer", "self") and chosen not in avoid:
            return chosen
    names = [n.name for n in inv.nodes]
    for name in names:
        if name not in avoid and name not in prefer_not:
            return name
    for name in names:
        if name not in avoid:
            return name
    raise ValueError(f"no node is left to ping from (every node is taken down: {', '.join(sorted(avoid))})")


# ---------------------------------------------------------------- ping logs


@dataclass(frozen=True)
class Gap:
    """Silence between two replies: `start` = last reply before, `end` = first reply after (None: none yet)."""

    start: float
    end: float | None
    lost: int
    first_lost_seq: int

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else self.end - self.start


@dataclass
class PingLog:
    """A `ping -D -O` run, read from its lines. `replies` are (icmp_seq, controller time): each
    -D stamp minus `offset`, the seconds the source's clock is ahead of the controller's."""

    source: str
    address: str
    interval: float
    lines: list[str]
    replies: list[tuple[int, float]] = field(default_factory=list)
    transmitted: int = 0
    stats: PingStats | None = None
    skipped: SkippedLines = field(default_factory=lambda: SkippedLines("ping output"))
    """Lines ping does not print, skipped one by one."""
    offset: float = 0.0
    last_stamp: float | None = None
    """Controller time of the last stamped line (a reply, a 'no answer yet', an error)."""

    @classmethod
    def parse(cls, source: str, address: str, interval: float, lines: Sequence[str], offset: float = 0.0) -> "PingLog":
        log = cls(source, address, interval, list(lines), offset=offset)
        highest = 0
        seen: set[int] = set()
        for line in lines:
            try:
                item = parse_ping_line(line)
            except ParseError:
                log.skipped.skip(source, line)
                continue
            stamp = getattr(item, "timestamp", None)
            if stamp is not None:
                log.last_stamp = max(log.last_stamp or 0.0, stamp - offset)
            if isinstance(item, PingReply) and item.timestamp is not None and not item.duplicate:
                if item.seq not in seen:
                    seen.add(item.seq)
                    log.replies.append((item.seq, item.timestamp - offset))
                highest = max(highest, item.seq)
            elif isinstance(item, PingStats):
                log.stats = item
            elif getattr(item, "seq", None) is not None:
                highest = max(highest, int(getattr(item, "seq")))
        log.replies.sort()
        log.transmitted = log.stats.transmitted if log.stats is not None else highest
        return log

    @property
    def received(self) -> int:
        return len(self.replies)

    @property
    def covered(self) -> float:
        """Seconds of the run its probes account for (ping sends one every interval)."""
        return self.transmitted * self.interval

    @property
    def lost_seqs(self) -> list[int]:
        answered = {seq for seq, _ in self.replies}
        return [seq for seq in range(1, self.transmitted + 1) if seq not in answered]

    @property
    def lost(self) -> int:
        return len(self.lost_seqs)

    def gaps(self) -> list[Gap]:
        """Every run of unanswered probes, with the replies around it."""
        out = []
        for (seq_a, t_a), (seq_b, t_b) in zip(self.replies, self.replies[1:]):
            if seq_b - seq_a > 1:
                out.append(Gap(t_a, t_b, seq_b - seq_a - 1, seq_a + 1))
        if self.replies and self.transmitted > self.replies[-1][0]:
            seq, t = self.replies[-1]
            out.append(Gap(t, None, self.transmitted - seq, seq + 1))
        return out

    def longest_gap(self, after: float = 0.0) -> float:
        """Longest time between two consecutive replies (after `after`), at least the interval; a
        silence still going on when the ping stopped counts too, by the probes it left unanswered."""
        longest = 0.0
        for (_, t_a), (_, t_b) in zip(self.replies, self.replies[1:]):
            if t_b >= after:
                longest = max(longest, t_b - t_a)
        last = self.replies[-1][0] if self.replies else 0
        if self.transmitted > last:
            longest = max(longest, (self.transmitted - last) * self.interval)
        return longest

    def outage_after(self, t: float) -> Gap | None:
        """The first silence still going on at, or starting after, wall-clock `t`."""
        for gap in self.gaps():
            if gap.end is None or gap.end > t:
                return gap
        return None

    def first_reply_after(self, t: float) -> float | None:
        for _, stamp in self.replies:
            if stamp > t:
                return stamp
        return None

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def closed_gaps(self) -> list[tuple[float, float, str]]:
        """(start, end, label) of every silence that ended, for a timeline."""
        return [(g.start, g.end, f"{self.address}: {g.lost} lost") for g in self.gaps() if g.end is not None]

    def summary(self) -> str:
        return (f"ping {self.address} from {self.source} every {self.interval:g} s: {self.transmitted} sent, "
                f"{self.lost} lost, longest gap {self.longest_gap():.2f} s")


class PingWatch:
    """A timestamped ping running on a node in the background."""

    def __init__(self, lab: Any, source: str, address: str, interval: float, label: str = "") -> None:
        self.lab = lab
        self.source = source
        self.address = address
        self.interval = interval
        self.label = label or address
        self._stream: Any = None
        self.final: PingLog | None = None
        self.started = 0.0
        self.opened: float | None = None
        """When the node had the command (its SSH channel open): the probes run from there."""
        self.stopped: float | None = None
        self.offset = 0.0
        """Seconds the source's clock is ahead of the controller's (read when the ping starts)."""

    @property
    def command(self) -> str:
        return f"ping -D -O -i {self.interval:g} {shlex.quote(self.address)}"

    def start(self) -> "PingWatch":
        reading = reading_of(self.lab, self.source)  # the clock its -D stamps are on
        self.offset = reading.offset if reading is not None else 0.0
        self.started = time.time()
        self._stream = self.lab.node(self.source).start_stream(self.command)
        self.opened = time.time()
        return self

    def log(self) -> PingLog:
        if self.final is not None:
            return self.final
        return PingLog.parse(self.source, self.address, self.interval, self._stream.lines() if self._stream else [],
                             self.offset)

    def stop(self) -> PingLog:
        if self.final is None:
            text = self._stream.stop() if self._stream is not None else ""
            self.stopped = time.time()
            self.final = PingLog.parse(self.source, self.address, self.interval, text.splitlines(), self.offset)
        return self.final

    def unseen(self, needed: str, t0: float | None = None, longest: float = PING_BLIND) -> list[Unseen]:
        """Once stopped: the end of the run its output says nothing about, when longer than `longest` s
        (a ping that printed nothing, or stopped printing: the VM's silence then was not seen)."""
        log = self.stop()
        assert self.stopped is not None
        began = self.opened if self.opened is not None else self.started
        # as far as its probes reach at the nominal interval, or its last stamp (ping falls behind
        # the interval on a loaded node)
        seen_until = max(began + log.covered, log.last_stamp or 0.0)
        if self.stopped - seen_until <= longest:
            return []
        return [Unseen(f"the ping of {self.address} from {self.source}", seen_until, self.stopped,
                       0, needed, None, t0)]

    def answering(self) -> bool:
        """Did the last probe get its answer?"""
        log = self.log()
        return bool(log.replies) and log.replies[-1][0] >= log.transmitted

    def wait_back(self, after: float, timeout: float, count: int = 3) -> Gap | None:
        """Wait for the silence that began after wall-clock `after` to end (then `count` replies in a row);
        that silence (None: the address never went silent and back within `timeout`). Raises
        `Inconclusive` when the ping printed no probe at all while waiting: its silence says nothing."""
        deadline = time.monotonic() + timeout
        probes = self.log().transmitted
        while True:
            log = self.log()
            gap = log.outage_after(after)
            if gap is not None and gap.end is not None:
                if sum(1 for _, t in log.replies if t >= gap.end) >= count:
                    return gap
            self._still_running()
            if time.monotonic() >= deadline:
                self._printed_since(probes, timeout)
                return None
            time.sleep(max(self.interval, 0.02))

    def wait_answers(self, after: float, timeout: float, count: int = 3) -> float | None:
        """Wait until `count` replies came after wall-clock `after`; the first one's stamp (None: timed out).
        Raises `Inconclusive` when the ping printed no probe at all while waiting."""
        deadline = time.monotonic() + timeout
        probes = self.log().transmitted
        while True:
            log = self.log()
            later = [t for _, t in log.replies if t > after]
            if len(later) >= count:
                return later[0]
            self._still_running()
            if time.monotonic() >= deadline:
                if not later:
                    self._printed_since(probes, timeout)
                return later[0] if later else None
            time.sleep(max(self.interval, 0.02))

    def _printed_since(self, probes: int, waited: float) -> None:
        """A ping that went on printing probes (answered or not) saw the address; one that printed
        none saw nothing, and no silence of the address can be read from it."""
        if self.log().transmitted <= probes and waited >= 2 * self.interval:
            skipped = self.log().skipped
            said = f"; {skipped.count} line(s) it printed were not ping's: {skipped.describe()}" if skipped.count else ""
            raise Inconclusive(f"the ping of {self.address} from {self.source} printed no probe for {waited:.1f} s "
                               f"(its output stopped{said}): whether {self.label} answered was not seen")

    def _still_running(self) -> None:
        """The ping runs until we stop it: if it ended, its SSH channel or its node went away,
        and silence from the VM would say nothing about the cluster."""
        if self._stream is not None and self.final is None and not self._stream.alive:
            raise DeviceUnreachable(self.source, "ssh", f"ping {self.address} in the background",
                                    "the ping stream ended before it was stopped (SSH channel closed)")


# ---------------------------------------------------------------- the cluster's view


def status_via(lab: Any, nodes: Sequence[str]) -> Any:
    """The cluster status asked of the first of `nodes` that gives one (HacertError if none does)."""
    problems = []
    for node in nodes:
        try:
            return lab.cluster.status(via=node)
        except (HacertError, KeyError) as exc:
            problems.append(f"{node}: {exc}")
    raise NoStatus("; ".join(problems) or "no node to ask")


class NoStatus(HacertError):
    """No node gave a cluster status."""


@dataclass
class Look:
    """The last cluster status seen while waiting, and whether the wait was met.

    `moment`: when the awaited state began, bracketed by the look before (that did not see it) and
    the look that did; `met` is False when that moment lies past the deadline, even though the
    look that saw it began in time (`late` then says so)."""

    met: bool
    status: Any
    at: float
    moment: Moment | None = None
    late: bool = False

    @property
    def t(self) -> float:
        """When the awaited state began (the moment's best time; else when the wait ended)."""
        return self.moment.t if self.moment is not None else self.at

    def when(self, since: float) -> str:
        """For a failure message: ' (it came only N s after)' when the state was measured past the deadline."""
        return f" (it came only {self.t - since:.1f} s after)" if self.late else ""


def watch_cluster(lab: Any, via: Sequence[str], until: Callable[[Any], bool], timeout: float) -> Look:
    """Poll the cluster status (asked of `via`) until `until(status)` or `timeout` s pass. The state
    is judged on its measured moment: seen in time but measured after the deadline is not met."""
    began = time.time()
    deadline = time.monotonic() + timeout
    previous = began
    status = None
    while True:
        unreadable: HacertError | None = None
        look_start = time.time()
        try:
            status = status_via(lab, via)
            if until(status):
                moment = Moment(previous, time.time())
                late = moment.t > began + timeout
                return Look(not late, status, moment.after, moment, late)
        except HacertError as exc:
            unreadable = exc  # a node may be rebooting: ask again until the deadline
        previous = look_start
        if time.monotonic() >= deadline:
            if unreadable is not None:
                # the cluster could not even be asked at the end: a lab fault, not a verdict
                raise unreadable
            return Look(False, status, time.time())
        time.sleep(POLL)


def owner_of(inv: Inventory, status: Any, name: str) -> str | None:
    """The node `name` runs on (None: not started)."""
    return where_running(inv, status, name)


def state_words(inv: Inventory, status: Any, name: str) -> str:
    """'started on an-node02', 'failed (last on an-node01)', 'missing'."""
    if status is None:
        return "unknown (no cluster status)"
    svc = find_service(status, name)
    if svc is None:
        return "missing from the cluster status"
    owner = node_of(inv, svc.owner)
    last = node_of(inv, getattr(svc, "last_owner", None))
    if owner:
        return f"{svc.state} on {owner}"
    return f"{svc.state}" + (f" (last on {last})" if last else "")


def online(inv: Inventory, status: Any, node: str) -> bool:
    return is_online(inv, status, node)


def cluster_text(lab: Any, via: Sequence[str]) -> str:
    """The cluster manager's own status output (clustat / crm_mon), for the evidence."""
    command = "crm_mon -1" if lab.inventory.cluster.manager == "pacemaker" else "clustat"
    for node in via:
        try:
            result = lab.node(node).run(command, check=False, timeout=30)
        except HacertError:
            continue
        if result.exit_code == 0:
            return f"# {command} on {node}\n{result.stdout}"
    try:
        return describe_status(lab.inventory, status_via(lab, via))
    except HacertError as exc:
        return f"(no node gave its status: {exc})"


def up_nodes(lab: Any, exclude: Iterable[str] = ()) -> list[str]:
    skip = set(exclude)
    return [n.name for n in lab.inventory.nodes if n.name not in skip]


# ---------------------------------------------------------------- syslog windows


class SyslogWindow:
    """Where each node's syslog ended at the start of a case, and what came after.

    Counts lines with `wc -l FILE` and reads with `tail -n +N FILE` (no shell redirection,
    which not every node shell offers).
    """

    def __init__(self, lab: Any, nodes: Sequence[str] | None = None, path: str = "/var/log/messages") -> None:
        self.lab = lab
        self.path = path
        self.marks: dict[str, int] = {}
        self.errors: dict[str, HacertError] = {}
        """The nodes whose window could not be read the last time `lines()` asked, and why."""
        for node in nodes or [n.name for n in lab.inventory.nodes]:
            count = self._count(node)
            if count is not None:
                self.marks[node] = count

    def _count(self, node: str) -> int | None:
        try:
            result = self.lab.node(node).run(f"wc -l {shlex.quote(self.path)}", check=False, timeout=15)
        except HacertError:
            return None
        words = result.stdout.split()
        return int(words[0]) if result.exit_code == 0 and words and words[0].isdigit() else None

    def skipped(self, windows: dict[str, list[str]]) -> SkippedLines:
        """The lines of `windows` (as `lines()` gave them) that are not syslog: skipped and counted."""
        return count_unreadable_syslog({n: ls for n, ls in windows.items() if n not in self.errors})

    def unseen(self, nodes: Sequence[str], needed: str, since: float) -> list[Unseen]:
        """The nodes of `nodes` whose syslog could not be read the last time: what they logged is unseen."""
        return [Unseen(f"{node}'s syslog", since, time.time(), 1, needed.format(node=node), self.errors[node])
                for node in nodes if node in self.errors]

    def lines(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for node, mark in self.marks.items():
            now = self._count(node)
            start = 1 if now is not None and now < mark else mark + 1  # rotated: read it all
            try:
                text = self.lab.node(node).run(f"tail -n +{start} {shlex.quote(self.path)}", timeout=30).stdout
            except HacertError as exc:
                self.errors[node] = exc
                out[node] = [f"(syslog of {node} unreadable: {exc})"]
                continue
            self.errors.pop(node, None)
            out[node] = [line for line in text.splitlines() if line]
        return out


# ---------------------------------------------------------------- domain states


class DomainPoller:
    """Polls `virsh domstate VM` on the source, then the target, over and over.

    Looking at the source first makes "neither runs it" trustworthy for a move from
    source to target: if the source no longer ran it, the target must by the time we look.
    """

    def __init__(self, lab: Any, vm: str, source: str, target: str, interval: float = 0.05) -> None:
        self.lab, self.vm, self.source, self.target, self.interval = lab, vm, source, target, interval
        self.samples: list[tuple[float, str | None, str | None]] = []
        self.errors: list[str] = []
        self.coverage = Coverage(f"the domain state poller of {vm} ({source}, {target})")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"domstate {vm}", daemon=True)

    def _state(self, node: str) -> str | None:
        return self.lab.virsh(node).state(self.vm)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                src = self._state(self.source)
                dst = self._state(self.target)
                t = time.time()
                self.samples.append((t, src, dst))
                self.coverage.ok(t)
            except Exception as exc:  # virsh not answering, or answering what no parser reads: no reading
                self.errors.append(f"{type(exc).__name__}: {exc}")
                self.coverage.failed(exc)
            self._stop.wait(self.interval)

    def unseen(self, start: float, end: float, t0: float | None = None, longest: float = DOMSTATE_BLIND) -> list[Unseen]:
        """Where neither end's domain state was read for more than `longest` s within [start, end]."""
        return self.coverage.unseen(start, end, longest, f"{self.vm} stopped between {self.source} and {self.target}", t0)

    def start(self) -> "DomainPoller":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def stopped_at(self) -> list[float]:
        """Times of samples where neither source nor target had the domain running or paused
        (libvirt pauses both ends for the switch-over of a live migration: memory is kept)."""
        alive = ("running", "paused")
        return [t for t, src, dst in self.samples if src not in alive and dst not in alive]

    def rows(self) -> list[tuple[str, str, str]]:
        return [(f"{t:.3f}", src or "-", dst or "-") for t, src, dst in self.samples]


# ---------------------------------------------------------------- storage


def drbd_state(lab: Any, node: str) -> tuple[bool | None, str]:
    """(True: every DRBD minor Connected and UpToDate/UpToDate, False: not yet, None: no DRBD), /proc/drbd text."""
    try:
        result = lab.node(node).run("cat /proc/drbd", check=False, timeout=15)
    except HacertError as exc:
        return False, f"(unreadable: {exc})"
    if result.exit_code != 0 or not result.stdout.strip():
        return None, result.stdout + result.stderr
    try:
        drbd = parse_drbd(result.stdout)
    except ParseError:
        return False, result.stdout
    minors = list(drbd.minors.values())
    if not minors:
        return None, result.stdout
    ok = all(_minor_ok(m) for m in minors)
    return ok, result.stdout


def _minor_ok(minor: Any) -> bool:
    return minor.cs == "Connected" and minor.ds == "UpToDate/UpToDate"


# ---------------------------------------------------------------- moving VMs home


def migrate_home(lab: Any, guard: Any, vms: Sequence[str], via: Sequence[str], timeout: float) -> list[str]:
    """Bring each VM or service of `vms` home (its inventory home): one running away is live-migrated
    (a VM) or relocated (a service), one stopped is enabled there; one the cluster is still starting
    or moving is waited for first. Problems (empty: all home)."""
    inv = lab.inventory
    homes = expected_homes(inv)
    guests = {v.name for v in inv.vms}
    problems: list[str] = []
    for name in vms:
        home = homes.get(name)
        if home is None:
            continue
        look = watch_cluster(lab, via, lambda s, n=name: _settled(s, n), timeout)
        owner = owner_of(inv, look.status, name)
        if owner == home:
            continue
        guard.changed("service", name)
        try:
            # the failures that moved it away may ban it from home (pacemaker's migration-threshold)
            lab.cluster.reset_failures(name, via=owner or home)
            if owner is None:
                lab.cluster.enable(name, node=home, via=home)
            elif name in guests:
                lab.cluster.migrate(name, home, via=owner)
            else:
                lab.cluster.relocate(name, home, via=owner)
        except HacertError as exc:
            problems.append(f"{name} could not be moved home to {home}: {exc}")
            continue
        look = watch_cluster(lab, via, lambda s, n=name, h=home: owner_of(inv, s, n) == h, timeout)
        if not look.met:
            problems.append(f"{name} is not back on {home} within {timeout:g} s ({state_words(inv, look.status, name)})")
    return problems


def _settled(status: Any, name: str) -> bool:
    """The cluster is not busy with `name` (starting, stopping, migrating or recovering it)."""
    svc = find_service(status, name)
    return svc is None or svc.state in ("started", "stopped", "disabled", "failed")


def movable_services(inv: Inventory, home: str | None = None) -> list[str]:
    """The inventory's non-storage services (those homed on `home`, when given): what a case that
    takes a node away must bring home with the VMs."""
    return [svc.name for svc in inv.services if not svc.storage and (home is None or svc.home == home)]
