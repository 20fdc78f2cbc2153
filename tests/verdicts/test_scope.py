"""The certification scope: which cases a lab of a given shape must run, and what it must have."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hacert.model.inventory import load_inventory
from hacert.model.scope import capability_findings, case_key, required_cases, require_independent_fence, require_relocation
from hacert.drivers.errors import CapabilityMissing
from hacert.suite_runs import write_inventory

ROOT = Path(__file__).resolve().parents[2]
LABS = ["anvil-sim.yaml", "three-node-sim.yaml", "pacemaker3-sim.yaml"]


def collected(inventory: Path) -> list[str]:
    run = subprocess.run([sys.executable, "-m", "pytest", "suites", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "--inventory", str(inventory)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return [case_key(line) for line in run.stdout.splitlines() if line.startswith("suites/")]


@pytest.mark.parametrize("lab_file", LABS)
def test_the_scope_is_exactly_what_the_suites_collect(lab_file: str) -> None:
    """The required matrix and the suites cannot drift apart: a new procedure must join the scope."""
    inv = load_inventory(ROOT / "inventories" / lab_file)
    assert sorted(required_cases(inv)) == sorted(collected(ROOT / "inventories" / lab_file))


@pytest.mark.parametrize("lab_file", LABS)
def test_the_healthy_labs_lack_nothing(lab_file: str) -> None:
    assert capability_findings(load_inventory(ROOT / "inventories" / lab_file)) == []


def test_only_ipmi_is_a_missing_capability_not_a_shape(tmp_path: Path) -> None:
    def only_ipmi(data: dict) -> None:
        for node in data["nodes"]:
            node["fence"] = ["ipmi"]

    inv = load_inventory(write_inventory(tmp_path, "anvil-sim.yaml", edit=only_ipmi))
    found = capability_findings(inv)
    assert [(f.capability, f.subject) for f in found] == [("independent fence method", n.name) for n in inv.nodes]
    assert "no second fence method independent of its power" in found[0].diagnosis
    with pytest.raises(CapabilityMissing) as caught:
        require_independent_fence(inv, inv.nodes[0])
    assert caught.value.capability == "independent fence method"


def test_scsi_alone_is_independent_of_the_nodes_power(tmp_path: Path) -> None:
    def scsi(data: dict) -> None:
        for node in data["nodes"]:
            node["fence"] = ["scsi"]

    inv = load_inventory(write_inventory(tmp_path, "anvil-sim.yaml", edit=scsi))
    assert capability_findings(inv) == []


def test_a_vm_pinned_to_one_node_cannot_relocate(tmp_path: Path) -> None:
    def pin(data: dict) -> None:
        data["vms"][0]["domain"] = "only_an01"

    inv = load_inventory(write_inventory(tmp_path, "anvil-sim.yaml", edit=pin))
    vm = inv.vms[0].name
    assert [(f.capability, f.subject) for f in capability_findings(inv)] == [("VM relocation policy", vm)]
    with pytest.raises(CapabilityMissing):
        require_relocation(inv, vm)
    require_relocation(inv, inv.vms[1].name)  # its neighbour may run on either node


def test_several_labs_prefix_their_cases() -> None:
    inv = load_inventory(ROOT / "inventories" / "anvil-sim.yaml")
    keys = required_cases(inv, prefix_lab=True)
    assert "test_fencing.py::test_hang_and_fence[anvil-sim-an-node01]" in keys
    assert "test_cold_start.py::test_cold_stop_start[anvil-sim]" in keys
    assert yaml.safe_load((ROOT / "inventories" / "anvil-sim.yaml").read_text())["lab"] == "anvil-sim"
