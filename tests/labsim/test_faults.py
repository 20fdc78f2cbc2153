"""Faults seeded in the inventory change what the devices do: a bond without
updelay, a bond without its backup slave, a switch whose STP blocks traffic a
while after it booted."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest

from hacert.drivers.parsers.bonding import parse_bonding
from hacert.labsim.runner import start_lab

from tests.labsim.conftest import ANVIL, Lab, _running, wait_until

NODE = "an-node01"
FAULTS = """
  faults:
    - {name: updelay_zero, target: an-node01/bond0}
    - {name: bond_no_backup, target: an-node01/bond1}
    - {name: stp_after_switch_boot, target: sw1}
"""


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[Lab]:
    inventory = tmp_path / "faulty.yaml"
    inventory.write_text(ANVIL.read_text().replace("  base_port: auto\n", "  base_port: auto\n" + FAULTS.lstrip("\n")))
    yield from _running(start_lab(inventory, tmp_path / "lab", cluster=False))


def test_seeded_device_faults(faulty: Lab) -> None:
    node = faulty.node(NODE)
    # updelay_zero: the primary is back as soon as its link is
    assert parse_bonding(node.bond("bond0")).up_delay_ms == 0
    faulty.set_port("sw1", "1", up=False)
    wait_until("bond0 on eth3", lambda: node.active("bond0") == "eth3", 0.5)
    faulty.set_port("sw1", "1", up=True)
    wait_until("bond0 on eth0 at once", lambda: node.active("bond0") == "eth0", 0.5)

    # bond_no_backup: one slave only; losing it leaves the bond without any
    status = parse_bonding(node.bond("bond1"))
    assert [s.name for s in status.slaves] == ["eth1"]
    faulty.set_port("sw1", "2", up=False)
    wait_until("bond1 without an active slave", lambda: node.active("bond1") == "None", 0.5)
    assert "bonding: bond1: now running without any active interface !" in node.run("tail -n 3 /var/log/messages")[1]
    faulty.set_port("sw1", "2", up=True)

    # stp_after_switch_boot: the links are up but nothing passes for a while
    faulty.set_outlet("pdu1", 1, on=False)
    faulty.set_outlet("pdu1", 1, on=True)
    wait_until("STP blocking", lambda: any(e["state"] == "blocking" for e in faulty.events("switch_state")), 6)
    code, out, _ = node.run("ping -c 3 -i 0.1 -q 10.20.0.2")
    assert code == 1 and "3 packets transmitted, 0 received, 100% packet loss" in out
    wait_until("forwarding again", lambda: faulty.events("switch_state")[-1]["state"] == "up", 6)
    time.sleep(0.1)
    assert node.run("ping -c 1 10.20.0.2")[0] == 0
