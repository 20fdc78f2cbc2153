"""A lab ends with the run that started it, even when that run dies unable to stop it
(labsim/owner.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from hacert.labsim import owner
from hacert.labsim.owner import watch_owner

from tests.labsim.conftest import ANVIL, REPO


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's reaper may be slow)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != b"Z"


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "60"])


def test_the_watch_fires_when_its_process_ends_and_not_before() -> None:
    proc = sleeper()
    gone = threading.Event()
    watch_owner(proc.pid, gone.set)
    assert not gone.wait(0.5), "the watch fired while its process was alive"
    proc.kill()
    proc.wait()
    assert gone.wait(5), "the watch missed its process's end"


def test_a_process_already_gone_fires_the_watch_at_once() -> None:
    proc = sleeper()
    proc.kill()
    proc.wait()
    gone = threading.Event()
    watch_owner(proc.pid, gone.set)
    assert gone.wait(5)


def test_without_pidfd_the_pid_is_polled(monkeypatch) -> None:
    monkeypatch.delattr(os, "pidfd_open")
    monkeypatch.setattr(owner, "POLL_S", 0.05)
    proc = sleeper()
    gone = threading.Event()
    watch_owner(proc.pid, gone.set)
    assert not gone.wait(0.3)
    proc.kill()
    proc.wait()
    assert gone.wait(5)


STARTER = """
import json, os, sys, time
from hacert.labsim.runner import start_lab
running = start_lab(sys.argv[1], sys.argv[2], cluster=False, timeout=60)
print(json.dumps({"pid": running.pid, "ssh": running.endpoints["nodes"]["an-node01"]["ssh"]["port"]}), flush=True)
time.sleep(600)
"""


def test_a_labsim_whose_starter_was_killed_stops_and_frees_its_ports(tmp_path: Path) -> None:
    """The run is SIGKILLed (no teardown can run): its labsim must not live on."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    starter = subprocess.Popen([sys.executable, "-c", STARTER, ANVIL, str(tmp_path / "lab")],
                               stdout=subprocess.PIPE, env=env, cwd=REPO)
    try:
        line = starter.stdout.readline()  # type: ignore[union-attr]
        assert line, "the starter printed nothing: labsim did not start"
        lab = json.loads(line)
        os.kill(lab["pid"], 0)  # running
        with socket.create_connection(("127.0.0.1", lab["ssh"]), timeout=5) as conn:
            assert conn.recv(4).startswith(b"SSH-")
    finally:
        starter.kill()
        starter.wait()
    deadline = time.monotonic() + 15
    while running(lab["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    if running(lab["pid"]):
        os.kill(lab["pid"], signal.SIGKILL)  # ours: started by this test's starter
        raise AssertionError("labsim outlived the run that started it")
    log = (tmp_path / "lab" / "labsim.log").read_text()
    assert f"the process that started it (pid {starter.pid}) ended" in log and "labsim: stopped" in log
    try:
        socket.create_connection(("127.0.0.1", lab["ssh"]), timeout=2).close()
    except OSError:
        pass
    else:
        raise AssertionError("labsim's SSH port still answers")
