"""Seed 002's procedures replayed against the simulated lab: the same states and log lines."""

from __future__ import annotations

import pytest

from hacert.drivers.parsers import parse_clustat
from tests.labsim_cluster.lab import lines_in_order, ping_during, wait_until

pytestmark = pytest.mark.timeout(120)

N1, N2 = "an-node01", "an-node02"
M1, M2 = "an-node01.alteeve.ca", "an-node02.alteeve.ca"


def owner(lab, node: str, service: str) -> tuple[str | None, str]:
    svc = parse_clustat(lab.out(node, "clustat")).service(service)
    return svc.owner, svc.state


def online(lab, via: str, member: str) -> bool:
    try:
        rc, text = lab.run(via, "clustat")
    except OSError:  # the node is still booting: its sshd does not answer yet
        return False
    return rc == 0 and parse_clustat(text).member(member).online


def test_hang_is_fenced_by_ipmi_and_vms_restart_on_survivor(make_lab):
    lab = make_lab()
    lab.hang(N1)
    wait_until(lambda: any(f"fence {M1} success" in l for l in lab.syslog(N2)), 10, "fence success on an-node02")
    lines_in_order(lab.syslog(N2), [
        "[TOTEM ] A processor failed, forming new configuration.",
        "[QUORUM] Members[1]: 2",
        "[CPG   ] chosen downlist: sender r(0) ip(10.20.0.2) ; members(old:2 left:1)",
        "kernel: dlm: closing connection to node 1",
        f"fencing node {M1}",
        f"fence {M1} success",
        f"Taking over service vm:vm0001-dev from down member {M1}",
    ])
    assert not any("error from agent" in l for l in lab.syslog(N2))
    attempts = lab.events("fence_attempt")
    assert [(e["node"], e["method"], e["ok"]) for e in attempts] == [(N1, "ipmi", True)]
    assert not [e for e in lab.events("outlet") if e["pdu"] == "pdu2"], "IPMI fencing must not touch the PDU"
    wait_until(lambda: owner(lab, N2, "vm:vm0001-dev") == (M2, "started"), 10, "vm0001-dev started on an-node02")
    wait_until(lambda: online(lab, N2, M1), 15, "an-node01 back in the cluster")
    # nofailback: the VMs stay on the survivor; the storage service comes back on the rejoined node.
    wait_until(lambda: owner(lab, N2, "service:storage_an01") == (M1, "started"), 10, "storage_an01 started")
    assert owner(lab, N2, "vm:vm0002-web") == (M2, "started")


def test_outlet_off_fails_ipmi_then_pdu_succeeds(make_lab):
    lab = make_lab()
    lab.outlet_off("pdu2", 1)
    wait_until(lambda: any(f"fence {M1} success" in l for l in lab.syslog(N2)), 10, "fence success")
    lines_in_order(lab.syslog(N2), [
        "[TOTEM ] A processor failed, forming new configuration.",
        "[QUORUM] Members[1]: 2",
        f"fencing node {M1}",
        f"fence {M1} dev 0.0 agent fence_ipmilan result: error from agent",
        f"fence {M1} success",
    ])
    done = lab.events("fence_done")
    assert [(e["node"], e["method"]) for e in done] == [(N1, "pdu")]
    assert [(e["method"], e["ok"]) for e in lab.events("fence_attempt")] == [("ipmi", False), ("pdu", True)]
    wait_until(lambda: online(lab, N2, M1), 15, "an-node01 back after the PDU reboot")


def test_destroy_three_times_restarts_twice_then_relocates(make_lab):
    lab = make_lab()
    vm = "vm0001-dev"
    for round_ in (1, 2):
        assert lab.out(N1, f"virsh destroy {vm}").startswith(f"Domain {vm} destroyed")
        wait_until(lambda: sum(f"Service vm:{vm} started" in l for l in lab.syslog(N1)) >= round_, 10,
                   f"restart {round_} of {vm}")
        wait_until(lambda: "running" in lab.out(N1, f"virsh domstate {vm}"), 5, f"{vm} running again")
    lab.out(N1, f"virsh destroy {vm}")
    wait_until(lambda: owner(lab, N1, f"vm:{vm}") == (M2, "started"), 10, f"{vm} relocated to an-node02")
    lines = lines_in_order(lab.syslog(N1), [
        f'status on vm "{vm}" returned 7 (unspecified)', f"Stopping service vm:{vm}",
        f"Service vm:{vm} is recovering", f"Recovering failed service vm:{vm}", f"Service vm:{vm} started",
        f'status on vm "{vm}" returned 7 (unspecified)', f"Recovering failed service vm:{vm}",
        f'status on vm "{vm}" returned 7 (unspecified)',
        f"Restart threshold for vm:{vm} exceeded; attempting to relocate",
        f"Service vm:{vm} is now running on member 2",
    ])
    assert "rgmanager[" in lines[0]
    assert [(e["source"], e["target"]) for e in lab.events("vm_relocated") if e["vm"] == vm] == [(N1, N2)]
    assert "running" in lab.out(N2, f"virsh domstate {vm}")


def test_live_migration_moves_owner_without_stopping_the_vm(make_lab):
    lab = make_lab()
    vm = "vm0001-dev"
    text, ping = ping_during(lab, N2, "10.254.0.1", lambda: lab.out(N1, f"clusvcadm -M vm:{vm} -m {M2}"), seconds=1.2)
    assert text == f"Trying to migrate vm:{vm} to {M2}...Success\n"
    assert ping["received"] >= ping["transmitted"] - 2, f"a live migration loses at most a ping or two: {ping}"
    assert owner(lab, N1, f"vm:{vm}") == (M2, "started")
    assert not [e for e in lab.events("vm_down") if e["vm"] == vm], "live migration must not stop the VM"
    (migration,) = [e for e in lab.events("migration") if e["vm"] == vm]
    assert (migration["source"], migration["target"]) == (N1, N2)
    assert 0 <= migration["gap_end"] - migration["gap_start"] < 0.5
    assert "Total downtime:" in lab.out(N2, f"virsh domjobinfo {vm} --completed")
    assert vm in lab.out(N2, "virsh list") and vm not in lab.out(N1, "virsh list")


def test_cold_stop_then_cold_start(make_lab):
    lab = make_lab()
    vms = {"vm0001-dev": M1, "vm0002-web": M1, "vm0003-db": M2, "vm0004-ms": M2}
    for vm in vms:
        assert lab.out(N1, f"clusvcadm -d vm:{vm}") == f"Local machine disabling vm:{vm}...Success\n"
    status = parse_clustat(lab.out(N1, "clustat"))
    assert {s.short_name: (s.last_owner, s.state) for s in status.services if s.kind == "vm"} == \
        {vm: (home, "disabled") for vm, home in vms.items()}
    for node in (N1, N2):
        assert "Stopping Cluster Service Manager:" in lab.out(node, "/etc/init.d/rgmanager stop")
    for node in (N1, N2):
        assert "Waiting for corosync to shutdown:" in lab.out(node, "/etc/init.d/cman stop")
    assert not lab.events("fence_start"), "a clean stop fences nobody"
    for node in (N1, N2):
        lab.run(node, "poweroff")
    wait_until(lambda: {e["node"] for e in lab.events("node_state") if e["state"] == "off"} == {N1, N2}, 10,
               "both nodes powered off")
    for node in (N1, N2):
        lab.power_on(node)
    wait_until(lambda: online(lab, N1, M2) and online(lab, N1, M1), 20, "both nodes members again")
    wait_until(lambda: owner(lab, N1, "service:storage_an02") == (M2, "started"), 10, "storage started")
    status = parse_clustat(lab.out(N1, "clustat"))
    assert {s.short_name: (s.owner, s.last_owner, s.state) for s in status.services if s.kind == "vm"} == \
        {vm: (None, None, "disabled") for vm in vms}
    for vm, home in vms.items():
        assert lab.out(N1, f"clusvcadm -e vm:{vm} -m {home}").endswith(f"vm:{vm} is now running on {home}\n")
    status = parse_clustat(lab.out(N2, "clustat"))
    assert {s.short_name: (s.owner, s.state) for s in status.services if s.kind == "vm"} == \
        {vm: (home, "started") for vm, home in vms.items()}
    assert not lab.events("fence_start"), "both nodes came up within post_join_delay"
