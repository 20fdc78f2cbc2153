"""Running the example suite: labs start on first use and stop at the end; safety gates; --plan."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.plugin.runner import SIM_INVENTORY, THREE_NODE_INVENTORY, run_inprocess, run_pytest


def ran_ids(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_each_simulated_lab_starts_once_on_first_use_and_stops_at_the_end(
    suite_dir: Path, stub_labsim: Path, tmp_path: Path
) -> None:
    ran, stub_log = tmp_path / "ran.txt", tmp_path / "stub.log"
    run = run_pytest(
        ["-q", "--inventory", SIM_INVENTORY, "--inventory", THREE_NODE_INVENTORY, "--basetemp", tmp_path / "bt"],
        rootdir=suite_dir,
        pythonpath_first=stub_labsim,
        env={"HACERT_EXAMPLE_RAN": str(ran), "HACERT_STUB_LOG": str(stub_log)},
    )
    assert run.returncode == 0, run.output
    log = [line.split()[:2] for line in stub_log.read_text().splitlines()]
    assert sorted(log[:2]) == [["start", "anvil-sim.yaml"], ["start", "three-node-sim.yaml"]], log
    assert sorted(log[2:]) == [["stop", "anvil-sim.yaml"], ["stop", "three-node-sim.yaml"]], log
    # each case got the lab its parameter names, and the simulated lab's event log
    uses_lab = sorted(line.split()[0:2] for line in ran_ids(ran) if "test_uses_lab" in line)
    assert uses_lab == [
        ["test_example.py::test_uses_lab[anvil-sim]", "anvil-sim"],
        ["test_example.py::test_uses_lab[three-node-sim]", "three-node-sim"],
    ]
    assert all(line.endswith("events.jsonl") for line in ran_ids(ran) if "test_uses_lab" in line)
    # simulated labs allow destructive cases (safety.destructive: true)
    assert any("test_hang_and_fence[anvil-sim-an-node01]" in line for line in ran_ids(ran))
    assert any("test_hang_and_fence[three-node-sim-et-virt07]" in line for line in ran_ids(ran))


def test_the_lab_stops_even_when_the_run_is_interrupted(suite_dir: Path, stub_labsim: Path, tmp_path: Path) -> None:
    (suite_dir / "test_zz_interrupt.py").write_text(
        "def test_interrupt(lab):\n    raise KeyboardInterrupt\n\ndef test_never_runs():\n    pass\n"
    )
    stub_log = tmp_path / "stub.log"
    run = run_pytest(
        ["-q", "--inventory", SIM_INVENTORY, "test_zz_interrupt.py"],
        rootdir=suite_dir,
        pythonpath_first=stub_labsim,
        env={"HACERT_STUB_LOG": str(stub_log)},
    )
    assert run.returncode == 2, run.output  # pytest's "interrupted"
    assert [line.split()[0] for line in stub_log.read_text().splitlines()] == ["start", "stop"]


def test_destructive_cases_are_refused_unless_allowed(suite_dir: Path, tmp_path: Path) -> None:
    careful = tmp_path / "careful.yaml"
    careful.write_text(SIM_INVENTORY.read_text().replace("destructive: true ", "destructive: false"))
    assert "destructive: false" in careful.read_text()
    ran = tmp_path / "ran.txt"
    args = ["-q", "-rs", "--inventory", careful, "-k", "an-node01 and not migration"]
    run = run_inprocess(args, rootdir=suite_dir, env={"HACERT_EXAMPLE_RAN": str(ran)})
    assert run.returncode == 0, run.output
    assert "pass --allow-destructive to run it" in run.output
    assert not [line for line in ran_ids(ran) if "hang_and_fence" in line or "bond_cable_pull" in line]
    assert [line for line in ran_ids(ran) if "test_withdraw_node[an-node01]" in line]

    ran.unlink()
    run = run_inprocess([*args, "--allow-destructive"], rootdir=suite_dir, env={"HACERT_EXAMPLE_RAN": str(ran)})
    assert run.returncode == 0, run.output
    assert [line for line in ran_ids(ran) if "test_hang_and_fence[an-node01]" in line]


def test_a_production_lab_never_runs_destructive_cases(suite_dir: Path, tmp_path: Path) -> None:
    prod = tmp_path / "prod.yaml"
    prod.write_text(
        SIM_INVENTORY.read_text().replace("destructive: true ", "destructive: false").replace("production: false", "production: true")
    )
    ran = tmp_path / "ran.txt"
    run = run_inprocess(
        ["-q", "-rs", "--inventory", prod, "--allow-destructive", "-k", "hang_and_fence or withdraw"],
        rootdir=suite_dir,
        env={"HACERT_EXAMPLE_RAN": str(ran)},
    )
    assert run.returncode == 0, run.output
    assert "safety.production: destructive cases never run on it" in run.output
    assert not [line for line in ran_ids(ran) if "hang_and_fence" in line]
    assert len([line for line in ran_ids(ran) if "withdraw_node" in line]) == 2


def test_manual_case_is_refused_without_a_terminal(suite_dir: Path, tmp_path: Path) -> None:
    ran = tmp_path / "ran.txt"
    run = run_pytest(["-q", "-rs", "test_example.py::test_manual_cable_pull"], rootdir=suite_dir, env={"HACERT_EXAMPLE_RAN": str(ran)})
    assert run.returncode == 0, run.output
    assert "stdin is not a TTY" in run.output
    assert ran_ids(ran) == []


def test_soak_option_overrides_the_inventory(suite_dir: Path, tmp_path: Path) -> None:
    ran = tmp_path / "ran.txt"
    run = run_inprocess(["-q", "test_example.py::test_soak"], rootdir=suite_dir, env={"HACERT_EXAMPLE_RAN": str(ran)})
    assert run.returncode == 0, run.output
    assert ran_ids(ran)[0].split()[1] == "5.0"  # anvil-sim's expectations.soak_seconds
    ran.unlink()
    run = run_inprocess(["-q", "test_example.py::test_soak", "--soak", "7.5"], rootdir=suite_dir, env={"HACERT_EXAMPLE_RAN": str(ran)})
    assert run.returncode == 0, run.output
    assert ran_ids(ran)[0].split()[1] == "7.5"


def test_plan_prints_steps_and_devices_and_touches_nothing(suite_dir: Path, stub_labsim: Path, tmp_path: Path) -> None:
    ran, stub_log, basetemp = tmp_path / "ran.txt", tmp_path / "stub.log", tmp_path / "bt"
    run = run_pytest(
        ["-q", "--plan", "--inventory", SIM_INVENTORY, "--basetemp", basetemp],
        rootdir=suite_dir,
        pythonpath_first=stub_labsim,
        env={"HACERT_EXAMPLE_RAN": str(ran), "HACERT_STUB_LOG": str(stub_log)},
    )
    assert run.returncode == 0, run.output
    out = run.stdout
    assert "hacert plan:" in out and "nothing is touched" in out
    block = out.split("test_example.py::test_hang_and_fence[an-node02]\n", 1)[1].split("\n\n", 1)[0]
    assert "2. hang an-node02 with 'echo c > /proc/sysrq-trigger'" in block
    assert "3. wait up to 15.0 s for a peer to fence an-node02" in block
    assert "- BMC of an-node02 (simulated)" in block
    assert "- PDU pdu2 outlet 2 'an-node02' (simulated)" in block
    assert "would run (destructive)" in block
    block = out.split("test_bond_cable_pull[an-node01-bond1-updelay_return]\n", 1)[1].split("\n\n", 1)[0]
    assert "pull the primary cable of bond1 on an-node01 (updelay_return)" in block
    assert "switch sw1 port 2 (primary an-node01/eth1" in block
    assert "switch sw2 port 2 (backup an-node01/eth4" in block
    block = out.split("test_switch_power_cycle[sw2]\n", 1)[1].split("\n\n", 1)[0]
    assert "PDU pdu1 outlet 2 'sw2'" in block
    # a case without a declared plan still says what its parameters point at
    block = out.split("test_vm_destroy[vm0003-db]\n", 1)[1].split("\n\n", 1)[0]
    assert "none declared" in block and "VM vm0003-db via virsh on an-node02, an-node01" in block
    assert "test_manual_cable_pull" in out and "refused: manual case" in out
    # nothing ran, no lab was started, no lab work folder exists
    assert not ran.exists()
    assert not stub_log.exists()
    assert not list(basetemp.glob("labsim-*")) if basetemp.exists() else True
    assert " passed" not in out


def test_plan_shows_refusals_of_a_production_lab(suite_dir: Path, tmp_path: Path) -> None:
    prod = tmp_path / "prod.yaml"
    prod.write_text(
        SIM_INVENTORY.read_text().replace("destructive: true ", "destructive: false").replace("production: false", "production: true")
    )
    run = run_inprocess(["-q", "--plan", "--inventory", prod, "-k", "an-node01 and hang"], rootdir=suite_dir)
    assert run.returncode == 0, run.output
    assert "refused: lab anvil-sim is marked safety.production" in run.stdout


def test_a_real_simulated_lab_is_started_and_stopped(suite_dir: Path, tmp_path: Path) -> None:
    """The whole path with the real labsim: started on first use, its process gone after the run."""
    ran = tmp_path / "ran.txt"
    run = run_pytest(
        ["-q", "test_example.py::test_uses_lab", "--basetemp", tmp_path / "bt"],
        rootdir=suite_dir,
        env={"HACERT_EXAMPLE_RAN": str(ran)},
    )
    assert run.returncode == 0, run.output
    _, name, pid, event_log = ran_ids(ran)[0].split()
    assert name == "anvil-sim"
    assert Path(event_log).is_file() and Path(event_log).is_relative_to(tmp_path / "bt")
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid), 0)


def test_plan_probe_checks_every_device_of_the_simulated_lab(suite_dir: Path, tmp_path: Path) -> None:
    ran = tmp_path / "ran.txt"
    run = run_pytest(
        ["-q", "--plan", "--probe", "test_example.py::test_withdraw_node"],
        rootdir=suite_dir,
        env={"HACERT_EXAMPLE_RAN": str(ran)},
        timeout=120,
    )
    assert run.returncode == 0, run.output
    table = run.stdout.split("hacert readiness (read-only probes):", 1)[1]
    rows = [line.split() for line in table.splitlines() if line.startswith("  anvil-sim")]
    checked = {" ".join(row[1:3]) for row in rows}
    assert {"SSH an-node01", "BMC an-node02", "PDU pdu2", "switch sw1", "cluster an-cluster-A"} <= checked, table
    assert all(" ok: " in line for line in table.splitlines() if line.startswith("  anvil-sim")), table
    assert "hacert: lab ready" in table
    assert not ran.exists()  # --probe reads devices; it still runs no case
