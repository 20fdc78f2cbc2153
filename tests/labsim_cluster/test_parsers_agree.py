"""What the lab prints parses, with the drivers' parsers, into the facts its model holds
(the model's facts are read from its ground-truth event log)."""

from __future__ import annotations

import pytest

from hacert.drivers.parsers import (parse_clustat, parse_cman_nodes, parse_cman_status, parse_crm_mon, parse_drbd,
                             parse_stonith_history, parse_virsh_list)
from tests.labsim_cluster.lab import wait_until

pytestmark = pytest.mark.timeout(120)

N1, N2 = "an-node01", "an-node02"
M1, M2 = "an-node01.alteeve.ca", "an-node02.alteeve.ca"


def truth_services(lab) -> dict[str, tuple[str | None, str]]:
    last: dict[str, tuple[str | None, str]] = {}
    for e in lab.events("service_state"):
        last[e["service"]] = (e["owner"], e["state"])
    return last


def truth_members(lab) -> list[str]:
    return lab.events("membership")[-1]["members"]


def truth_vm_hosts(lab) -> dict[str, str | None]:
    hosts: dict[str, str | None] = {}
    for e in lab.events():
        if e["kind"] == "vm_up":
            hosts[e["vm"]] = e["node"]
        elif e["kind"] == "vm_down" and hosts.get(e["vm"]) == e["node"]:
            hosts[e["vm"]] = None
        elif e["kind"] == "migration":
            hosts[e["vm"]] = e["target"]
    return hosts


def test_rgmanager_outputs_parse_into_the_model_facts(make_lab):
    lab = make_lab()
    lab.out(N1, f"clusvcadm -M vm:vm0003-db -m {M1}".replace("vm0003-db", "vm0001-dev").replace(M1, M2))
    lab.out(N2, "clusvcadm -d vm:vm0004-ms")
    services = truth_services(lab)
    assert services["vm:vm0001-dev"] == (M2, "started") and services["vm:vm0004-ms"] == (None, "disabled")
    for node in (N1, N2):
        for command in ("clustat", "clustat -x"):
            status = parse_clustat(lab.out(node, command))
            assert status.quorate is True and status.cluster_name == "an-cluster-A"
            assert {s.name: (s.owner, s.state) for s in status.services} == services, command
            assert sorted(m.name for m in status.members if m.online) == sorted(truth_members(lab))
            assert status.local_member is not None and status.local_member.name == lab.inventory.node(node).member_name
            assert {m.name: m.id for m in status.members} == {M1: 1, M2: 2}
        assert parse_clustat(lab.out(node, "clustat")).service("vm:vm0004-ms").last_owner == M2
        cman = parse_cman_status(lab.out(node, "cman_tool status"))
        assert (cman.nodes, cman.expected_votes, cman.total_votes, cman.quorum, cman.flags) == (2, 1, 2, 1, ["2node"])
        assert cman.node_name == lab.inventory.node(node).member_name and cman.quorate
        assert cman.node_addresses == [lab.inventory.node(node).bonds[0].address]
        assert {n.name for n in parse_cman_nodes(lab.out(node, "cman_tool nodes")) if n.member} == {M1, M2}
        listing = parse_virsh_list(lab.out(node, "virsh list --all"))
        hosts = truth_vm_hosts(lab)
        assert sorted(listing.running) == sorted(vm for vm, host in hosts.items() if host == node)
        assert set(listing.domains) == {vm.name for vm in lab.inventory.vms}
        drbd = parse_drbd(lab.out(node, "cat /proc/drbd"))
        assert {(m.cs, m.ro, m.ds) for m in drbd.minors.values()} == {("Connected", "Primary/Primary", "UpToDate/UpToDate")}


def test_drbd_resyncs_after_the_fenced_node_returns(make_lab):
    lab = make_lab()
    lab.hang(N1)
    wait_until(lambda: lab.events("fence_done"), 10, "an-node01 fenced")
    alone = parse_drbd(lab.out(N2, "cat /proc/drbd"))
    assert {(m.cs, m.ds) for m in alone.minors.values()} == {("WFConnection", "UpToDate/Outdated")}
    syncing = wait_until(lambda: [m for m in parse_drbd(lab.out(N2, "cat /proc/drbd")).minors.values()
                                  if m.cs == "SyncSource"], 15, "resync after an-node01 returns", interval=0.01)
    assert syncing[0].ds == "UpToDate/Inconsistent" and syncing[0].sync_percent is not None
    target = parse_drbd(lab.out(N1, "cat /proc/drbd"))
    assert {m.cs for m in target.minors.values()} <= {"SyncTarget", "Connected"}
    wait_until(lambda: {m.ds for m in parse_drbd(lab.out(N2, "cat /proc/drbd")).minors.values()}
               == {"UpToDate/UpToDate"}, 10, "UpToDate/UpToDate")


def test_pacemaker_flavour_answers_crm_mon_pcs_and_stonith_admin(make_lab):
    lab = make_lab(edit=lambda inv: inv["cluster"].update(manager="pacemaker"))
    status = parse_crm_mon(lab.out(N1, "crm_mon --output-as=xml"))
    assert status.quorum is True and sorted(status.online_nodes) == [M1, M2]
    assert status.resource("vm0001-dev")[0].nodes == [M1]
    lab.out(N1, f"pcs resource move vm0001-dev {M2}")
    lab.out(N1, "pcs resource clear vm0001-dev")
    assert parse_crm_mon(lab.out(N2, "crm_mon --output-as=xml")).resource("vm0001-dev")[0].nodes == [M2]
    lab.out(N1, f"pcs node standby {M2}")
    wait_until(lambda: not [r for r in parse_crm_mon(lab.out(N1, "crm_mon --output-as=xml")).resources
                            if M2 in r.nodes and not (r.agent or "").startswith("stonith:")], 10, "an-node02 emptied by standby")
    status = parse_crm_mon(lab.out(N1, "crm_mon --output-as=xml"))
    assert status.nodes[M2].standby and status.resource("vm0003-db")[0].nodes == [M1]
    lab.out(N1, "pcs resource disable vm0002-web")
    assert parse_crm_mon(lab.out(N1, "crm_mon --output-as=xml")).resource("vm0002-web")[0].target_role == "Stopped"
    lab.out(N1, f"pcs resource move vm0002-web {M2}")
    lab.out(N1, "pcs resource enable vm0002-web")
    wait_until(lambda: parse_crm_mon(lab.out(N1, "crm_mon --output-as=xml")).resource("vm0002-web")[0].nodes == [M1],
               10, "vm0002-web started where storage runs (an-node02 is in standby)")
    lab.out(N1, f"pcs node unstandby {M2}")
    lab.hang(N2)
    wait_until(lambda: lab.events("fence_done"), 10, "an-node02 fenced")
    history = parse_stonith_history(lab.out(N1, "stonith_admin --history '*'"))
    assert [(e.target, e.action, e.state, e.delegate) for e in history] == [(M2, "reboot", "success", M1)]
    xml_history = parse_crm_mon(lab.out(N1, "crm_mon --output-as=xml")).fence_history
    assert [(e.target, e.state) for e in xml_history] == [(M2, "success")]
    assert "Online: [ an-node01.alteeve.ca ]" in lab.out(N1, "pcs status")
    assert f"OFFLINE: [ {M2} ]" in lab.out(N1, "crm_mon -1")
