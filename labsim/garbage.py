"""Adversity `syslog_garbage`: lines no parser knows, in a node's /var/log/messages, from time to time.

Real syslogs are not clean: a line cut short when a disk filled or a daemon died mid-write,
a binary blob a crashing program wrote, a line in another program's own format (RFC 5424
from a container, JSON from an agent), the continuation of a multi-line message (a stack
trace). The friendly simulated lab writes none; with the adversity switched on
(`simulation.adversities: [{name: syslog_garbage, target: NODE}]`, no target: every node)
each targeted node gets one such line every `EVERY` seconds while it runs, the four kinds in
turn. Every line written is a ground-truth event `syslog_garbage {node, garbage}` (its kind).

None of them carries a word of the cluster's (no fence, membership or service words): they
must change no verdict, only be skipped and counted by the harness.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

ADVERSITY = "syslog_garbage"
EVERY = 1.0
"""Seconds between two garbage lines on one node."""
KINDS = ("truncated", "binary", "foreign", "continuation")

# Bytes a crashing program could leave in a log (a gzip header, an ELF magic, NULs, invalid UTF-8);
# kept as the str the lab writes through surrogateescape, so the node's SSH sends the raw bytes.
_BLOB = b"\x00\x00\x1f\x8b\x08\x00\xff\xfe\x7fELF\x02\x01\x01\x00\xc3\x28\xa0\xa1".decode("utf-8", "surrogateescape")


def garbage_line(kind: str, node: str, n: int, now: float | None = None) -> str:
    """The `n`th garbage line of `kind` for `node` (deterministic, written at `now`)."""
    t = time.time() if now is None else now
    stamp = time.strftime("%b %e %H:%M:%S", time.localtime(t))
    if kind == "truncated":
        # the stamp and part of the host name, then nothing: cut mid-write (no tag, no message)
        whole = f"{stamp} {node}"
        return whole[: len(stamp) + 1 + max(1, len(node) // 2)] if n % 2 else whole[: max(4, len(stamp) - 3)]
    if kind == "binary":
        return _BLOB + f"{n:04x}"
    if kind == "foreign":
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"
        if n % 2:
            return f"<30>1 {iso} {node} dnsmasq-dhcp 812 - - DHCPINFORM(eth2) 10.20.{n % 250}.7 52:54:00:aa:bb:cc"
        return f'{{"ts":"{iso}","level":"warn","logger":"collector","msg":"buffer {n} flushed late"}}'
    if kind == "continuation":
        return (f"\tat org.example.collector.Worker.run(Worker.java:{100 + n % 50})" if n % 2
                else f"    ... {n % 7 + 3} more")
    raise ValueError(f"unknown kind of garbage line: {kind!r}")


def start_garbage(world: Any) -> None:
    """Arm the writer for every node the inventory's `syslog_garbage` adversity targets."""
    inv = world.inventory
    nodes = [n.name for n in inv.nodes if inv.adversity(ADVERSITY, n.name)]
    if not nodes:
        return
    counters = {node: itertools.count() for node in nodes}

    def tick() -> None:  # on the scheduler thread, under the world lock
        world.scheduler.after(EVERY, tick, "syslog garbage")
        for node in nodes:
            model = world.nodes[node]
            if model.state != "up":
                continue  # a node that is off or hung writes nothing
            n = next(counters[node])
            kind = KINDS[n % len(KINDS)]
            model.messages.append(garbage_line(kind, node, n))
            world.log_changed.notify_all()
            world.emit("syslog_garbage", node=node, garbage=kind)

    world.scheduler.after(EVERY, tick, "syslog garbage")


__all__ = ["ADVERSITY", "EVERY", "KINDS", "garbage_line", "start_garbage"]
