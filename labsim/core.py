"""The simulated lab's shared machinery: one clock, one event log, one table of shell
commands (the scheduler is an emulator's: hacert.labsim.devices.scheduler).

Everything that changes in the lab happens either because a protocol endpoint
asked for it (an SNMP SET, an IPMI chassis control, a shell command) or because
a timer fired on the scheduler. Both run under `World.lock`, so the model is
only ever touched by one thread at a time, and nothing busy-waits: the
scheduler thread sleeps on a condition until the next timer is due.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol


class Clock:
    """Wall-clock seconds (time.time) for logs, monotonic for intervals."""

    @staticmethod
    def now() -> float:
        return time.time()


# The clock of the node whose command is running (simulation.clock_offsets: seconds ahead of the
# controller's). Whatever a command prints as a time of day (date, ping -D, uptime, clustat's
# header, crm_mon's "last updated", the fence history) is on that node's clock; the event log and
# every timer stay on the controller's.
_NODE_CLOCK_OFFSET: contextvars.ContextVar[float] = contextvars.ContextVar("labsim_node_clock_offset", default=0.0)


@contextlib.contextmanager
def node_clock(offset: float) -> Any:
    """Run a node's command on that node's clock (`offset` s ahead of the controller's)."""
    token = _NODE_CLOCK_OFFSET.set(float(offset))
    try:
        yield
    finally:
        _NODE_CLOCK_OFFSET.reset(token)


def node_now(t: float | None = None) -> float:
    """A controller time (default: now) as the node running the current command reads it."""
    return (time.time() if t is None else t) + _NODE_CLOCK_OFFSET.get()


def node_localtime(t: float | None = None) -> time.struct_time:
    """`time.localtime` on the clock of the node running the current command."""
    return time.localtime(node_now(t))


class EventLog:
    """Ground truth: every event the lab undergoes, one JSON object per line.

    Each line has at least ``t`` (wall-clock seconds), ``kind`` and the subject
    fields of that kind (node, pdu, outlet, switch, port, bond, slave, vm, ...).
    Tests and benchmarks compare the harness's measurements with this file.
    """

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._file = path.open("a", buffering=1)

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        record = {"t": round(Clock.now(), 6), "kind": kind, **fields}
        with self._lock:
            self._file.write(json.dumps(record, sort_keys=True) + "\n")
        return record

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read_event_log(path: str | Path) -> list[dict[str, Any]]:
    """All events so far, oldest first."""
    out = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


class ShellIO(Protocol):
    """What a shell command sees of its SSH channel."""

    def write(self, text: str) -> None: ...

    def write_err(self, text: str) -> None: ...

    def closed(self) -> bool: ...

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; return False early if the channel closed."""
        ...


@dataclass
class CommandContext:
    """One shell command being run on one simulated node."""

    world: Any
    node: str
    argv: list[str]
    line: str
    io: ShellIO


CommandHandler = Callable[[CommandContext], int]


class CommandTable:
    """argv[0] (or a full path like /etc/init.d/cman) → handler returning an exit code."""

    def __init__(self) -> None:
        self._handlers: dict[str, CommandHandler] = {}

    def register(self, *names: str) -> Callable[[CommandHandler], CommandHandler]:
        def decorate(handler: CommandHandler) -> CommandHandler:
            for name in names:
                self._handlers[name] = handler
            return handler

        return decorate

    def lookup(self, name: str) -> CommandHandler | None:
        return self._handlers.get(name)

    def names(self) -> list[str]:
        return sorted(self._handlers)


# The one table every part of the simulated lab adds its commands to.
COMMANDS = CommandTable()
