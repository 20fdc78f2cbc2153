"""netlab's Redfish parts without namespaces (tests/netlab/test_redfish.py runs the real cluster): the
stonith device pacemaker gets for a Redfish node, and labsim's Redfish BMC served on a socket made
elsewhere (netlab makes it in its management namespace) over a power model that has no OS to ask."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hacert.labsim.redfish import RedfishServers
from hacert.model.inventory import load_inventory
from hacert.netlab.supervisor import Netlab
from tests.netlab.test_redfish import redfish_inventory


def test_pacemaker_fences_the_redfish_node_with_fence_redfish_at_level_1(tmp_path: Path) -> None:
    path, victim = redfish_inventory(tmp_path)
    inv = load_inventory(path)
    lab = Netlab(inv, tmp_path / "work")
    devices = lab.fence_devices()
    redfish = [d for d in devices if d["agent"] == "fence_redfish"]
    member = inv.node(victim).member_name
    assert [(d["node"], d["level"]) for d in redfish] == [(member, 1)], devices
    params = redfish[0]["params"]
    assert params["ip"] == lab.plan.bmc_ip(victim) and params["ipport"] == "443" and params["ssl_insecure"] == "1"
    assert params["systems_uri"].startswith("/redfish/v1/Systems/") and params["pcmk_host_list"] == member
    assert params["pcmk_reboot_timeout"] == "25s"  # fence_redfish has no timeout of its own
    assert [d["agent"] for d in devices if d["node"] == member and d["level"] == 2] == ["fence_apc_snmp"]
    others = [d["agent"] for d in devices if d["node"] != member and d["level"] == 1]
    assert others == ["fence_ipmilan"]


class Power:
    """netlab's power model as the BMC sees it: no node_state, no OS to ask, no emit, no subscribe."""

    def __init__(self, inventory: Any) -> None:
        self.inventory = inventory
        self.on = True
        self.actions: list[str] = []

        class NoFaults:
            def active(self, name: str, target: str | None = None) -> bool:
                return False

        self.device_faults = NoFaults()

    def bmc_answers(self, node: str) -> bool:
        return True

    def chassis_on(self, node: str) -> bool:
        return self.on

    def chassis_control(self, node: str, action: str) -> None:
        self.actions.append(action)
        self.on = action != "off"


def test_the_bmc_on_a_given_socket_over_a_power_model_without_an_os(tmp_path: Path) -> None:
    agent = shutil.which("fence_redfish")
    if agent is None:
        pytest.skip("fence_redfish is not installed (the CI image installs it)")
    path, victim = redfish_inventory(tmp_path)
    power = Power(load_inventory(path))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    emitted: list[tuple[str, dict[str, Any]]] = []
    servers = RedfishServers(power, {victim: 443}, "admin", "pw", tmp_path, sockets={victim: sock},  # type: ignore[arg-type]
                             addresses={victim: "127.0.0.1"}, emit=lambda kind, **f: emitted.append((kind, f)))
    servers.start()
    try:
        port = sock.getsockname()[1]

        def fence(action: str) -> subprocess.CompletedProcess:
            return subprocess.run([agent, "--ip=127.0.0.1", f"--ipport={port}", "--username=admin", "--password=pw",
                                   "--ssl-insecure", f"--action={action}"], capture_output=True, text=True, timeout=60)

        assert "Status: ON" in fence("status").stdout
        assert fence("reboot").returncode == 0
        assert power.actions == ["off", "on"]
        model = servers.models[victim]
        assert model.reset("GracefulShutdown", "admin") == (204, "")  # no OS to ask: it acts as ForceOff
        assert power.actions[-1] == "off"
        assert [f["reset_type"] for kind, f in emitted if kind == "redfish_reset"] == ["ForceOff", "On", "GracefulShutdown"]
        assert servers.endpoint(victim)["ca_file"] == str(tmp_path / "redfish-cert.pem")
    finally:
        servers.stop()
