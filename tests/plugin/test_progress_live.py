"""Live progress: a case soaking for several seconds shows where it is, on a terminal, in a CI log,
under xdist, and in the status file; nothing with -q -q."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hacert.observe import progress as live

ROOT = Path(__file__).resolve().parents[2]
SOAK_S = 6

SUITE = '''\
from hacert.observe.waiting import sleep_demanded


def test_{name}_power_cycle(record):
    record.title("{name} power cycle")
    with record.step("restore the power of {name}"):
        with record.step("soak"):
            sleep_demanded({soak}, "{soak} s after {name}'s power came back")
'''

CLOCK = re.compile(r"(\d+):(\d\d) of (\d+):(\d\d)")


def _suite(tmp_path: Path, *names: str) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    for name in names:
        (tmp_path / f"test_{name}.py").write_text(SUITE.format(name=name, soak=SOAK_S))
    return tmp_path


def _argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:hacert", "-p", "hacert.fixtures.plugins", "-p", "no:cacheprovider",
            "-p", "no:hypothesispytest", *args]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.pop("CI", None)
    return env


def _elapsed(line: str) -> int:
    found = CLOCK.search(line)
    assert found, line
    return int(found.group(1)) * 60 + int(found.group(2))


def test_the_line_reads_like_the_procedure() -> None:
    snap = live.Snapshot(case="sw1 power cycle", step="soak", awaited="no flapping", elapsed=161.4, total=300.0,
                         detail="0 pings lost")
    assert snap.line() == "sw1 power cycle · soak · no flapping · 2:41 of 5:00 · 0 pings lost"
    assert live.clock(3723) == "1:02:03"
    assert live.Snapshot(case="hang an-node01", case_elapsed=12).line() == "hang an-node01 · case 0:12"


def test_steps_nest_and_no_sink_costs_nothing() -> None:
    shown: list[live.Snapshot] = []

    class Sink:
        def show(self, snapshot: live.Snapshot) -> None:
            shown.append(snapshot)

        def clear(self) -> None:
            shown.append(None)  # type: ignore[arg-type]

    previous = live.install(None)  # (under xdist this very process has the worker's sink)
    try:
        assert live.waiting("x", 1, 2) is False  # nobody shows it: the caller shows it its own way
        live.install(Sink())
        live.case_started("test_hang[an-node01]")
        live.case_title("hang an-node01")
        with live.step("hang an-node01"):
            with live.step("wait for an-node02 to fence it"):
                assert live.waiting("an-node02 to fence an-node01", 3, 60) is True
            assert live.waiting("an-node01 to rejoin", 1, 120) is True
        live.waited()
        live.case_finished()
    finally:
        live.install(previous)
    # the case's start and every step show at once; the waits show where they are
    assert [(s.step, s.awaited) for s in shown[:5]] == [
        ("", ""), ("hang an-node01", ""), ("wait for an-node02 to fence it", ""),
        ("wait for an-node02 to fence it", "an-node02 to fence an-node01"), ("hang an-node01", "an-node01 to rejoin")]
    assert shown[3].line() == "hang an-node01 · wait for an-node02 to fence it · an-node02 to fence an-node01 · 0:03 of 1:00"
    assert shown[1].line().startswith("hang an-node01 · hang an-node01 · case 0:0")
    assert shown[-1] is None and live.snapshot() is None


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux's `script` for a pseudo-terminal")
def test_on_a_terminal_one_line_changes_in_place_during_the_soak(tmp_path: Path) -> None:
    suite = _suite(tmp_path, "sw1")
    command = " ".join(_argv("test_sw1.py"))
    done = subprocess.run(["script", "-qfec", command, "/dev/null"], cwd=suite, env=_env() | {"COLUMNS": "200"},
                          capture_output=True, timeout=120)
    out = done.stdout.decode()  # bytes: universal newlines would turn the \r into \n
    assert done.returncode == 0, out + done.stderr.decode()
    assert "\r\x1b[K" in out
    first, last = out.index("hacert: sw1 power cycle"), out.rindex("hacert: sw1 power cycle")
    rewritten = out[first:last]
    assert "\n" not in rewritten  # one line, rewritten in place
    frames = [f for f in out[first:].split("\r\x1b[K")
              if f.startswith("hacert: sw1 power cycle · soak · 6 s after sw1's power came back · ")]
    seconds = [_elapsed(f) for f in frames]
    assert len(set(seconds)) >= SOAK_S - 2, frames  # it moved during the soak
    assert seconds == sorted(seconds) and all(CLOCK.search(f).group(3, 4) == ("0", "06") for f in frames)
    tail = out[last:]
    assert "\r\x1b[K" in tail and "1 passed" in tail  # taken off the screen before pytest's own report


def test_to_a_pipe_plain_lines_at_a_steady_pace(tmp_path: Path) -> None:
    suite = _suite(tmp_path, "sw1")
    started = time.monotonic()
    proc = subprocess.Popen(_argv("test_sw1.py", "--progress-every", "1"), cwd=suite, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    arrivals: list[tuple[float, str]] = []
    for line in proc.stdout:
        if line.startswith("hacert: sw1 power cycle"):
            arrivals.append((time.monotonic() - started, line.rstrip("\n")))
    assert proc.wait(timeout=120) == 0
    lines = [text for _, text in arrivals]
    assert "\r" not in "".join(lines) and "\x1b" not in "".join(lines)
    assert len(lines) >= SOAK_S - 2, lines
    assert _elapsed(lines[0]) >= 1  # the first one a period into the case: a short case prints none
    seconds = [_elapsed(text) for text in lines]
    steps = [b - a for a, b in zip(seconds, seconds[1:])]
    assert all(1 <= s <= 2 for s in steps), lines  # one a second, as asked
    gaps = [b - a for (a, _), (b, _) in zip(arrivals, arrivals[1:])]
    assert all(0.5 <= g <= 2.5 for g in gaps), gaps  # they reached the pipe as they were written


def test_nothing_with_q_q(tmp_path: Path) -> None:
    suite = _suite(tmp_path, "sw1")
    done = subprocess.run(_argv("test_sw1.py", "-qq", "--progress-every", "1"), cwd=suite, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "power cycle" not in done.stdout + done.stderr


def test_under_xdist_the_workers_cases_reach_the_controller_and_the_status_file(tmp_path: Path) -> None:
    suite = _suite(tmp_path, "sw1", "sw2")
    status = tmp_path / "elsewhere" / "status.json"
    proc = subprocess.Popen(_argv("-n", "2", "--progress-every", "1", "--status-file", str(status)), cwd=suite,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[dict] = []
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            seen.append(json.loads(status.read_text()))
        except (OSError, ValueError):
            pass
        time.sleep(0.3)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, out
    for name in ("sw1", "sw2"):
        assert re.search(rf"^hacert: \[gw[01]\] {name} power cycle · soak · .* · 0:0[2-5] of 0:06$", out, re.M), out
    during = [s for s in seen if not s["finished"] and len(s["running"]) == 2]
    assert during, seen
    running = {r["case"]: r for r in during[-1]["running"]}
    assert set(running) == {"sw1 power cycle", "sw2 power cycle"}
    assert {r["step"] for r in running.values()} == {"soak"} and all(r["total_s"] == SOAK_S for r in running.values())
    final = json.loads(status.read_text())
    assert final["finished"] and final["running"] == [] and final["verdicts"] == {"passed": 2}
    assert sorted(c["case"] for c in final["cases"]) == ["test_sw1.py::test_sw1_power_cycle", "test_sw2.py::test_sw2_power_cycle"]


def test_a_long_wait_reports_to_the_sink_not_to_stderr(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from hacert.drivers.errors import WaitTimeout
    from hacert.observe import waiting

    shown: list[live.Snapshot] = []

    class Sink:
        def show(self, snapshot: live.Snapshot) -> None:
            shown.append(snapshot)

        def clear(self) -> None:
            pass

    monkeypatch.setattr(waiting, "PROGRESS_AFTER", 0.1)
    previous = live.install(Sink())
    try:
        live.case_started("test_switch_power_cycle[sw1]")
        with live.step("cut the power of sw1"), pytest.raises(WaitTimeout):
            waiting.wait_for("bond0 on an-node01 to fail over", lambda: False, timeout=0.4, interval=0.05)
        assert live.snapshot() is not None and live.snapshot().awaited == ""  # the wait ended
        live.case_finished()
    finally:
        live.install(previous)
    waits = [s for s in shown if s.awaited]
    assert len(waits) >= 4 and {s.awaited for s in waits} == {"waiting for bond0 on an-node01 to fail over"}
    assert waits[-1].total == 0.4 and waits[-1].step == "cut the power of sw1"
    assert capsys.readouterr().err == ""


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux's `script` for a pseudo-terminal")
def test_on_a_terminal_under_xdist_every_worker_fits_on_the_line(tmp_path: Path) -> None:
    suite = _suite(tmp_path, "sw1", "sw2")
    command = " ".join(_argv("-n", "2"))
    done = subprocess.run(["script", "-qfec", command, "/dev/null"], cwd=suite, env=_env() | {"COLUMNS": "100"},
                          capture_output=True, timeout=120)
    out = done.stdout.decode()
    assert done.returncode == 0, out
    frames = [f.split("\r")[0] for f in out.split("\r\x1b[K") if f.startswith("hacert: [gw")]
    both = [f for f in frames if "sw1 power cycle · soak · " in f and "sw2 power cycle · soak · " in f]
    assert both, frames  # shortened (case, step, clock) rather than cut
    assert all(len(f) <= 99 for f in frames) and len({CLOCK.search(f).group(0) for f in both}) >= 2
