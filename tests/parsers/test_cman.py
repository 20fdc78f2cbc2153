"""cman_tool status / nodes."""

from __future__ import annotations

import pytest

from hacert.drivers.parsers import ParseError, parse_cman_nodes, parse_cman_status

from tests.parsers._shared import sample


def test_two_node_cluster_while_the_primary_switch_is_off():
    st = parse_cman_status(sample("cman_status_002_l1947_primary_switch_off.txt"))
    assert (st.version, st.config_version, st.cluster_name, st.cluster_id) == ("6.2.0", 7, "an-cluster-A", 24561)
    assert (st.nodes, st.expected_votes, st.total_votes, st.node_votes, st.quorum) == (2, 1, 2, 1, 1)
    assert st.quorum_device_votes is None
    assert st.flags == ["2node"]  # printed 'Flags: 2node ' with a trailing space
    assert st.ports_bound == [0]
    assert (st.node_name, st.node_id) == ("an-node01.alteeve.ca", 1)
    assert st.cluster_generation == 40 and st.cluster_member is True
    assert st.quorate and not st.activity_blocked
    assert st.multicast_addresses == ["239.192.95.81"] and st.node_addresses == ["10.20.0.1"]


def test_quorum_disk_votes():
    st = parse_cman_status(sample("cman_status_001_l117_qdisk.txt"))
    assert (st.nodes, st.expected_votes, st.quorum_device_votes, st.total_votes, st.quorum) == (5, 9, 4, 9, 5)
    assert st.flags == [] and st.ports_bound == [0, 11, 177, 178]
    assert (st.node_name, st.node_id) == ("my-vm1", 1)
    assert st.quorate


def test_activity_blocked_means_inquorate():
    text = sample("cman_status_002_l1947_primary_switch_off.txt").replace(
        "Total votes: 2", "Total votes: 1").replace("Quorum: 1  ", "Quorum: 2 Activity blocked")
    st = parse_cman_status(text)
    assert (st.quorum, st.activity_blocked, st.quorate) == (2, True, False)


def test_truncated_status_is_refused():
    text = sample("cman_status_002_l1947_primary_switch_off.txt")
    with pytest.raises(ParseError, match="no node_name line"):
        parse_cman_status(text[: text.index("Node name:")])


def test_not_running():
    with pytest.raises(ParseError) as err:
        parse_cman_status("cman_tool: Cannot open connection to cman, is it running ?\n")
    assert "Cannot open connection" in str(err.value)


# `cman_tool nodes` as published (RHEL 5 GNBD how-to; a Pacemaker-on-cman guide with -a).
NODES_TWO = """\
Node  Sts   Inc   Joined               Name
   1   M     24   2008-10-25 04:29:59  storage0a.example.org
   2   M      4   2008-10-25 04:23:50  storage0b.example.org
"""
NODES_ADDRESSES = """\
Node  Sts   Inc   Joined               Name
   1   M      4   2014-04-09 08:30:22  pgdb1.example.com
       Addresses: 10.4.10.60
   2   M      8   2014-04-09 08:44:01  pgdb2.example.com
       Addresses: 10.4.10.61
   3   M     12   2014-04-09 08:44:08  pgdb3.example.com
       Addresses: 10.4.10.62
"""


def test_cman_nodes():
    nodes = parse_cman_nodes(NODES_TWO)
    assert [(n.node_id, n.name, n.member, n.incarnation, n.joined) for n in nodes] == [
        (1, "storage0a.example.org", True, 24, "2008-10-25 04:29:59"),
        (2, "storage0b.example.org", True, 4, "2008-10-25 04:23:50")]


def test_cman_nodes_with_addresses_and_a_dead_node():
    nodes = parse_cman_nodes(NODES_ADDRESSES)
    assert [n.addresses for n in nodes] == [["10.4.10.60"], ["10.4.10.61"], ["10.4.10.62"]]
    # cman prints a dead node with 'X' and a blank join time
    dead = parse_cman_nodes(NODES_TWO.replace("   2   M      4   2008-10-25 04:23:50  storage0b",
                                              "   2   X      4                        storage0b"))
    assert (dead[1].member, dead[1].status, dead[1].joined) == (False, "X", None)


def test_cman_nodes_without_header():
    with pytest.raises(ParseError, match="header"):
        parse_cman_nodes(NODES_TWO.split("\n", 1)[1])
