"""`python -m hacert.netlab up` leaves a supervisor running (`python -m hacert.netlab _serve ...`); a suite
run attaches to it and `netlab down` stops it only if they recognise it. Matching only the module's old
name (`netlab`), every run on a lab `netlab up` had started tore it down and built its own, which failed
with its ports still held (the stamina benchmark's first run: 37 lab errors)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from hacert.netlab.ns import _is_netlab_supervisor


def _sleeper(*extra: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", *extra])
    deadline = time.monotonic() + 5
    while b"time.sleep" not in Path(f"/proc/{proc.pid}/cmdline").read_bytes():  # exec'd yet?
        assert time.monotonic() < deadline, "the process never showed its argv"
        time.sleep(0.01)
    return proc


@pytest.mark.parametrize("argv, expected", [
    (("-m", "hacert.netlab", "_serve", "inventories/netlab.yaml"), True),
    (("-m", "netlab", "_serve", "inventories/netlab.yaml"), True),
    (("-m", "hacert.netlab", "up", "inventories/netlab.yaml"), False),
    (("-m", "hacert.labsim", "_serve"), False),
])
def test_the_supervisor_is_recognised_by_its_argv(argv: tuple[str, ...], expected: bool) -> None:
    proc = _sleeper(*argv)
    try:
        assert _is_netlab_supervisor(proc.pid) is expected
    finally:
        proc.kill()
        proc.wait()
    assert not _is_netlab_supervisor(proc.pid)
