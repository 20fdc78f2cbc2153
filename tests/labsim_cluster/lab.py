"""Drive a simulated lab for the cluster tests: in-process (World + its shell) or
through the running lab's SSH, SNMP and IPMI endpoints.

Both clients offer the same small surface, so a scenario reads the same either way.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from hacert.model.inventory import load_inventory
from hacert.labsim.core import read_event_log

ROOT = Path(__file__).resolve().parents[2]
ANVIL = ROOT / "inventories" / "anvil-sim.yaml"

# Short timings so every scenario takes seconds.
FAST_TIMING = {
    "boot": 0.5, "bmc_boot": 0.1, "token_timeout": 0.3, "ipmi_fence": 0.2, "ipmi_fence_failure": 0.4,
    "pdu_fence": 0.2, "cluster_start": 0.2, "vm_boot": 0.2, "status_check_interval": 0.2,
    "migration_switchover": 0.05, "migration_drop": 1.0, "slow_fence_extra": 2.0,
    "late_cold_start_extra": 1.0,
}


def write_inventory(tmp: Path, faults: list[dict[str, Any]] | None = None, timing: dict[str, Any] | None = None,
                    base: Path = ANVIL, edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
    data = yaml.safe_load(base.read_text())
    data = copy.deepcopy(data)
    sim = data.setdefault("simulation", {}) or {}
    data["simulation"] = sim
    sim["timing"] = {**FAST_TIMING, **(sim.get("timing") or {}), **(timing or {})}
    sim["faults"] = faults or []
    if edit is not None:
        edit(data)
    path = tmp / f"{data['lab']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    load_inventory(path)  # fail early on a bad test inventory
    return path


def wait_until(cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class _CaptureIO:
    def __init__(self) -> None:
        self.out: list[str] = []

    def write(self, text: str) -> None:
        self.out.append(text)

    def write_err(self, text: str) -> None:
        self.out.append(text)

    def closed(self) -> bool:
        return False

    def wait(self, seconds: float) -> bool:
        time.sleep(seconds)
        return True


class InProcessLab:
    """The World in this process; commands run through the nodes' shell."""

    def __init__(self, inventory_path: Path, workdir: Path):
        from hacert.labsim.world import World

        self.inventory = load_inventory(inventory_path)
        self.world = World(self.inventory, workdir)
        self.world.start()
        self.event_log = self.world.event_log_path

    def run(self, node: str, line: str) -> tuple[int, str]:
        io = _CaptureIO()
        rc = self.world.execute(node, line, io)
        return rc, "".join(io.out)

    def out(self, node: str, line: str) -> str:
        rc, text = self.run(node, line)
        assert rc == 0, f"{line!r} on {node} exited {rc}: {text}"
        return text

    def hang(self, node: str) -> None:
        self.run(node, "echo c > /proc/sysrq-trigger")

    def outlet_off(self, pdu: str, outlet: int) -> None:
        self.world.set_outlet(pdu, outlet, "off")

    def power_on(self, node: str) -> None:
        self.world.chassis_control(node, "on")

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in read_event_log(self.event_log) if kind is None or e["kind"] == kind]

    def syslog(self, node: str) -> list[str]:
        return self.world.messages(node)

    def stop(self) -> None:
        self.world.stop()


class SshLab:
    """The lab as a subprocess (hacert.labsim.runner.start_lab), reached over SSH, SNMP and IPMI."""

    def __init__(self, inventory_path: Path, workdir: Path):
        import paramiko
        from hacert.labsim.runner import start_lab

        self.inventory = load_inventory(inventory_path)
        self.lab = start_lab(inventory_path, workdir)
        self.endpoints = self.lab.endpoints
        self.event_log = Path(self.lab.event_log)
        self._clients: dict[str, paramiko.SSHClient] = {}

    def _client(self, node: str):
        import paramiko

        client = self._clients.get(node)
        if client is not None and client.get_transport() is not None and client.get_transport().is_active():
            return client
        ssh = self.endpoints["nodes"][node]["ssh"]
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        client.connect(ssh["host"], port=ssh["port"], username=ssh["user"], password=ssh["password"],
                       timeout=5, banner_timeout=5, auth_timeout=5, channel_timeout=5,
                       look_for_keys=False, allow_agent=False)
        self._clients[node] = client
        return client

    def run(self, node: str, line: str, timeout: float = 30.0) -> tuple[int, str]:
        try:
            return self._run(node, line, timeout)
        except Exception as exc:
            self._clients.pop(node, None)
            raise OSError(f"{node}: {line!r}: {exc!r}") from exc

    def _run(self, node: str, line: str, timeout: float) -> tuple[int, str]:
        channel = self._client(node).get_transport().open_session(timeout=5)
        channel.settimeout(timeout)
        channel.set_combine_stderr(True)
        channel.exec_command(line)
        data = b""
        while True:
            chunk = channel.recv(65536)
            if not chunk:
                break
            data += chunk
        rc = channel.recv_exit_status()
        channel.close()
        return rc, data.decode()

    def out(self, node: str, line: str) -> str:
        rc, text = self.run(node, line)
        assert rc == 0, f"{line!r} on {node} exited {rc}: {text}"
        return text

    def hang(self, node: str) -> None:
        channel = self._client(node).get_transport().open_session(timeout=5)
        channel.exec_command("echo c > /proc/sysrq-trigger")
        time.sleep(0.1)
        channel.close()
        self._clients.pop(node, None)

    def outlet_off(self, pdu: str, outlet: int) -> None:
        ep = self.endpoints["pdus"][pdu]
        subprocess.run(["snmpset", "-v1", "-c", ep["community_rw"], "-t", "2", "-r", "1",
                        f"{ep['host']}:{ep['port']}", f".1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.{outlet}", "i", "2"],
                       check=True, capture_output=True, timeout=10)

    def power_on(self, node: str) -> None:
        bmc = self.endpoints["nodes"][node]["bmc"]
        subprocess.run(["ipmitool", "-I", "lanplus", "-H", bmc["host"], "-p", str(bmc["port"]), "-U", bmc["user"],
                        "-P", bmc["password"], "-R", "1", "-N", "2", "chassis", "power", "on"],
                       check=True, capture_output=True, timeout=15)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in read_event_log(self.event_log) if kind is None or e["kind"] == kind]

    def syslog(self, node: str) -> list[str]:
        return self.out(node, "cat /var/log/messages").splitlines()

    def stop(self) -> None:
        for client in self._clients.values():
            client.close()
        self.lab.stop()


def ssh_available() -> bool:
    try:
        import hacert.labsim.runner  # noqa: F401
    except ImportError:
        return False
    return shutil.which("snmpset") is not None and shutil.which("ipmitool") is not None


def ping_during(lab: Any, node: str, address: str, action: Callable[[], Any], seconds: float = 3.0,
                interval: float = 0.05) -> tuple[Any, dict[str, Any]]:
    """Run `action()` while `node` pings `address`; returns (action's result, the ping_done event)."""
    import threading

    before = len(lab.events("ping_done"))
    count = int(seconds / interval)
    pinger = threading.Thread(target=lambda: lab.run(node, f"ping -c {count} -i {interval} {address}"), daemon=True)
    pinger.start()
    time.sleep(0.3)  # the procedure's "start a ping, then act": some replies before the action
    value = action()
    pinger.join(seconds + 10)
    done = wait_until(lambda: lab.events("ping_done")[before:], 5, "ping_done")
    return value, done[-1]


def lines_in_order(lines: list[str], fragments: list[str]) -> list[str]:
    """The lines matching each fragment in turn; fails naming the first fragment missing."""
    found = []
    position = 0
    for fragment in fragments:
        for index in range(position, len(lines)):
            if fragment in lines[index]:
                found.append(lines[index])
                position = index + 1
                break
        else:
            tail = "\n".join(lines[-25:])
            raise AssertionError(f"no line containing {fragment!r} after {found[-1:]!r}; log tail:\n{tail}")
    return found


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)
