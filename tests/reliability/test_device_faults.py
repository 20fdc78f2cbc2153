"""labsim/device_faults.py: each device fault makes the device misbehave the way it says, through the
real protocols, and stops when cleared; the control channel and the inventory arm them."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from hacert.drivers.errors import CommandFailed, DeviceUnreachable, HacertError
from hacert.drivers.node import NodeShell
from hacert.drivers.pdu import ApcPdu
from hacert.drivers.redact import Secret
from hacert.drivers.switch import SnmpSwitchPorts
from hacert.model.inventory import InventoryError, load_inventory
from hacert.labsim.device_faults import DeviceFaultError, FaultControl
from hacert.labsim.runner import RunningLab, bmc_answers, snmp_answers, start_lab
from hacert.labsim.world import World

from tests.reliability.harness import ANVIL, REPO, events, write_inventory


def _wait(what: str, probe: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    running = start_lab(ANVIL, tmp_path_factory.mktemp("device-faults"), cluster=False, timeout=60)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def healthy(lab: RunningLab) -> Iterator[None]:
    lab.clear_fault()
    yield
    lab.clear_fault()


def _shell(lab: RunningLab, node: str, timeout: float = 2.0) -> NodeShell:
    ep = lab.endpoints["nodes"][node]["ssh"]
    return NodeShell(node, ep["host"], ep["port"], ep["user"], password=Secret(ep["password"]),
                     connect_timeout=timeout, command_timeout=timeout)


def _bmc(lab: RunningLab, node: str) -> bool:
    ep = lab.endpoints["nodes"][node]["bmc"]
    return bmc_answers(ep["host"], ep["port"], 0.5)


def _snmp(lab: RunningLab, kind: str, name: str) -> bool:
    ep = lab.endpoints[kind][name]
    return snmp_answers(ep["host"], ep["port"], ep["community_ro"], 0.5)


def test_bmc_dark_only_for_its_node(lab: RunningLab) -> None:
    lab.inject("bmc_dark", "an-node01")
    assert not _bmc(lab, "an-node01")
    assert _bmc(lab, "an-node02")
    assert _shell(lab, "an-node01").run("true").exit_code == 0  # the node itself runs on
    lab.clear_fault("bmc_dark", "an-node01")
    assert _bmc(lab, "an-node01")


def test_pdu_and_switch_silent(lab: RunningLab) -> None:
    lab.inject("pdu_silent", "pdu2")
    lab.inject("switch_silent")  # every switch
    assert not _snmp(lab, "pdus", "pdu2") and _snmp(lab, "pdus", "pdu1")
    assert not _snmp(lab, "switches", "sw1") and not _snmp(lab, "switches", "sw2")
    ep = lab.endpoints["pdus"]["pdu2"]
    pdu = ApcPdu("pdu2", ep["host"], ep["port"], Secret(ep["community_ro"]), Secret(ep["community_rw"]), timeout=0.5, retries=0)
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable, match="pdu2"):
        pdu.outlet_status(1)
    assert time.monotonic() - started < 3
    assert lab.clear_fault() == 2
    assert _snmp(lab, "pdus", "pdu2") and _snmp(lab, "switches", "sw1")
    assert pdu.outlet_status(1) == "on"
    pdu.close()


def test_switch_ignores_shutdown(lab: RunningLab) -> None:
    lab.inject("switch_ignores_shutdown", "sw1")
    ep = lab.endpoints["switches"]["sw1"]
    ports = SnmpSwitchPorts("sw1", ep["host"], ep["port"], Secret(ep["community_ro"]), Secret(ep["community_rw"]), timeout=1)
    ports.settle_timeout = 1.0
    since = time.time()
    with pytest.raises(HacertError, match="sw1"):
        ports.port_down("1")
    assert ports.port_is_up("1") is True
    assert not [e for e in events(lab.event_log) if e["kind"] == "port" and e["t"] >= since]
    lab.clear_fault("switch_ignores_shutdown")
    ports.port_down("1")
    assert ports.port_is_up("1") is False
    ports.port_up("1")
    ports.close()


def test_ssh_hang_after_accept_on_new_and_existing_connections(lab: RunningLab) -> None:
    shell = _shell(lab, "an-node02")
    assert shell.run("true").exit_code == 0  # an open connection, reused below
    lab.inject("ssh_hang_after_accept", "an-node02")
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable, match="an-node02"):
        shell.run("true")
    assert time.monotonic() - started < 5
    assert shell.reachable(timeout=1) is False
    lab.clear_fault("ssh_hang_after_accept")
    assert shell.run("true").exit_code == 0
    shell.close()


def test_ssh_drop_resets_until_it_ends(lab: RunningLab) -> None:
    shell = _shell(lab, "an-node01")
    assert shell.run("true").exit_code == 0
    lab.inject("ssh_drop", "an-node01", duration=1.0)
    with pytest.raises(DeviceUnreachable, match="an-node01"):
        shell.run("true")
    _wait("ssh back after the drop", lambda: shell.reachable(timeout=1), timeout=5)
    assert shell.run("true").exit_code == 0
    shell.close()


def test_syslog_unreadable(lab: RunningLab) -> None:
    shell = _shell(lab, "an-node02")
    lab.inject("syslog_unreadable", "an-node02")
    for command in ("cat /var/log/messages", "tail -n 5 /var/log/messages", "wc -l /var/log/messages",
                    "grep x /var/log/messages"):
        result = shell.run(command, check=False)
        assert (result.exit_code, result.stderr.strip()) == (1, f"{command.split()[0]}: /var/log/messages: Permission denied")
    with pytest.raises(CommandFailed, match="Permission denied"):
        shell.syslog_mark()
    assert shell.run("cat /proc/uptime").exit_code == 0  # other files read fine
    assert _shell(lab, "an-node01").run("wc -l /var/log/messages").exit_code == 0
    shell.close()


def test_armed_on_an_event(lab: RunningLab) -> None:
    """`when`: the fault waits for the event (here: an outlet cut) and then strikes."""
    lab.inject("bmc_dark", "an-node02", when={"kind": "outlet", "pdu": "pdu1", "outlet": 8, "on": False})
    assert _bmc(lab, "an-node02")
    ep = lab.endpoints["pdus"]["pdu1"]
    pdu = ApcPdu("pdu1", ep["host"], ep["port"], Secret(ep["community_ro"]), Secret(ep["community_rw"]), timeout=1)
    pdu.outlet_off(8)
    _wait("the BMC dark after the outlet event", lambda: not _bmc(lab, "an-node02"))
    pdu.outlet_on(8)
    pdu.close()


def test_control_channel_refuses_unknown_faults_and_devices(lab: RunningLab) -> None:
    control = FaultControl(lab.workdir)
    with pytest.raises(DeviceFaultError, match="unknown device fault 'bmc_on_fire'"):
        control.inject("bmc_on_fire", "an-node01")
    with pytest.raises(DeviceFaultError, match="no such device 'an-node09'"):
        control.inject("bmc_dark", "an-node09")
    with pytest.raises(DeviceFaultError, match="no such device 'an-node01'"):
        control.inject("pdu_silent", "an-node01")
    assert control.active() == []


def test_inventory_faults_start_after_and_end_after_duration(tmp_path: Path) -> None:
    """The inventory's `after`/`duration`, on the World's scheduler (no protocols needed)."""
    inventory = load_inventory(write_inventory(tmp_path / "inv", device_faults=[
        {"name": "pdu_silent", "target": "pdu1", "after": 0.3, "duration": 0.3}]))
    world = World(inventory, tmp_path / "world", cluster=False)
    world.start()
    try:
        assert not world.device_faults.active("pdu_silent", "pdu1")
        _wait("pdu1 silent after 0.3 s", lambda: world.device_faults.active("pdu_silent", "pdu1"), 3)
        assert not world.device_faults.active("pdu_silent", "pdu2")
        _wait("pdu1 back after 0.3 s more", lambda: not world.device_faults.active("pdu_silent", "pdu1"), 3)
    finally:
        world.stop()
    kinds = [(e["fault"], e["active"]) for e in events(world.event_log_path) if e["kind"] == "device_fault"]
    assert kinds == [("pdu_silent", True), ("pdu_silent", False)]


@pytest.mark.parametrize("fault, message", [
    ({"name": "bmc_on_fire"}, r"simulation\.device_faults\[0\]\.name: input should be 'bmc_dark'"),
    ({"name": "bmc_dark", "target": "an-node09"}, r"'an-node09' is no node, PDU or switch of this lab"),
    ({"name": "pdu_silent", "after": -1}, r"simulation\.device_faults\[0\]\.after: must not be negative"),
], ids=["unknown-name", "unknown-target", "negative-after"])
def test_bad_device_fault_inventories_exit_4(tmp_path: Path, fault: dict[str, Any], message: str) -> None:
    import yaml

    data = yaml.safe_load(ANVIL.read_text())
    data["simulation"]["device_faults"] = [fault]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(InventoryError):
        load_inventory(path)
    run = subprocess.run([sys.executable, "-m", "pytest", "suites", "--inventory", str(path), "--plan", "-p", "no:cacheprovider"],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    output = run.stdout + run.stderr
    assert run.returncode == 4, output
    assert "Traceback" not in output
    assert re.search(message, output), output
