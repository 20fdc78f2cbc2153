"""What the daemon-kill, split-brain and quorum-loss procedures watch: every node's syslog since the
fault (who fenced whom, read from the cluster's record with hacert.observe.fence_record), the
membership and the services, each moment measured as the window between two looks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from hacert.drivers.errors import ClusterFailure, HacertError
from hacert.model.inventory import Inventory
from hacert.observe.clocks import reading_of, stamp_window
from hacert.observe.cluster_state import describe_status, expected_homes, find_service, is_online, where_running
from hacert.observe.fence_record import FenceConfig, FenceRound, fence_method, fence_rounds, read_fence_config
from hacert.observe.moments import Edge, Moment

POLL = 0.1
"""Seconds between two looks at the cluster."""
METHOD_WORDS = {"ipmi": "IPMI", "pdu": "the PDU", "scsi": "SCSI-3 reservations"}


def fail(message: str) -> Any:
    raise ClusterFailure(message)


@dataclass
class ClusterLog:
    """Every node's syslog since `since`, re-read at each look (a node that does not answer keeps
    its last window), and the fence rounds the cluster's record holds."""

    lab: Any
    since: float
    marks: dict[str, Any]
    config: FenceConfig | None
    windows: dict[str, list[str]] = field(default_factory=dict)
    status: Any = None

    @property
    def inv(self) -> Inventory:
        return self.lab.inventory

    @classmethod
    def mark(cls, lab: Any, via: str) -> "ClusterLog":
        config = read_fence_config(lab, via=via)
        marks = {n.name: lab.node(n.name).syslog_mark() for n in lab.inventory.nodes}
        return cls(lab, time.time(), marks, config)

    def read(self, nodes: list[str] | None = None) -> None:
        for name in nodes or list(self.marks):
            try:
                self.windows[name] = self.lab.node(name).syslog_since(self.marks[name])
            except HacertError:
                continue  # a node down or rebooting: its last window stands until it answers again

    def rounds(self, nodes: list[str] | None = None) -> list[FenceRound]:
        self.read(nodes)
        return fence_rounds(self.inv, self.windows, self.config)

    def fenced(self, nodes: list[str] | None = None) -> dict[str, FenceRound]:
        """{victim: the first round that fenced it} (one fencing is logged by every node that saw it)."""
        out: dict[str, FenceRound] = {}
        for rnd in self.rounds(nodes):
            if rnd.succeeded is not None and rnd.victim not in out:
                out[rnd.victim] = rnd
        return out

    def when(self, rnd: FenceRound) -> tuple[float, float] | None:
        """When the round's success was logged, on the controller's clock (its fencer's offset corrected)."""
        stamp = getattr(getattr(rnd.succeeded, "line", None), "timestamp", None)
        return None if stamp is None else stamp_window(stamp, reading_of(self.lab, rnd.fencer))

    def configured(self, node: str) -> str:
        return self.config.describe(node) if self.config is not None else "not read"

    def fenced_with(self, rnd: FenceRound) -> str:
        """'IPMI: device fence-x (fence_ipmilan), named in the fencer's log' — from the cluster's record."""
        method = fence_method(self.inv, rnd)
        words = METHOD_WORDS.get(method or "", method or "an unknown method")
        if rnd.device:
            dev = self.config.devices.get(rnd.device) if self.config is not None else None
            return f"{words}: device {rnd.device} ({dev.agent if dev else 'not in the configuration'}), named in {rnd.fencer}'s log"
        if rnd.method_index is not None:
            return f"{words}: method {rnd.method_index + 1} in fenced's record on {rnd.fencer} ({rnd.method_source})"
        return f"{words}: the record names no device or method"


def status_via(lab: Any, nodes: list[str]) -> Any:
    """The cluster's status from the first of `nodes` that answers (None when none does)."""
    for node in nodes:
        try:
            return lab.cluster.status(via=node)
        except HacertError:
            continue
    return None


def watch_edge(what: str, look: Callable[[], bool], since: float, deadline: float) -> Moment | None:
    """Look every POLL s until `look()` holds or the deadline: the moment it was first seen (None: never)."""
    edge = Edge(since)
    while True:
        start = time.time()
        seen = look()
        edge.look(seen, start, time.time())
        if edge.moment is not None or time.time() >= deadline:
            return edge.moment
        time.sleep(POLL)


def wait_online(lab: Any, via: list[str], node: str, since: float, timeout: float) -> Moment | None:
    """`node` an online member again, seen through `via`."""
    inv = lab.inventory

    def look() -> bool:
        status = status_via(lab, via)
        return status is not None and is_online(inv, status, node)

    return watch_edge(f"{node} online", look, since, since + timeout)


def services_home(lab: Any, via: list[str], since: float, timeout: float) -> tuple[Moment | None, str]:
    """Every service and VM running on its home again. What stays away and the cluster does not move
    home by itself (nofailback) is moved once it runs (the harness's own migrate/relocate, as the
    fencing suite does). Returns (when the last was home, the last state in words)."""
    inv = lab.inventory
    homes = {name: home for name, home in expected_homes(inv).items() if home is not None}
    storage = {s.name for s in inv.services if s.storage}
    vms = {v.name for v in inv.vms}
    deadline = since + timeout
    edge = Edge(since)
    status = None
    while True:
        start = time.time()
        status = status_via(lab, via)
        away = [name for name, home in homes.items() if status is None or where_running(inv, status, name) != home]
        edge.look(not away, start, time.time())
        if edge.moment is not None:
            return edge.moment, describe_status(inv, status)
        if time.time() >= deadline:
            return None, (describe_status(inv, status) if status is not None else "no node answered")
        storage_up = all(where_running(inv, status, s) == homes.get(s) for s in storage if s in homes)
        for name in away:
            svc = find_service(status, name)
            if name in storage or not storage_up or svc is None or svc.state != "started":
                continue  # the cluster starts storage itself; the rest moves once it runs somewhere
            try:
                if name in vms:
                    lab.cluster.migrate(name, homes[name])
                else:
                    lab.cluster.relocate(name, homes[name])
            except HacertError:
                pass  # refused now (busy): asked again at the next look
        time.sleep(POLL * 2)


def running_services(inv: Inventory, status: Any) -> dict[str, str]:
    """{service or VM: the node it runs on} for everything the inventory lists that runs."""
    out: dict[str, str] = {}
    for name in expected_homes(inv):
        where = where_running(inv, status, name)
        if where is not None:
            out[name] = where
    return out


def rebooted_since(lab: Any, node: str, moment: float) -> bool | None:
    """Did `node` boot after `moment` (its uptime is shorter than the time since)? None: unknown."""
    try:
        text = lab.node(node).read_file("/proc/uptime").split()
    except HacertError:
        return None
    return bool(text) and float(text[0]) < time.time() - moment
