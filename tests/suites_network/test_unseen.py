"""No check of the network suite passes on silence: each instrument starved (a node that stops
answering, output no parser reads, a flood that printed nothing), the case is a lab error or
inconclusive — never a pass, never a failure of the cluster. Bad lines are skipped one at a time
and counted. A failover seen in time but measured after its deadline fails. No lab needed."""

from __future__ import annotations

import threading
import re
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from hacert.drivers.errors import DeviceUnreachable, LabError
from hacert.model.inventory import load_inventory
from hacert.observe.coverage import Unobserved, raise_unseen
from hacert.observe.lines import SkippedLines
from hacert.verdict.verdicts import Verdict, verdict_of
from hacert.drivers.errors import ClusterFailure, Inconclusive
from hacert.observe.bonds import BondChange, BondWatcher, carriers
from hacert.observe.membership import ClusterWatcher
from hacert.observe.ping import Ping
from hacert.procedures.network import Scene, failover
from tests.support.canned import BOND
from hacert.suite_runs import INVENTORIES

from tests.suites_network.test_helpers import DOWN, IP_LINK, UP, FakeStream, ping_text

GARBAGE = ["Dec  6 23:39", "\x00\x00\x1f\ufffd\x08\x00\ufffd\ufffd\x7fELF0001", '{"ts":"2026-12-06T23:39:46Z","level":"warn"}',
           "\tat org.example.collector.Worker.run(Worker.java:103)"]
"""What labsim's syslog_garbage writes (labsim/garbage.py), as the harness reads it."""


class BondShell:
    """One node's bond0 and links: `mode` ok | dead (SSH gone) | garbage (a status file no parser reads)."""

    name = "an-node01"
    command = "cat /proc/net/bonding/bond0; ip -o link"

    def __init__(self) -> None:
        self.mode = "ok"
        self.active = "eth0"
        self.lock = threading.Lock()

    def run(self, cmd: str, timeout: float | None = None, check: bool = True) -> Any:
        assert cmd == self.command, cmd
        with self.lock:
            if self.mode == "dead":
                raise DeviceUnreachable("an-node01", "127.0.0.1:2201", f"run {cmd!r}", "connection reset by peer")
            text = BOND.format(primary="eth0", backup="eth3", active=self.active, pmii="up")
            if self.mode == "garbage":
                text = text.replace("MII Status: up\n", "MII Status: up\n\x00\x7fELF\x02\n", 1)
            return SimpleNamespace(stdout=text + IP_LINK.format(eth0=UP), exit_code=0)


def _watcher(shell: BondShell) -> BondWatcher:
    return BondWatcher({"an-node01": shell}, {"an-node01": [("bond0", "/proc/net/bonding/bond0", ["eth0", "eth3"])]},
                       interval=0.01)


def _scene(watcher: Any, failover_timeout: float, t_pull: float) -> tuple[Scene, Any]:
    """A real Scene around `watcher`: the cable pull is a stub that says when it took effect."""
    inv = load_inventory(INVENTORIES / "anvil-sim.yaml")
    numbers: dict[str, Any] = {}
    record = SimpleNamespace(number=lambda name, value, unit="", expected=None: numbers.__setitem__(name, (value, expected)),
                             diagnosis=lambda text: None)
    lab = SimpleNamespace(inventory=SimpleNamespace(expectations=SimpleNamespace(failover_timeout=failover_timeout)))
    scene = Scene(lab, guard=None, record=record, title="test", watch={"an-node01": [inv.node("an-node01").bond("bond0")]},
                  flood_pairs=[])
    scene.watcher = watcher
    scene.t0 = scene.started = t_pull - 1.0
    scene.pull = lambda node, link: t_pull  # type: ignore[method-assign]
    return scene, numbers


def _bond0() -> Any:
    return load_inventory(INVENTORIES / "anvil-sim.yaml").node("an-node01").bond("bond0")


# ---------------------------------------------------------------- a failover that was not seen


@pytest.mark.parametrize(("mode", "verdict"), [("dead", Verdict.LAB_ERROR), ("garbage", Verdict.INCONCLUSIVE)])
def test_a_starved_bond_watcher_makes_a_missing_failover_no_failure_of_the_cluster(mode: str, verdict: Verdict) -> None:
    shell = BondShell()
    bond = _bond0()
    with _watcher(shell) as watcher:
        with shell.lock:
            shell.mode = mode  # from the pull on, the watcher reads nothing of the node
        scene, _ = _scene(watcher, failover_timeout=0.6, t_pull=time.time())
        with pytest.raises(Exception) as caught:
            failover(scene, "an-node01", bond, bond.primary, bond.backup, "fail over to eth3")
    assert verdict_of(caught.value) == verdict, caught.value
    assert not isinstance(caught.value, ClusterFailure)
    assert "the bond watcher on an-node01 saw nothing" in str(caught.value)
    assert "bond0 on an-node01 did fail over to eth3" in str(caught.value)
    if mode == "dead":
        assert isinstance(caught.value, Unobserved) and caught.value.device == "an-node01"
    else:  # a status file no parser reads: the watcher went on polling, keeping each failed poll
        assert {type(exc).__name__ for _, exc in watcher.coverage["an-node01"].failures} == {"ParseError"}


def test_a_watcher_that_saw_the_bond_stay_put_fails_the_case() -> None:
    shell = BondShell()
    bond = _bond0()
    with _watcher(shell) as watcher:
        scene, _ = _scene(watcher, failover_timeout=0.4, t_pull=time.time())
        with pytest.raises(ClusterFailure, match="did not fail over to eth3 within 0.4 s"):
            failover(scene, "an-node01", bond, bond.primary, bond.backup, "fail over to eth3")


class _StubWatcher:
    """A watcher whose poll saw the failover at a given time (the moment the case judges)."""

    slowest_poll = 0.02

    def __init__(self, seen_at: float) -> None:
        self.seen_at = seen_at

    def wait_active(self, node: str, bond: str, slave: str, after: float, timeout: float) -> BondChange:
        return BondChange(self.seen_at, node, bond, slave, "eth0")

    def unseen(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


def test_a_failover_measured_just_past_its_deadline_fails() -> None:
    bond = _bond0()
    t_pull = time.time() - 10  # long done: the look that saw it began in time, the moment is what counts
    late = _StubWatcher(seen_at=t_pull + 2.0 + 0.01)
    scene, numbers = _scene(late, failover_timeout=2.0, t_pull=t_pull)
    with pytest.raises(ClusterFailure, match=r"did not fail over to eth3 within 2.0 s .*it did 2.01 s after"):
        failover(scene, "an-node01", bond, bond.primary, bond.backup, "fail over to eth3")
    assert numbers["seconds to fail over to eth3"][0] == pytest.approx(2.01)
    in_time = _StubWatcher(seen_at=t_pull + 2.0 - 0.01)
    scene, numbers = _scene(in_time, failover_timeout=2.0, t_pull=t_pull)
    failover(scene, "an-node01", bond, bond.primary, bond.backup, "fail over to eth3")
    value, bound = numbers["seconds to fail over to eth3"]
    assert bound.holds(value) and str(bound) == "<= 2"


def test_the_bond_watcher_survives_garbage_and_dead_polls_and_counts_them() -> None:
    shell = BondShell()
    with _watcher(shell) as watcher:
        for mode in ("garbage", "dead", "ok"):
            with shell.lock:
                shell.mode = mode
            before = len(watcher.poll_errors) if mode != "ok" else watcher.coverage["an-node01"].readings
            assert watcher.wait(lambda: (len(watcher.poll_errors) if mode != "ok"
                                         else watcher.coverage["an-node01"].readings) >= before + 3, 2.0), mode
        with shell.lock:
            shell.active = "eth3"
        assert watcher.wait_active("an-node01", "bond0", "eth3", after=0, timeout=2.0) is not None
    kinds = {type(exc).__name__ for _, exc in watcher.coverage["an-node01"].failures}
    assert kinds == {"ParseError", "DeviceUnreachable"}


def test_ip_link_lines_no_parser_knows_are_skipped_one_by_one() -> None:
    skipped = SkippedLines("ip -o link")
    text = IP_LINK.format(eth0=DOWN).replace("3: eth3:", "\x00garbage\n3: eth3:")
    assert carriers(text, skipped, "an-node01") == {"lo": True, "eth0": False, "eth3": True}
    assert skipped.count == 1 and "garbage" in skipped.describe()


# ---------------------------------------------------------------- membership and syslog


@dataclass
class _Member:
    online: bool


@pytest.mark.parametrize(("error", "verdict"), [
    (DeviceUnreachable("an-node01", "127.0.0.1:2201", "clustat", "connection reset"), Verdict.LAB_ERROR),
    (ValueError("clustat: garbage"), Verdict.INCONCLUSIVE),
])
def test_a_cluster_watcher_without_status_is_no_unchanged_membership(error: Exception, verdict: Verdict) -> None:
    def status() -> Any:
        raise error

    start = time.time()
    watcher = ClusterWatcher(status, interval=0.01).start()
    time.sleep(0.2)
    watcher.stop()
    assert watcher.changes == [] and watcher.baseline is None  # what "membership unchanged" used to rest on
    unseen = watcher.unseen(start, time.time(), longest=5.0, needed="the membership changed")
    with pytest.raises(Exception) as caught:
        raise_unseen(unseen)
    assert verdict_of(caught.value) == verdict and "the cluster watcher saw nothing" in str(caught.value)


def test_one_bad_syslog_line_hides_no_fence_and_an_unreadable_syslog_is_unseen() -> None:
    members = {"an-node01": _Member(True), "an-node02": _Member(True)}
    watcher = ClusterWatcher(lambda: SimpleNamespace(quorate=True, members=members), interval=0.01).start()
    time.sleep(0.05)
    watcher.stop()
    inv = load_inventory(INVENTORIES / "anvil-sim.yaml")
    scene = Scene(SimpleNamespace(inventory=inv), None, None, "test", {}, [])
    scene.cluster = watcher
    scene.t0 = scene.started = time.time() - 0.05
    scene.ended = time.time()
    scene.syslog = {"an-node01": [GARBAGE[0], "Dec  6 23:39:50 an-node01 fenced[2280]: fencing node an-node02", *GARBAGE[1:]],
                    "an-node02": ["(syslog of an-node02 unreadable: ...)"]}
    scene.syslog_errors = {"an-node02": LabError("an-node02", "127.0.0.1:2202", "read syslog", "Permission denied")}
    scene.check_cluster("while the cable was pulled")
    (news,) = scene.bad_news
    assert re.fullmatch(r"an-node01 logged while the cable was pulled at [-+]\d+\.\d s: "
                        r"Dec  6 23:39:50 an-node01 fenced\[2280\]: fencing node an-node02", news), news
    with pytest.raises(Unobserved, match=r"an-node02's syslog saw nothing .*an-node02 logged a fence"):
        scene.require_seen()


# ---------------------------------------------------------------- ping floods


def _flood(text: str, started: float, stopped: float, skipped: SkippedLines) -> Any:
    shell = SimpleNamespace(name="an-node01", start_stream=lambda cmd: FakeStream(text))
    clock = iter([started, started, stopped])  # started, its channel open, stopped
    flood = Ping(shell, "an-node01", "10.20.0.2", 0.05, target="an-node02", network="bcn", clock=lambda: next(clock),
                 skipped=skipped)
    flood.start()
    return flood.stop()


def test_a_flood_that_printed_nothing_saw_nothing() -> None:
    t0 = 1_700_000_000.0
    result = _flood("", t0, t0 + 10.0, SkippedLines("ping output"))
    assert result.lost == 0  # what the judgement used to read as "nothing lost"
    (unseen,) = result.unseen(longest=3.0)
    assert unseen.start == t0 and unseen.end == t0 + 10.0
    with pytest.raises(Inconclusive, match="the ping flood an-node01 -> an-node02 .* saw nothing"):
        raise_unseen([unseen])


def test_a_flood_cut_short_leaves_its_tail_unseen_and_counts_its_unanswered_probes() -> None:
    t0, interval = 1_700_000_000.0, 0.05
    text = ping_text(t0, interval, [1, 2, 3], 40, stats=False)  # 40 probes, no summary: the stream died
    result = _flood(text, t0, t0 + 10.0, SkippedLines("ping output"))
    assert result.transmitted == 39 and result.lost == 36  # the 'no answer yet' lines count as sent probes
    (unseen,) = result.unseen(longest=3.0)
    assert unseen.start == pytest.approx(t0 + 39 * interval)
    whole = _flood(ping_text(t0, interval, list(range(1, 201)), 200), t0, t0 + 10.5, SkippedLines("ping output"))
    assert whole.unseen(longest=3.0) == []


def test_lines_ping_does_not_print_are_skipped_one_by_one_and_counted() -> None:
    t0, interval = 1_700_000_000.0, 0.05
    lines = ping_text(t0, interval, [s for s in range(1, 101) if not 41 <= s <= 48], 100).splitlines()
    lines[20:20] = GARBAGE
    skipped = SkippedLines("ping output")
    result = _flood("\n".join(lines) + "\n", t0, t0 + 5.0, skipped)
    assert (result.transmitted, result.lost, result.skipped.count) == (100, 8, 4)
    assert skipped.count == 4 and skipped.describe().startswith("4 (an-node01: 'Dec  6 23:39'")
