"""Hanging a node the way its inventory says (seed 002's `echo c > /proc/sysrq-trigger`, or the
lab's own way: take the cluster interface down, or pause the node on its hypervisor)."""

from __future__ import annotations

import shlex
import subprocess
import time
from typing import Any

from drivers.errors import LabError
from fixtures.inventory import Node


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
