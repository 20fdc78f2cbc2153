"""sg_persist from seed 001 (fence_scsi on a shared VHDX, node 5 fenced)."""

from __future__ import annotations

import pytest

from hacert.drivers.parsers import ParseError, Reservation, parse_sg_persist

from tests.parsers._shared import sample

FIVE = ["0x63d20004", "0x63d20001", "0x63d20003", "0x63d20005", "0x63d20002"]


def test_five_registered_keys():
    pr = parse_sg_persist(sample("sg_persist_001_l206_keys5.txt"))
    assert (pr.pr_generation, pr.pr_generation_int) == ("0x158", 0x158)
    assert pr.keys == FIVE
    assert (pr.reservation, pr.reservation_queried) == (None, False)
    assert (pr.inquiry, pr.device_type) == ("Msft Virtual Disk 1.0", "disk")


def test_block_shown_under_dash_r_is_really_a_key_list():
    pr = parse_sg_persist(sample("sg_persist_001_l216_dash_r_shows_keys.txt"))
    assert pr.keys == FIVE and pr.reservation_queried is False


def test_reservation_held_by_node5():
    pr = parse_sg_persist(sample("sg_persist_001_l225_reservation_node5.txt"))
    assert pr.keys is None and pr.reservation_queried
    assert pr.reservation == Reservation(key="0x63d20005", scope="LU_SCOPE", type="Write Exclusive, registrants only")


def test_after_fencing_node5_its_key_is_gone_and_the_reservation_moved():
    keys = parse_sg_persist(sample("sg_persist_001_l264_keys4.txt"))
    res = parse_sg_persist(sample("sg_persist_001_l272_reservation_node1.txt"))
    assert len(keys.keys) == 4 and set(FIVE) - set(keys.keys) == {"0x63d20005"}
    assert res.reservation.key == "0x63d20001" and res.reservation.key in keys.keys


def test_keys_without_their_header_are_refused():
    with pytest.raises(ParseError) as err:
        parse_sg_persist(sample("sg_persist_001_l253_keys_without_header.txt"))
    assert "0x63d20004" in str(err.value) and err.value.lineno == 1


def test_fewer_keys_than_announced():
    text = sample("sg_persist_001_l206_keys5.txt")
    with pytest.raises(ParseError, match="announced 5 keys, found 4"):
        parse_sg_persist(text[: text.rindex("0x63d20002")])


def test_reservation_without_scope_line():
    text = sample("sg_persist_001_l225_reservation_node5.txt")
    with pytest.raises(ParseError, match="scope"):
        parse_sg_persist(text[: text.index("scope:")])
