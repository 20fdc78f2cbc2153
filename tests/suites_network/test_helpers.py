"""The network suite's instruments on canned output: no lab needed."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from hacert.observe.bonds import BondWatcher, carriers, split_bond_files
from hacert.observe.membership import ClusterWatcher
from hacert.observe.ping import Ping, PingLog, ping_command
from hacert.procedures.network import Timeline
from tests.support.canned import BOND


IP_LINK = (
    "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 16436 qdisc noqueue state UNKNOWN \\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n"
    "2: eth0: <{eth0}> mtu 1500 qdisc pfifo_fast master bond0 state UP qlen 1000\\    link/ether 00:e0:81:c7:ec:49 brd ff:ff:ff:ff:ff:ff\n"
    "3: eth3: <BROADCAST,MULTICAST,SLAVE,UP,LOWER_UP> mtu 1500 qdisc pfifo_fast master bond0 state UP qlen 1000\\    link/ether 00:1b:21:9d:59:fc brd ff:ff:ff:ff:ff:ff\n"
)
UP = "BROADCAST,MULTICAST,SLAVE,UP,LOWER_UP"
DOWN = "NO-CARRIER,BROADCAST,MULTICAST,SLAVE,UP"


def ping_text(t0: float, interval: float, answered: list[int], total: int, stats: bool = True) -> str:
    """What `ping -D -O -i interval` prints for `total` probes of which `answered` got a reply."""
    lines = ["PING 10.20.0.2 (10.20.0.2) 56(84) bytes of data."]
    pending = None
    for seq in range(1, total + 1):
        sent = t0 + (seq - 1) * interval
        if pending is not None:
            lines.append(f"[{sent:.6f}] no answer yet for icmp_seq={pending}")
        if seq in answered:
            lines.append(f"[{sent + 0.0001:.6f}] 64 bytes from 10.20.0.2: icmp_seq={seq} ttl=64 time=0.100 ms")
            pending = None
        else:
            pending = seq
    if stats:
        lost = total - len(answered)
        lines += ["", "--- 10.20.0.2 ping statistics ---",
                  f"{total} packets transmitted, {len(answered)} received, {100 * lost / total:g}% packet loss, time 1000ms"]
    return "\n".join(lines) + "\n"


def flood_result(text: str, t0: float, interval: float, stopped: float) -> PingLog:
    return PingLog.parse("an-node01", "10.20.0.2", interval, text, target="an-node02", network="bcn",
                         started=t0, stopped=stopped)


def test_ping_command_is_the_procedures_flood() -> None:
    assert ping_command("10.20.0.2", 0.05) == "ping -D -O -i 0.05 10.20.0.2"
    assert ping_command("an-node02.bcn", 0.2) == "ping -D -O -i 0.2 an-node02.bcn"


def test_flood_loss_windows_and_gap() -> None:
    t0, interval = 1_700_000_000.0, 0.05
    answered = [s for s in range(1, 101) if not 41 <= s <= 48]
    r = flood_result(ping_text(t0, interval, answered, 100), t0, interval, t0 + 5.0)
    assert (r.transmitted, r.lost) == (100, 8)
    assert r.lost_seqs() == list(range(41, 49))
    # replies 40 and 49 are 9 intervals apart
    assert r.longest_gap == pytest.approx(9 * interval, abs=1e-3)
    (start, end, count), = r.loss_windows()
    assert count == 8
    assert start == pytest.approx(t0 + 40 * interval, abs=1e-3)
    assert end == pytest.approx(t0 + 47 * interval, abs=1e-3)
    assert r.lost_between(t0, t0 + 2.2) == 5  # seqs 41-45 were sent at 2.0 .. 2.2 s
    assert r.lost_between(t0 + 10, t0 + 20) == 0
    assert "8 lost" in r.summary()


def test_flood_interpolates_probes_without_a_line() -> None:
    # Without -O lines the lost probes' times come from the neighbouring replies.
    t0, interval = 1_700_000_000.0, 0.1
    text = "\n".join(
        ["PING 10.20.0.2 (10.20.0.2) 56(84) bytes of data."]
        + [f"[{t0 + (s - 1) * interval:.6f}] 64 bytes from 10.20.0.2: icmp_seq={s} ttl=64 time=0.1 ms" for s in (1, 2, 6, 7)]
        + ["--- 10.20.0.2 ping statistics ---", "7 packets transmitted, 4 received, 42.8571% packet loss, time 600ms"]
    ) + "\n"
    r = flood_result(text, t0, interval, t0 + 1)
    times = r.seq_times()
    assert times[4] == pytest.approx(t0 + 0.3, abs=1e-6)
    assert r.lost == 3 and r.lost_seqs() == [3, 4, 5]


def test_flood_cut_short_counts_the_missing() -> None:
    t0, interval = 1_700_000_000.0, 0.05
    text = ping_text(t0, interval, [1, 2, 5, 6], 6, stats=False)
    r = flood_result(text, t0, interval, t0 + 1)
    assert r.lost == 2


def test_flood_nothing_lost_has_no_window() -> None:
    t0 = 1_700_000_000.0
    r = flood_result(ping_text(t0, 0.05, list(range(1, 51)), 50), t0, 0.05, t0 + 3)
    assert r.lost == 0 and r.loss_windows() == [] and r.longest_gap == pytest.approx(0.05, abs=1e-3)


class FakeStream:
    def __init__(self, text: str) -> None:
        self.text = text

    def lines(self) -> list[str]:
        return self.text.splitlines()

    def stop(self) -> str:
        return self.text


@dataclass
class FakeResult:
    stdout: str


class FakeShell:
    """A node whose bond file and `ip -o link` change when the test says so."""

    name = "an-node01"

    def __init__(self) -> None:
        self.active = "eth0"
        self.eth0 = True
        self.lock = threading.Lock()
        self.stream_text = ""
        self.eth0_mii: str | None = None  # the driver's word for eth0, when not plain up/down
        self.cut_dump = False  # `ip -o link` printed nothing (its dump was interrupted)

    def run(self, cmd: str, timeout: float | None = None, check: bool = True) -> FakeResult:
        with self.lock:
            if cmd == "cat /proc/net/bonding/bond0 /proc/net/bonding/bond1; ip -o link":
                pmii = self.eth0_mii or ("up" if self.eth0 else "down")
                text = BOND.format(primary="eth0", backup="eth3", active=self.active, pmii=pmii)
                text += BOND.format(primary="eth1", backup="eth4", active="eth1", pmii="up")
                return FakeResult(text + ("" if self.cut_dump else IP_LINK.format(eth0=UP if self.eth0 else DOWN)))
        raise AssertionError(f"unexpected command {cmd!r}")

    def start_stream(self, cmd: str) -> FakeStream:
        return FakeStream(self.stream_text)


def test_split_bond_files_and_carriers() -> None:
    two = BOND.format(primary="eth0", backup="eth3", active="eth0", pmii="up") + BOND.format(
        primary="eth1", backup="eth4", active="eth4", pmii="down")
    parts = split_bond_files(two)
    assert len(parts) == 2 and "Currently Active Slave: eth4" in parts[1]
    assert carriers(IP_LINK.format(eth0=DOWN)) == {"lo": True, "eth0": False, "eth3": True}


def test_bond_watcher_timestamps_changes() -> None:
    shell = FakeShell()
    watcher = BondWatcher({"an-node01": shell}, {"an-node01": [("bond0", "/proc/net/bonding/bond0", ["eth0", "eth3"]),
                                                               ("bond1", "/proc/net/bonding/bond1", ["eth1", "eth4"])]},
                          interval=0.01)
    with watcher:
        assert watcher.active[("an-node01", "bond0")] == "eth0"
        assert watcher.status[("an-node01", "bond0")].up_delay_ms == 120000
        t_pull = time.time()
        with shell.lock:
            shell.eth0, shell.active = False, "eth3"
        change = watcher.wait_active("an-node01", "bond0", "eth3", after=t_pull, timeout=2.0)
        down = watcher.wait_link("an-node01", "eth0", False, after=t_pull, timeout=2.0)
        assert watcher.wait_active("an-node01", "bond0", "eth0", after=t_pull, timeout=0.05) is None
    assert change is not None and change.previous == "eth0" and 0 <= change.t - t_pull < 0.5
    assert down is not None and not down.up
    assert watcher.changes_of("an-node01", "bond1") == []
    assert watcher.poll_errors == []


def test_a_poll_without_link_lines_reads_an_updelay_as_carrier_not_as_a_bounce() -> None:
    shell = FakeShell()
    shell.eth0, shell.active, shell.eth0_mii = True, "eth3", "going back"  # plugged back, updelay running
    watcher = BondWatcher({"an-node01": shell}, {"an-node01": [("bond0", "/proc/net/bonding/bond0", ["eth0", "eth3"]),
                                                               ("bond1", "/proc/net/bonding/bond1", ["eth1", "eth4"])]},
                          interval=0.01)
    with watcher:
        for cut in (True, False):  # polls without link lines, then with them again
            polls = watcher.polls
            with shell.lock:
                shell.cut_dump = cut
            assert watcher.wait(lambda: watcher.polls >= polls + 3, 2.0)
        made_up = watcher.links_of("an-node01", "eth0")
        with shell.lock:  # the same fallback does see a real loss
            shell.eth0, shell.eth0_mii, shell.cut_dump = False, "down", True
        down = watcher.wait_link("an-node01", "eth0", False, after=0, timeout=2.0)
    assert made_up == [], "a bounce was made up while the updelay ran"
    assert down is not None


def test_ping_flood_counts_live_replies() -> None:
    shell = FakeShell()
    t0 = 1_700_000_000.0
    shell.stream_text = ping_text(t0, 0.1, [1, 2, 3, 7, 8, 9, 10], 10, stats=False)
    flood = Ping(shell, "an-node01", "10.20.0.2", 0.1, target="an-node02", network="bcn")
    flood.start()
    assert flood.replies_since(t0 + 0.55) == 4
    assert flood.stop().lost == 3


@dataclass
class Member:
    online: bool


@dataclass
class Status:
    quorate: bool
    members: dict[str, Member]


def test_cluster_watcher_sees_a_member_leave() -> None:
    state = {"s": Status(True, {"a": Member(True), "b": Member(True)})}
    watcher = ClusterWatcher(lambda: state["s"], interval=0.01).start()
    state["s"] = Status(True, {"a": Member(True), "b": Member(False)})
    deadline = time.monotonic() + 2
    while not watcher.changes and time.monotonic() < deadline:
        time.sleep(0.01)
    watcher.stop()
    (change,) = watcher.changes
    assert change.left == ("b",) and change.joined == ()


def test_timeline_csv_is_relative_and_sorted() -> None:
    tl = Timeline(100.0)
    tl.add(102.5, "an-node01/bond0", "active slave", "eth0 -> eth3")
    tl.add(101.0, "an-node01/eth0", "cable pulled")
    lines = tl.csv().splitlines()
    assert lines[0] == "t_rel_s,wall_clock,lane,event,detail"
    assert lines[1].startswith("1.000,") and lines[2].startswith("2.500,")
