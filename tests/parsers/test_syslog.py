"""Syslog windows of seed 002's fencing, network, VM-destroy and node-crash tests."""

from __future__ import annotations

from datetime import datetime

import pytest

import hacert.drivers.parsers as p
from hacert.drivers.parsers import ParseError, parse_syslog_events, parse_syslog_line
from hacert.drivers.parsers.syslog import FenceDeviceResult

from tests.parsers._shared import sample

N1, N2 = "an-node01.alteeve.ca", "an-node02.alteeve.ca"


def events(name: str, year: int):
    return parse_syslog_events(sample(name), year=year)


def of(evs, kind):
    return [e for e in evs if isinstance(e, kind)]


def seconds(a, b) -> float:
    return (b.timestamp - a.timestamp).total_seconds()


def test_line_fields():
    line = parse_syslog_line("Dec 13 12:42:41 an-node02 fenced[2817]: fencing node an-node01.alteeve.ca", year=2011)
    assert (line.timestamp, line.host, line.program, line.pid, line.message) == (
        datetime(2011, 12, 13, 12, 42, 41), "an-node02", "fenced", 2817, "fencing node an-node01.alteeve.ca")


def test_line_without_pid_and_path_program():
    line = parse_syslog_line("Dec 27 14:18:20 an-node01 modcluster: Updating cluster.conf", year=2011)
    assert (line.program, line.pid, line.message) == ("modcluster", None, "Updating cluster.conf")
    line = parse_syslog_line("Jan  1 21:26:00 an-node02 /sbin/obliterate-peer.sh: Local node ID: 2 / "
                             "Remote node: an-node01.alteeve.ca", year=2012)
    assert line.program == "/sbin/obliterate-peer.sh" and line.timestamp.day == 1


def test_default_year_is_this_year():
    assert parse_syslog_line("Jan  1 18:38:35 an-node01 kernel: x").timestamp.year == datetime.now().year


def test_rfc3339_timestamp():
    line = parse_syslog_line("2022-04-21T13:21:51.257803+02:00 oldhanad1 pacemaker-fenced[26186]:  notice: x")
    assert line.timestamp.year == 2022 and line.timestamp.utcoffset().total_seconds() == 7200
    assert (line.program, line.message) == ("pacemaker-fenced", "notice: x")


@pytest.mark.parametrize("bad", ["", "no timestamp here", "Foo 13 12:42:39 host prog: x", "Feb 30 12:00:00 h p: x"])
def test_not_syslog(bad):
    with pytest.raises(ParseError) as err:
        parse_syslog_line(bad, year=2011)
    assert repr(bad) in str(err.value)


def test_fence_after_hang():
    evs = events("syslog_002_l1757_fence_hang_node01.txt", 2011)
    assert [type(e).__name__ for e in evs] == [
        "CorosyncProcessorFailed", "CorosyncMembers", "CorosyncMembershipFormed", "DlmConnectionClosed",
        "FenceStarted", "FenceSucceeded"]
    members, closed, started, done = evs[1], evs[3], evs[4], evs[5]
    assert (members.count, members.node_ids, closed.node_id) == (1, [2], 1)
    assert started.node == done.node == N1 and started.host == "an-node02"
    assert seconds(evs[0], started) == 2 and seconds(started, done) == 15


def test_fence_after_power_cut_falls_back_from_ipmi():
    evs = events("syslog_002_l1773_fence_power_node01.txt", 2011)
    failed = of(evs, p.FenceAgentFailed)
    assert [(f.node, f.device, f.agent, f.result) for f in failed] == [
        (N1, "0.0", "fence_ipmilan", "error from agent")]
    started, done = of(evs, p.FenceStarted)[0], of(evs, p.FenceSucceeded)[0]
    assert seconds(started, failed[0]) == 20 and seconds(started, done) == 20


@pytest.mark.parametrize("name, fenced_node, survivor, agent_errors", [
    ("syslog_002_l1789_fence_hang_node02.txt", N2, "an-node01", 0),
    ("syslog_002_l1800_fence_power_node02.txt", N2, "an-node01", 1),
])
def test_fencing_an_node02(name, fenced_node, survivor, agent_errors):
    evs = events(name, 2011)
    assert [e.node for e in of(evs, p.FenceSucceeded)] == [fenced_node]
    assert {e.host for e in evs} == {survivor}
    assert len(of(evs, p.FenceAgentFailed)) == agent_errors
    assert of(evs, p.CorosyncMembers)[0].node_ids == [1]


def test_cable_pull_switches_to_backup():
    down, lost, active = events("syslog_002_l1862_bond_eth0_pulled.txt", 2011)
    assert (down.interface, down.driver) == ("eth0", "e1000e") and isinstance(down, p.NicLinkDown)
    assert isinstance(lost, p.BondLinkDown) and (lost.bond, lost.interface) == ("bond0", "eth0")
    assert isinstance(active, p.BondActiveChanged) and (active.bond, active.interface) == ("bond0", "eth3")


def test_reconnect_waits_the_updelay():
    up, pending = events("syslog_002_l1889_bond_eth0_reconnected.txt", 2011)
    assert isinstance(up, p.NicLinkUp)
    assert (up.interface, up.speed_mbps, up.duplex, up.flow_control) == ("eth0", 1000, "full", "Rx/Tx")
    assert isinstance(pending, p.BondLinkUpPending) and (pending.interface, pending.delay_ms) == ("eth0", 120000)
    definitely, active = events("syslog_002_l1892_bond_eth0_back_active.txt", 2011)
    assert isinstance(definitely, p.BondLinkUp)
    assert (definitely.bond, definitely.interface, definitely.speed_mbps, definitely.duplex) == (
        "bond0", "eth0", 1000, "full")
    assert isinstance(active, p.BondActiveChanged) and active.interface == "eth0"
    assert seconds(pending, active) == 120  # the measured updelay


def test_primary_switch_off_moves_every_bond():
    evs = events("syslog_002_l1916_primary_switch_off.txt", 2011)
    assert [(e.bond, e.interface) for e in of(evs, p.BondActiveChanged)] == [
        ("bond0", "eth3"), ("bond2", "eth5"), ("bond1", "eth4")]
    assert sorted(e.interface for e in of(evs, p.NicLinkDown)) == ["eth0", "eth1", "eth2"]


def test_switch_boot_bounces_reset_the_updelay():
    evs = events("syslog_002_l1979_switch_boot_bounce.txt", 2011)
    assert [(e.bond, e.after_ms) for e in of(evs, p.BondLinkDownAgain)] == [
        ("bond0", 55000), ("bond1", 55800), ("bond2", 56800), ("bond0", 3500), ("bond1", 4100), ("bond2", 3500)]
    assert {e.delay_ms for e in of(evs, p.BondLinkUpPending)} == {120000}
    assert of(evs, p.BondActiveChanged) == []


def test_primary_switch_restored():
    evs = events("syslog_002_l2005_primary_switch_restored.txt", 2011)
    assert [(e.bond, e.interface) for e in of(evs, p.BondActiveChanged)] == [
        ("bond0", "eth0"), ("bond1", "eth1"), ("bond2", "eth2")]


def test_vm_destroy_restarts_in_place():
    evs = events("syslog_002_l4481_vm0001_destroy1.txt", 2012)
    status, stopping, recovering, restart, started = evs
    assert isinstance(status, p.ServiceStatusFailed)
    assert (status.resource_type, status.resource_name, status.code, status.reason, status.service) == (
        "vm", "vm0001-dev", 7, "unspecified", "vm:vm0001-dev")
    assert [type(e) for e in evs[1:]] == [p.ServiceStopping, p.ServiceRecovering, p.ServiceRecoveryStarted,
                                          p.ServiceStarted]
    assert {e.service for e in evs[1:]} == {"vm:vm0001-dev"}
    assert started.timestamp == datetime(2012, 1, 1, 18, 38, 37) and seconds(status, started) == 2


def test_third_destroy_relocates():
    evs = events("syslog_002_l4557_vm0001_destroy3.txt", 2012)
    threshold = of(evs, p.ServiceRestartThresholdExceeded)
    relocated = of(evs, p.ServiceRelocated)
    assert [e.service for e in threshold] == ["vm:vm0001-dev"]
    assert [(e.service, e.member_id) for e in relocated] == [("vm:vm0001-dev", 2)]
    assert of(evs, p.ServiceRecoveryStarted) == [] and of(evs, p.ServiceStarted) == []


def test_node01_crash_fenced_and_taken_over():
    evs = events("syslog_002_l4937_node01_crash.txt", 2012)
    started = of(evs, p.FenceStarted)
    assert [(e.node, e.line.program) for e in started] == [(N1, "fenced")]
    fenced_ok = [e for e in of(evs, p.FenceSucceeded) if e.line.program == "fenced"]
    assert [e.timestamp for e in fenced_ok] == [datetime(2012, 1, 1, 21, 26, 15)]
    assert {e.line.program for e in of(evs, p.FenceSucceeded)} == {"fenced", "fence_node"}
    assert [(e.service, e.from_member) for e in of(evs, p.ServiceTakeover)] == [
        ("vm:vm0001-dev", N1), ("vm:vm0002-web", N1)]
    assert [e.service for e in of(evs, p.ServiceStarted)] == ["vm:vm0001-dev", "vm:vm0002-web"]
    assert [(e.minor, e.code, e.meaning) for e in of(evs, p.DrbdFencePeerResult)] == [
        (1, 7, "peer was stonithed"), (0, 7, "peer was stonithed"), (2, 7, "peer was stonithed")]
    assert [(e.service, e.reason) for e in of(evs, p.ServiceMarkedStopped)] == [
        ("service:storage_an01", "Restricted domain unavailable")]
    assert seconds(of(evs, p.CorosyncProcessorFailed)[0], of(evs, p.ServiceStarted)[-1]) == 9


def test_node02_crash_taken_over_by_node01():
    evs = events("syslog_002_l5103_node02_crash.txt", 2012)
    assert [(e.service, e.from_member) for e in of(evs, p.ServiceTakeover)] == [
        ("vm:vm0003-db", N2), ("vm:vm0004-ms", N2)]
    assert of(evs, p.FenceStarted)[0].node == N2 and {e.host for e in evs} == {"an-node01"}


def test_window_across_new_year():
    window = [sample("syslog_002_l1757_fence_hang_node01.txt").splitlines()[-1],
              sample("syslog_002_l4481_vm0001_destroy1.txt").splitlines()[4]]
    first, second = parse_syslog_events(window, year=2011)
    assert (first.timestamp.year, second.timestamp.year) == (2011, 2012)


def test_window_with_a_foreign_line():
    window = sample("syslog_002_l1862_bond_eth0_pulled.txt") + "Looking again at an-node01's bond0's status;\n"
    with pytest.raises(ParseError) as err:
        parse_syslog_events(window, year=2011)
    assert "Looking again" in str(err.value)


def test_empty_window():
    with pytest.raises(ParseError, match="empty"):
        parse_syslog_events([], year=2011)


# Newer kernels prefix the slave: 'bond0: (slave eth0): ...'.
@pytest.mark.parametrize("message, kind, fields", [
    ("bond0: (slave eth0): link status definitely down, disabling slave", p.BondLinkDown, ("bond0", "eth0")),
    ("bond0: (slave eth1): making interface the new active one", p.BondActiveChanged, ("bond0", "eth1")),
    ("bond0: (slave eth0): link status up again after 0 ms", p.BondLinkUpAgain, ("bond0", "eth0", 0)),
    ("bond0: (slave eth0): link status up, enabling it in 200 ms", p.BondLinkUpPending, ("bond0", "eth0", 200)),
    ("bond0: (slave eth0): link status definitely up, 1000 Mbps full duplex", p.BondLinkUp,
     ("bond0", "eth0", 1000, "full")),
    ("bonding: bond0: link status up again after 100 ms for interface eth0.", p.BondLinkUpAgain,
     ("bond0", "eth0", 100)),
    ("bonding: bond0: now running without any active interface !", p.BondNoActiveInterface, ("bond0",)),
    ("e1000e 0000:00:19.0 eth0: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: None", p.NicLinkUp,
     ("eth0", "e1000e", 1000, "full", "None")),
    ("e1000e 0000:00:19.0 eth0: NIC Link is Down", p.NicLinkDown, ("eth0", "e1000e")),
])
def test_bonding_wordings(message, kind, fields):
    (event,) = parse_syslog_events([f"Dec 13 14:03:19 an-node01 kernel: {message}"], year=2011)
    assert isinstance(event, kind)
    assert tuple(getattr(event, f.name) for f in list(event.__dataclass_fields__.values())[1:]) == fields


def test_pacemaker_2_1_per_device_fence_result() -> None:
    # As pacemaker-fenced 2.1.5 logged it in netlab when the IPMI level's password was wrong
    # (note the trailing blanks), then when the PDU level fenced the node.
    failed, worked = parse_syslog_events([
        "Nov 22 03:10:01 an-node01 pacemaker-fenced[50]: error: Operation 'reboot' [1120] targeting an-node02 using fence-an-node02-ipmi returned 1  ",
        "Nov 22 03:10:19 an-node01 pacemaker-fenced[50]: notice: Operation 'reboot' [1187] targeting an-node02 using fence-an-node02-pdu returned 0",
    ])
    assert isinstance(failed, FenceDeviceResult) and isinstance(worked, FenceDeviceResult)
    assert (failed.node, failed.device, failed.rc, failed.ok) == ("an-node02", "fence-an-node02-ipmi", 1, False)
    assert (worked.node, worked.device, worked.rc, worked.ok) == ("an-node02", "fence-an-node02-pdu", 0, True)


def test_rgmanager_start_failures() -> None:
    # rgmanager's rg_state.c wordings (#68 also as quoted from a failing cluster's log)
    started, failed = parse_syslog_events([
        "Aug 16 15:03:26 an-node01 rgmanager[4679]: #68: Failed to start service:service-main-server1; return value: 1",
        "Aug 16 15:03:27 an-node01 rgmanager[4679]: #43: Service vm:vm0003-db has failed; can not start.",
    ], year=2011)
    assert isinstance(started, p.ServiceStartFailed) and (started.service, started.code) == ("service:service-main-server1", 1)
    assert isinstance(failed, p.ServiceFailed) and failed.service == "vm:vm0003-db"
