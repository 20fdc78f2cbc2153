"""The matrix as a user sees it: `pytest --collect-only -q` on a suite."""

from __future__ import annotations

from pathlib import Path

from tests.plugin.runner import SIM_INVENTORY, THREE_NODE_INVENTORY, collected_ids, run_inprocess

ANVIL_BONDS = [
    f"{node}-{bond}-{variant}"
    for node in ("an-node01", "an-node02")
    for bond in ("bond0", "bond1", "bond2")
    for variant in ("failover", "updelay_return", "backup_lost_during_updelay")
]


def ids_of(test: str, ids: list[str]) -> list[str]:
    prefix = f"test_example.py::{test}["
    return [i[len(prefix) : -1] for i in ids if i.startswith(prefix)]


def test_collect_lists_every_matrix_case_from_the_inventory(suite_dir: Path) -> None:
    run = run_inprocess(["--collect-only", "-q", "--inventory", SIM_INVENTORY], rootdir=suite_dir)
    assert run.returncode == 0, run.output
    ids = collected_ids(run)
    assert ids_of("test_hang_and_fence", ids) == ["an-node01", "an-node02"]
    assert ids_of("test_bond_cable_pull", ids) == ANVIL_BONDS
    assert ids_of("test_switch_power_cycle", ids) == ["sw1", "sw2"]
    assert ids_of("test_vm_destroy", ids) == ["vm0001-dev", "vm0002-web", "vm0003-db", "vm0004-ms"]
    assert ids_of("test_live_migration", ids) == [
        "vm0001-dev-to-an-node02",
        "vm0002-web-to-an-node02",
        "vm0003-db-to-an-node01",
        "vm0004-ms-to-an-node01",
    ]
    assert ids_of("test_withdraw_node", ids) == ["an-node01", "an-node02"]
    # anvil's only services are storage services: nothing to relocate, said as a skip
    assert ids_of("test_service_relocate", ids) == ["none"]
    assert "test_example.py::test_uses_lab" in ids


def test_renamed_node_changes_the_ids(suite_dir: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(SIM_INVENTORY.read_text().replace("an-node01", "zz-node09").replace("sw2", "edge-b"))
    run = run_inprocess(["--collect-only", "-q", "--inventory", renamed], rootdir=suite_dir)
    assert run.returncode == 0, run.output
    ids = collected_ids(run)
    assert ids_of("test_hang_and_fence", ids) == ["zz-node09", "an-node02"]
    assert ids_of("test_switch_power_cycle", ids) == ["sw1", "edge-b"]
    assert "zz-node09-bond1-failover" in ids_of("test_bond_cable_pull", ids)
    assert "vm0003-db-to-zz-node09" in ids_of("test_live_migration", ids)
    assert not [i for i in ids if "an-node01" in i]


def test_three_node_lab_has_its_own_matrix(suite_dir: Path) -> None:
    run = run_inprocess(["--collect-only", "-q", "--inventory", THREE_NODE_INVENTORY], rootdir=suite_dir)
    assert run.returncode == 0, run.output
    ids = collected_ids(run)
    assert ids_of("test_hang_and_fence", ids) == ["et-virt05", "et-virt06", "et-virt07"]
    assert ids_of("test_bond_cable_pull", ids)[:3] == [
        "et-virt05-clbond-failover",
        "et-virt05-clbond-updelay_return",
        "et-virt05-clbond-backup_lost_during_updelay",
    ]
    assert len(ids_of("test_bond_cable_pull", ids)) == 9
    assert ids_of("test_switch_power_cycle", ids) == ["core-a", "core-b"]
    assert len(ids_of("test_live_migration", ids)) == 6
    assert ids_of("test_service_relocate", ids) == ["clusvc-to-et-virt06", "clusvc-to-et-virt07"]


def test_several_inventories_prefix_every_id_with_the_lab(suite_dir: Path) -> None:
    run = run_inprocess(
        ["--collect-only", "-q", "--inventory", SIM_INVENTORY, "--inventory", THREE_NODE_INVENTORY], rootdir=suite_dir
    )
    assert run.returncode == 0, run.output
    ids = collected_ids(run)
    params = [i.split("[", 1)[1].rstrip("]") for i in ids if "[" in i]
    # every case but the one that touches no lab (test_manual_cable_pull) is per lab
    assert len(params) == len(ids) - 1
    assert all(p.startswith(("anvil-sim", "three-node-sim")) for p in params), params
    assert "test_example.py::test_soak[three-node-sim]" in ids
    assert "test_example.py::test_hang_and_fence[anvil-sim-an-node01]" in ids
    assert "test_example.py::test_bond_cable_pull[three-node-sim-et-virt07-clbond-failover]" in ids
    # a test that only asks for `lab` runs once per lab
    assert "test_example.py::test_uses_lab[anvil-sim]" in ids
    assert "test_example.py::test_uses_lab[three-node-sim]" in ids


def test_a_folder_of_inventories_and_the_environment_variable(suite_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "labs"
    folder.mkdir()
    (folder / "a.yaml").write_text(SIM_INVENTORY.read_text())
    (folder / "b.yaml").write_text(THREE_NODE_INVENTORY.read_text())
    run = run_inprocess(["--collect-only", "-q"], rootdir=suite_dir, env={"HACERT_INVENTORY": str(folder)})
    assert run.returncode == 0, run.output
    ids = collected_ids(run)
    assert "test_example.py::test_withdraw_node[anvil-sim-an-node02]" in ids
    assert "test_example.py::test_withdraw_node[three-node-sim-et-virt06]" in ids


def test_k_reruns_one_node(suite_dir: Path) -> None:
    run = run_inprocess(["--collect-only", "-q", "--inventory", SIM_INVENTORY, "-k", "an-node01"], rootdir=suite_dir)
    assert run.returncode == 0, run.output
    ids = collected_ids(run)
    assert "test_example.py::test_hang_and_fence[an-node01]" in ids
    assert ids and all("an-node01" in i for i in ids), ids
    assert len([i for i in ids if "test_bond_cable_pull" in i]) == 9


def test_a_modules_own_fixture_wins_over_the_matrix(suite_dir: Path) -> None:
    (suite_dir / "test_own.py").write_text(
        "import pytest\n\n@pytest.fixture\ndef node():\n    return 'mine'\n\n"
        "def test_own_node(node):\n    assert node == 'mine'\n"
    )
    run = run_inprocess(["-q", "test_own.py"], rootdir=suite_dir)
    assert run.returncode == 0, run.output
    assert "1 passed" in run.output
