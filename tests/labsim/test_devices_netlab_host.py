"""The shared emulators on netlab's host, reached by the real clients: labsim's BMC and APC PDU
agent serve netlab's oob.Power (the one power model, nodes as stand-ins) on 127.0.0.1, without
namespaces or root; ipmitool and fence_apc_snmp must see a power cut darken the node's BMC."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from hacert.model.inventory import load_inventory
from hacert.netlab import oob
from tests.labsim.conftest import need
from tests.labsim.test_devices_contract import StandInNode

REPO = Path(__file__).resolve().parents[2]
USER, PASSWORD, RO, RW = "admin", "netlab-host-test", "public", "private"


@pytest.fixture
def served() -> Iterator[dict[str, Any]]:
    import pyghmi.ipmi.private.session as ipmisession

    from hacert.labsim.devices.bmc import SimBmc
    from hacert.labsim.devices.snmp import SnmpAgents, pdu_device

    inv = load_inventory(REPO / "inventories" / "netlab.yaml")
    nodes = {n.name: StandInNode() for n in inv.nodes}
    power = oob.Power(inv, nodes)  # type: ignore[arg-type]  (stand-ins for NodePower)
    node = inv.nodes[0]
    bmc = SimBmc(power, node.name, USER, PASSWORD, 0)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            ipmisession.Session.wait_for_rsp(timeout=0.2)

    threading.Thread(target=serve, daemon=True).start()
    pdu = node.power[0].pdu
    agents = SnmpAgents(power, {pdu: (pdu_device(power, pdu), 0)}, RO, RW)
    agents.start()
    try:
        yield {"power": power, "nodes": nodes, "node": node, "bmc_port": bmc.port, "pdu_port": agents.ports[pdu]}
    finally:
        stop.set()
        agents.stop()
        # pyghmi's I/O thread keeps the BMC's socket (closing it would kill that thread): cut the
        # BMC's power instead, so it answers nobody for the rest of this process
        power.set_outlet(pdu, node.power[0].outlet, "off")
        bmc.forget_sessions()
        power.scheduler.stop()


def _ipmitool(lab: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [need("ipmitool"), "-I", "lanplus", "-H", "127.0.0.1", "-p", str(lab["bmc_port"]), "-U", USER,
           "-P", PASSWORD, "-R", "1", "-N", "1", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def _fence_apc(lab: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [need("fence_apc_snmp"), "--ip=127.0.0.1", f"--ipport={lab['pdu_port']}", f"--community={RW}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_a_pdu_cut_on_netlab_darkens_its_bmc_for_the_real_clients(served: dict[str, Any]) -> None:
    node, nodes = served["node"], served["nodes"]
    outlet = str(node.power[0].outlet)
    assert _ipmitool(served, "chassis", "power", "status").stdout.strip() == "Chassis Power is on"
    assert "Status: ON" in _fence_apc(served, f"--plug={outlet}", "-o", "status").stdout
    off = _fence_apc(served, f"--plug={outlet}", "-o", "off")
    assert off.returncode == 0, off.stdout + off.stderr
    assert nodes[node.name].asked == ["off"]
    dark = _ipmitool(served, "chassis", "power", "status")
    assert dark.returncode != 0 and "Chassis Power" not in dark.stdout, "a BMC without power answered"
    on = _fence_apc(served, f"--plug={outlet}", "-o", "on")
    assert on.returncode == 0, on.stdout + on.stderr
    assert nodes[node.name].asked == ["off", "on"]  # power restore: the node boots
    assert _ipmitool(served, "chassis", "power", "status").stdout.strip() == "Chassis Power is on"
