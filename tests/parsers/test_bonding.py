"""/proc/net/bonding/bond0 on an-node01 at each moment of seed 002's network tests."""

from __future__ import annotations

import pytest

from hacert.drivers.parsers import ParseError, parse_bonding

from tests.parsers._shared import sample

# sample, active slave, {slave: (MII status, link failure count)} as printed in the seed
MOMENTS = [
    ("bond0_002_l1840_baseline.txt", "eth0", {"eth0": ("up", 0), "eth3": ("up", 0)}),
    ("bond0_002_l1865_eth0_pulled.txt", "eth3", {"eth0": ("down", 1), "eth3": ("up", 0)}),
    ("bond0_002_l1894_eth0_restored.txt", "eth0", {"eth0": ("up", 1), "eth3": ("up", 0)}),
    ("bond0_002_l1927_primary_switch_off.txt", "eth3", {"eth0": ("down", 3), "eth3": ("up", 2)}),
    ("bond0_002_l2022_secondary_switch_off.txt", "eth0", {"eth0": ("up", 3), "eth3": ("down", 3)}),
]


@pytest.mark.parametrize("name, active, slaves", MOMENTS, ids=[m[0] for m in MOMENTS])
def test_bond0_during_the_network_tests(name, active, slaves):
    bond = parse_bonding(sample(name))
    assert bond.driver_version == "v3.6.0 (September 26, 2009)"
    assert bond.mode == "fault-tolerance (active-backup)"
    assert (bond.primary_slave, bond.primary_reselect) == ("eth0", "always")
    assert bond.active_slave == active
    assert bond.mii_status == "up"
    assert (bond.mii_polling_interval_ms, bond.up_delay_ms, bond.down_delay_ms) == (100, 120000, 0)
    assert {s.name: (s.mii_status, s.link_failure_count) for s in bond.slaves} == slaves
    assert [s.name for s in bond.slaves] == ["eth0", "eth3"]
    assert bond.slave("eth0").permanent_hw_addr == "00:e0:81:c7:ec:49"
    # this driver build prints no Speed/Duplex lines
    assert bond.slave("eth3").speed is None and bond.slave("eth3").speed_mbps is None
    assert bond.arp_ip_targets == [] and bond.arp_polling_interval_ms is None


def test_primary_switch_failure_moves_every_count():
    before = parse_bonding(sample("bond0_002_l1894_eth0_restored.txt"))
    after = parse_bonding(sample("bond0_002_l1927_primary_switch_off.txt"))
    assert after.active_slave != after.primary_slave
    assert after.slave("eth0").link_failure_count - before.slave("eth0").link_failure_count == 2
    assert not after.slave("eth0").up and after.slave("eth3").up


def test_truncated_bond_file_is_refused():
    text = sample("bond0_002_l1840_baseline.txt")
    cut = text[: text.rindex("Link Failure Count: 0")]  # eth3 loses its counters
    with pytest.raises(ParseError, match="link_failure_count") as err:
        parse_bonding(cut)
    assert "Slave Interface: eth3" in str(err.value)


def test_bond_file_with_foreign_line_quotes_it():
    text = sample("bond0_002_l1840_baseline.txt").replace("Up Delay (ms): 120000", "Up Delay (ms) 120000")
    with pytest.raises(ParseError) as err:
        parse_bonding(text)
    assert "'Up Delay (ms) 120000'" in str(err.value)
    assert err.value.lineno == 7
