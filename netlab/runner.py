"""Starting and stopping a netlab from another process (the CLI, the pytest plugin, the tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hacert.model.inventory import Inventory, load_inventory

from .config import NetlabError, Plan
from . import ns

REPO = Path(__file__).resolve().parent.parent


def _plan(inventory: str | os.PathLike[str] | Inventory, workdir: str | os.PathLike[str] | None) -> Plan:
    inv = inventory if isinstance(inventory, Inventory) else load_inventory(inventory)
    if inv.netlab is None:
        raise NetlabError(f"inventory of lab {inv.lab} has no 'netlab:' section")
    return Plan.of(inv, Path(workdir) if workdir else None)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class RunningNetlab:
    """A netlab supervisor started by `start_netlab`: `.endpoints` (labsim's shape), `.stop()`;
    a hacert.labsim.backend.RunningBackend, as labsim's RunningLab is."""

    def __init__(self, plan: Plan, proc: subprocess.Popen[bytes] | None, endpoints: dict[str, Any], log_path: Path) -> None:
        self.plan, self.proc, self.endpoints, self.log_path = plan, proc, endpoints, log_path
        self.event_log: Path | None = None  # netlab's own record of its actions: endpoints["netlab_events"]
        self.owned = proc is not None  # False: attached to a lab `netlab up` started; stop() leaves it up

    @property
    def workdir(self) -> Path:
        return self.plan.workdir

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else int(self.endpoints["pid"])

    @property
    def startup_seconds(self) -> float:
        return float(self.endpoints.get("startup_seconds", 0.0))

    def alive(self) -> bool:
        if self.proc is None:
            return ns._is_netlab_supervisor(self.pid)
        return self.proc.poll() is None

    def stop(self, timeout: float = 90.0) -> int:
        """SIGTERM the supervisor (it tears the lab down), then sweep whatever is left.
        A lab this object only attached to is left running."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        left = ns.sweep(self.plan.prefix)
        if left:
            raise NetlabError("netlab down left: " + ", ".join(left))
        return self.proc.returncode


def attach(plan: Plan) -> RunningNetlab | None:
    """The lab `netlab up` left running for this inventory, if its supervisor is alive and ready."""
    try:
        endpoints = json.loads((plan.workdir / "endpoints.json").read_text())
        state = json.loads((plan.workdir / "state.json").read_text())
    except (OSError, ValueError):
        return None
    if endpoints.get("pid") != state.get("pid") or not ns._is_netlab_supervisor(int(state["pid"])):
        return None
    return RunningNetlab(plan, None, endpoints, plan.workdir / "netlab.log")


def start_netlab(inventory: str | os.PathLike[str] | Inventory, workdir: str | os.PathLike[str] | None = None,
                 timeout: float | None = None, reuse: bool = True, outlive_caller: bool = False) -> RunningNetlab:
    """Build the lab in a detached supervisor and wait until it is ready. With `reuse`, a lab
    of this inventory already up (`python -m hacert.netlab up`) is attached to instead (and left up).
    The supervisor tears the lab down if this process ends without stopping it (labsim/owner.py),
    unless `outlive_caller` (`netlab up`)."""
    plan = _plan(inventory, workdir)
    ns.require()
    source = plan.inventory.source
    if source is None:
        raise NetlabError("netlab needs the inventory's file")
    if reuse:
        running = attach(plan)
        if running is not None:
            return running
    down(plan.inventory, workdir)
    plan.workdir.mkdir(parents=True, exist_ok=True)
    plan.workdir.chmod(0o700)  # secrets (endpoints.json) and the nodes' sysrq FIFOs live here
    log_path = plan.workdir / "netlab.log"
    endpoints = plan.workdir / "endpoints.json"
    endpoints.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "hacert.netlab", "_serve", str(source), "--workdir", str(plan.workdir.parent)]
    if not outlive_caller:
        argv += ["--owner", str(os.getpid())]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=REPO, env=env,
                                start_new_session=True)
    deadline = time.monotonic() + (timeout or plan.settings.ready_timeout + 30)
    while not endpoints.exists():
        if proc.poll() is not None:
            raise NetlabError(f"netlab exited ({proc.returncode}) before it was ready:\n{_tail(log_path)}")
        if time.monotonic() > deadline:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            ns.sweep(plan.prefix)
            raise NetlabError(f"netlab was not ready in time:\n{_tail(log_path)}")
        time.sleep(0.2)
    return RunningNetlab(plan, proc, json.loads(endpoints.read_text()), log_path)


def down(inventory: str | os.PathLike[str] | Inventory, workdir: str | os.PathLike[str] | None = None,
         timeout: float = 90.0) -> list[str]:
    """Stop the lab's supervisor if one runs, then remove everything with the lab's prefix.
    Returns what is left (empty: clean)."""
    plan = _plan(inventory, workdir)
    state = plan.workdir / "state.json"
    pid = None
    try:
        pid = int(json.loads(state.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        pass
    if pid and ns._is_netlab_supervisor(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while ns._is_netlab_supervisor(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    left = ns.sweep(plan.prefix, supervisor_pid=pid)
    state.unlink(missing_ok=True)
    (plan.workdir / "endpoints.json").unlink(missing_ok=True)
    return left
