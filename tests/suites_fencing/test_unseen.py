"""No check of the fencing and cold-start suites passes on silence, and none is met late:

- the outlet sampler of a PDU that stops answering reads no "outlet cut" and no "stayed on":
  the span it did not see is a lab error (inconclusive for an answer no one reads);
- a fence, a rejoin, a cluster state seen by a look that began before the deadline but measured
  after it fails the case;
- the cold start's "nothing was fenced" needs every node's syslog, and a cluster no node gave a
  status of is a lab error, not a cluster that failed to start; garbage lines are skipped and counted.

No lab needed: plain fakes (tests/suites_fencing/fake_lab.py).
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from hacert.drivers.cluster.base import ClusterStatus
from hacert.drivers.errors import CommandFailed, DeviceUnreachable
from hacert.model.inventory import load_inventory
from hacert.observe.coverage import Unobserved, raise_unseen
from hacert.observe.lines import SkippedLines
from hacert.verdict.verdicts import Verdict, verdict_of
from hacert.drivers.errors import ClusterFailure
from hacert.observe.moments import Edge
from hacert.observe.devices import DeviceSampler
from hacert.observe.fence_watch import FenceWatch
from hacert.procedures.cold_start import fences_logged, wait_cluster
from hacert.procedures.fencing import judge_fenced_in_time, wait_rejoined

from tests.suites_fencing.fake_lab import FakeCluster, FakeLab, FakeState
from tests.suites_fencing.harness import ANVIL

GARBAGE = ["Dec  6 23:39", "\x00\x00\x1f\ufffd\x08\x00\ufffd\ufffd\x7fELF0001", '{"ts":"2026-12-06T23:39:46Z","level":"warn"}',
           "\tat org.example.collector.Worker.run(Worker.java:103)"]


@pytest.fixture(scope="module")
def inv() -> Any:
    return load_inventory(ANVIL)


# ---------------------------------------------------------------- the outlet sampler


class _Pdu:
    def __init__(self, mode: dict[str, str]) -> None:
        self.mode = mode

    def outlet_status(self, n: int) -> str:
        if self.mode["now"] == "dead":
            raise DeviceUnreachable("pdu2", "127.0.0.1:16100", f"read outlet {n}", "no SNMP answer")
        if self.mode["now"] == "garbage":
            raise ValueError("an answer no parser reads")
        return "on"


@pytest.mark.parametrize(("mode", "verdict"), [("dead", Verdict.LAB_ERROR), ("garbage", Verdict.INCONCLUSIVE)])
def test_an_outlet_that_was_not_read_neither_stayed_on_nor_was_cut(inv: Any, mode: str, verdict: Verdict) -> None:
    node = inv.node("an-node01")
    state = {"now": mode}
    sampler = DeviceSampler(SimpleNamespace(pdu=lambda name: _Pdu(state)), node, interval=0.01, bmc=False)
    t0 = time.time()
    sampler.start()
    time.sleep(0.3)
    end = time.time()
    outlet = sampler.outlets[0]
    assert sampler.first_dark(outlet, t0, end) is None  # a PDU not answering is no outlet cut (no cluster failure)
    unseen = sampler.unseen(outlet, t0, end, f"{outlet} was cut during the fence", t0, longest=0.2)
    with pytest.raises(Exception) as caught:
        raise_unseen(unseen)
    assert verdict_of(caught.value) == verdict
    assert f"the sampler of {outlet} saw nothing from +0.0 s" in str(caught.value)
    if mode == "dead":
        assert isinstance(caught.value, Unobserved) and caught.value.device == "pdu2"
    state["now"] = "ok"  # the sampler went on and reads again
    deadline = time.monotonic() + 2
    while not sampler.seen(outlet, "on") and time.monotonic() < deadline:
        time.sleep(0.01)
    sampler.stop()
    assert sampler.seen(outlet, "on")


# ---------------------------------------------------------------- deadlines judged on the measured moment


def test_a_fence_measured_just_past_its_deadline_fails(inv: Any) -> None:
    limit = inv.expectations.fence_timeout
    t0 = 1_700_000_000.0
    watch = FenceWatch(SimpleNamespace(inventory=inv), inv.node("an-node01"), ["an-node02"], t0)
    watch.succeeded = Edge(t0)
    watch.succeeded.look(False, start=t0 + limit - 0.05, end=t0 + limit - 0.04)
    watch.succeeded.look(True, start=t0 + limit, end=t0 + limit + 0.1)  # this look began at the deadline
    assert watch.succeeded.t == pytest.approx(t0 + limit + 0.025)
    with pytest.raises(ClusterFailure, match=rf"no fence of an-node01 within {limit:g} s of the hang: it was fenced "):
        judge_fenced_in_time(watch, t0, "the hang")
    watch.succeeded = Edge(t0)
    watch.succeeded.look(True, start=t0 + limit - 0.2, end=t0 + limit - 0.1)
    judge_fenced_in_time(watch, t0, "the hang")  # measured in time: nothing to say


class _SlowToRejoin(FakeCluster):
    """The victim comes back online during a look that begins before the deadline and ends long after it."""

    def __init__(self, state: FakeState, victim: str) -> None:
        super().__init__(state)
        self.victim = victim
        self.looks = 0

    def status(self, via: str | None = None) -> ClusterStatus:
        self.looks += 1
        if self.looks >= 2:
            time.sleep(0.6)
            self.state.members[self.victim] = True
        return super().status(via)


def test_a_rejoin_measured_after_its_deadline_fails_though_its_look_began_in_time(inv: Any) -> None:
    state = FakeState.healthy(inv)
    state.members["an-node01"] = False
    lab = FakeLab(state)
    lab.cluster = _SlowToRejoin(state, "an-node01")
    watch = FenceWatch.mark(lab, inv.node("an-node01"))
    watch.status = FakeCluster(state).status("an-node02")
    after = time.time() - inv.expectations.rejoin_timeout + 0.15  # the deadline is 0.15 s away
    with pytest.raises(ClusterFailure, match=r"an-node01 did not rejoin the cluster within .* s of its fence: it rejoined "):
        wait_rejoined(watch, after, "its fence")
    assert lab.cluster.looks == 2


# ---------------------------------------------------------------- the cold start's looks


def _status_lab(inv: Any, status: Any) -> Any:
    return SimpleNamespace(inventory=inv, cluster=SimpleNamespace(status=status))


def test_the_cold_start_wait_judges_the_measured_moment(inv: Any) -> None:
    state = FakeState.healthy(inv)
    looks = {"n": 0}

    def status(via: str | None = None) -> ClusterStatus:
        looks["n"] += 1
        if looks["n"] >= 2:
            time.sleep(0.6)
        return FakeCluster(state).status(via)

    with pytest.raises(ClusterFailure, match=r"every VM started: not within 0.2 s \(only 0\.\d s after\)"):
        wait_cluster(_status_lab(inv, status), ["an-node01"], "every VM started", 0.2, lambda s: looks["n"] >= 2)
    looks["n"] = 0
    # met at the first look: a deadline no loaded CI machine misses (0.2 s was missed once)
    status_seen, at = wait_cluster(_status_lab(inv, lambda via=None: FakeCluster(state).status(via)), ["an-node01"],
                                    "every VM started", 5.0, lambda s: True)
    assert status_seen.quorate and at <= time.time()


def test_a_cluster_no_node_gave_a_status_of_is_not_a_cluster_that_failed(inv: Any) -> None:
    def unreachable(via: str | None = None) -> Any:
        raise DeviceUnreachable(via or "?", "127.0.0.1:2201", "clustat", "connection refused")

    with pytest.raises(Unobserved, match="the cluster's status saw nothing"):
        wait_cluster(_status_lab(inv, unreachable), ["an-node01", "an-node02"], "every VM disabled", 0.3, lambda s: True)

    def refused(via: str | None = None) -> Any:  # the node answers: its cluster is not up
        raise CommandFailed(via or "?", "127.0.0.1:2201", "clustat -x", 1, "", "Could not connect to CMAN")

    with pytest.raises(ClusterFailure, match="every VM disabled: not within 0.3 s"):
        wait_cluster(_status_lab(inv, refused), ["an-node01", "an-node02"], "every VM disabled", 0.3, lambda s: True)


def test_nothing_fenced_needs_every_syslog_and_garbage_hides_no_fence(inv: Any) -> None:
    state = FakeState.healthy(inv)
    lab = FakeLab(state)
    marks = {name: lab.node(name).syslog_mark() for name in ("an-node01", "an-node02")}
    state.syslog["an-node01"] += [GARBAGE[0], "Dec  6 23:39:50 an-node01 fenced[2280]: fencing node an-node02", *GARBAGE[1:],
                                  "Dec  6 23:39:55 an-node01 fenced[2280]: fence an-node02 success"]
    state.ssh_down.add("an-node02")
    unread: dict[str, Any] = {}
    skipped = SkippedLines("syslog")
    assert fences_logged(lab, marks, unread, skipped) == ["an-node02 fenced by an-node01"]
    assert set(unread) == {"an-node02"} and isinstance(unread["an-node02"], DeviceUnreachable)
    assert skipped.count == 4
