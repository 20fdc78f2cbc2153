from __future__ import annotations

import io
import time

import pytest

from hacert.drivers.errors import WaitTimeout
from hacert.observe import waiting
from hacert.observe.waiting import sleep_demanded, wait_for


def test_wait_for_returns_the_value_that_satisfied_it() -> None:
    values = iter([0, 1, 2, 3])
    assert wait_for("the counter to reach 2", lambda: next(values), lambda v: v >= 2, timeout=2, interval=0.01) == 2


def test_wait_for_times_out_naming_what_and_the_last_value() -> None:
    start = time.monotonic()
    with pytest.raises(WaitTimeout) as caught:
        wait_for("an-node02 to fence an-node01", lambda: "an-node01 online", lambda v: v == "fenced", timeout=0.3, interval=0.05)
    elapsed = time.monotonic() - start
    assert 0.3 <= elapsed < 1.0
    assert caught.value.awaited == "an-node02 to fence an-node01"
    assert caught.value.last_seen == "an-node01 online"
    assert "an-node02 to fence an-node01" in str(caught.value) and "an-node01 online" in str(caught.value)


def test_wait_for_retries_only_the_errors_it_is_told_to() -> None:
    def flaky() -> int:
        raise ConnectionError("BMC still booting")

    with pytest.raises(WaitTimeout) as caught:
        wait_for("the BMC to answer", flaky, timeout=0.2, interval=0.05, retry_errors=(ConnectionError,))
    assert isinstance(caught.value.last_seen, ConnectionError)
    with pytest.raises(ConnectionError):
        wait_for("the BMC to answer", flaky, timeout=0.2, interval=0.05)


def test_wait_for_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        wait_for("x", lambda: 1, timeout=0)
    with pytest.raises(ValueError):
        sleep_demanded(-1, "x")


def test_long_waits_show_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(waiting.live._STATE, "sink", None)  # no plugin's sink: the wait shows itself on stderr
    monkeypatch.setattr(waiting, "PROGRESS_AFTER", 0.1)
    monkeypatch.setattr(waiting, "PROGRESS_EVERY", 0.05)
    monkeypatch.setattr(waiting.sys, "stderr", stream)
    sleep_demanded(0.3, "the five-minute soak after pulling bond0")
    lines = stream.getvalue().splitlines()
    assert lines and all(line.startswith("hacert: the five-minute soak after pulling bond0:") for line in lines)
    assert "elapsed" in lines[-1] and "left" in lines[-1]
    stream.truncate(0)
    stream.seek(0)
    with pytest.raises(WaitTimeout):
        wait_for("sw1 to boot", lambda: False, timeout=0.3, interval=0.02)
    assert "hacert: waiting for sw1 to boot:" in stream.getvalue()


def test_short_waits_are_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(waiting.live._STATE, "sink", None)
    monkeypatch.setattr(waiting.sys, "stderr", stream)
    sleep_demanded(0.05, "updelay")
    assert stream.getvalue() == ""


def test_sleep_demanded_sleeps_that_long() -> None:
    start = time.monotonic()
    sleep_demanded(0.2, "the bond's updelay", progress=False)
    assert 0.2 <= time.monotonic() - start < 0.5


def test_wait_for_keeps_its_cadence_and_looks_once_more_at_the_deadline() -> None:
    """A probe that takes part of the interval is not followed by a whole interval's sleep, and the
    last look comes at the deadline (not one interval before it)."""
    calls: list[float] = []

    def slow_probe() -> bool:
        calls.append(time.monotonic())
        time.sleep(0.04)
        return False

    start = time.monotonic()
    with pytest.raises(WaitTimeout):
        wait_for("the slow thing", slow_probe, timeout=0.5, interval=0.1, progress=False)
    assert 5 <= len(calls) <= 7  # every 0.1 s (6 looks), not every 0.14 s
    assert calls[-1] - start >= 0.45  # the last look at the deadline
