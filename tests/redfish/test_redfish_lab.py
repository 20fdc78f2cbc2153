"""The suites on a simulated lab with one Redfish node and one IPMI node (inventories/redfish-sim.yaml):
the whole matrix passes, the hang case of the Redfish node names Redfish as the method and the BMC's
own log of fence_redfish's resets; with the Redfish BMC broken (device fault bmc_dark from the
moment the node hangs) the cluster fences it by the PDU and the hang case fails saying so."""

from __future__ import annotations

import re
from typing import Any

import pytest

from hacert.model.inventory import load_inventory
from tests.redfish.conftest import REDFISH_SIM, redfish_node
from tests.suites_fencing.harness import FENCING, Pending, SuiteRun, first, write_inventory
from hacert.suite_runs import REPO

SUITES = REPO / "suites"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SuiteRun]:
    """The whole matrix on the Redfish lab, and the hang case of its Redfish node with that BMC broken, side by side."""
    node = redfish_node()
    # the documents' procedures; the CTS-like families run on the three reference labs (tests/cts, tests/cts2)
    documents = [SUITES / f"test_{name}.py" for name in ("fencing", "cold_start", "network", "vm_recovery", "migration")]
    matrix = Pending(tmp_path_factory.mktemp("matrix"), REDFISH_SIM, documents, None, timeout=900)
    folder = tmp_path_factory.mktemp("broken")

    def broken(data: dict[str, Any]) -> None:
        data.setdefault("simulation", {})["device_faults"] = [
            {"name": "bmc_dark", "target": node, "when": {"kind": "node_state", "node": node, "state": "hung"}, "duration": 8}]

    inventory = write_inventory(folder / "inventory", REDFISH_SIM, edit=broken)
    fault = Pending(folder, inventory, [FENCING], f"test_hang_and_fence and {node}", timeout=300)
    return {"matrix": matrix.result(), "broken": fault.result()}


def test_the_whole_matrix_passes_on_a_lab_with_one_redfish_and_one_ipmi_node(runs: dict[str, SuiteRun]) -> None:
    run = runs["matrix"]
    inv = load_inventory(REDFISH_SIM)
    node = redfish_node()
    ipmi_node = next(n.name for n in inv.nodes if n.name != node)
    assert run.returncode == 0, run.output[-4000:]
    assert run.summary["overall"]["verdict"] == "PASS", run.summary["overall"]
    assert set(run.summary["overall"]["counts"]) <= {"passed", "not applicable"}, run.summary["overall"]
    hang = run.row(f"test_hang_and_fence[{node}]")
    assert hang["verdict"] == "passed" and hang["facts"]["method"] == "redfish", hang["facts"]
    assert f"redfish_{node}: fence_redfish" in hang["facts"]["fence configuration"], hang["facts"]
    assert f"method 1 (redfish_{node})" in hang["facts"]["fenced with"], hang["facts"]  # cman: the method that fenced
    assert hang["diagnosis"].startswith(f"{node} fenced by Redfish"), hang["diagnosis"]
    # how the BMC confirmed it: its log service holds the agent's ForceOff then On
    assert re.search(r"ForceOff requested by \w+.*On requested by", hang["facts"]["BMC log"]), hang["facts"]
    other = run.row(f"test_hang_and_fence[{ipmi_node}]")
    assert other["verdict"] == "passed" and other["facts"]["method"] == "ipmi", other["facts"]
    cut = run.row(f"test_pdu_power_cut[{node}]")
    assert cut["verdict"] == "passed" and cut["facts"]["method"] == "pdu", cut["facts"]
    assert "error from agent" in cut["facts"]["Redfish result"], cut["facts"]  # the dark BMC failed its agent first
    # the ground truth: in the Redfish node's hang case, the chassis was powered off and on by Redfish resets
    hung = first(run.events, "node_state", node=node, state="hung")
    assert hung is not None
    resets = [e["reset_type"] for e in run.events if e["kind"] == "redfish_reset" and e["node"] == node and e["t"] >= hung["t"]]
    assert resets[:2] == ["ForceOff", "On"], resets


def test_with_the_redfish_bmc_broken_the_hang_case_fails_fenced_by_the_pdu_not_redfish(runs: dict[str, SuiteRun]) -> None:
    run = runs["broken"]
    node = redfish_node()
    outcomes = run.outcomes()
    outcome, message = outcomes[f"test_hang_and_fence[{node}]"]
    assert outcome == "failed", (outcome, message, run.output[-3000:])
    assert f"{node} was fenced by the PDU, not Redfish: Redfish attempt failed with 'error from agent'" in message, message
    row = run.row(f"test_hang_and_fence[{node}]")
    assert row["verdict"] == "failed" and row["facts"]["method"] == "pdu", row
    dark = first(run.events, "device_fault", fault="bmc_dark", target=node, active=True)
    done = first(run.events, "fence_done", node=node)
    assert dark is not None and done is not None and done["method"] == "pdu" and done["t"] > dark["t"]
    assert not [e for e in run.events if e["kind"] == "redfish_reset"], "the broken BMC still acted"
