"""Nothing is tied to two nodes or to the tutorial: a 3-node lab with one bond per node and
three VMs (seed 003/004 shape), and seed 001's SCSI-3 reservation fencing."""

from __future__ import annotations

import pytest

from typing import Any

from hacert.drivers.parsers import parse_clustat, parse_cman_status, parse_sg_persist
from tests.labsim_cluster.lab import lines_in_order, wait_until

pytestmark = pytest.mark.timeout(120)


def three_nodes(fence: list[str], nofailback: bool) -> Any:
    def edit(inv: dict[str, Any]) -> None:
        names = ["hv-a", "hv-b", "hv-c"]
        simulation = inv.get("simulation", {})
        inv.clear()
        inv.update({
            "lab": "tri-sim",
            "cluster": {"name": "tri", "manager": "rgmanager", "post_join_delay": 3, "heartbeat_network": "cl",
                        "two_node": False},
            "nodes": [{
                "name": n, "power": [{"pdu": "pdu1", "outlet": i + 1, "name": n}], "fence": fence,
                "bonds": [{"name": "bond0", "network": "cl", "address": f"192.168.7.{i + 1}",
                           "primary": {"nic": "eth0", "switch": "swa", "port": str(i + 1)},
                           "backup": {"nic": "eth1", "switch": "swb", "port": str(i + 1)}}],
            } for i, n in enumerate(names)],
            "pdus": [{"name": "pdu1", "outlets": 8}],
            "switches": [{"name": "swa", "ports": {"method": "snmp"}}, {"name": "swb", "ports": {"method": "snmp"}}],
            "failover_domains": [{"name": f"pref_{n}", "nodes": names[i:] + names[:i], "ordered": True,
                                  "restricted": True, "nofailback": nofailback} for i, n in enumerate(names)],
            "vms": [{"name": f"guest{i + 1}", "home": n, "domain": f"pref_{n}", "address": f"192.168.7.{101 + i}"}
                    for i, n in enumerate(names)],
            "expectations": {"max_restarts": 1, "restart_expire_time": 60},
            "safety": {"destructive": True},
            "simulation": simulation,
        })
    return edit


def test_three_nodes_fence_quorum_takeover_and_failback(make_lab):
    lab = make_lab(edit=three_nodes(["ipmi", "pdu"], nofailback=False))
    cman = parse_cman_status(lab.out("hv-b", "cman_tool status"))
    assert (cman.nodes, cman.expected_votes, cman.quorum, cman.flags) == (3, 3, 2, [])
    lab.hang("hv-a")
    wait_until(lambda: lab.events("fence_done"), 10, "hv-a fenced")
    (start,) = lab.events("fence_start")
    assert (start["node"], start["by"]) == ("hv-a", "hv-b"), "the lowest-id survivor fences"
    lines_in_order(lab.syslog("hv-b"), ["[QUORUM] Members[2]: 2 3", "fencing node hv-a", "fence hv-a success",
                                        "Taking over service vm:guest1 from down member hv-a"])
    assert not any("fencing node" in line for line in lab.syslog("hv-c"))
    wait_until(lambda: parse_clustat(lab.out("hv-c", "clustat")).service("vm:guest1").owner == "hv-b", 10,
               "guest1 on hv-b (next in its domain)")
    # nofailback=false: once hv-a is back, guest1 returns to its preferred node by live migration.
    wait_until(lambda: parse_clustat(lab.out("hv-c", "clustat")).service("vm:guest1").owner == "hv-a", 15,
               "guest1 fails back to hv-a")
    assert [(e["source"], e["target"]) for e in lab.events("migration")] == [("hv-b", "hv-a")]
    status = parse_clustat(lab.out("hv-a", "clustat"))
    assert {s.short_name: s.owner for s in status.services} == {"guest1": "hv-a", "guest2": "hv-b", "guest3": "hv-c"}


def test_scsi_fencing_drops_the_victims_key_and_moves_the_reservation(make_lab):
    lab = make_lab(edit=three_nodes(["scsi"], nofailback=True))
    keys = parse_sg_persist(lab.out("hv-c", "sg_persist -i -k -d /dev/sdb"))
    assert keys.keys is not None and len(keys.keys) == 3
    holder = parse_sg_persist(lab.out("hv-c", "sg_persist -i -r -d /dev/sdb")).reservation
    assert holder is not None and holder.key.endswith("0001")
    lab.hang("hv-a")
    wait_until(lambda: lab.events("fence_done"), 10, "hv-a fenced by SCSI")
    assert lab.events("fence_done")[0]["method"] == "scsi"
    after = parse_sg_persist(lab.out("hv-c", "sg_persist -i -k -d /dev/sdb"))
    assert after.keys is not None and sorted(after.keys) == sorted(k for k in keys.keys if not k.endswith("0001"))
    moved = parse_sg_persist(lab.out("hv-c", "sg_persist -i -r -d /dev/sdb")).reservation
    assert moved is not None and moved.key.endswith("0002")
    cman = parse_cman_status(lab.out("hv-b", "cman_tool status"))
    assert (cman.nodes, cman.total_votes, cman.quorate) == (2, 2, True)
    assert not [e for e in lab.events("node_state") if e["node"] == "hv-a" and e["state"] == "off"], \
        "fence_scsi cuts the disk, not the power"
