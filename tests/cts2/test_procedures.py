"""The drain's instruments on plain objects: the hypervisor poller's order makes a live
migration never read as a stop while a real stop is read as one; the ping budget grows with
the moves a VM made and no further."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from hacert.drivers.errors import ClusterFailure
from hacert.procedures.standby import HostsPoller, judge_pings
from hacert.procedures.vm import PingLog


class _Hypervisors:
    """Where the domain runs, switched by the test; each `virsh domstate` lets the other thread run."""

    def __init__(self, host: str | None) -> None:
        self.host = host
        self.lock = threading.Lock()

    def virsh(self, node: str) -> Any:
        def state(vm: str) -> str | None:
            time.sleep(0.001)
            with self.lock:
                return "running" if self.host == node else None
        return SimpleNamespace(state=state)


def _poll_through(lab: _Hypervisors, moves: list[str | None], first: str = "a") -> HostsPoller:
    poller = HostsPoller(lab, "vm", first, ["b", "c"], interval=0.0).start()
    for host in moves:
        time.sleep(0.05)
        with lab.lock:
            lab.host = host
    time.sleep(0.05)
    poller.stop()
    return poller


def test_a_live_migration_off_the_first_node_never_reads_as_a_stop() -> None:
    for _ in range(20):
        poller = _poll_through(_Hypervisors("a"), ["c"])
        assert poller.samples and not poller.stopped_at()
        assert poller.hosts_seen() == ["a", "c"]


def test_a_stop_between_two_hosts_is_seen() -> None:
    poller = _poll_through(_Hypervisors("a"), [None, "b"])
    assert poller.stopped_at()


class _Record:
    def __init__(self) -> None:
        self.numbers: dict[str, Any] = {}
        self.said = ""

    def number(self, name: str, value: Any, unit: str = "", expected: Any = None) -> None:
        self.numbers[name] = value

    def diagnosis(self, text: str) -> None:
        self.said = text


def _log(lost_runs: list[int], interval: float = 0.05) -> PingLog:
    lines, seq, t = [], 0, 1000.0
    for run in [0, *lost_runs]:
        for _ in range(run):
            seq += 1
            t += interval
            lines.append(f"[{t:.6f}] no answer yet for icmp_seq={seq}")
        for _ in range(5):
            seq += 1
            t += interval
            lines.append(f"[{t:.6f}] 64 bytes from 10.0.0.1: icmp_seq={seq} ttl=64 time=0.1 ms")
    return PingLog.parse("a", "10.0.0.1", interval, lines)


def test_ping_budget_is_per_move() -> None:
    inv = SimpleNamespace(expectations=SimpleNamespace(migration_max_lost_pings=5, migration_max_gap=1.0))
    record = _Record()
    judge_pings(record, inv, {"vm": _log([4, 4])}, {"vm": 2}, 0.0)  # 8 lost over two moves: within 2 x 5
    assert record.numbers["vm: lost pings"] == 8
    with pytest.raises(ClusterFailure, match="vm lost 8 pings over 1 move"):
        judge_pings(_Record(), inv, {"vm": _log([4, 4])}, {"vm": 1}, 0.0)


def test_a_silence_longer_than_the_migration_gap_is_a_stop() -> None:
    inv = SimpleNamespace(expectations=SimpleNamespace(migration_max_lost_pings=100, migration_max_gap=1.0))
    with pytest.raises(ClusterFailure, match="went silent for 1.2"):
        judge_pings(_Record(), inv, {"vm": _log([23])}, {"vm": 1}, 0.0)
