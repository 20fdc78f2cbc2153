"""netlab with a Redfish BMC: inventories/netlab.yaml without its guests, one node's BMC speaking
Redfish (labsim's HTTPS BMC on the node's BMC address in netlab's management namespace), and the real
cluster fences that node with Debian's real fence_redfish through pacemaker. The harness's
hang-and-fence case must pass and name Redfish as the method, which the BMC's own log confirms."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from hacert.lab.build import Lab
from hacert.model.inventory import load_inventory
from hacert.netlab import events, start_netlab
from hacert.verdict.summary import latest_summary_path

from tests.netlab.conftest import REPO, leftovers, wait_until

BASE = REPO / "inventories" / "netlab.yaml"

pytestmark = pytest.mark.timeout(900)


def redfish_inventory(folder: Path) -> tuple[Path, str]:
    """netlab.yaml without guests; its last node's BMC speaks Redfish and fences first. (path, that node)."""
    data = yaml.safe_load(BASE.read_text())
    data.pop("vms", None)
    node = data["nodes"][-1]
    node["bmc"] = {"protocol": "redfish", **{k: v for k, v in node["bmc"].items() if k != "protocol"}, "timeout": 10}
    node["fence"] = ["redfish" if m == "ipmi" else m for m in node["fence"]]
    data["description"] = "netlab.yaml's cluster without guests; " + node["name"] + " fenced through Redfish"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "netlab-redfish.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, node["name"]


@pytest.fixture(scope="module")
def redfish_netlab(netlab_machine_lock: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, Path, str]]:
    path, victim = redfish_inventory(tmp_path_factory.mktemp("inventory"))
    inv = load_inventory(path)
    prefix = inv.netlab["prefix"]  # type: ignore[index]
    started = time.monotonic()
    running = start_netlab(path, reuse=False)
    print(f"\nnetlab (Redfish): cluster up in {time.monotonic() - started:.1f} s", file=sys.stderr)
    lab = Lab(inv, running.endpoints, running=running)
    try:
        yield lab, path, victim
    finally:
        lab.close()
        assert not leftovers(prefix), "netlab down left something behind"


def settled(lab: Lab, survivor: str) -> bool:
    try:
        status = lab.cluster.status(via=survivor)
    except Exception:
        return False
    homes = {svc.name: svc.home for svc in lab.inventory.services}
    return (status.quorate and len(status.members) == len(lab.inventory.nodes) and all(m.online for m in status.members.values())
            and all(status.owner(name) == home for name, home in homes.items()))


def test_the_real_fence_redfish_fences_the_node_and_the_hang_case_names_redfish(redfish_netlab: tuple[Lab, Path, str],
                                                                                tmp_path: Path) -> None:
    lab, inventory, victim = redfish_netlab
    survivor = next(n.name for n in lab.inventory.nodes if n.name != victim)
    bmc = lab.endpoints["nodes"][victim]["bmc"]
    assert bmc["protocol"] == "redfish" and bmc["systems_uri"].startswith("/redfish/v1/Systems/")
    # the harness's driver reaches it through the relay, TLS checked against the lab's certificate
    assert lab.bmc(victim).power_status() == "on"
    # the cluster's device for the victim is the real fence_redfish agent, and it answers from inside a node
    shell = lab.node(survivor)
    devices = [d for d in lab.endpoints["netlab"]["fence_devices"] if d["agent"] == "fence_redfish"]
    assert [d["node"] for d in devices] == [lab.inventory.node(victim).member_name], devices
    wait_until("the cluster settled", lambda: settled(lab, survivor), 120, interval=1)
    since = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/test_fencing.py", "-k", f"test_hang_and_fence and {victim}",
         "--inventory", str(inventory), "-q", "-p", "no:cacheprovider",
         "--alluredir", str(tmp_path / "allure"), "--summary-dir", str(tmp_path / "summary")],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    summary = json.loads(latest_summary_path(tmp_path / "summary").read_text())
    rows: list[dict[str, Any]] = summary.get("cases") or []
    print("\n".join(f"{r['id']}: {r['verdict']}; {r.get('diagnosis') or ''}; facts: {r['facts']}" for r in rows), file=sys.stderr)
    assert done.returncode == 0, done.stdout[-4000:]
    assert [r["verdict"] for r in rows] == ["passed"], rows
    facts = rows[0]["facts"]
    assert facts["method"] == "redfish", facts
    assert "(fence_redfish)" in facts["fenced with"], facts
    assert "Redfish" in (rows[0].get("diagnosis") or ""), rows[0]
    # the BMC confirmed it: its log service holds fence_redfish's ForceOff and On, and so does the ground truth
    assert "ForceOff requested by" in facts["BMC log"] and "On requested by" in facts["BMC log"], facts
    # netlab's power acts after the request returns: the log says what the system was, never a state it had not reached
    assert re.search(r"Reset ForceOff requested by \w+ \(the system was On\).*Reset On requested by \w+ \(the system was Off\)",
                     facts["BMC log"]), facts["BMC log"]
    truth = [e for e in events.read(Path(lab.endpoints["netlab_events"])) if e["t"] >= since]
    resets = [e["reset_type"] for e in truth if e["kind"] == "redfish_reset" and e["node"] == victim]
    assert resets[:2] == ["ForceOff", "On"], resets
    log = shell.run(f"grep -h 'targeting {lab.inventory.node(victim).member_name} using' /var/log/messages", check=False).stdout
    assert f"using {devices[0]['id']} returned 0" in log, log
