"""Every driver against the simulated lab (labsim) of inventories/anvil-sim.yaml:
the endpoints and made-up credentials it publishes are all the drivers get."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from hacert.drivers.cluster import STARTED, make_cluster_manager
from hacert.drivers.ipmi import IpmiBmc
from hacert.drivers.node import NodeShell
from hacert.drivers.parsers import parse_bonding, parse_ping
from hacert.drivers.pdu import ApcPdu
from hacert.drivers.switch import PduSwitchPower, SnmpSwitchPorts
from hacert.drivers.virsh import Virsh
from hacert.model.inventory import load_inventory

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "anvil-sim.yaml"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from hacert.labsim.runner import start_lab

    running = start_lab(str(INVENTORY), tmp_path_factory.mktemp("labsim"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def inventory():
    return load_inventory(INVENTORY)


@pytest.fixture(scope="module")
def shells(lab):
    made = {}
    for name, ep in lab.endpoints["nodes"].items():
        ssh = ep["ssh"]
        made[name] = NodeShell(name, ssh["host"], int(ssh["port"]), ssh["user"], password=ssh["password"], connect_timeout=3, command_timeout=10)
    yield made
    for shell in made.values():
        shell.close()


def _pdu(lab, name: str) -> ApcPdu:
    ep = lab.endpoints["pdus"][name]
    return ApcPdu(name, ep["host"], int(ep["port"]), ep["community_ro"], ep["community_rw"], version=ep.get("version", "1"), timeout=1, settle_timeout=5)


def test_node_shell_cluster_and_virsh_on_labsim(shells, inventory) -> None:
    node01 = shells["an-node01"]
    bond = parse_bonding(node01.read_file("/proc/net/bonding/bond0"))
    assert bond.active_slave == "eth0" and bond.primary_slave == "eth0"
    status = make_cluster_manager("rgmanager", shells, inventory).status()
    assert status.quorate and sorted(status.online) == ["an-node01", "an-node02"]
    assert status.services["vm0001-dev"].owner == "an-node01" and status.services["vm0001-dev"].state == STARTED
    assert Virsh(node01).state("vm0001-dev") == "running"


def test_syslog_mark_and_stream_on_labsim(shells) -> None:
    node01 = shells["an-node01"]
    mark = node01.syslog_mark()
    node01.run("ip link set dev eth3 down")
    try:
        deadline = time.monotonic() + 5
        while not any("eth3" in line for line in node01.syslog_since(mark)):
            assert time.monotonic() < deadline, "no syslog line about eth3 within 5 s"
            time.sleep(0.1)
    finally:
        node01.run("ip link set dev eth3 up")
    stream = node01.start_stream("ping -i 0.05 10.20.0.2")
    deadline = time.monotonic() + 5
    while len(stream.lines()) < 4:
        assert time.monotonic() < deadline, f"ping streamed only {stream.lines()}"
        time.sleep(0.05)
    result = parse_ping(stream.stop())
    assert result.transmitted >= 3 and result.received >= 3


def test_bmc_pdu_and_switch_on_labsim(lab, inventory) -> None:
    ep = lab.endpoints["nodes"]["an-node01"]["bmc"]
    assert IpmiBmc("an-node01", ep["host"], int(ep["port"]), ep["user"], ep["password"]).power_status() == "on"
    with _pdu(lab, "pdu2") as pdu2:
        assert pdu2.outlet_name(1) == inventory.node("an-node01").power[0].name
        assert pdu2.outlet_status(1) == "on"
    sw = lab.endpoints["switches"]["sw2"]
    ports = SnmpSwitchPorts("sw2", sw["host"], int(sw["port"]), sw["community_ro"], sw["community_rw"], version=sw.get("version", "2c"), timeout=1)
    port = inventory.node("an-node02").bonds[0].backup.port
    assert ports.port_is_up(port)
    ports.port_down(port)
    assert ports.port_is_up(port) is False
    ports.port_up(port)
    assert ports.port_is_up(port) is True
    ports.close()


def test_switch_power_cycle_through_labsim_pdu(lab, inventory) -> None:
    spec = inventory.switch("sw2").power
    with _pdu(lab, spec.pdu) as pdu:
        power = PduSwitchPower("sw2", pdu, spec.outlet, spec.name)
        power.power_off()
        assert power.is_on() is False
        power.power_on()
        assert power.is_on() is True


@pytest.mark.skipif(shutil.which("fence_apc_snmp") is None, reason="fence_apc_snmp (Debian fence-agents) is not installed")
def test_labsim_pdu_agrees_with_fence_apc_snmp(lab) -> None:
    ep = lab.endpoints["pdus"]["pdu1"]
    with _pdu(lab, "pdu1") as pdu:
        for outlet in (3, 4):
            out = subprocess.run(
                ["fence_apc_snmp", "--ip", ep["host"], f"--ipport={ep['port']}", f"--community={ep['community_rw']}", "-n", str(outlet), "-o", "status"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert {0: "on", 2: "off"}.get(out.returncode) == pdu.outlet_status(outlet), out.stderr
