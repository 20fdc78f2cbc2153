"""The world's record of what happens: the ground-truth event log and its subscribers, each
node's syslog (/var/log/messages) and its clock."""

from __future__ import annotations

import time
from typing import Any, Callable




class Events:
    """Part of World (hacert.labsim.world.model); runs under world.lock."""

    def subscribe(self, callback: Callable[[dict[str, Any]], None]) -> None:
        with self.lock:
            self._subscribers.append(callback)

    def emit(self, kind: str, **fields: Any) -> dict[str, Any]:
        with self.lock:
            record = self.events.write(kind, **fields)
            for callback in list(self._subscribers):
                try:
                    callback(record)
                except Exception as exc:  # a broken subscriber must not stop the lab
                    print(f"labsim: subscriber {callback!r} failed on {kind}: {exc!r}", flush=True)
            return record

    def syslog(self, node: str, program: str, message: str, pid: int | None = None) -> None:
        """Append `Mon DD HH:MM:SS host prog[pid]: msg` to the node's /var/log/messages
        (only while the node runs: a hung or powered-off node writes nothing)."""
        with self.lock:
            model = self.nodes[node]
            if model.state != "up":
                return
            stamp = time.strftime("%b %e %H:%M:%S", time.localtime(self.node_time(node)))
            tag = f"{program}[{pid}]" if pid is not None else program
            model.messages.append(f"{stamp} {node} {tag}: {message}")
            self.log_changed.notify_all()

    def clock_offset(self, node: str) -> float:
        """Seconds `node`'s clock is ahead of the controller's: simulation.clock_offsets, plus a step
        while the device fault `clock_step` is active on it."""
        from hacert.labsim.device_faults import CLOCK_STEP

        step = CLOCK_STEP if self.device_faults.active("clock_step", node) else 0.0
        return self.inventory.clock_offset(node) + step

    def node_time(self, node: str, t: float | None = None) -> float:
        """A controller time (default: now) on `node`'s clock."""
        return (time.time() if t is None else t) + self.clock_offset(node)

    def kernel_log(self, node: str, message: str) -> None:
        self.syslog(node, "kernel", message)
