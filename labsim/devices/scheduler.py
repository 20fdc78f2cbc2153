"""One scheduler for the emulators: callables run at a future time on one thread, under the
owner's lock (labsim's World, netlab's switches, a netlab node's bond daemon). Nothing
busy-waits: the thread sleeps on a condition until the next timer is due."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass(order=True)
class _Timer:
    due: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    name: str = field(compare=False, default="")
    cancelled: bool = field(compare=False, default=False)


class Scheduler:
    """Run callables at a future time on one thread, under the world lock."""

    def __init__(self, lock: threading.RLock):
        self._lock = lock
        self._heap: list[_Timer] = []
        self._seq = itertools.count()
        self._wake = threading.Condition(threading.Lock())
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="labsim-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def after(self, delay: float, action: Callable[[], None], name: str = "") -> _Timer:
        timer = _Timer(time.monotonic() + max(0.0, delay), next(self._seq), action, name)
        with self._wake:
            heapq.heappush(self._heap, timer)
            self._wake.notify()
        return timer

    @staticmethod
    def cancel(timer: _Timer | None) -> None:
        if timer is not None:
            timer.cancelled = True

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._heap or self._heap[0].due > time.monotonic()):
                    timeout = self._heap[0].due - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                if self._stopped:
                    return
                timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            with self._lock:
                try:
                    timer.action()
                except Exception as exc:  # a broken timer must not stop the lab
                    print(f"labsim: timer {timer.name or timer.action!r} failed: {exc!r}", flush=True)
