"""/proc/drbd and `/etc/init.d/drbd status` from seed 002."""

from __future__ import annotations

import pytest

from hacert.drivers.parsers import ParseError, parse_drbd

from tests.parsers._shared import sample


def test_connected_primary_primary():
    st = parse_drbd(sample("drbd_002_l4305_connected.txt"))
    assert (st.version, st.api, st.proto) == ("8.3.12", "88", "86-96")
    assert st.git_hash == "e2a8ef4656be026bbae540305fcb998a5991090f"
    assert sorted(st.minors) == [0, 1, 2]
    for m in st.minors.values():
        assert (m.cs, m.ro, m.ds, m.protocol, m.io_flags) == (
            "Connected", "Primary/Primary", "UpToDate/UpToDate", "C", "r-----")
        assert m.out_of_sync_kib == 0
    assert st.minors[1].counters["dr"] == "9776"


def test_resync_progress_without_version_line():
    # the wiki swallowed the 'version:' line of this capture
    st = parse_drbd(sample("drbd_002_l5213_resync.txt"))
    assert st.version is None
    assert {n: (m.cs, m.ds, m.sync_percent, m.sync_finish) for n, m in st.minors.items()} == {
        0: ("SyncTarget", "Inconsistent/UpToDate", 26.4, "0:10:02"),
        1: ("SyncTarget", "Inconsistent/UpToDate", 70.2, "0:01:31"),
        2: ("SyncTarget", "Inconsistent/UpToDate", 26.4, "0:09:49")}
    assert st.minors[0].disk_state == "Inconsistent" and st.minors[0].peer_disk_state == "UpToDate"
    assert st.minors[1].out_of_sync_kib == 122292


def test_standalone_prints_no_protocol():
    st = parse_drbd(sample("drbd_002_l2571_standalone.txt"))
    m = st.minors[0]
    assert (m.cs, m.ro, m.ds, m.protocol, m.io_flags) == (
        "StandAlone", "Secondary/Unknown", "Inconsistent/DUnknown", None, "r----s")
    assert (m.role, m.peer_role) == ("Secondary", "Unknown")


def test_init_script_table_peer_gone():
    st = parse_drbd(sample("drbd_002_l3176_initscript_wfconnection.txt"))
    assert st.version == "8.3.12"
    assert [(m.resource, m.cs, m.ro, m.ds, m.protocol) for m in st.minors.values()] == [
        (f"r{i}", "WFConnection", "Primary/Unknown", "UpToDate/Outdated", "C") for i in range(3)]
    assert st.minors[2].peer_disk_state == "Outdated"


def test_module_not_loaded_is_a_parse_error():
    with pytest.raises(ParseError) as err:
        parse_drbd("drbd not loaded\n")
    assert "'drbd not loaded'" in str(err.value)


def test_mangled_device_line_is_quoted():
    text = sample("drbd_002_l4305_connected.txt").replace(" 1: cs:Connected", " 1: cs Connected")
    with pytest.raises(ParseError) as err:
        parse_drbd(text)
    assert "cs Connected" in str(err.value) and err.value.lineno == 5
