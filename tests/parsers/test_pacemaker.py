"""Pacemaker-era outputs: crm_mon XML edge cases, fence history text, fencing/resource syslog lines."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import hacert.drivers.parsers as p
from hacert.drivers.parsers import ParseError, parse_crm_mon, parse_stonith_history, parse_syslog_events

from tests.parsers._shared import require_shared


def corpus(name: str) -> str:
    return require_shared("corpus", "crm_mon_xml", name).read_text(encoding="utf-8")


def test_legacy_crm_mon_details():
    st = parse_crm_mon(corpus("01_pcmk1.1.20_legacy_as_xml_standby_unclean_fence_history.xml"))
    assert (st.schema, st.version, st.stack) == ("legacy", "1.1.20", "corosync")
    assert st.dc_version == "1.1.20-5.el7_7.2-3c4c782f70"
    assert st.cluster_options["stonith-enabled"] == "true"
    assert st.resource("MyResource")[0].nodes == ["ssc-vm-c-260.colo.seagate.com"]
    assert [f.op_key for f in st.failures if f.status == "Timed Out"] == ["MyResource_stop_0"]
    assert [e.state for e in st.fence_history] == ["failed", "success"]


def test_pacemaker2_containers():
    st = parse_crm_mon(corpus("03_pcmk2.0.4_api2.2_remote_bundle_nodes_offline.xml"))
    assert st.dc == "cluster02" and st.nodes["cluster02"].is_dc  # current_dc carries no name here
    bundle = [r for r in st.resources if r.bundle == "httpd-bundle"]
    assert len(bundle) == 12 and not any(r.active for r in bundle)
    assert {r.clone for r in st.resource("inactive-clone")} == {"inactive-clone-master"}
    assert st.online_nodes == ["cluster01", "cluster02"]


def test_pacemaker2_fence_history_uses_status():
    xml = ('<pacemaker-result api-version="2.9" request="crm_mon --output-as=xml --fence-history=3">\n'
           '  <summary><current_dc present="true" name="node1" with_quorum="true"/></summary>\n'
           '  <nodes/>\n'
           '  <fence_history>\n'
           '    <fence_event action="reboot" target="node2" client="pacemaker-controld.1234" origin="node1"'
           ' status="success" delegate="node1" completed="2021-01-11 14:05:10Z"/>\n'
           '  </fence_history>\n'
           '  <status code="0" message="OK"/>\n'
           '</pacemaker-result>\n')
    (event,) = parse_crm_mon(xml).fence_history
    assert (event.target, event.state, event.delegate, event.completed) == (
        "node2", "success", "node1", "2021-01-11 14:05:10Z")


def test_crm_mon_error_result():
    xml = ('<pacemaker-result api-version="2.2" request="crm_mon --output-as=xml">\n'
           '  <status code="102" message="Not connected">\n'
           '    <errors><error>crm_mon: Error: cluster is not available on this node</error></errors>\n'
           '  </status>\n</pacemaker-result>\n')
    with pytest.raises(ParseError, match="code 102: Not connected"):
        parse_crm_mon(xml)


def test_crm_mon_while_the_cib_is_not_up_yet_is_no_status():
    """pacemaker 2.1.5, captured on netlab ~1 s into `pcs cluster start`: code 0 "OK", exit 0,
    errors and no <summary>. Neither a status nor an unreadable answer."""
    from pathlib import Path

    xml = (Path(__file__).parents[1] / "drivers" / "samples" / "crm_mon_xml_cib_not_connected_2.1.5.xml").read_text()
    with pytest.raises(ParseError, match="no cluster status: Could not connect to the CIB: Transport endpoint"):
        parse_crm_mon(xml)


def test_crm_mon_not_xml():
    with pytest.raises(ParseError) as err:
        parse_crm_mon("Error: cluster is not currently running on this node\n")
    assert "cluster is not currently running" in str(err.value)


# Fence history as printed by pcs/crm_mon on pacemaker 2.1 and 1.1 (insights-core pcs status fixtures)
# and by pacemaker 2.0's stonith_admin --history (pcs test fixture).
HISTORY_21 = """\
Failed Fencing Actions:
  * reboot of r40 failed: delegate=, client=pacemaker-fenced.160287, origin=r11, completed='2022-03-06 23:27:35 +08:00'
Fencing History:
  * reboot of r40 successful: delegate=r11, client=pacemaker-controld.160291, origin=r11, completed='2022-03-13 23:26:20 +08:00'
  * reboot of r40 successful: delegate=r11, client=stonith_admin.1155499, origin=r40, completed='2022-03-06 23:34:03 +08:00'
"""
HISTORY_11_WRAPPED = """\
* reboot of test-HOST2 failed: delegate=, client=stonith_admin.26944, origin=test-host1,
    completed='Thu Feb 17 16:40:23 2022'
* reboot of test-host2 failed: delegate=, client=stonith_admin.26937, origin=test-host1,
    completed='Thu Feb 17 16:40:19 2022'
"""
HISTORY_20_ADMIN = """\
rh80-node1 was able to reboot node rh80-node2 on behalf of pacemaker-controld.835 from rh80-node1 at Wed Oct 10 09:56:47 2018
rh80-node2 was able to reboot node rh80-node1 on behalf of pacemaker-controld.835 from rh80-node2 at Wed Oct 10 09:58:47 2018
"""


def test_history_pacemaker_21():
    failed, ok, manual = parse_stonith_history(HISTORY_21)
    assert (failed.target, failed.action, failed.state, failed.delegate, failed.origin) == (
        "r40", "reboot", "failed", None, "r11")
    assert (ok.state, ok.delegate, ok.client, ok.completed) == (
        "success", "r11", "pacemaker-controld.160291", "2022-03-13 23:26:20 +08:00")
    assert manual.client == "stonith_admin.1155499" and manual.origin == "r40"


def test_history_crm_mon_11_wraps_the_date():
    events = parse_stonith_history(HISTORY_11_WRAPPED)
    assert [(e.target, e.state, e.completed) for e in events] == [
        ("test-HOST2", "failed", "Thu Feb 17 16:40:23 2022"), ("test-host2", "failed", "Thu Feb 17 16:40:19 2022")]


def test_history_stonith_admin_20():
    first, second = parse_stonith_history(HISTORY_20_ADMIN)
    assert (first.delegate, first.action, first.target, first.client, first.origin, first.completed) == (
        "rh80-node1", "reboot", "rh80-node2", "pacemaker-controld.835", "rh80-node1", "Wed Oct 10 09:56:47 2018")
    assert second.state == "success" and second.target == "rh80-node1"


def test_history_headers_only_means_no_events():
    assert parse_stonith_history("Fencing History:\n") == []


def test_history_garbage():
    with pytest.raises(ParseError) as err:
        parse_stonith_history("Fencing History:\n  crm_mon: Connection to cluster failed\n")
    assert "Connection to cluster failed" in str(err.value)


# Pacemaker 2.0 fencing as logged on a SUSE HANA cluster and a BeeGFS cluster (public troubleshooting notes).
PCMK_LOG = """\
2022-04-21T13:21:38.865044+02:00 oldhanad1 pacemaker-schedulerd[26189]:  warning: Cluster node oldhanad2 will be fenced: peer is no longer part of the cluster
2022-04-21T13:21:38.867641+02:00 oldhanad1 pacemaker-controld[26190]:  notice: Requesting fencing (reboot) of node oldhanad2
2022-04-21T13:21:40.078369+02:00 oldhanad1 pacemaker-controld[26190]:  notice: Result of start operation for killer on oldhanad1: ok
2022-04-21T13:21:51.257505+02:00 oldhanad1 pacemaker-fenced[26186]:  notice: Operation 'reboot' [1951] (call 2 from pacemaker-controld.26190) for host 'oldhanad2' with device 'killer' returned: 0 (OK)
2022-04-21T13:21:51.257803+02:00 oldhanad1 pacemaker-fenced[26186]:  notice: Operation 'reboot' targeting oldhanad2 on oldhanad1 for pacemaker-controld.26190@oldhanad1.a127b270: OK
2022-04-21T13:21:51.259400+02:00 oldhanad1 pacemaker-controld[26190]:  notice: Peer oldhanad2 was terminated (reboot) by oldhanad1 on behalf of pacemaker-controld.26190: OK
2022-04-21T13:21:37.831069+02:00 oldhanad1 corosync[26152]:   [QUORUM] Members[1]: 178438533
2022-04-21T13:21:37.830133+02:00 oldhanad1 corosync[26152]:   [TOTEM ] A new membership (10.162.193.133:116) was formed. Members left: 178438534
Jul 01 16:18:01 ictad22h01 pacemaker-controld[9247]:  notice: Node ictad22h02 state is now lost
"""


def test_pacemaker_fencing_log():
    evs = parse_syslog_events(PCMK_LOG, year=2022)
    kinds = [type(e) for e in evs]
    assert kinds == [p.FenceScheduled, p.FenceRequested, p.ResourceOperationResult, p.FenceDeviceResult,
                     p.FenceOperationResult, p.PeerFenced, p.CorosyncMembers, p.CorosyncMembershipFormed,
                     p.NodeStateChanged]
    scheduled, requested, rsc, device, op, peer, members, formed, lost = evs
    assert (scheduled.node, scheduled.reason) == ("oldhanad2", "peer is no longer part of the cluster")
    assert (requested.node, requested.action) == ("oldhanad2", "reboot")
    assert (rsc.resource, rsc.operation, rsc.node, rsc.ok) == ("killer", "start", "oldhanad1", True)
    assert (device.node, device.device, device.rc, device.ok) == ("oldhanad2", "killer", 0, True)
    assert (op.node, op.action, op.executioner, op.result, op.ok) == ("oldhanad2", "reboot", "oldhanad1", "OK", True)
    assert op.client == "pacemaker-controld.26190@oldhanad1.a127b270"
    assert (peer.node, peer.executioner, peer.ok) == ("oldhanad2", "oldhanad1", True)
    assert members.node_ids == [178438533]
    assert (formed.ring_id, formed.left, formed.joined) == ("10.162.193.133:116", [178438534], [])
    assert (lost.node, lost.state) == ("ictad22h02", "lost")
    assert (peer.timestamp - requested.timestamp).total_seconds() == pytest.approx(12.391759)


def test_pacemaker_21_fence_result_wording():
    (op,) = parse_syslog_events([
        "Jan 11 14:05:10 node1 pacemaker-fenced[1222]:  notice: Operation 'reboot' targeting node2 by node1 "
        "for pacemaker-controld.1234@node1: OK (complete)"], year=2021)
    assert (op.node, op.executioner, op.result, op.ok) == ("node2", "node1", "OK", True)


DRIVER_SAMPLES = Path(__file__).parents[1] / "drivers" / "samples"


def test_failures_and_fail_counts_of_pacemaker_2_1():
    """crm_mon 2.1.5's own XML (TZ=Asia/Tokyo CIB_file=crm_mon_xml_failed_monitor_2.1.5.cib.xml crm_mon
    --one-shot --inactive --output-as=xml): a recurring monitor of vm0001 returned 7 on node1."""
    st = parse_crm_mon((DRIVER_SAMPLES / "crm_mon_xml_failed_monitor_2.1.5.xml").read_text())
    (failure,) = st.failures
    assert (failure.op_key, failure.resource, failure.node, failure.task, failure.interval_ms) == \
        ("vm0001_monitor_10000", "vm0001", "node1", "monitor", 10000)
    assert (failure.exitstatus, failure.exitcode, failure.call, failure.status) == ("not running", 7, 19, "complete")
    assert p.crm_time(failure.last_rc_change) == datetime(2026, 12, 7, 8, 28, 35, tzinfo=timezone(timedelta(hours=9)))
    (count,) = st.fail_counts
    assert (count.node, count.resource, count.fail_count, count.migration_threshold) == ("node1", "vm0001", 1, 1000000)
    assert p.crm_time(count.last_failure) == datetime(2026, 12, 7, 8, 28, 35)  # ctime: the node's local time


def test_fail_counts_of_legacy_xml_and_none_without_failures():
    legacy = parse_crm_mon(corpus("01_pcmk1.1.20_legacy_as_xml_standby_unclean_fence_history.xml"))
    assert [(c.node, c.resource, c.fail_count) for c in legacy.fail_counts] == \
        [("ssc-vm-c-260.colo.seagate.com", "MyResource", 1000000)]
    assert [f.resource for f in legacy.failures] == ["MyResource", "MyResource"]
    assert parse_crm_mon(corpus("02_pcmk2.0.3_api2.0_offline_stale_node.xml")).fail_counts == []


@pytest.mark.parametrize("text, expected", [
    ("Thu Mar 26 05:58:43 2020", datetime(2020, 3, 26, 5, 58, 43)),
    ("Tue Jan  5 09:03:52 2021", datetime(2021, 1, 5, 9, 3, 52)),
    ("2026-12-06 23:28:35Z", datetime(2026, 12, 6, 23, 28, 35, tzinfo=timezone.utc)),
    ("2025-01-08 08:59:30 +09:00", datetime(2025, 1, 8, 8, 59, 30, tzinfo=timezone(timedelta(hours=9)))),
    ("", None), ("yesterday", None),
])
def test_crm_mon_time_stamps(text, expected):
    assert p.crm_time(text) == expected
