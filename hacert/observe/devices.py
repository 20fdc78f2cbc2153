"""Watching a victim's devices through a fence: its BMC's power state and its PDU outlets,
each polled in its own thread, every reading timestamped, with a `Coverage` of the looks
(an outlet read that fails is no reading, never "dark")."""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from hacert.drivers.errors import LabError
from hacert.model.inventory import Node
from hacert.observe.coverage import Coverage, Unseen

POLL = 0.1
"""Seconds between two samples of a device."""
OUTLET_BLIND = 1.0
"""Seconds the outlet sampler may go without reading an outlet before a PDU reboot (off for a
second in labsim, five on an APC by default) could have slipped by unseen."""


def _own_bmc(bmc: Any) -> Any:
    """A copy of the lab's BMC driver for the sampling thread, with its own lock, so a sample in
    flight (up to the BMC timeout while the BMC is dark) never holds up the case's own BMC calls.
    Its timeout stays the driver's: a shorter one abandons pyghmi logins in flight, and that
    leaves pyghmi unable to reach the BMC for ~35 s after it answers again (measured)."""
    own = copy.copy(getattr(bmc, "unwrapped", bmc))  # the sampler only reads: no device lock
    if hasattr(own, "_lock"):
        own._lock = threading.Lock()
        own._cmd = None
    return own


class DeviceSampler:
    """Polls the victim's BMC (power state) and PDU outlets through the fence window, each in its
    own thread (a BMC call that takes its whole timeout leaves the outlets watched).

    The BMC keeps answering while the node is hung; it goes dark when its outlet is cut. A PDU
    always answers: an outlet read that fails is no reading (`coverage`), never "dark".
    """

    def __init__(self, lab: Any, node: Node, interval: float = POLL, bmc: bool = True) -> None:
        self.lab = lab
        self.node = node
        self.interval = interval
        self.bmc = _own_bmc(lab.bmc(node.name)) if bmc else None
        self.samples: list[tuple[float, str, str]] = []  # (t, source, value)
        self.coverage = {source: Coverage(f"the sampler of {source}") for source in self.outlets}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sampler {node.name}", daemon=True)
        self._outlet_thread = threading.Thread(target=self._run_outlets, name=f"outlet sampler {node.name}", daemon=True)

    @property
    def outlets(self) -> list[str]:
        return [f"{ref.pdu}/{ref.outlet}" for ref in self.node.power]

    def start(self) -> "DeviceSampler":
        self._thread.start()
        self._outlet_thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling; do not wait (a BMC call in flight may take its whole timeout; the
        thread ends by itself after it)."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set() and self.bmc is not None:
            started = time.time()
            if self._sample("bmc", self.bmc.power_status) == "no answer":
                self.bmc = None  # a dark BMC: one sample says so; more would only risk pyghmi's stale sessions
            self._stop.wait(max(0.0, self.interval - (time.time() - started)))

    def _run_outlets(self) -> None:
        while not self._stop.is_set() and self.node.power:
            started = time.time()
            for ref in self.node.power:
                self._sample(f"{ref.pdu}/{ref.outlet}", lambda ref=ref: self.lab.pdu(ref.pdu).outlet_status(ref.outlet))
            self._stop.wait(max(0.0, self.interval - (time.time() - started)))

    def _sample(self, source: str, read: Any) -> str:
        coverage = self.coverage.get(source)
        try:
            value = str(read())
        except LabError as exc:
            value = "no answer"
            if coverage is not None:
                coverage.failed(exc)
        except Exception as exc:  # an answer no one reads: no reading either (the thread goes on)
            value = "unreadable"
            if coverage is not None:
                coverage.failed(exc)
        else:
            if coverage is not None:
                coverage.ok()
        self.samples.append((time.time(), source, value))
        return value

    def seen(self, source: str, value: str, start: float = 0.0, end: float = float("inf")) -> list[float]:
        return [t for t, s, v in list(self.samples) if s == source and v == value and start <= t <= end]

    def first_dark(self, source: str, start: float, end: float) -> float | None:
        """When `source` first read off within [start, end] (a read that failed is no reading: `unseen`)."""
        times = self.seen(source, "off", start, end)
        return min(times) if times else None

    def unseen(self, source: str, start: float, end: float, needed: str, t0: float | None = None,
               longest: float = OUTLET_BLIND) -> list[Unseen]:
        """Where `source` was not read for more than `longest` s within [start, end]."""
        return self.coverage[source].unseen(start, end, longest, needed, t0)

    def timeline(self) -> dict[str, list[tuple[float, str]]]:
        out: dict[str, list[tuple[float, str]]] = {}
        for t, source, value in list(self.samples):
            series = out.setdefault(source, [])
            if not series or series[-1][1] != value:
                series.append((t, value))
        return out
