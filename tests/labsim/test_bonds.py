"""Bonds behave like the Linux bonding driver of the seed, seen through the SSH
shell's /proc/net/bonding file and syslog: failover on a pulled cable within
miimon, return to the primary only after updelay, immediate return when the
backup is lost during updelay, and an updelay that restarts with every link
bounce of a booting switch."""

from __future__ import annotations

import re
import time

from hacert.drivers.parsers.bonding import parse_bonding

from tests.labsim.conftest import Lab, wait_until

NODE = "an-node01"
MIIMON = 0.1  # anvil-sim: simulation.timing defaults
UPDELAY = 2.0
BOUNCES, BOUNCE_INTERVAL = 2, 0.5
SLACK = 0.35  # SSH round trips and scheduling


def test_the_bond_file_has_the_seed_format(lab: Lab) -> None:
    node = lab.node(NODE)
    text = node.bond("bond0")
    status = parse_bonding(text)
    assert status.driver_version == "v3.6.0 (September 26, 2009)"
    assert status.mode == "fault-tolerance (active-backup)"
    assert (status.primary_slave, status.primary_reselect, status.active_slave) == ("eth0", "always", "eth0")
    assert (status.mii_polling_interval_ms, status.up_delay_ms, status.down_delay_ms) == (100, 2000, 0)
    assert [(s.name, s.mii_status, s.link_failure_count, s.queue_id) for s in status.slaves] == [
        ("eth0", "up", 0, 0), ("eth3", "up", 0, 0)]
    # the seed's line order, field by field
    keys = [line.split(":")[0] for line in text.splitlines() if line]
    assert keys[:9] == ["Ethernet Channel Bonding Driver", "Bonding Mode", "Primary Slave", "Currently Active Slave",
                        "MII Status", "MII Polling Interval (ms)", "Up Delay (ms)", "Down Delay (ms)", "Slave Interface"]
    assert keys[9:13] == ["MII Status", "Link Failure Count", "Permanent HW addr", "Slave queue ID"]
    code, _, err = node.run("cat /proc/net/bonding/bond9")
    assert (code, err) == (1, "cat: /proc/net/bonding/bond9: No such file or directory\n")


def test_cable_pull_fails_over_within_miimon_and_returns_after_updelay(lab: Lab) -> None:
    node = lab.node(NODE)
    assert node.active("bond1") == "eth1"
    pulled = time.monotonic()
    lab.set_port("sw1", "2", up=False)  # an-node01 eth1
    wait_until("bond1 on eth4", lambda: node.active("bond1") == "eth4", MIIMON + SLACK)
    status = parse_bonding(node.bond("bond1"))
    assert status.slave("eth1").mii_status == "down" and status.slave("eth1").link_failure_count == 1
    events = [e for e in lab.events("bond_active") if e["bond"] == "bond1"]
    assert events[-1]["slave"] == "eth4" and events[-1]["previous"] == "eth1"
    carrier_lost = next(e["t"] for e in lab.events("carrier") if e["nic"] == "eth1" and not e["up"])
    assert events[-1]["t"] - carrier_lost <= MIIMON + 0.02, "failover took longer than one miimon interval"
    assert time.monotonic() - pulled < 2

    lab.set_port("sw1", "2", up=True)
    plugged = time.monotonic()
    wait_until("eth1 waiting for its updelay", lambda: "enabling it in 2000 ms." in node.run("tail -n 3 /var/log/messages")[1], 1)
    waiting = parse_bonding(node.bond("bond1")).slave("eth1")
    assert (waiting.mii_status, waiting.carrier, waiting.up) == ("going back", True, False), "the kernel's words for an updelay"
    while time.monotonic() - plugged < UPDELAY - 0.3:
        assert node.active("bond1") == "eth4", f"back on the primary after {time.monotonic() - plugged:.2f} s"
        time.sleep(0.1)
    wait_until("bond1 back on eth1", lambda: node.active("bond1") == "eth1", 0.3 + MIIMON + SLACK + 0.3)
    back = [e for e in lab.events("bond_active") if e["bond"] == "bond1"][-1]
    carrier_back = [e["t"] for e in lab.events("carrier") if e["nic"] == "eth1" and e["up"]][-1]
    assert UPDELAY <= back["t"] - carrier_back <= UPDELAY + 2 * MIIMON + 0.05

    _, log, _ = node.run("grep bond1 /var/log/messages")
    lines = [re.sub(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d ", "", line) for line in log.splitlines()]
    assert lines[-5:] == [
        "an-node01 kernel: bonding: bond1: link status definitely down for interface eth1, disabling it",
        "an-node01 kernel: bonding: bond1: making interface eth4 the new active one.",
        "an-node01 kernel: bonding: bond1: link status up for interface eth1, enabling it in 2000 ms.",
        "an-node01 kernel: bond1: link status definitely up for interface eth1, 1000 Mbps full duplex.",
        "an-node01 kernel: bonding: bond1: making interface eth1 the new active one.",
    ]
    _, log, _ = node.run("grep e1000e /var/log/messages | tail -n 2")
    assert log.splitlines()[0].endswith("kernel: e1000e: eth1 NIC Link is Down")
    assert log.splitlines()[1].endswith("kernel: e1000e: eth1 NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx")


def test_losing_the_backup_during_updelay_brings_the_primary_back_at_once(lab: Lab) -> None:
    node = lab.node(NODE)
    lab.set_port("sw1", "1", up=False)  # eth0
    wait_until("bond0 on eth3", lambda: node.active("bond0") == "eth3", MIIMON + SLACK)
    lab.set_port("sw1", "1", up=True)
    wait_until("eth0 in updelay", lambda: "enabling it in" in node.run("tail -n 1 /var/log/messages")[1], 1)
    assert node.active("bond0") == "eth3"
    lab.set_port("sw2", "1", up=False)  # eth3, the backup
    lost = time.monotonic()
    wait_until("bond0 back on eth0", lambda: node.active("bond0") == "eth0", 2 * MIIMON + SLACK)
    assert time.monotonic() - lost < UPDELAY / 2, "the primary waited for its updelay"
    status = parse_bonding(node.bond("bond0"))
    assert status.slave("eth3").mii_status == "down"
    assert (status.slave("eth0").link_failure_count, status.slave("eth3").link_failure_count) == (1, 1)

    # the backup returns under an active primary: no new active slave, but its MII status
    # goes up after the updelay, and the event log says when (the benchmarks count that wait)
    lab.set_port("sw2", "1", up=True)
    wait_until("eth3 up again", lambda: parse_bonding(node.bond("bond0")).slave("eth3").up, UPDELAY + 2 * MIIMON + SLACK)
    assert node.active("bond0") == "eth0"
    carrier = [e["t"] for e in lab.events("carrier") if e["nic"] == "eth3" and e["up"]][-1]
    slave = [e for e in lab.events("bond_slave") if e["node"] == NODE and e["nic"] == "eth3"]
    assert [e["up"] for e in slave] == [False, True], "eth3 definitely down once, then up once"
    assert UPDELAY <= slave[-1]["t"] - carrier <= UPDELAY + 2 * MIIMON + 0.05
    assert not [e for e in lab.events("bond_active") if e["bond"] == "bond0" and e["t"] > carrier]


def test_node_side_ip_link_down_fails_over(lab: Lab) -> None:
    node = lab.node(NODE)
    assert node.run("ip link set dev eth2 down")[0] == 0
    wait_until("bond2 on eth5", lambda: node.active("bond2") == "eth5", MIIMON + SLACK)
    code, out, _ = node.run("ip -o link")
    eth2 = next(line for line in out.splitlines() if line.split(": ")[1] == "eth2")
    assert "state DOWN" in eth2 and ",UP" not in eth2
    assert lab.snmp("snmpget", "sw1", "1.3.6.1.2.1.2.2.1.8.3").stdout.strip().endswith("INTEGER: 2")
    code, _, err = node.run("ip link set dev eth9 down")
    assert (code, err) == (1, 'Cannot find device "eth9"\n')


def test_switch_power_cycle_bounces_links_and_restarts_updelay(lab: Lab) -> None:
    node = lab.node(NODE)
    lab.set_outlet("pdu1", 1, on=False)  # sw1: every primary slave
    wait_until("all bonds on their backups",
               lambda: [node.active(b) for b in ("bond0", "bond1", "bond2")] == ["eth3", "eth4", "eth5"], MIIMON + SLACK + 0.3)
    assert lab.snmp("snmpget", "sw1", "1.3.6.1.2.1.1.5.0").returncode != 0, "a switch without power answered SNMP"
    lab.set_outlet("pdu1", 1, on=True)
    powered = time.monotonic()
    wait_until("bond0 back on eth0", lambda: node.active("bond0") == "eth0", 2 * BOUNCES * BOUNCE_INTERVAL + UPDELAY + 2)
    took = time.monotonic() - powered
    # links come up, bounce BOUNCES times, and only the last link-up starts the updelay that counts
    assert took >= (2 * BOUNCES + 1) * BOUNCE_INTERVAL + UPDELAY - 0.1, f"primary back after {took:.2f} s"
    assert len(lab.events("link_bounce")) == BOUNCES
    _, log, _ = node.run("grep 'bond0: link status' /var/log/messages")
    ups = [line for line in log.splitlines() if "link status up for interface eth0, enabling it in 2000 ms." in line]
    downs = [line for line in log.splitlines() if re.search(r"link status down again after \d+ ms for interface eth0\.", line)]
    assert (len(ups), len(downs)) == (BOUNCES + 1, BOUNCES)
    states = [e["state"] for e in lab.events("switch_state") if e["switch"] == "sw1"]
    assert states == ["off", "booting", "up"]
    wait_until("every bond back on its primary",
               lambda: [node.active(b) for b in ("bond0", "bond1", "bond2")] == ["eth0", "eth1", "eth2"], 1)
