"""Node clocks on their own (hacert.observe.clocks) and the corrections the suites make with them: each
correction with the figure or verdict the same check gives when the node's stamp is NOT corrected
(a +5 s or -5 s node clock fools it)."""

from __future__ import annotations

import calendar
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from hacert.drivers.errors import DeviceUnreachable, LabError
from hacert.observe.clocks import (
    ClockDrifted,
    ClockReading,
    ClockUnknown,
    Measurement,
    NodeClocks,
    case_records,
    describe_case,
    parse_answer,
    read_clock,
    stamp_window,
    summarize,
)
from hacert.verdict.verdicts import Verdict, verdict_of
from hacert.observe.moments import Edge, Moment
from hacert.observe.ping import Ping, PingLog

# ---------------------------------------------------------------- a node's clock through a fake SSH


class FakeClockShell:
    """A node whose clock is `offset` s ahead of the controller's fake clock; each `date` takes the
    round trips given (s), the node answering at `answer_at` of the way."""

    def __init__(self, controller: "FakeController", offset: float, trips: list[float], zone: str = "+0000",
                 answer_at: float = 0.5, fail: Exception | None = None, text: str | None = None) -> None:
        self.controller, self.offset, self.trips, self.zone = controller, offset, list(trips), zone
        self.answer_at, self.fail, self.text = answer_at, fail, text
        self.commands: list[str] = []

    def run(self, cmd: str, timeout: float | None = None, check: bool = True) -> Any:
        self.commands.append(cmd)
        if self.fail is not None:
            raise self.fail
        trip = self.trips.pop(0) if len(self.trips) > 1 else self.trips[0]
        node_time = self.controller.now + trip * self.answer_at + self.offset
        self.controller.now += trip
        return SimpleNamespace(stdout=self.text if self.text is not None else f"{node_time:.9f}{self.zone}\n")


class FakeController:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_tightest_round_trip_gives_the_offset_and_half_of_it_the_uncertainty() -> None:
    controller = FakeController()
    # the node answers late in the slow trips (0.8 of the way): only the tight one is trusted
    shell = FakeClockShell(controller, 5.0, [0.200, 0.004, 0.100, 0.050, 0.300], answer_at=0.8)
    reading = read_clock(shell, "n1", clock=controller)
    assert shell.commands == ["date +%s.%N%z"] * 5
    assert reading.uncertainty == pytest.approx(0.002)
    assert abs(reading.offset - 5.0) <= reading.uncertainty + 1e-6
    assert reading.utc_offset == 0 and reading.rounds == 5
    assert reading.to_controller(1_000_105.0) == pytest.approx(1_000_100.0, abs=0.003)


def test_a_loose_measurement_tries_more_round_trips_then_refuses() -> None:
    controller = FakeController()
    slow_then_tight = FakeClockShell(controller, -5.0, [0.3] * 7 + [0.01])
    reading = read_clock(slow_then_tight, "n1", clock=controller, uncertainty_max=0.05)
    assert reading.rounds == 8 and reading.offset == pytest.approx(-5.0, abs=0.006)
    always_slow = FakeClockShell(controller, 0.0, [0.3])
    with pytest.raises(ClockUnknown) as caught:
        read_clock(always_slow, "n2", clock=controller, uncertainty_max=0.05)
    assert "known only within ±150 ms" in str(caught.value) and "clock_uncertainty_max" in str(caught.value)
    assert verdict_of(caught.value) == Verdict.LAB_ERROR


@pytest.mark.parametrize("text, why", [
    ("date: invalid date '+%s.%N%z'\n", "not epoch seconds"),
    ("1765632345.N+0000\n", "not epoch seconds"),
    ("1765632345+0000\n", "no sub-second part"),
    ("", "printed 'nothing'"),
])
def test_a_clock_that_cannot_be_read_is_a_lab_error_naming_the_node(text: str, why: str) -> None:
    shell = FakeClockShell(FakeController(), 0.0, [0.001], text=text)
    with pytest.raises(ClockUnknown) as caught:
        read_clock(shell, "an-node02", clock=FakeController())
    assert isinstance(caught.value, LabError) and verdict_of(caught.value) == Verdict.LAB_ERROR
    assert str(caught.value).startswith("clock of an-node02 (ssh): read its clock (date +%s.%N%z): ")
    assert why in str(caught.value)


def test_a_node_that_does_not_answer_is_a_clock_unknown() -> None:
    shell = FakeClockShell(FakeController(), 0.0, [0.001], fail=DeviceUnreachable("an-node01", "127.0.0.1:22", "run date", "timed out"))
    clocks = NodeClocks(lambda node: shell, ["an-node01"])
    with pytest.raises(ClockUnknown) as caught:
        clocks.measure("before the fault")
    assert "DeviceUnreachable: an-node01 (127.0.0.1:22): run date: timed out" in str(caught.value)
    assert clocks.session_start is None and not clocks.latest


def test_parse_answer_reads_the_zone() -> None:
    assert parse_answer("n", "1765632345.500000000+0130\n") == (1765632345.5, 5400)
    assert parse_answer("n", "1765632345.250000000-0500") == (1765632345.25, -18000)
    assert parse_answer("n", "1765632345.250000000") == (1765632345.25, None)


def test_drift_beyond_the_bound_and_the_uncertainty_is_refused() -> None:
    def measurement(offsets: dict[str, float], u: float = 0.001) -> Measurement:
        return Measurement("x", {n: ClockReading(n, o, u, 0.0, 0) for n, o in offsets.items()}, 0.01)

    clocks = NodeClocks(lambda node: None, ["a", "b"], drift_max=0.1)  # type: ignore[arg-type,return-value]
    before = measurement({"a": 5.0, "b": -5.0})
    assert [round(d.seconds, 3) for d in clocks.check_drift(before, measurement({"a": 5.05, "b": -5.0}))] == [0.05, 0.0]
    # 0.15 s apart, but each reading is ±0.03 s: 0.09 s cannot be explained, within the bound
    clocks.check_drift(measurement({"a": 5.0}, 0.03), measurement({"a": 5.15}, 0.03))
    with pytest.raises(ClockDrifted) as caught:
        clocks.check_drift(before, measurement({"a": 5.0, "b": -4.0}))
    message = str(caught.value)
    assert message.startswith("clock of b (ssh): keep a steady clock through the case: its offset moved by +1.000 s")
    assert "-5.000 s ±1.0 ms before the fault, -4.000 s ±1.0 ms after the case" in message
    assert "more than the 0.1 s allowed (expectations.clock_drift_max)" in message
    assert verdict_of(caught.value) == Verdict.LAB_ERROR


def test_measurements_are_kept_for_the_report_and_the_summary() -> None:
    controller = FakeController()
    shells = {"a": FakeClockShell(controller, 5.0, [0.002]), "b": FakeClockShell(controller, -5.0, [0.002], zone="+0100")}
    clocks = NodeClocks(shells.__getitem__, ["a", "b"], clock=controller)
    before = clocks.measure("session start, before the fault")
    assert clocks.session_start is not None and set(clocks.latest) == {"a", "b"}
    assert clocks.offset("a") == pytest.approx(5.0, abs=0.002)
    after = clocks.measure("after the case")
    assert clocks.session_start.readings["a"] == before.readings["a"]  # the session start stays the first
    text = describe_case(before, after)
    assert text.startswith("a +5.000 s ±1.0 ms, drift ") and "; b -5.000 s ±1.0 ms, drift " in text
    records = case_records("lab1", before, after)
    assert [(r["node"], r["phase"], "drift" in r) for r in records] == [
        ("a", "session start, before the fault", False), ("b", "session start, before the fault", False),
        ("a", "after the case", True), ("b", "after the case", True)]
    table = summarize(records)
    assert table["b"]["readings"] == 2 and table["b"]["utc_offset"] == 3600
    assert table["a"]["first"] == pytest.approx(5.0, abs=0.002) and table["a"]["drift_max"] < 0.001


def test_a_steady_reading_after_a_case_stands_for_the_next_case_once_and_only_while_fresh() -> None:
    controller = FakeController()
    shells = {"a": FakeClockShell(controller, 5.0, [0.002]), "b": FakeClockShell(controller, -5.0, [0.002])}
    clocks = NodeClocks(shells.__getitem__, ["a", "b"], clock=controller)
    assert clocks.kept("before the fault") is None  # nothing kept yet: the fixture measures
    after = clocks.measure("after the case")
    asked = sum(len(s.commands) for s in shells.values())
    clocks.keep(after)
    controller.now += 0.4
    before = clocks.kept("before the fault")
    assert before is not None and before.readings == after.readings
    assert before.phase == "before the fault (read after the previous case, 0.4 s earlier)"
    assert sum(len(s.commands) for s in shells.values()) == asked  # no clock read again
    assert clocks.kept("before the fault") is None  # used once
    clocks.keep(after)
    controller.now += 10.5
    assert clocks.kept("before the fault") is None  # too old: the next case reads the clocks itself
    clocks.keep(clocks.measure("on first use", ["a"]))
    assert clocks.kept("before the fault") is None  # not every node


def test_a_node_without_a_reading_is_measured_on_first_use() -> None:
    controller = FakeController()
    shell = FakeClockShell(controller, 2.5, [0.002])
    clocks = NodeClocks(lambda node: shell, ["a"], clock=controller)
    assert clocks.reading("a").offset == pytest.approx(2.5, abs=0.002)
    assert len(shell.commands) == 5
    clocks.reading("a")
    assert len(shell.commands) == 5  # the latest reading is kept


# ---------------------------------------------------------------- syslog stamps


def test_a_classic_stamp_is_read_in_the_nodes_zone_and_corrected_by_its_offset() -> None:
    true = calendar.timegm((2026, 12, 13, 12, 45, 48, 0, 0, 0))  # 12:45:48 UTC
    node_clock_ahead = ClockReading("n", 5.0, 0.002, 0.0, utc_offset=3600)  # local time UTC+1, 5 s ahead
    stamp = datetime(2026, 12, 13, 13, 45, 53)  # what the node writes: its local time, its clock
    low, high = stamp_window(stamp, node_clock_ahead)
    assert low == pytest.approx(true - 0.002, abs=1e-6) and high == pytest.approx(true + 1.002, abs=1e-6)
    aware = datetime(2026, 12, 13, 12, 45, 53, 250000, tzinfo=timezone.utc)  # RFC 3339: its own zone and fraction
    low, high = stamp_window(aware, node_clock_ahead)
    assert low == pytest.approx(true + 0.25 - 0.002, abs=1e-6) and high - low == pytest.approx(0.004, abs=1e-6)


def test_an_uncorrected_stamp_moves_a_moment_the_corrected_one_narrows_it() -> None:
    # survivor looks from 100.0 to 107.0 (a slow status while the cluster reforms); the fence
    # really succeeded at 101.3; the survivor's clock is 5 s ahead, so its line says 106
    reading = ClockReading("survivor", 5.0, 0.002, 0.0, 0)
    uncorrected = Moment(100.0, 107.0, stamp=106.0).t
    corrected = Moment(100.0, 107.0, *_window(reading, 106.0)).t
    assert abs(uncorrected - 101.3) > 5  # fooled: 106.5
    assert abs(corrected - 101.3) <= 0.25  # 101.5
    # a stamp that does not agree with the looks (a wrong offset) is never trusted over them
    assert Moment(100.0, 101.0, *_window(ClockReading("x", -5.0, 0.002, 0.0, 0), 100.0)).t == 100.5


def _window(reading: ClockReading, node_second: float) -> tuple[float, float]:
    low, high = reading.window(node_second, 1.0)
    return low, high - low


def test_an_edge_takes_a_corrected_window() -> None:
    edge = Edge(since=0.0)
    edge.look(False, start=9.0, end=9.5)
    edge.look(True, start=11.0, end=11.6, stamp=(9.998, 11.002))
    assert edge.moment is not None and edge.moment.span == pytest.approx(1.004)
    assert edge.t == pytest.approx((9.998 + 11.002) / 2)


# ---------------------------------------------------------------- ping -D stamps


def _ping_lines(stamps: dict[int, float], transmitted: int, address: str = "10.255.1.1") -> list[str]:
    lines = [f"PING {address} ({address}) 56(84) bytes of data."]
    lines += [f"[{t:.6f}] 64 bytes from {address}: icmp_seq={seq} ttl=64 time=0.100 ms" for seq, t in sorted(stamps.items())]
    received = len(stamps)
    lines += ["", f"--- {address} ping statistics ---",
              f"{transmitted} packets transmitted, {received} received, {100 * (transmitted - received) // transmitted}% packet loss, time 1000ms"]
    return lines


def test_a_vm_outage_is_found_after_the_crash_only_with_the_pingers_clock_corrected() -> None:
    """A crash at 200.0 (controller); the VM was silent from 200.1 to 203.0; one probe was lost
    at 197 before (a blip). The pinging node's clock is 5 s ahead."""
    offset, interval = 5.0, 0.1
    real = {}
    seq = 0
    t = 190.0
    while t < 206.0:
        seq += 1
        if not (196.95 < t < 197.05 or 200.05 < t < 203.0):
            real[seq] = t
        t = round(t + interval, 6)
    lines = _ping_lines({s: at + offset for s, at in real.items()}, seq)
    crash = 200.0
    corrected = PingLog.parse("an-node01", "10.255.1.1", interval, lines, offset=offset).outage_after(crash)
    uncorrected = PingLog.parse("an-node01", "10.255.1.1", interval, lines).outage_after(crash)
    assert corrected is not None and corrected.seconds == pytest.approx(3.0, abs=0.15) and corrected.lost == 29
    assert uncorrected is not None and uncorrected.lost == 1  # fooled: the blip 3 s before the crash is taken for the outage
    assert abs(uncorrected.seconds - 3.0) > 2.5


def test_the_losses_of_a_flood_fall_in_the_right_window_only_corrected() -> None:
    """The backup-lost variant judges each pull on its own: 8 lost around the first pull (t 10),
    6 around the second (t 13), budget 10 per pull. The pinging node's clock is 5 s BEHIND."""
    offset, interval = -5.0, 0.1
    lost = {s for s in range(1, 101) if 10.0 <= 5.0 + (s - 1) * interval < 10.8 or 13.0 <= 5.0 + (s - 1) * interval < 13.6}
    stamps = {s: 5.0 + (s - 1) * interval + offset for s in range(1, 101) if s not in lost}
    text = "\n".join(_ping_lines(stamps, 100, "10.20.0.2"))
    result = PingLog.parse("an-node01", "10.20.0.2", interval, text, offset,
                           target="an-node02", network="bcn", started=5.0, stopped=15.0)
    t_plug = 12.0
    assert (result.lost_between(0.0, t_plug), result.lost_between(t_plug, float("inf"))) == (8, 6)
    fooled = PingLog.parse("an-node01", "10.20.0.2", interval, text,
                           target="an-node02", network="bcn", started=5.0, stopped=15.0)
    assert (fooled.lost_between(0.0, t_plug), fooled.lost_between(t_plug, float("inf"))) == (14, 0)
    assert [n for _, _, n in result.loss_windows()] == [8, 6] and result.loss_windows()[0][0] == pytest.approx(10.0)


class _Stream:
    def __init__(self, lines: list[str]) -> None:
        self._lines = lines

    def lines(self) -> list[str]:
        return self._lines

    def stop(self) -> str:
        return "\n".join(self._lines)


class _Shell:
    name = "an-node02"

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines

    def run(self, cmd: str, timeout: float | None = None, check: bool = True) -> Any:
        raise AssertionError("not used")

    def start_stream(self, cmd: str) -> _Stream:
        return _Stream(self._lines)


def test_a_flood_from_a_node_behind_counts_its_replies_only_corrected() -> None:
    """Before the fault the case waits for replies after t0; from a node 5 s behind, uncorrected,
    none ever comes: the case would stop as 'lab not ready'."""
    now = datetime.now(timezone.utc).timestamp()
    lines = _ping_lines({s: now + s * 0.1 - 5.0 for s in range(1, 11)}, 10, "10.20.0.1")[:-3]
    corrected = Ping(_Shell(lines), "an-node02", "10.20.0.1", 0.1, target="an-node01", network="bcn", offset=-5.0)
    fooled = Ping(_Shell(lines), "an-node02", "10.20.0.1", 0.1, target="an-node01", network="bcn")
    for flood in (corrected, fooled):
        flood.start()
    assert corrected.replies_since(now) == 10
    assert fooled.replies_since(now) == 0
    assert corrected.stop().offset == -5.0


def test_a_ping_watch_reads_its_offset_from_the_labs_clocks() -> None:
    now = 1000.0
    lines = _ping_lines({s: now + s * 0.1 + 5.0 for s in range(1, 11)}, 10)
    controller = FakeController()
    clocks = NodeClocks(lambda node: FakeClockShell(controller, 5.0, [0.002]), ["an-node01"], clock=controller)
    lab = SimpleNamespace(clocks=clocks, node=lambda name: _Shell(lines))
    watch = Ping.on(lab, "an-node01", "10.255.1.1", 0.1).start()
    assert watch.offset == pytest.approx(5.0, abs=0.002)
    assert watch.log().replies[0][1] == pytest.approx(now + 0.1, abs=0.002)
    assert watch.wait_answers(now + 0.5, timeout=0.1, count=5) == pytest.approx(now + 0.6, abs=0.002)


def test_the_summary_describes_each_labs_clocks() -> None:
    from hacert.verdict.summary import build_summary, render_html, render_markdown

    before = Measurement("session start, before the fault", {"n1": ClockReading("n1", 5.0004, 0.0007, 10.0, 0),
                                                              "n2": ClockReading("n2", -4.9996, 0.0009, 10.1, 0)}, 0.02)
    after = Measurement("after the case", {"n1": ClockReading("n1", 5.0010, 0.0006, 50.0, 0),
                                           "n2": ClockReading("n2", -4.9990, 0.0008, 50.1, 0)}, 0.02)
    case = {"id": "suites/test_fencing.py::test_hang_and_fence[n1]", "case": "test_hang_and_fence[n1]", "title": "t",
            "feature": "Fencing", "procedure": "p", "subject": "n1", "verdict": "passed", "status": "passed",
            "numbers": [], "facts": {}, "diagnosis": "", "steps": [], "attachments": [], "started": 1.0,
            "duration_s": 1.0, "worker": "main", "allure": {}, "clocks": case_records("lab1", before, after)}
    lab = {"lab": "lab1", "cluster": "c", "manager": "pacemaker", "nodes": [], "pdus": [], "switches": [], "vms": []}
    summary = build_summary([case], labs=[lab], harness={"version": "x", "commit": "y"})
    clocks = summary["labs"][0]["clocks"]
    assert clocks["n1"]["first"] == pytest.approx(5.0004) and clocks["n2"]["drift_max"] == pytest.approx(0.0006)
    md = render_markdown(summary)
    assert "| n1 | +5.000 s | +5.000 .. +5.001 s | ±0.7 ms | 0.6 ms | 2 (UTC+0 h) |" in md
    assert "| n2 | -5.000 s |" in md and "corrected by it" in md
    assert '<table class="clocks">' in render_html(summary)
