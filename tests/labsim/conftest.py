"""Helpers for the simulated lab's own tests: every check goes through a real
protocol (SSH, SNMP, IPMI) against a lab started as a subprocess."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import paramiko
import pytest

from hacert.labsim.core import read_event_log
from hacert.labsim.runner import RunningLab, start_lab

REPO = Path(__file__).resolve().parents[2]
ANVIL = REPO / "inventories" / "anvil-sim.yaml"
IF_ADMIN = "1.3.6.1.2.1.2.2.1.7"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"
RPDU_CONTROL = "1.3.6.1.4.1.318.1.1.12.3.3.1.1.4"
RPDU_STATUS = "1.3.6.1.4.1.318.1.1.12.3.5.1.1.4"


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (the CI image installs it; this check needs the real client)")
    return path


def wait_until(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.02) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.1f} s (last: {last!r})")


class Node:
    """A paramiko session to one simulated node."""

    def __init__(self, endpoint: dict[str, Any]):
        self.endpoint = endpoint
        self.client = paramiko.SSHClient()
        self.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        self.client.connect(endpoint["host"], endpoint["port"], endpoint["user"], endpoint["password"],
                            timeout=5, banner_timeout=5, auth_timeout=5, channel_timeout=5,
                            look_for_keys=False, allow_agent=False)

    def run(self, command: str, timeout: float = 10) -> tuple[int, str, str]:
        _, out, err = self.client.exec_command(command, timeout=timeout)
        text, error = out.read().decode(), err.read().decode()
        return out.channel.recv_exit_status(), text, error

    def bond(self, name: str) -> str:
        code, text, err = self.run(f"cat /proc/net/bonding/{name}")
        assert code == 0, err
        return text

    def active(self, bond: str) -> str:
        for line in self.bond(bond).splitlines():
            if line.startswith("Currently Active Slave:"):
                return line.split(":", 1)[1].strip()
        raise AssertionError(f"no active slave line in {bond}")

    def close(self) -> None:
        self.client.close()


class Lab:
    """A running simulated lab plus client helpers."""

    def __init__(self, running: RunningLab):
        self.running = running
        self.ep = running.endpoints

    def node(self, name: str) -> Node:
        return Node(self.ep["nodes"][name]["ssh"])

    def snmp(self, verb: str, device: str, *args: str, rw: bool = False, kind: str = "switches",
             timeout: float = 10) -> subprocess.CompletedProcess:
        ep = self.ep[kind][device]
        community = ep["community_rw"] if rw else ep["community_ro"]
        version = "-v1" if ep["version"] == "1" else "-v2c"
        cmd = [need(verb), version, "-c", community, "-r", "0", "-t", "1", "-On", f"{ep['host']}:{ep['port']}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

    def set_port(self, switch: str, port: str, up: bool) -> None:
        index = self.ep["switches"][switch]["ports"][port]
        result = self.snmp("snmpset", switch, f"{IF_ADMIN}.{index}", "i", "1" if up else "2", rw=True)
        assert result.returncode == 0, result.stderr

    def set_outlet(self, pdu: str, outlet: int, on: bool) -> None:
        result = self.snmp("snmpset", pdu, f"{RPDU_CONTROL}.{outlet}", "i", "1" if on else "2", rw=True, kind="pdus")
        assert result.returncode == 0, result.stderr

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in read_event_log(self.running.event_log) if kind is None or e["kind"] == kind]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """The anvil-sim devices without the cluster model, which would react (fence,
    restart) to what these tests do to the devices."""
    yield from _running(start_lab(ANVIL, tmp_path / "lab", cluster=False))


@pytest.fixture
def cluster_lab(tmp_path: Path) -> Iterator[Lab]:
    """The whole anvil-sim lab, cluster behaviour included."""
    yield from _running(start_lab(ANVIL, tmp_path / "lab"))


def _running(running: RunningLab) -> Iterator[Lab]:
    try:
        yield Lab(running)
    finally:
        code = running.stop()
        log = running.log_path.read_text()
        assert code == 0, f"labsim exited with {code}: {log[-2000:]}"
        assert "Traceback" not in log, log[-3000:]
