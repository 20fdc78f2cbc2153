"""A rolling restart, as a rolling upgrade does it: one node after the other is drained
(hacert.procedures.standby), its cluster stack stopped and started again, and filled again,
while every VM's address is pinged from start to end.

The node's operating system stays up (its pings go on); what restarts is the resource
manager and the cluster stack (`pcs cluster stop/start`, or rgmanager then cman by their init
scripts), as when their packages are upgraded. Where the node has replicated storage, the
next node waits until it is Connected and UpToDate again (draining a node whose peer is still
resyncing would leave no good copy).
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from hacert.model.inventory import Inventory
from hacert.procedures.standby import fail
from hacert.procedures.vm import drbd_state, online, owner_of, watch_cluster


def restart_stack(lab: Any, guard: Any, record: Any, node: str, via: Sequence[str]) -> dict[str, float]:
    """Stop `node`'s cluster stack, see it leave, start it, see it rejoin with its storage; the
    figures (seconds): 'left', 'rejoined', 'storage'."""
    inv: Inventory = lab.inventory
    expect = inv.expectations
    others = [n for n in via if n != node]
    guard.changed("stack", node)
    began = time.time()
    lab.cluster.stop_stack(node)
    look = watch_cluster(lab, others, lambda s: not online(inv, s, node), expect.services_back_timeout)
    if not look.met:
        raise fail(record, f"{', '.join(others)} still list {node} online {expect.services_back_timeout:g} s after "
                           "its cluster stack stopped")
    left = look.t - began
    started = time.time()
    lab.cluster.start_stack(node)
    look = watch_cluster(lab, others, lambda s: online(inv, s, node), expect.rejoin_timeout)
    if not look.met:
        raise fail(record, f"{node} did not rejoin within {expect.rejoin_timeout:g} s of its cluster stack's start"
                   + look.when(started))
    rejoined = look.t - started
    storage = inv.node(node).storage_services
    if storage:
        look = watch_cluster(lab, via, lambda s: all(owner_of(inv, s, name) == node for name in storage),
                             expect.services_back_timeout)
        if not look.met:
            raise fail(record, f"{node} rejoined but its storage did not start: "
                               + ", ".join(f"{s} on {owner_of(inv, look.status, s) or 'no node'}" for s in storage))
    ready = wait_storage(lab, [node, *others], expect.services_back_timeout)
    if not ready:
        raise fail(record, f"DRBD did not return to Connected UpToDate/UpToDate within {expect.services_back_timeout:g} s "
                           f"of {node}'s restart")
    return {"left": left, "rejoined": rejoined, "storage": time.time() - started}


def wait_storage(lab: Any, nodes: Sequence[str], timeout: float) -> bool:
    """Every node of `nodes` with storage services in the inventory has DRBD Connected UpToDate/UpToDate."""
    nodes = [n for n in nodes if lab.inventory.node(n).storage_services]
    deadline = time.monotonic() + timeout
    while True:
        states = [drbd_state(lab, n)[0] for n in nodes]
        if all(ok is not False for ok in states):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
