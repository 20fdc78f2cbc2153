"""Hanging a node the way its inventory says (seed 002's `echo c > /proc/sysrq-trigger`, or the
lab's own way: take the cluster interface down, or pause the node on its hypervisor)."""

from __future__ import annotations

import shlex
import subprocess
import time
from typing import Any

from hacert.drivers.errors import LabError
from hacert.model.inventory import Node


def hang(lab: Any, node: Node) -> float:
    """Hang `node` the way the inventory says; return when (wall clock) the hang was sent."""
    how = node.hang
    if how.method == "sysrq":
        shell = lab.node(node.name)
        sent = time.time()
        shell.fire_and_forget("echo c > /proc/sysrq-trigger")
        return sent
    if how.method == "ifdown":
        shell = lab.node(node.name)
        sent = time.time()
        shell.fire_and_forget(f"ip link set dev {shlex.quote(how.interface or '')} down")
        return sent
    command = (how.command or "").format(node=node.name, member=node.member_name)
    sent = time.time()
    try:
        done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"hypervisor of {node.name}", "localhost", f"run {command!r}", str(exc)) from None
    if done.returncode != 0:
        raise LabError(f"hypervisor of {node.name}", "localhost", f"run {command!r}",
                       f"exit code {done.returncode}: {(done.stderr or done.stdout).strip()[-200:]}")
    return sent


def hang_words(node: Node) -> str:
    if node.hang.method == "sysrq":
        return "echo c > /proc/sysrq-trigger"
    if node.hang.method == "ifdown":
        return f"take {node.hang.interface} down"
    return f"pause it on its hypervisor ({node.hang.command})"


# ---------------------------------------------------------------- did the hang take?

HANG_TAKE_WINDOW = 5.0
"""Seconds after the hang within which the victim must stop answering, or the hang did not take."""
PROBE_TIMEOUT = 2.0
"""Seconds one probe (a command over SSH, a ping) is given to answer."""


def _private_shell(lab: Any, node: str) -> Any:
    """A copy of the lab's shell to `node` with its own connection and short timeouts, so a probe of
    a hung node never holds up (nor drops) the connection the case itself uses."""
    import copy
    import threading

    shell = lab.node(node)
    if not hasattr(shell, "_conn"):
        return shell  # a test double: it is its own
    own = copy.copy(shell)
    own._conn = None
    own._lock = threading.Lock()
    own.connect_timeout = min(float(getattr(shell, "connect_timeout", PROBE_TIMEOUT)), PROBE_TIMEOUT)
    return own


class HangCheck:
    """Confirms, in a thread, that a hang took: within `window` s of it the victim stops answering.

    The probe is the one the hang must silence: a command over the victim's SSH for a kernel hang
    or a paused machine (`sysrq`, `hypervisor`); for a cluster interface taken down (`ifdown`) a
    survivor's ping of the victim's heartbeat address. A victim that answers every probe until the
    window ends was not hung: `wait()` raises `Inconclusive` (never a pass, never the cluster's fault).
    """

    def __init__(self, lab: Any, node: Node, sent: float, window: float = HANG_TAKE_WINDOW) -> None:
        import threading

        self.lab = lab
        self.node = node
        self.sent = sent
        self.window = window
        self.taken_at: float | None = None
        self.answers = 0
        self.how = ""
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"hang-check {node.name}", daemon=True)

    def start(self) -> "HangCheck":
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def refuted(self) -> bool:
        """The window is over and the victim answered every probe: the hang did not take."""
        return self._done.is_set() and self.taken_at is None

    def wait(self) -> float:
        """When the victim was first seen not answering; `Inconclusive` if it never was."""
        from hacert.drivers.errors import Inconclusive

        self._done.wait(self.window + 4 * PROBE_TIMEOUT + 5)
        if self.taken_at is None:
            raise Inconclusive(
                f"the hang did not take: {self.node.name} still answers ({self.how} answered {self.answers} "
                f"time(s) within {self.window:g} s of '{hang_words(self.node)}'); the cluster was not judged")
        return self.taken_at

    def evidence(self) -> str:
        if self.taken_at is None:
            return f"{self.how} still answered {self.answers} time(s)"
        return f"{self.how} no longer answered at +{self.taken_at - self.sent:.1f} s"

    def _run(self) -> None:
        from hacert.drivers.errors import WaitTimeout
        from hacert.observe.waiting import wait_for

        probe, close = self._probe()

        def silent() -> bool:
            started = time.time()
            if not probe():
                self.taken_at = started
                return True
            self.answers += 1
            return False

        try:
            wait_for(f"{self.node.name} to stop answering", silent, timeout=max(self.sent + self.window - time.time(), 1e-3),
                     interval=0.2, progress=False)
        except WaitTimeout:
            pass  # it answered all through the window: the hang did not take (`refuted`)
        except Exception:  # a probe that cannot even be made proves nothing either way: count it as silence
            self.taken_at = time.time()
        finally:
            close()
            self._done.set()

    def _probe(self) -> tuple[Any, Any]:
        from hacert.drivers.errors import HacertError

        inv = self.lab.inventory
        if self.node.hang.method == "ifdown":
            address = next((b.address for b in self.node.bonds if b.network == inv.cluster.heartbeat_network), None)
            survivor = next((p.name for p in inv.peers(self.node.name)), None)
            if address and survivor:
                self.how = f"a ping from {survivor} to {self.node.name}'s heartbeat address {address}"
                shell = self.lab.node(survivor)

                def ping() -> bool:
                    try:
                        done = shell.run(f"ping -c 1 -W {int(PROBE_TIMEOUT)} {address}", timeout=PROBE_TIMEOUT + 3, check=False)
                    except HacertError:
                        return False
                    return getattr(done, "exit_code", 1) == 0

                return ping, lambda: None
        self.how = f"a command over {self.node.name}'s SSH"
        shell = _private_shell(self.lab, self.node.name)

        def command() -> bool:
            try:
                shell.run("true", timeout=PROBE_TIMEOUT)
            except HacertError:
                return False
            return True

        def close() -> None:
            if shell is not self.lab.node(self.node.name):
                try:
                    shell.close()
                except Exception:
                    pass

        return command, close
