"""No check of the VM suites passes on silence: a domain poller whose every `virsh` failed, a ping
that printed nothing or stopped printing, leave the case a lab error or inconclusive — never "it
never stopped" or "no outage". A state seen by a look that began before the deadline but measured
after it is not met. Lines no parser knows are skipped and counted. No lab needed."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from hacert.drivers.errors import DeviceUnreachable
from hacert.drivers.parsers import ParseError
from hacert.observe.coverage import Unobserved, raise_unseen
from hacert.verdict.verdicts import Verdict, verdict_of
from hacert.drivers.errors import Inconclusive
from hacert.observe.cluster_view import watch_cluster
from hacert.observe.domains import DomainPoller
from hacert.observe.ping import Ping, PingLog
from hacert.drivers.node import SyslogMark
from hacert.observe.syslog_window import SyslogWindow

from tests.suites_vm.test_vm_helpers import LINES

GARBAGE = ["Dec  6 23:39", "\x00\x00\x1f\ufffd\x08\x00\ufffd\ufffd\x7fELF0001", '{"ts":"2026-12-06T23:39:46Z","level":"warn"}',
           "\tat org.example.collector.Worker.run(Worker.java:103)"]


class _Virsh:
    def __init__(self, mode: dict[str, str]) -> None:
        self.mode = mode

    def state(self, vm: str) -> str | None:
        if self.mode["now"] == "dead":
            raise DeviceUnreachable("an-node02", "127.0.0.1:2202", f"virsh domstate {vm}", "connection reset by peer")
        if self.mode["now"] == "garbage":
            raise ParseError("virsh domstate: unexpected output", "\x00\x7fELF")
        return "running"


@pytest.mark.parametrize(("mode", "verdict"), [("dead", Verdict.LAB_ERROR), ("garbage", Verdict.INCONCLUSIVE)])
def test_a_domain_poller_whose_every_virsh_failed_never_says_the_vm_never_stopped(mode: str, verdict: Verdict) -> None:
    state = {"now": mode}
    lab = SimpleNamespace(virsh=lambda node: _Virsh(state))
    poller = DomainPoller(lab, "vm0001-dev", "an-node01", "an-node02", interval=0.01)
    started = time.time()
    poller.start()
    time.sleep(0.3)
    moved = time.time()
    assert poller._thread.is_alive(), "a failing virsh must not end the poller"
    state["now"] = "ok"  # the poller goes on and reads again once virsh answers
    deadline = time.monotonic() + 2
    while not poller.samples and time.monotonic() < deadline:
        time.sleep(0.01)
    poller.stop()
    assert poller.samples and poller.stopped_at() == []  # what the case used to read as "it never stopped"
    unseen = poller.unseen(started, moved, t0=started, longest=0.2)
    with pytest.raises(Exception) as caught:
        raise_unseen(unseen)
    assert verdict_of(caught.value) == verdict
    assert "the domain state poller of vm0001-dev (an-node01, an-node02) saw nothing from +0.0 s" in str(caught.value)
    assert "vm0001-dev stopped between an-node01 and an-node02" in str(caught.value)
    if mode == "dead":
        assert isinstance(caught.value, Unobserved) and caught.value.device == "an-node02"
    # once it reads again, the same check over the readings has nothing to say
    assert poller.unseen(poller.samples[0][0], poller.samples[-1][0], longest=0.2) == []


class _Stream:
    def __init__(self, lines: list[str]) -> None:
        self._lines = lines
        self.alive = True

    def lines(self) -> list[str]:
        return list(self._lines)

    def stop(self) -> str:
        self.alive = False
        return "\n".join(self._lines) + "\n"


def _ping(lines: list[str]) -> Ping:
    shell = SimpleNamespace(start_stream=lambda cmd: _Stream(lines))
    return Ping.on(SimpleNamespace(node=lambda name: shell), "an-node02", "10.254.0.1", 0.05, "vm0001-dev").start()


def test_a_ping_that_prints_nothing_is_no_silence_of_the_vm() -> None:
    ping = _ping([])
    with pytest.raises(Inconclusive, match="the ping of 10.254.0.1 from an-node02 printed no probe for 0.3 s"):
        ping.wait_answers(time.time(), timeout=0.3)
    with pytest.raises(Inconclusive, match="printed no probe"):
        ping.wait_back(time.time(), timeout=0.3)
    ping.started -= 10  # ran ten seconds, printed nothing: every judgement on it rests on nothing
    ping.opened = ping.started
    (unseen,) = ping.unseen("vm0001-dev went silent")
    assert 10 <= unseen.seconds < 11


def test_a_ping_that_went_on_printing_unanswered_probes_saw_a_silent_vm() -> None:
    lines = ["PING 10.254.0.1 (10.254.0.1) 56(84) bytes of data."]
    ping = _ping(lines)
    t = time.time()
    for seq in range(1, 8):  # the VM answers nothing; ping says so probe after probe
        lines.append(f"[{t + seq * 0.05:.6f}] no answer yet for icmp_seq={seq}")
    stream = ping._stream
    stream._lines = lines[:2]

    def grow() -> None:
        stream._lines = lines[: len(stream._lines) + 1]

    growing = threading.Timer(0.1, grow)
    growing.start()
    assert ping.wait_answers(t, timeout=0.4) is None  # the VM is silent: a finding, not an unseen span
    growing.join()


def test_ping_lines_no_parser_knows_are_skipped_one_by_one_and_counted() -> None:
    lines = list(LINES)
    lines[3:3] = GARBAGE
    log = PingLog.parse("an-node02", "10.254.0.1", 0.05, lines)
    clean = PingLog.parse("an-node02", "10.254.0.1", 0.05, LINES)
    assert (log.transmitted, log.lost_seqs(), log.replies) == (clean.transmitted, clean.lost_seqs(), clean.replies)
    assert log.skipped.count == 4 and log.skipped.samples[0] == ("an-node02", "Dec  6 23:39")


def test_a_silence_still_going_on_when_the_ping_stopped_counts_as_a_gap() -> None:
    lines = LINES[:3] + [f"[{100.05 + 0.05 * n:.6f}] no answer yet for icmp_seq={n}" for n in range(3, 60)]
    log = PingLog.parse("an-node02", "10.254.0.1", 0.05, lines)
    # the VM answered twice, then never again: 57 probes unanswered when the ping stopped
    assert log.longest_silence() == pytest.approx(57 * 0.05)


def test_a_state_measured_after_the_deadline_is_not_met_though_its_look_began_in_time() -> None:
    calls = {"n": 0}

    def status(via: str) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            return SimpleNamespace(online=False)
        time.sleep(0.6)  # the second look begins before the deadline and ends well after it
        return SimpleNamespace(online=True)

    lab = SimpleNamespace(cluster=SimpleNamespace(status=status))
    began = time.time()
    look = watch_cluster(lab, ["an-node01"], lambda s: s.online, timeout=0.2)
    assert calls["n"] == 2 and look.status.online
    assert look.late and not look.met
    assert look.moment is not None and look.moment.t > began + 0.2
    assert look.when(began).startswith(" (it came only 0.")
    calls["n"] = 1  # the same state seen by a quick look: in time
    look = watch_cluster(SimpleNamespace(cluster=SimpleNamespace(status=lambda via: SimpleNamespace(online=True))),
                         ["an-node01"], lambda s: s.online, timeout=0.2)
    assert look.met and not look.late and look.when(0.0) == ""


def test_a_syslog_window_counts_its_garbage_and_names_what_it_could_not_read() -> None:
    texts = {"an-node01": "\n".join(["Dec  6 23:39:50 an-node01 kernel: hello", *GARBAGE]) + "\n"}

    def shell(node: str) -> Any:
        def mark(path: str) -> SyslogMark:
            return SyslogMark(path, 0)

        def since(mark: SyslogMark) -> list[str]:
            if node == "an-node02":
                raise DeviceUnreachable(node, "127.0.0.1:2202", "read syslog", "connection reset by peer")
            return [line for line in texts[node].splitlines() if line]
        return SimpleNamespace(syslog_mark=mark, syslog_since=since)

    lab = SimpleNamespace(inventory=SimpleNamespace(nodes=[]), node=shell)
    window = SyslogWindow(lab, nodes=["an-node01", "an-node02"])  # an-node02 answered when the case began, not any more
    lines = window.lines()
    assert window.skipped(lines).count == 4
    (unseen,) = window.unseen(["an-node01", "an-node02"], "{node} logged the fence", time.time())
    with pytest.raises(Unobserved, match="an-node02's syslog saw nothing .*an-node02 logged the fence"):
        raise_unseen([unseen])


def test_a_ping_slower_than_its_interval_but_printing_to_the_end_saw_the_whole_run() -> None:
    """On a loaded node ping sends less often than its interval: its stamps, not its probe count,
    say how far its output reaches; a ping that stopped printing early still leaves the end unseen."""
    t0 = time.time() - 10
    slow = [f"[{t0 + seq * 0.1:.6f}] 64 bytes from 10.254.0.1: icmp_seq={seq} ttl=64 time=0.1 ms" for seq in range(1, 100)]
    ping = _ping(slow)  # 99 probes in 10 s at a nominal 0.05 s: 5 s by count, the whole run by stamps
    ping.started = ping.opened = t0
    assert ping.unseen("vm0001-dev went silent") == []
    early = _ping(slow[:30])  # stopped printing after 3 s of the 10
    early.started = early.opened = t0
    (unseen,) = early.unseen("vm0001-dev went silent")
    assert 6.5 < unseen.seconds < 7.5
