"""clustat as printed in the seeds (RHEL 6 an-cluster-A, seed 001's qdisk cluster, seed 003's pmsapp)."""

from __future__ import annotations

import pytest

from hacert.drivers.parsers import ParseError, parse_clustat

from tests.parsers._shared import sample

N1, N2 = "an-node01.alteeve.ca", "an-node02.alteeve.ca"
VMS = ["vm:vm0001-dev", "vm:vm0002-web", "vm:vm0003-db", "vm:vm0004-ms"]


def owners(status):
    return {s.name: (s.owner, s.last_owner, s.state) for s in status.services}


def test_members_before_rgmanager_starts():
    st = parse_clustat(sample("clustat_002_l3100_no_rgmanager.txt"))
    assert (st.format, st.cluster_name, st.timestamp, st.quorate) == (
        "text", "an-cluster-A", "Wed Dec 14 20:45:04 2011", True)
    assert [(m.name, m.id, m.online, m.local, m.rgmanager) for m in st.members] == [
        (N1, 1, True, True, False), (N2, 2, True, False, False)]
    assert st.services == []
    assert st.local_member.name == N1


def test_disabled_service_shows_its_last_owner():
    st = parse_clustat(sample("clustat_002_l3166_storage_an01_disabled.txt"))
    assert owners(st) == {"service:storage_an01": (None, N1, "disabled"),
                          "service:storage_an02": (N2, None, "started")}
    svc = st.service("storage_an01")
    assert (svc.resource_type, svc.kind, svc.short_name) == ("service", "service", "storage_an01")


def test_new_vm_services_are_disabled_with_no_owner():
    st = parse_clustat(sample("clustat_002_l4108_vms_added_disabled.txt"))
    for name in VMS:
        svc = st.service(name)
        assert (svc.owner, svc.last_owner, svc.state) == (None, None, "disabled")
        assert svc.resource_type == "vm" and svc.name == "vm:" + svc.short_name
    assert st.service("vm0004-ms") is st.service("vm:vm0004-ms")


def test_withdrawn_member_is_offline_and_its_storage_stopped():
    st = parse_clustat(sample("clustat_002_l4386_node02_withdrawn.txt"))
    node2 = st.member(N2)
    assert (node2.online, node2.rgmanager, node2.status) == (False, False, "Offline")
    assert owners(st)["service:storage_an02"] == (None, N2, "stopped")
    assert all(st.service(v).owner == N1 for v in VMS)


def test_vm_relocated_after_restart_threshold():
    st = parse_clustat(sample("clustat_002_l4566_vm0001_relocated.txt"))
    assert st.service("vm:vm0001-dev").owner == N2
    assert st.service("vm:vm0002-web").owner == N1
    assert st.local_member.name == N2


def test_all_vms_on_the_survivor_after_node01_crash():
    st = parse_clustat(sample("clustat_002_l5019_node01_crashed.txt"))
    assert {st.service(v).owner for v in VMS} == {N2}
    assert all(s.state == "started" for s in st.services)


def test_fenced_node_offline_vms_on_survivor():
    st = parse_clustat(sample("clustat_002_l5184_node02_offline.txt"))
    assert [m.online for m in st.members] == [True, False]
    assert {st.service(v).owner for v in VMS} == {N1}
    assert owners(st)["service:storage_an02"] == (None, N2, "stopped")


def test_cold_stop_keeps_last_owners():
    st = parse_clustat(sample("clustat_002_l5270_vms_disabled_last_owner.txt"))
    assert [owners(st)[v] for v in VMS] == [(None, N1, "disabled"), (None, N1, "disabled"),
                                           (None, N2, "disabled"), (None, N2, "disabled")]


def test_quorum_disk_member_and_nbsp_padding():
    # seed 001's copy pads columns with non-breaking spaces and indents by six
    st = parse_clustat(sample("clustat_001_l104_qdisk.txt"))
    assert st.cluster_name == "my-cluster" and st.quorate is True
    assert [m.name for m in st.members if not m.qdisk] == [f"my-vm{i}" for i in range(1, 6)]
    qdisk = st.member("/dev/block/8:33")
    assert (qdisk.id, qdisk.qdisk, qdisk.online) == (0, True, True)
    assert st.member("my-vm1").local and not any(m.rgmanager for m in st.members)


def test_three_node_relocation():
    st = parse_clustat(sample("clustat_003_l514_relocated.txt"))
    assert [m.name for m in st.members] == ["pmsapp1", "pmsapp2", "pmsapp3"]
    assert owners(st) == {"service:clusvc": ("pmsapp2", None, "started")}


def test_unknown_service_raises():
    with pytest.raises(KeyError):
        parse_clustat(sample("clustat_003_l514_relocated.txt")).service("vm:nope")


def test_cman_not_running_is_a_parse_error():
    with pytest.raises(ParseError) as err:
        parse_clustat("Could not connect to CMAN: No such file or directory\n")
    assert "Could not connect to CMAN" in str(err.value)


def test_inquorate():
    text = sample("clustat_003_l514_relocated.txt").replace("Member Status: Quorate", "Member Status: Inquorate")
    assert parse_clustat(text).quorate is False


def test_clustat_xml_garbage_quotes_the_line():
    with pytest.raises(ParseError) as err:
        parse_clustat('<?xml version="1.0"?>\n<clustat version="4.1.1">\n  <cluster name="x"\n')
    assert "malformed XML" in str(err.value)
