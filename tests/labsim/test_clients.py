"""The real clients accept the simulated lab: ipmitool, fence_ipmilan,
fence_apc_snmp, snmpget/snmpset and OpenSSH."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from hacert.drivers.kept_shell import COMMAND as KEPT_COMMAND
from hacert.drivers.kept_shell import frame
from tests.labsim.conftest import IF_ADMIN, IF_OPER, RPDU_STATUS, Lab, need

NODE = "an-node01"


def _ipmitool(lab: Lab, *args: str) -> subprocess.CompletedProcess:
    bmc = lab.ep["nodes"][NODE]["bmc"]
    cmd = [need("ipmitool"), "-I", "lanplus", "-H", bmc["host"], "-p", str(bmc["port"]), "-U", bmc["user"],
           "-P", bmc["password"], "-R", "1", "-N", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def _fence_ipmilan(lab: Lab, action: str) -> subprocess.CompletedProcess:
    bmc = lab.ep["nodes"][NODE]["bmc"]
    cmd = [need("fence_ipmilan"), "--lanplus", f"--ip={bmc['host']}", f"--ipport={bmc['port']}",
           f"--username={bmc['user']}", f"--password={bmc['password']}", "-o", action]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def _fence_apc(lab: Lab, *args: str) -> subprocess.CompletedProcess:
    pdu = lab.ep["pdus"]["pdu2"]
    cmd = [need("fence_apc_snmp"), f"--ip={pdu['host']}", f"--ipport={pdu['port']}",
           f"--community={pdu['community_rw']}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_ipmitool_chassis_power(lab: Lab) -> None:
    assert _ipmitool(lab, "chassis", "power", "status").stdout.strip() == "Chassis Power is on"
    off = _ipmitool(lab, "chassis", "power", "off")
    assert off.returncode == 0 and "Down/Off" in off.stdout, off
    assert _ipmitool(lab, "chassis", "power", "status").stdout.strip() == "Chassis Power is off"
    on = _ipmitool(lab, "chassis", "power", "on")
    assert on.returncode == 0 and "Up/On" in on.stdout, on
    assert _ipmitool(lab, "chassis", "power", "status").stdout.strip() == "Chassis Power is on"
    cycle = _ipmitool(lab, "chassis", "power", "cycle")
    assert cycle.returncode == 0 and "Cycle" in cycle.stdout, cycle
    states = [(e["state"]) for e in lab.events("node_state") if e["node"] == NODE]
    assert states[:4] == ["off", "booting", "off", "booting"]  # the cycle came before the 2 s boot ended
    assert [e["action"] for e in lab.events("chassis")] == ["off", "on", "cycle"]


def test_ipmitool_refuses_a_wrong_password(lab: Lab) -> None:
    bmc = lab.ep["nodes"][NODE]["bmc"]
    cmd = [need("ipmitool"), "-I", "lanplus", "-H", bmc["host"], "-p", str(bmc["port"]), "-U", bmc["user"],
           "-P", "wrong", "-R", "1", "-N", "1", "chassis", "power", "status"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert lab.events("chassis") == []


def test_fence_ipmilan(lab: Lab) -> None:
    status = _fence_ipmilan(lab, "status")
    assert (status.returncode, status.stdout.strip()) == (0, "Status: ON"), status
    off = _fence_ipmilan(lab, "off")
    assert off.returncode == 0 and "Success: Powered OFF" in off.stdout, off
    assert _fence_ipmilan(lab, "status").returncode == 2
    on = _fence_ipmilan(lab, "on")
    assert on.returncode == 0 and "Success: Powered ON" in on.stdout, on
    reboot = _fence_ipmilan(lab, "reboot")
    assert reboot.returncode == 0 and "Success: Rebooted" in reboot.stdout, reboot
    assert [e["action"] for e in lab.events("chassis")][-2:] == ["off", "on"]


def test_fence_apc_snmp(lab: Lab) -> None:
    listing = _fence_apc(lab, "-o", "list")
    assert listing.returncode == 0, listing
    assert "1,an-node01" in listing.stdout.splitlines() and "2,an-node02" in listing.stdout.splitlines()
    assert _fence_apc(lab, "-n", "1", "-o", "status").stdout.strip() == "Status: ON"
    off = _fence_apc(lab, "-n", "1", "-o", "off")
    assert off.returncode == 0 and "Success: Powered OFF" in off.stdout, off
    assert _fence_apc(lab, "-n", "1", "-o", "status").returncode == 2
    assert lab.snmp("snmpget", "pdu2", f"{RPDU_STATUS}.1", kind="pdus").stdout.strip().endswith("INTEGER: 2")
    on = _fence_apc(lab, "-n", "1", "-o", "on")
    assert on.returncode == 0 and "Success: Powered ON" in on.stdout, on
    reboot = _fence_apc(lab, "-n", "1", "-o", "reboot")
    assert reboot.returncode == 0 and "Success: Rebooted" in reboot.stdout, reboot
    outlet_events = [(e["outlet"], e["on"]) for e in lab.events("outlet")]
    assert outlet_events == [(1, False), (1, True), (1, False), (1, True)]


def test_switch_if_admin_status_with_snmpget_and_snmpset(lab: Lab) -> None:
    index = lab.ep["switches"]["sw1"]["ports"]["1"]
    name = lab.snmp("snmpget", "sw1", f"1.3.6.1.2.1.31.1.1.1.1.{index}")
    assert name.stdout.strip().endswith('STRING: "1"'), name
    assert lab.snmp("snmpget", "sw1", f"{IF_ADMIN}.{index}").stdout.strip().endswith("INTEGER: 1")
    refused = lab.snmp("snmpset", "sw1", f"{IF_ADMIN}.{index}", "i", "2", rw=False)
    assert refused.returncode != 0 and "noAccess" in refused.stdout + refused.stderr, refused
    assert lab.events("port") == []
    lab.set_port("sw1", "1", up=False)
    got = lab.snmp("snmpget", "sw1", f"{IF_ADMIN}.{index}", f"{IF_OPER}.{index}").stdout.split("\n")
    assert got[0].endswith("INTEGER: 2") and got[1].endswith("INTEGER: 2"), got
    lab.set_port("sw1", "1", up=True)
    assert lab.snmp("snmpget", "sw1", f"{IF_OPER}.{index}").stdout.strip().endswith("INTEGER: 1")
    bad = lab.snmp("snmpset", "sw1", f"{IF_ADMIN}.{index}", "i", "3", rw=True)
    assert bad.returncode != 0 and "wrongValue" in bad.stdout + bad.stderr, bad


def _ssh_base(lab: Lab) -> list[str]:
    ssh = lab.ep["nodes"][NODE]["ssh"]
    return [need("ssh"), "-p", str(ssh["port"]), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "-o", "BatchMode=no", f"{ssh['user']}@{ssh['host']}"]


def test_openssh_with_the_lab_key(lab: Lab) -> None:
    key = lab.ep["nodes"][NODE]["ssh"]["key_file"]
    cmd = _ssh_base(lab)
    cmd[1:1] = ["-i", key, "-o", "IdentitiesOnly=yes", "-o", "PasswordAuthentication=no"]
    result = subprocess.run(cmd + ["cat /proc/net/bonding/bond0"], capture_output=True, text=True, timeout=30,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Ethernet Channel Bonding Driver: v3.6.0 (September 26, 2009)\n")
    assert "Currently Active Slave: eth0\n" in result.stdout


def test_openssh_with_a_password_and_exit_codes(lab: Lab, tmp_path: Path) -> None:
    askpass = tmp_path / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\necho '{lab.ep['nodes'][NODE]['ssh']['password']}'\n")
    askpass.chmod(0o700)
    env = dict(os.environ, SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force", DISPLAY=":0")
    cmd = _ssh_base(lab)
    cmd[1:1] = ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password"]
    started = time.monotonic()
    result = subprocess.run(cmd + ["cat /proc/net/bonding/bond0"], capture_output=True, text=True, timeout=30,
                            env=env, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert "Primary Slave: eth0 (primary_reselect always)\n" in result.stdout
    missing = subprocess.run(cmd + ["nosuchtool --help"], capture_output=True, text=True, timeout=30, env=env,
                             stdin=subprocess.DEVNULL)
    assert missing.returncode == 127 and "bash: nosuchtool: command not found" in missing.stderr
    assert time.monotonic() - started < 10


def test_a_kept_shell_reads_framed_commands_from_openssh_as_a_real_shell_does(lab: Lab) -> None:
    """The harness's kept shells (hacert.drivers.kept_shell) type framed command lines into one SSH channel:
    labsim must answer them byte for byte as the machine's own shell answers the same lines."""
    key = lab.ep["nodes"][NODE]["ssh"]["key_file"]
    cmd = _ssh_base(lab)
    cmd[1:1] = ["-i", key, "-o", "IdentitiesOnly=yes", "-o", "PasswordAuthentication=no"]
    typed = (frame("echo hello", "a1", "b1") + frame("false", "a2", "b2") + "echo plain\n"
             + frame("echo out; cat /no/such/file", "a3", "b3") + frame("echo -n tail", "a4", "b4"))
    remote = subprocess.run(cmd + [KEPT_COMMAND], input=typed, capture_output=True, text=True, timeout=30)
    local = subprocess.run(["/bin/sh", "-s"], input=typed, capture_output=True, text=True, timeout=30)
    assert local.stdout == "a1\nhello\nb1 0\na2\nb2 1\nplain\na3\nout\nb3 1\na4\ntailb4 0\n", local.stdout
    assert (remote.returncode, remote.stdout, remote.stderr) == (local.returncode, local.stdout, local.stderr)
