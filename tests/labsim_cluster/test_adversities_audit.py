"""The adversities the post-case audit must see through, and the record it reads, in the simulated cluster:

- vm_dies_in_network_case: a VM dies when its host loses a cable (pulled at the switch, or the switch's
  power cut), not on a booting switch's link bounces, and the cluster restarts it as after virsh destroy;
- migration_refused: clusvcadm -M and pcs resource move refuse the VM with the tools' own words; it stays;
- pacemaker's failure record: crm_mon's <failures> and <node_history> fail counts (as pacemaker prints
  them, read back by the driver's parser), forgotten by `pcs resource cleanup`.
"""

from __future__ import annotations

import pytest

from hacert.drivers.parsers import crm_time, parse_clustat, parse_crm_mon, parse_syslog_events
from hacert.drivers.parsers.syslog import ServiceRecoveryStarted, ServiceStatusFailed
from tests.labsim_cluster.lab import wait_until

pytestmark = pytest.mark.timeout(120)

N1, N2 = "an-node01", "an-node02"
M1, M2 = "an-node01.alteeve.ca", "an-node02.alteeve.ca"


def adversities(*entries: tuple[str, str]):
    def edit(data):
        data["simulation"]["adversities"] = [{"name": name, "target": target} for name, target in entries]
    return edit


def port_of(lab, node: str, nic: str) -> tuple[str, int]:
    for sw in lab.world.switches.values():
        for ifindex, port in sw.ports.items():
            if port.cable == (node, nic):
                return sw.name, ifindex
    raise AssertionError(f"no switch port is cabled to {node}/{nic}")


def crashes(lab, vm: str) -> list[dict]:
    return [e for e in lab.events("vm_down") if e["vm"] == vm and str(e.get("reason", "")).startswith("crashed")]


def owner(lab, node: str, name: str) -> tuple[str | None, str]:
    svc = parse_clustat(lab.out(node, "clustat")).service(name)
    return svc.owner, svc.state


def test_a_cable_pull_kills_the_vm_and_the_cluster_restarts_it(make_lab):
    lab = make_lab(edit=adversities(("vm_dies_in_network_case", "vm0002-web")), transport="inproc")
    switch, ifindex = port_of(lab, N1, "eth1")
    lab.world.set_port_admin(switch, ifindex, False)
    wait_until(lambda: crashes(lab, "vm0002-web"), 5, "vm0002-web crashed")
    events = wait_until(lambda: [e for e in parse_syslog_events(lab.syslog(N1)) if isinstance(e, ServiceRecoveryStarted)],
                        10, "rgmanager recovering vm0002-web")
    assert events[0].service == "vm:vm0002-web"
    failed = [e for e in parse_syslog_events(lab.syslog(N1)) if isinstance(e, ServiceStatusFailed)]
    assert [(e.resource_name, e.code) for e in failed] == [("vm0002-web", 7)]
    wait_until(lambda: owner(lab, N1, "vm:vm0002-web") == (M1, "started"), 10, "vm0002-web running again on an-node01")
    # only the targeted VM of that host: vm0001-dev shares it, vm0003-db lives on the other node
    assert not crashes(lab, "vm0001-dev") and not crashes(lab, "vm0003-db")
    lab.world.set_port_admin(switch, ifindex, True)


def test_a_switch_power_cut_kills_the_vm_once_its_boot_bounces_do_not(make_lab):
    lab = make_lab(edit=adversities(("vm_dies_in_network_case", "vm0003-db")), transport="inproc",
                   timing={"switch_boot": 1.5, "switch_bounce_interval": 0.2, "switch_bounces": 2})
    lab.world.set_outlet("pdu1", 1, "off")  # sw1 feeds every primary link
    wait_until(lambda: crashes(lab, "vm0003-db"), 5, "vm0003-db crashed with sw1's power")
    wait_until(lambda: owner(lab, N2, "vm:vm0003-db") == (M2, "started"), 10, "vm0003-db restarted on an-node02")
    lab.world.set_outlet("pdu1", 1, "on")
    wait_until(lambda: lab.world.switch_state("sw1") == "up", 10, "sw1 booted")
    assert [e for e in lab.events("link_bounce") if e["switch"] == "sw1"], "the switch bounced its links while booting"
    assert len(crashes(lab, "vm0003-db")) == 1, "a booting switch's link bounces are no power loss"


def test_a_refused_migration_leaves_the_vm_where_it_is(make_lab):
    lab = make_lab(edit=adversities(("migration_refused", "vm0001-dev")), transport="inproc")
    code, text = lab.run(N1, f"clusvcadm -M vm:vm0001-dev -m {M2}")
    assert (code, text) == (248, f"Trying to migrate vm:vm0001-dev to {M2}...Invalid operation for resource\n")
    assert owner(lab, N1, "vm:vm0001-dev") == (M1, "started")
    assert lab.run(N1, f"clusvcadm -M vm:vm0002-web -m {M2}")[0] == 0, "only the targeted VM is refused"
    code, text = lab.run(N1, f"clusvcadm -r vm:vm0001-dev -m {M2}")  # a relocation (stop, start) is no migration
    assert code == 0, text


def test_pcs_refuses_to_move_the_vm_with_its_own_words(make_lab):
    lab = make_lab(edit=lambda data: (data["cluster"].update(manager="pacemaker"),
                                      adversities(("migration_refused", "vm0001-dev"))(data)), transport="inproc")
    code, text = lab.run(N1, f"pcs resource move vm0001-dev {M2}")
    assert code == 1
    assert text == ("Error: Unable to move resource 'vm0001-dev' using a location constraint. Current location of the "
                    "resource may be affected by some other constraint.\n")
    assert parse_crm_mon(lab.out(N1, "crm_mon --output-as=xml")).resource("vm0001-dev")[0].nodes == [M1]


def test_crm_mon_records_a_failure_until_a_cleanup(make_lab):
    lab = make_lab(edit=lambda data: data["cluster"].update(manager="pacemaker"), transport="inproc")
    before = parse_crm_mon(lab.out(N1, "crm_mon --one-shot --inactive --output-as=xml"))
    assert before.failures == [] and before.fail_counts == []
    lab.out(N1, "virsh destroy vm0002-web")
    status = wait_until(lambda: (s := parse_crm_mon(lab.out(N1, "crm_mon --one-shot --inactive --output-as=xml"))).failures
                        and s, 10, "the failure recorded")
    (failure,) = status.failures
    assert (failure.resource, failure.node, failure.task, failure.exitstatus, failure.exitcode) == \
        ("vm0002-web", M1, "monitor", "not running", 7)
    assert failure.op_key == f"vm0002-web_monitor_{failure.interval_ms}" and crm_time(failure.last_rc_change) is not None
    (count,) = status.fail_counts
    assert (count.node, count.resource, count.fail_count) == (M1, "vm0002-web", 1)
    assert count.migration_threshold == lab.inventory.expectations.max_restarts + 1
    without = lab.out(N1, "crm_mon --one-shot --output-as=xml --exclude=operations")
    assert "<operation_history" not in without and 'fail-count="1"' in without
    lab.out(N1, "pcs resource cleanup vm0002-web")
    after = parse_crm_mon(lab.out(N1, "crm_mon --output-as=xml"))
    assert after.failures == [] and after.fail_counts == []
