"""One runner API for both labs: labsim's RunningLab and netlab's RunningNetlab are both the
RunningBackend the lab layer holds (hacert.labsim.backend). No lab is started."""

from __future__ import annotations

import inspect
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hacert.labsim.backend import RunningBackend
from hacert.labsim.runner import RunningLab
from hacert.model.inventory import load_inventory
from hacert.netlab.config import Plan
from hacert.netlab.runner import RunningNetlab

REPO = Path(__file__).resolve().parents[2]


def _labsim(tmp_path: Path) -> RunningLab:
    process: Any = subprocess.Popen(["true"])
    process.wait()
    return RunningLab(process, {"event_log": str(tmp_path / "events.jsonl")}, tmp_path, 0.5, tmp_path / "labsim.log")


def _netlab(tmp_path: Path) -> RunningNetlab:
    plan = Plan.of(load_inventory(REPO / "inventories" / "netlab.yaml"), tmp_path)
    return RunningNetlab(plan, None, {"pid": 1, "startup_seconds": 3.0}, tmp_path / "netlab.log")


@pytest.mark.parametrize("make", [_labsim, _netlab], ids=["labsim", "netlab"])
def test_both_runners_are_running_backends(make: Any, tmp_path: Path) -> None:
    running = make(tmp_path)
    assert isinstance(running, RunningBackend)
    for name in ("endpoints", "workdir", "log_path", "event_log", "pid", "startup_seconds"):
        getattr(running, name)  # every property answers
    assert isinstance(running.workdir, Path) and isinstance(running.startup_seconds, float)
    assert list(inspect.signature(running.stop).parameters) == ["timeout"]


def test_what_each_runner_says_of_itself(tmp_path: Path) -> None:
    labsim, netlab = _labsim(tmp_path / "a"), _netlab(tmp_path / "b")
    assert labsim.event_log == tmp_path / "a" / "events.jsonl" and not labsim.alive()
    assert netlab.event_log is None and netlab.pid == 1 and netlab.startup_seconds == 3.0
    assert netlab.stop() == 0, "a netlab only attached to is left running"
    assert not isinstance(object(), RunningBackend)
