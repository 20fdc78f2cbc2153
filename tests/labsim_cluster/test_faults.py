"""Each seeded fault visibly changes the cluster's behaviour (compare test_scenarios)."""

from __future__ import annotations

import pytest

from hacert.drivers.parsers import parse_clustat
from tests.labsim_cluster.lab import lines_in_order, ping_during, wait_until

pytestmark = pytest.mark.timeout(120)

N1, N2 = "an-node01", "an-node02"
M1, M2 = "an-node01.alteeve.ca", "an-node02.alteeve.ca"


def service(lab, node: str, name: str):
    return parse_clustat(lab.out(node, "clustat")).service(name)


def fence_success(lab, node: str, victim_member: str) -> bool:
    return any(f"fence {victim_member} success" in line for line in lab.syslog(node))


def test_ipmi_fence_broken_falls_back_to_the_pdu_on_a_hang(make_lab):
    lab = make_lab(faults=[{"name": "ipmi_fence_broken", "target": N1}])
    lab.hang(N1)
    wait_until(lambda: fence_success(lab, N2, M1), 10, "fence success")
    lines_in_order(lab.syslog(N2), [f"fencing node {M1}",
                                    f"fence {M1} dev 0.0 agent fence_ipmilan result: error from agent",
                                    f"fence {M1} success"])
    assert [(e["method"], e["ok"]) for e in lab.events("fence_attempt")] == [("ipmi", False), ("pdu", True)]
    assert [e for e in lab.events("outlet") if (e["pdu"], e["outlet"]) == ("pdu2", 1)], "the PDU did the work"


def test_no_pdu_fence_leaves_a_powerless_node_unfenced(make_lab):
    lab = make_lab(faults=[{"name": "no_pdu_fence", "target": N1}])
    lab.outlet_off("pdu2", 1)
    wait_until(lambda: sum("error from agent" in l for l in lab.syslog(N2)) >= 3, 10, "IPMI retried three times")
    assert not lab.events("fence_done")
    assert {e["method"] for e in lab.events("fence_attempt")} == {"ipmi"}
    vm = service(lab, N2, "vm:vm0001-dev")
    assert (vm.owner, vm.state) == (M1, "started"), "services stay blocked until the fence succeeds"


def test_no_relocate_restarts_in_place_forever(make_lab):
    lab = make_lab(faults=[{"name": "no_relocate", "target": "vm0001-dev"}])
    vm = "vm0001-dev"
    for round_ in (1, 2, 3):
        lab.out(N1, f"virsh destroy {vm}")
        wait_until(lambda: sum(f"Service vm:{vm} started" in l for l in lab.syslog(N1)) >= round_, 10, f"restart {round_}")
        wait_until(lambda: "running" in lab.out(N1, f"virsh domstate {vm}"), 5, "running again")
    assert not any("Restart threshold" in l for l in lab.syslog(N1))
    svc = service(lab, N1, f"vm:{vm}")
    assert (svc.owner, svc.state) == (M1, "started")


def test_vm_not_recovered_stays_down(make_lab):
    lab = make_lab(faults=[{"name": "vm_not_recovered", "target": "vm0002-web"}])
    lab.out(N1, "virsh destroy vm0002-web")
    wait_until(lambda: service(lab, N1, "vm:vm0002-web").state == "failed", 10, "vm0002-web failed")
    assert "vm0002-web" not in lab.out(N1, "virsh list") + lab.out(N2, "virsh list")
    (down,) = [e for e in lab.events("vm_down") if e["vm"] == "vm0002-web"]
    assert not [e for e in lab.events("vm_up") if e["vm"] == "vm0002-web" and e["t"] > down["t"]]


def test_node_no_rejoin_keeps_the_fenced_node_out(make_lab):
    lab = make_lab(faults=[{"name": "node_no_rejoin", "target": N1}])
    lab.hang(N1)
    wait_until(lambda: fence_success(lab, N2, M1), 10, "fence success")
    wait_until(lambda: [e for e in lab.events("node_state") if e["node"] == N1 and e["state"] == "up"], 10,
               "an-node01 booted")
    rc, text = lab.run(N1, "clustat")
    assert rc != 0 and "Could not connect to CMAN" in text
    lab.out(N2, "sleep 1")  # time for an autostart that must not happen
    assert not parse_clustat(lab.out(N2, "clustat")).member(M1).online
    assert not [e for e in lab.events("member_joined") if e["node"] == N1]


def test_slow_fence_takes_longer_than_allowed(make_lab):
    lab = make_lab(faults=[{"name": "slow_fence", "target": N1}], timing={"slow_fence_extra": 1.0})
    lab.hang(N1)
    wait_until(lambda: lab.events("fence_done"), 10, "fence done")
    (start,), (done,) = lab.events("fence_start"), lab.events("fence_done")
    assert done["t"] - start["t"] >= 1.0, "an unfaulted IPMI fence takes timing.ipmi_fence (0.2 s)"


def test_migration_drops_loses_seconds_of_traffic(make_lab):
    lab = make_lab(faults=[{"name": "migration_drops", "target": "vm0001-dev"}], timing={"migration_drop": 1.0})  # 20 pings at 50 ms
    text, ping = ping_during(lab, N2, "10.254.0.1", lambda: lab.out(N1, f"clusvcadm -M vm:vm0001-dev -m {M2}"),
                             seconds=2.0)
    assert text.endswith("...Success\n")
    assert ping["transmitted"] - ping["received"] >= 15, f"~1 s of 50 ms pings lost: {ping}"
    (migration,) = lab.events("migration")
    assert migration["gap_end"] - migration["gap_start"] >= 1.0
    assert "Total downtime:   1000" in lab.out(N2, "virsh domjobinfo vm0001-dev --completed")


def test_wrong_outlet_fences_the_wrong_node(make_lab):
    # an-node01's inventory outlet (pdu2/1) really feeds an-node02 and vice versa.
    lab = make_lab(faults=[{"name": "wrong_outlet", "target": N1}])
    lab.outlet_off("pdu2", 2)  # what the inventory calls an-node02's outlet: an-node01 goes dark
    wait_until(lambda: lab.events("fence_done"), 10, "fence reported done")
    (done,) = lab.events("fence_done")
    assert (done["node"], done["method"]) == (N1, "pdu")
    offs = [e["node"] for e in lab.events("node_state") if e["state"] == "off"]
    assert offs[0] == N1 and N2 in offs, "the PDU fence cut the survivor instead of the victim"


def test_late_cold_start_gets_the_late_node_fenced(make_lab):
    lab = make_lab(faults=[{"name": "late_cold_start", "target": N2}],
                   edit=lambda inv: inv["cluster"].update(post_join_delay=1.0))
    for node in (N1, N2):
        lab.out(node, "/etc/init.d/rgmanager stop")
    for node in (N1, N2):
        lab.out(node, "/etc/init.d/cman stop")
        lab.run(node, "poweroff")
    wait_until(lambda: {e["node"] for e in lab.events("node_state") if e["state"] == "off"} == {N1, N2}, 10, "both off")
    for node in (N1, N2):
        lab.power_on(node)
    wait_until(lambda: lab.events("fence_start"), 10, "startup fencing")
    (start,) = lab.events("fence_start")
    assert (start["node"], start["by"]) == (N2, N1)
    assert any(f"fencing node {M2}" in l for l in lab.syslog(N1))
