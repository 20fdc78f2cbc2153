"""A rolling restart, as a rolling upgrade does it: one node after the other is drained
(hacert.procedures.standby), its cluster stack stopped and started again, and filled again,
while every VM's address is pinged from start to end.

The node's operating system stays up (its pings go on); what restarts is the resource
manager and the cluster stack (`pcs cluster stop/start`, or rgmanager then cman by their init
scripts), as when their packages are upgraded. Where the node has replicated storage, the
next node waits until it is Connected and UpToDate again (draining a node whose peer is still
resyncing would leave no good copy): rgmanager starts it with the stack, pacemaker once the node
leaves standby.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from hacert.model.inventory import Inventory
from hacert.procedures.standby import fail, is_pacemaker, storage_back
from hacert.procedures.vm import online, watch_cluster


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
    figures = {"left": left, "rejoined": rejoined}
    if not is_pacemaker(inv):  # rgmanager starts the node's storage at once; pacemaker's standby holds it
        storage_back(lab, record, node, via)
        figures["storage"] = time.time() - started
    return figures
