"""Ctrl-C ends a run as interrupted (pytest's exit code 2), even when the code it lands in
swallows the KeyboardInterrupt or turns it into a failure, as a driver's event loop may."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hacert.suite_runs import REPO, default_sigint

SWALLOWS_CTRL_C = '''
import os, signal, time
import pytest

def test_a_driver_turns_ctrl_c_into_a_failure():
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(2)
    except KeyboardInterrupt:
        pytest.fail("the request was cut short")
'''


def _run(tmp_path: Path, *plugins: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_swallow.py").write_text(SWALLOWS_CTRL_C)
    args = [arg for plugin in plugins for arg in ("-p", plugin)]
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hacert", *args,
                           "--rootdir", str(tmp_path), str(tmp_path / "test_swallow.py")],
                          cwd=tmp_path, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60, preexec_fn=default_sigint)


def test_without_hacert_the_swallowed_ctrl_c_is_a_mere_failure(tmp_path: Path) -> None:
    assert _run(tmp_path).returncode == 1


def test_with_hacert_the_run_exits_as_interrupted(tmp_path: Path) -> None:
    done = _run(tmp_path, "hacert.fixtures.guard")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
