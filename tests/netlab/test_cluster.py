"""The real cluster of inventories/netlab.yaml: corosync 3 + pacemaker 2 in namespaces, fenced
by the real fence agents through netlab's BMCs and PDU; the harness's fencing suite against it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from fixtures.inventory import load_inventory
from fixtures.lab import Lab
from netlab import events, start_netlab

from .conftest import REPO, leftovers, wait_until

INVENTORY = REPO / "inventories" / "netlab.yaml"
VICTIM, SURVIVOR = "an-node02", "an-node01"

pytestmark = pytest.mark.timeout(600)  # includes waiting for another run's netlab tests


@pytest.fixture(scope="module")
def netlab_lab(netlab_machine_lock: None) -> Iterator[Lab]:
    inv = load_inventory(INVENTORY)
    prefix = inv.netlab["prefix"]  # type: ignore[index]
    started = time.monotonic()
    running = start_netlab(INVENTORY, reuse=False)
    print(f"\nnetlab: cluster up in {time.monotonic() - started:.1f} s, {running.endpoints['memory_mb']} MB",
          file=sys.stderr)
    lab = Lab(inv, running.endpoints, running=running)
    try:
        yield lab
    finally:
        lab.close()
        assert not leftovers(prefix), "netlab down left something behind"


def ground_truth(netlab_lab: Lab, since: float) -> list[dict[str, Any]]:
    return [e for e in events.read(Path(netlab_lab.endpoints["netlab_events"])) if e["t"] >= since]


def settled(netlab_lab: Lab) -> bool:
    """Quorate, both nodes online and each Dummy service back on its home: the victim has fully
    joined (a node lost before its controller joined is not fenced — pacemaker's own rule)."""
    try:
        status = netlab_lab.cluster.status(via=SURVIVOR)
    except Exception:
        return False
    homes = {svc.name: svc.home for svc in netlab_lab.inventory.services}
    return (status.quorate and len(status.members) == 2 and all(m.online for m in status.members.values())
            and all(status.owner(name) == home for name, home in homes.items()))


def hang(netlab_lab: Lab, node: str) -> float:
    sent = time.time()
    with open(Path(netlab_lab.endpoints["workdir"]) / "nodes" / node / "sysrq-trigger", "w") as trigger:
        trigger.write("c")
    return sent


def fence_history(netlab_lab: Lab, node: str) -> str:
    """The survivor's fence history of `node`, one line per fence (without --verbose,
    pacemaker 2.1 folds them into one line whose time is not always the latest)."""
    return netlab_lab.node(SURVIVOR).run(f"stonith_admin --history {node} --verbose", check=False).stdout


def fenced_again(netlab_lab: Lab, node: str, before: str) -> bool:
    return fence_history(netlab_lab, node).count(" successful:") > before.count(" successful:")


def test_cluster_is_quorate_with_both_nodes_online(netlab_lab: Lab) -> None:
    status = netlab_lab.cluster.status()
    assert status.quorate
    assert {name: m.online for name, m in status.members.items()} == {"an-node01": True, "an-node02": True}
    assert netlab_lab.endpoints["startup_seconds"] < 120
    assert netlab_lab.endpoints["memory_mb"] < 2000


def test_fencing_topology_is_ipmi_then_pdu_with_the_real_agents(netlab_lab: Lab) -> None:
    out = netlab_lab.node(SURVIVOR).run("cibadmin -Q -o fencing-topology; crm_mon -1 --output-as=xml").stdout
    for node, outlet in (("an-node01", 1), ("an-node02", 2)):
        assert f'target="{node}" index="1" devices="fence-{node}-ipmi"' in out
        assert f'target="{node}" index="2" devices="fence-{node}-pdu2-{outlet}"' in out
    started = netlab_lab.cluster.status().services
    for device, agent in (("fence-an-node01-ipmi", "fence_ipmilan"), ("fence-an-node02-pdu2-2", "fence_apc_snmp")):
        assert started[device].state == "started", f"{device} ({agent}) is not running: {started[device]}"


def test_hung_node_is_fenced_by_ipmi_and_rejoins(netlab_lab: Lab) -> None:
    before = fence_history(netlab_lab, VICTIM)
    sent = hang(netlab_lab, VICTIM)
    wait_until(f"{VICTIM} fenced", lambda: fenced_again(netlab_lab, VICTIM, before), 60, interval=1)
    truth = ground_truth(netlab_lab, sent)
    assert {"kind": "chassis", "node": VICTIM, "action": "off"} in [{k: e[k] for k in ("kind", "node", "action")}
                                                                     for e in truth if e["kind"] == "chassis"]
    assert not [e for e in truth if e["kind"] == "outlet"], "the PDU was used although IPMI works"
    wait_until("the cluster settled again", lambda: settled(netlab_lab), 90, interval=1)


def test_wrong_ipmi_password_in_the_cib_falls_through_to_the_pdu(netlab_lab: Lab) -> None:
    """A real misconfiguration: level 1 fails (the BMC refuses the login), level 2 fences."""
    shell = netlab_lab.node(SURVIVOR)
    device = f"fence-{VICTIM}-ipmi"
    good = shell.run(f"crm_resource --resource {device} --get-parameter password").stdout.strip()
    shell.run(f"crm_resource --resource {device} --set-parameter password --parameter-value netlab-wrong")
    try:
        wait_until("the fencer uses the wrong password",
                   lambda: "netlab-wrong" in shell.run(f"crm_resource --resource {device} --get-parameter password").stdout, 10)
        before = fence_history(netlab_lab, VICTIM)
        sent = hang(netlab_lab, VICTIM)
        wait_until(f"{VICTIM} fenced", lambda: fenced_again(netlab_lab, VICTIM, before), 90, interval=1)
        truth = ground_truth(netlab_lab, sent)
        assert not [e for e in truth if e["kind"] == "chassis"], "IPMI acted although its password is wrong"
        assert [e["action"] for e in truth if e["kind"] == "outlet" and e["outlet"] == 2][:2] == ["off", "on"]
        log = shell.run(f"grep -h 'targeting {VICTIM} using' /var/log/messages").stdout
        assert f"using {device} returned 1" in log and f"using fence-{VICTIM}-pdu2-2 returned 0" in log
    finally:
        shell.run(f"crm_resource --resource {device} --set-parameter password --parameter-value {good}", check=False)
        shell.run(f"crm_resource --cleanup --resource {device}", check=False)
    wait_until("the cluster settled again", lambda: settled(netlab_lab), 90, interval=1)


def test_fencing_suite_hang_case_passes_through_the_plugin(netlab_lab: Lab, tmp_path: Path) -> None:
    """The harness's own case, as a user runs it: the plugin attaches to this running netlab."""
    wait_until("the cluster settled", lambda: settled(netlab_lab), 60, interval=1)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/test_fencing.py", "--inventory", str(INVENTORY),
         "-k", f"test_hang_and_fence and {VICTIM}", "-q", "-p", "no:cacheprovider",
         "--alluredir", str(tmp_path / "allure"), "--summary-dir", str(tmp_path / "summary")],
        cwd=REPO, capture_output=True, text=True, timeout=200)
    summary = json.loads((tmp_path / "summary" / "summary.json").read_text())
    rows = summary.get("cases") or summary.get("rows") or []
    assert done.returncode == 0, done.stdout[-3000:]
    assert [r["verdict"] for r in rows] == ["passed"], rows
    numbers = {n["name"]: n["value"] for n in rows[0]["numbers"]}
    assert 0 < numbers["hang to fence success"] < 60
    assert rows[0]["facts"]["method"] == "ipmi"
    assert netlab_lab.running is not None and netlab_lab.running.alive(), "the suite's run stopped the lab it only attached to"
