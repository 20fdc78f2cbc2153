"""`pytest suites --collect-only -q` on the real suites: every matrix case, named from the inventory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def collect(*args: str) -> list[str]:
    run = subprocess.run([sys.executable, "-m", "pytest", "suites", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return [line.split("::", 1)[1] for line in run.stdout.splitlines() if line.startswith("suites/")]


def test_the_default_lab_gives_the_whole_matrix() -> None:
    ids = collect()
    inv = yaml.safe_load((ROOT / "inventories" / "anvil-sim.yaml").read_text())
    nodes = [n["name"] for n in inv["nodes"]]
    vms = [v["name"] for v in inv["vms"]]
    expected = {f"test_hang_and_fence[{n}]" for n in nodes} | {f"test_pdu_power_cut[{n}]" for n in nodes}
    expected |= {f"test_bond_cable_pull[{n['name']}-{b['name']}-{variant}]" for n in inv["nodes"] for b in n["bonds"]
                 for variant in ("failover", "updelay_return", "backup_lost_during_updelay")}
    expected |= {f"test_switch_power_cycle[{s['name']}]" for s in inv["switches"]}
    expected |= {f"test_vm_destroy_relocates[{v}]" for v in vms}
    expected |= {f"test_live_migration[{v['name']}-to-{n}]" for v in inv["vms"] for n in nodes if n != v["home"]}
    expected |= {f"test_node_withdraw_rejoin[{n}]" for n in nodes} | {"test_cold_stop_start"}
    assert expected <= set(ids), sorted(expected - set(ids))


def test_renaming_a_node_in_a_copy_renames_its_cases(tmp_path: Path) -> None:
    text = (ROOT / "inventories" / "anvil-sim.yaml").read_text().replace("an-node02", "bravo-7")
    copy = tmp_path / "renamed.yaml"
    copy.write_text(text)
    ids = collect("--inventory", str(copy))
    assert "test_hang_and_fence[bravo-7]" in ids
    assert "test_bond_cable_pull[bravo-7-bond1-failover]" in ids
    assert "test_live_migration[vm0001-dev-to-bravo-7]" in ids
    assert not [i for i in ids if "an-node02" in i]
