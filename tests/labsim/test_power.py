"""Power: a node's BMC goes dark with its outlet and comes back after bmc_boot;
a node whose chassis was on boots when power returns; a hung node keeps its
BMC but its SSH goes silent; a node without power refuses SSH."""

from __future__ import annotations

import socket
import subprocess
import time

import paramiko
import pytest

from hacert.labsim.runner import bmc_answers

from tests.labsim.conftest import Lab, need, wait_until

NODE = "an-node01"


def _bmc(lab: Lab) -> tuple[str, int]:
    bmc = lab.ep["nodes"][NODE]["bmc"]
    return bmc["host"], bmc["port"]


def test_cutting_the_outlet_darkens_the_bmc_within_a_second(lab: Lab) -> None:
    assert bmc_answers(*_bmc(lab))
    lab.set_outlet("pdu2", 1, on=False)
    cut = time.monotonic()
    wait_until("the BMC stops answering", lambda: not bmc_answers(*_bmc(lab), timeout=0.2), 1.0)
    assert time.monotonic() - cut < 1.0
    bmc = lab.ep["nodes"][NODE]["bmc"]
    status = subprocess.run([need("ipmitool"), "-I", "lanplus", "-H", bmc["host"], "-p", str(bmc["port"]), "-U", bmc["user"],
                             "-P", bmc["password"], "-R", "1", "-N", "1", "chassis", "power", "status"],
                            capture_output=True, text=True, timeout=30)
    assert status.returncode != 0, status.stdout
    other = lab.ep["nodes"]["an-node02"]["bmc"]
    assert bmc_answers(other["host"], other["port"]), "the other node's BMC went dark too"

    lab.set_outlet("pdu2", 1, on=True)
    wait_until("the BMC answers again", lambda: bmc_answers(*_bmc(lab), timeout=0.2), 2.0)
    # the chassis was on: the node boots by itself (restore on AC power)
    wait_until("an-node01 up again", lambda: [e["state"] for e in lab.events("node_state") if e["node"] == NODE][-1:] == ["up"], 5)
    ssh = lab.ep["nodes"][NODE]["ssh"]
    assert _banner(ssh["host"], ssh["port"]).startswith("SSH-2.0-")
    node = lab.node(NODE)
    assert node.run("hostname") == (0, "an-node01.alteeve.ca\n", "")
    assert [(e["answers"]) for e in lab.events("bmc") if e["node"] == NODE] == [False, True]


def test_a_node_without_power_resets_ssh_connections(lab: Lab) -> None:
    node = lab.node(NODE)
    lab.set_outlet("pdu2", 1, on=False)
    with pytest.raises((EOFError, OSError, paramiko.SSHException)):
        wait_until("the old session is dropped", lambda: node.run("true", timeout=2) and False, 2, interval=0.1)
    ssh = lab.ep["nodes"][NODE]["ssh"]
    assert _banner(ssh["host"], ssh["port"]) == "reset"


def _banner(host: str, port: int) -> str:
    """'reset' (refused, reset or closed at once), 'silent' (no banner) or the banner."""
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.settimeout(0.5)
            data = sock.recv(64)
    except (ConnectionResetError, ConnectionRefusedError):
        return "reset"
    except socket.timeout:
        return "silent"
    return data.decode() if data else "reset"


def test_a_hung_node_goes_silent_but_its_bmc_answers(lab: Lab) -> None:
    node = lab.node(NODE)
    _, stream, _ = node.client.exec_command("ping -i 0.05 10.20.0.2", timeout=10)
    assert stream.readline().startswith("PING 10.20.0.2 (10.20.0.2) 56(84) bytes of data.")
    assert "icmp_seq=1 " in stream.readline()
    trigger = lab.node(NODE)
    trigger.client.exec_command("echo c > /proc/sysrq-trigger")
    wait_until("an-node01 hung", lambda: any(e["state"] == "hung" for e in lab.events("node_state")), 2)
    # the running stream stops: no more lines, no exit status
    stream.channel.settimeout(0.5)
    with pytest.raises(socket.timeout):
        while True:
            if not stream.channel.recv(4096):
                raise AssertionError("the hung node closed the channel")
    assert not stream.channel.exit_status_ready()
    # a new channel on the old connection gets no answer, a new connection no banner
    with pytest.raises(paramiko.SSHException):
        node.client.get_transport().open_session(timeout=0.5)
    ssh = lab.ep["nodes"][NODE]["ssh"]
    assert _banner(ssh["host"], ssh["port"]) == "silent"
    assert bmc_answers(*_bmc(lab))
    bmc = lab.ep["nodes"][NODE]["bmc"]
    reset = subprocess.run([need("ipmitool"), "-I", "lanplus", "-H", bmc["host"], "-p", str(bmc["port"]), "-U", bmc["user"],
                            "-P", bmc["password"], "-R", "1", "-N", "2", "chassis", "power", "reset"],
                           capture_output=True, text=True, timeout=30)
    assert reset.returncode == 0, reset.stderr
    wait_until("an-node01 up after the reset",
               lambda: [e["state"] for e in lab.events("node_state") if e["node"] == NODE][-1:] == ["up"], 5)
    assert lab.node(NODE).run("cat /proc/net/bonding/bond0")[0] == 0
    [done] = [e for e in lab.events("ping_done") if e["node"] == NODE]
    assert done["received"] >= 1


def test_poweroff_and_reboot_from_the_shell(lab: Lab) -> None:
    node = lab.node(NODE)
    assert node.run("reboot")[0] == 0
    wait_until("an-node01 rebooted",
               lambda: [e["state"] for e in lab.events("node_state") if e["node"] == NODE] == ["off", "booting", "up"], 5)
    node = lab.node(NODE)
    assert node.run("poweroff")[0] == 0
    wait_until("an-node01 off", lambda: [e["state"] for e in lab.events("node_state") if e["node"] == NODE][-1] == "off", 2)
    bmc = lab.ep["nodes"][NODE]["bmc"]
    status = subprocess.run([need("ipmitool"), "-I", "lanplus", "-H", bmc["host"], "-p", str(bmc["port"]), "-U", bmc["user"],
                             "-P", bmc["password"], "-R", "1", "-N", "2", "chassis", "power", "status"],
                            capture_output=True, text=True, timeout=30)
    assert status.stdout.strip() == "Chassis Power is off"


def test_pyghmi_client_falls_back_to_cipher_suite_3(lab: Lab) -> None:
    from pyghmi.ipmi import command

    bmc = lab.ep["nodes"][NODE]["bmc"]
    client = command.Command(bmc=bmc["host"], userid=bmc["user"].encode(), password=bmc["password"].encode(),
                             port=bmc["port"], keepalive=False)
    assert client.get_power() == {"powerstate": "on"}
    client.set_power("off", wait=True)
    assert [e["action"] for e in lab.events("chassis")] == ["off"]
