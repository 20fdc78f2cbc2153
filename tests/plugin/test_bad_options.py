"""Bad option combinations and bad --inventory arguments: exit code 4, one clear message, no traceback."""

from __future__ import annotations

from pathlib import Path

from tests.plugin.runner import SIM_INVENTORY, THREE_NODE_INVENTORY, run_inprocess


def bad_cases(tmp: Path) -> dict[str, tuple[list[str], dict[str, str], str]]:
    empty = tmp / "empty-folder"
    empty.mkdir(exist_ok=True)
    twin = tmp / "twin.yaml"
    twin.write_text(SIM_INVENTORY.read_text())
    return {
        "probe_without_plan": (["--probe"], {}, "--probe only works with --plan"),
        "negative_soak": (["--soak", "-5"], {}, "--soak -5: must be a finite number of seconds, 0 or more"),
        "soak_not_a_number": (["--soak", "five"], {}, "--soak five: must be a number of seconds"),
        "infinite_soak": (["--soak", "inf"], {}, "--soak inf: must be a finite number"),
        "missing_inventory": (["--inventory", "nowhere.yaml"], {}, "--inventory nowhere.yaml: no such file or folder"),
        "empty_inventory_folder": (["--inventory", str(empty)], {}, "the folder holds no *.yaml inventory"),
        "missing_env_inventory": ([], {"HACERT_INVENTORY": "gone.yaml"}, "HACERT_INVENTORY gone.yaml: no such file or folder"),
        "same_lab_twice": (
            ["--inventory", str(SIM_INVENTORY), "--inventory", str(twin)],
            {},
            "the lab name 'anvil-sim' is also used by",
        ),
        "plan_with_xdist": (["-p", "xdist.plugin", "--plan", "-n", "2"], {}, "--plan prints the plan from one process"),
        "real_lab_without_secrets": (
            ["--inventory", str(Path(__file__).parents[2] / "inventories" / "anvil-example.yaml")],
            {},
            "nodes[0].ssh.password_env: environment variable ANVIL_NODE_PASSWORD is not set",
        ),
    }


def test_bad_options_exit_4_with_one_clear_message_each(suite_dir: Path, tmp_path: Path) -> None:
    cases = bad_cases(tmp_path)
    runs = {name: run_inprocess(["-q", "--collect-only", *args], rootdir=suite_dir, env=env) for name, (args, env, _) in cases.items()}
    wrong = []
    for name, (_, _, message) in cases.items():
        run = runs[name]
        errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
        # a real lab without its secrets has one problem per missing variable, each its own line
        one = name == "real_lab_without_secrets" or len(errors) == 1
        if run.returncode != 4 or message not in run.output or "Traceback" in run.output or not one:
            wrong.append(f"{name}: exit {run.returncode}\n{run.output}")
    assert not wrong, "\n\n".join(wrong)
    assert len(cases) >= 10


def test_allow_destructive_with_a_production_lab_is_not_an_error(suite_dir: Path, tmp_path: Path) -> None:
    prod = tmp_path / "prod.yaml"
    prod.write_text(
        SIM_INVENTORY.read_text().replace("destructive: true ", "destructive: false").replace("production: false", "production: true")
    )
    run = run_inprocess(["-q", "--collect-only", "--inventory", prod, "--allow-destructive"], rootdir=suite_dir)
    assert run.returncode == 0, run.output


def test_inventory_problems_of_several_files_are_all_reported(suite_dir: Path, tmp_path: Path) -> None:
    three = tmp_path / "three.yaml"
    three.write_text(THREE_NODE_INVENTORY.read_text().replace('port: "12"}, backup', 'port: "11"}, backup'))
    anvil = tmp_path / "anvil.yaml"
    anvil.write_text(SIM_INVENTORY.read_text().replace("soak_seconds: 5", "soak_seconds: -5"))
    soak_line = 1 + anvil.read_text().splitlines().index("  soak_seconds: -5")
    run = run_inprocess(["-q", "--collect-only", "--inventory", anvil, "--inventory", three], rootdir=suite_dir)
    assert run.returncode == 4, run.output
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    assert errors == [
        f"ERROR: {anvil}:{soak_line}: expectations.soak_seconds: must not be negative (got -5.0)",
        f"ERROR: {three}:26: nodes[1].bonds[0].primary.port: core-a port 11 is already cabled to et-virt05/nic0",
    ]
    assert "Traceback" not in run.output
