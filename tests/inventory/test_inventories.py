"""The shipped inventories load, and describe the labs they say they do."""

from __future__ import annotations

from pathlib import Path

import pytest

from hacert.model import matrix
from hacert.model.inventory import InventoryError, load_inventory
from tests.plugin.runner import EXAMPLE_INVENTORY, SIM_INVENTORY, THREE_NODE_INVENTORY

EXAMPLE_ENV = {
    name: "not-a-real-secret"
    for name in (
        "ANVIL_NODE_PASSWORD",
        "ANVIL_IPMI_PASSWORD",
        "ANVIL_PDU_COMMUNITY",
        "ANVIL_PDU_WRITE_COMMUNITY",
        "ANVIL_SWITCH_COMMUNITY",
        "ANVIL_SWITCH_WRITE_COMMUNITY",
    )
}


def all_ids(inv, prefix: bool = False) -> dict[str, list[str]]:
    return {name: [c.case_id for c in matrix.cases([name], [inv], prefix)] for name in matrix.MATRIX}


def test_the_example_is_the_simulated_lab_described_as_a_real_one() -> None:
    real = load_inventory(EXAMPLE_INVENTORY, environ=EXAMPLE_ENV)
    sim = load_inventory(SIM_INVENTORY)
    assert not real.simulated and sim.simulated
    assert all_ids(real) == all_ids(sim)
    assert real.safety.destructive is False
    for node in real.nodes:
        assert node.ssh is not None and node.ssh.password_env and node.bmc is not None and node.bmc.password_env


def test_the_example_names_every_missing_secret() -> None:
    with pytest.raises(InventoryError) as caught:
        load_inventory(EXAMPLE_INVENTORY, environ={})
    text = str(caught.value)
    for variable in EXAMPLE_ENV:
        assert f"environment variable {variable} is not set" in text
    assert all(p.line and p.key.endswith("_env") for p in caught.value.problems)


def test_secret_files_are_an_alternative(tmp_path: Path) -> None:
    (tmp_path / "ipmi.secret").write_text("s3cret\n")
    text = EXAMPLE_INVENTORY.read_text().replace("password_env: ANVIL_IPMI_PASSWORD", "password_file: ipmi.secret")
    copy = tmp_path / "lab.yaml"
    copy.write_text(text)
    env = {k: v for k, v in EXAMPLE_ENV.items() if k != "ANVIL_IPMI_PASSWORD"}
    inv = load_inventory(copy, environ=env)
    assert inv.node("an-node02").bmc.password_file == "ipmi.secret"


def test_the_three_node_lab_uses_other_names() -> None:
    three = load_inventory(THREE_NODE_INVENTORY)
    anvil = load_inventory(SIM_INVENTORY)
    assert len(three.nodes) == 3 and all(len(n.bonds) == 1 for n in three.nodes)
    assert len(three.vms) == 3 and len(three.switches) == 2
    assert three.cluster.manager == "rgmanager"
    names = lambda inv: {n.name for n in inv.nodes} | {b.name for n in inv.nodes for b in n.bonds} | {s.name for s in inv.switches}
    assert not names(three) & names(anvil)


def test_matrix_is_deterministic_and_in_inventory_order() -> None:
    inv = load_inventory(SIM_INVENTORY)
    first, second = all_ids(inv), all_ids(load_inventory(SIM_INVENTORY))
    assert first == second
    assert first["victim"] == [n.name for n in inv.nodes]
    assert first["bond_case"][:3] == [
        "an-node01-bond0-failover",
        "an-node01-bond0-updelay_return",
        "an-node01-bond0-backup_lost_during_updelay",
    ]
    case = matrix.cases(["bond_case"], [inv], prefix_lab=True)[4]
    assert case.case_id == "anvil-sim-an-node01-bond1-updelay_return"
    assert case.values == (matrix.BondCase("anvil-sim", "an-node01", "bond1", "updelay_return"),)


def test_matrix_values_are_frozen_and_name_themselves() -> None:
    value = matrix.MigrationCase("lab", "vm1", "n1", "n2")
    with pytest.raises(AttributeError):
        value.target = "n3"  # type: ignore[misc]
    assert value.case_id == "vm1-to-n2"
    assert str(matrix.Victim("lab", "n1")) == "n1"
    assert "{victim} on {victim.lab}".format(victim=matrix.Victim("lab", "n1")) == "n1 on lab"


def test_two_matrix_fixtures_combine_within_a_lab_only() -> None:
    anvil, three = load_inventory(SIM_INVENTORY), load_inventory(THREE_NODE_INVENTORY)
    combined = matrix.cases(["victim", "switch"], [anvil, three], prefix_lab=True)
    assert len(combined) == 2 * 2 + 3 * 2
    assert all(len({v.lab for v in c.values}) == 1 for c in combined)
    assert combined[0].case_id == "anvil-sim-an-node01-sw1"
