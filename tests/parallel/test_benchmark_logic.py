"""The benchmarks' arithmetic on made-up event logs: imposed waits (P1) and ground truth (P2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import imposed, truth
from benchmarks.runs import lab_copies
from hacert.model.inventory import load_inventory

ROOT = Path(__file__).resolve().parents[2]
INV = load_inventory(ROOT / "inventories" / "anvil-sim.yaml")


def ev(t: float, kind: str, **fields: object) -> dict[str, object]:
    return {"t": t, "kind": kind, **fields}


def test_union_counts_overlaps_once_and_clips() -> None:
    waits = [imposed.Wait(0, 2, "a"), imposed.Wait(1, 3, "b"), imposed.Wait(10, 11, "c")]
    assert imposed.union_seconds(waits) == pytest.approx(4.0)
    assert imposed.union_seconds(waits, start=2.5, end=10.5) == pytest.approx(1.0)


def test_a_bond_returning_late_is_the_harness_not_the_lab() -> None:
    events = [
        ev(100.0, "carrier", node="an-node01", nic="eth0", up=False),
        ev(100.1, "bond_active", node="an-node01", bond="bond0", slave="eth3", previous="eth0"),
        ev(101.0, "carrier", node="an-node01", nic="eth0", up=True),
        ev(103.0, "bond_active", node="an-node01", bond="bond0", slave="eth0", previous="eth3"),
        # the backup's cable comes back; the bond only moves to it 20 s later, when the harness pulls eth0
        ev(104.0, "carrier", node="an-node01", nic="eth3", up=True),
        ev(124.0, "bond_active", node="an-node01", bond="bond0", slave="eth3", previous="eth0"),
    ]
    waits = imposed.lab_waits(events, INV)
    assert sorted((w.label, round(w.seconds, 3)) for w in waits) == [("failover", 0.1), ("updelay", 2.0)]


def test_a_backup_back_under_an_active_primary_sits_out_its_updelay_in_the_lab() -> None:
    """The bond stays on its primary, so no new active slave marks the end of the backup's updelay:
    its MII status going up does. Restoring the lab (both slaves up) waits for it; that is the lab."""
    events = [
        ev(100.0, "carrier", node="an-node01", nic="eth3", up=False),
        ev(100.1, "bond_slave", node="an-node01", bond="bond0", nic="eth3", up=False),
        ev(101.0, "carrier", node="an-node01", nic="eth3", up=True),
        ev(103.0, "bond_slave", node="an-node01", bond="bond0", nic="eth3", up=True),
        # a backup that flaps during its updelay: only the last carrier-up counts, to the slave's up
        ev(110.0, "carrier", node="an-node01", nic="eth3", up=False),
        ev(110.1, "bond_slave", node="an-node01", bond="bond0", nic="eth3", up=False),
        ev(111.0, "carrier", node="an-node01", nic="eth3", up=True),
        ev(111.5, "carrier", node="an-node01", nic="eth3", up=False),
        ev(112.0, "carrier", node="an-node01", nic="eth3", up=True),
        ev(114.0, "bond_slave", node="an-node01", bond="bond0", nic="eth3", up=True),
        # another node's slave going up ends no wait of this one
        ev(120.0, "carrier", node="an-node01", nic="eth0", up=True),
        ev(120.5, "bond_slave", node="an-node02", bond="bond0", nic="eth0", up=True),
    ]
    waits = imposed.lab_waits(events, INV)
    assert sorted((w.label, w.start, round(w.seconds, 3)) for w in waits if w.label == "updelay") == [
        ("updelay", 101.0, 2.0), ("updelay", 112.0, 2.0)]


def test_fence_chain_and_demanded_sleeps() -> None:
    events = [
        ev(10.0, "node_state", node="an-node01", state="hung"),
        ev(11.0, "member_lost", node="an-node01.alteeve.ca", observer="an-node02.alteeve.ca"),
        ev(11.5, "fence_start", node="an-node01.alteeve.ca", by="an-node02.alteeve.ca"),
        ev(12.0, "fence_done", node="an-node01.alteeve.ca", method="ipmi", ok=True, by="an-node02.alteeve.ca"),
        ev(12.0, "node_state", node="an-node01", state="booting"),
        ev(14.0, "node_state", node="an-node01", state="up"),
        ev(14.5, "member_joined", node="an-node01.alteeve.ca"),
    ]
    waits = imposed.lab_waits(events, INV) + imposed.demanded_waits([{"start": 20.0, "end": 25.0, "why": "soak"}])
    assert imposed.union_seconds(waits) == pytest.approx(4.5 + 5.0)
    labels = imposed.by_label(waits)
    assert labels["fence"] == (1, pytest.approx(1.0)) and labels["demanded sleeps"] == (1, pytest.approx(5.0))


def test_storage_resync_is_the_lab_and_one_that_never_ends_is_not_counted() -> None:
    """A returning node's DRBD resync is a wait the procedure must sit out (VMs go home only on
    synced storage); a resync start with no end within the lab's horizon counts nothing."""
    events = [
        ev(50.0, "drbd_sync", node="an-node01", peer="an-node02", seconds=2.0),
        ev(52.0, "drbd_synced", node="an-node01", peer="an-node02"),
        ev(60.0, "drbd_sync", node="an-node02", peer="an-node01", seconds=2.0),
        ev(90.0, "drbd_synced", node="an-node02", peer="an-node01"),  # far past the horizon: the harness's time
    ]
    waits = imposed.lab_waits(events, INV)
    assert sorted((w.label, round(w.seconds, 3)) for w in waits) == [("storage resync", 2.0)]


def _case(case_id: str, subject: str, numbers: list[tuple[str, float, str]]) -> dict[str, object]:
    return {"id": case_id, "subject": subject, "verdict": "passed", "started": 0.0, "duration_s": 1000.0,
            "numbers": [{"name": n, "value": v, "unit": u} for n, v, u in numbers]}


def test_measured_figures_against_the_event_log() -> None:
    events = [
        ev(100.0, "carrier", node="an-node01", nic="eth0", up=False),
        ev(100.2, "bond_active", node="an-node01", bond="bond0", slave="eth3", previous="eth0"),
        ev(101.0, "ping_done", node="an-node01", target="10.20.0.2", transmitted=40, received=37, lost_seqs=[5, 6, 9],
           first_t=99.0, last_t=101.0),
        ev(101.5, "carrier", node="an-node01", nic="eth0", up=True),
        ev(103.5, "bond_active", node="an-node01", bond="bond0", slave="eth0", previous="eth3"),
    ]
    case = _case("suites/test_network.py::test_bond_cable_pull[an-node01-bond0-updelay_return]", "an-node01/bond0", [
        ("seconds to fail over to eth3", 0.45, "s"),
        ("seconds link-up to primary active", 2.0, "s"),
        ("packets lost an-node01 -> an-node02 (bcn)", 5, "packets"),
        ("longest gap an-node01 -> an-node02 (bcn)", 0.15, "s"),
        ("link bounces seen", 2, "bounces"),
    ])
    got = {c.figure: c for c in truth.compare_run([case], {"anvil-sim": INV}, {"anvil-sim": events}, {})}
    assert got["seconds to fail over to eth3"].error == pytest.approx(0.25)
    assert got["seconds link-up to primary active"].truth == pytest.approx(2.0)
    assert got["packets lost an-node01 -> an-node02 (bcn)"].truth == 3 and got["packets lost an-node01 -> an-node02 (bcn)"].error == 2
    assert got["longest gap an-node01 -> an-node02 (bcn)"].truth == pytest.approx(3 * INV.expectations.ping_interval)
    assert got["link bounces seen"].truth is None
    assert truth.worst(list(got.values())) == (pytest.approx(0.25), 2)


def test_vm_pings_lost_in_a_crash_count_the_crash_gap_not_the_migration_home() -> None:
    """The node-crash case measures a VM's pings lost from the crash until it answers again; the same
    ping then goes on while the VM is live-migrated home (a packet or two more lost): those are not
    the crash's (CI saw 60 measured against 62 'true' under load)."""
    interval = INV.expectations.ping_interval
    vm = INV.vms[0]
    events = [
        ev(10.0, "vm_down", vm=vm.name, node="an-node01", reason="host hung"),
        ev(12.0, "vm_up", vm=vm.name, node="an-node02"),
        # lost seqs 20..59 while down (sent 10.0 .. 11.95 s), and 2 more during the migration home at 30 s
        ev(40.0, "ping_done", node="an-node02", target=vm.address, transmitted=800, received=758,
           lost_seqs=list(range(201, 241)) + [601, 602], first_t=0.0, last_t=40.0),
    ]
    case = _case("suites/test_vm_recovery.py::test_node_crash_recovers_vms[an-node01]", "an-node01",
                 [(f"{vm.name} pings lost", 40, "packets"), (f"{vm.name} downtime", 2.0, "s")])
    got = {c.figure: c for c in truth.compare_run([case], {"anvil-sim": INV}, {"anvil-sim": events}, {})}
    assert interval == pytest.approx(0.05)
    assert got[f"{vm.name} pings lost"].truth == 40 and got[f"{vm.name} pings lost"].error == 0
    assert got[f"{vm.name} downtime"].truth == pytest.approx(2.0)


def test_hang_to_fence_and_the_lab_of_a_case() -> None:
    events = [
        ev(50.0, "node_state", node="an-node02", state="hung"),
        ev(51.2, "member_lost", node="an-node02.alteeve.ca", observer="an-node01.alteeve.ca"),
        ev(52.0, "fence_done", node="an-node02.alteeve.ca", method="ipmi", ok=True, by="an-node01.alteeve.ca"),
    ]
    case = _case("suites/test_fencing.py::test_hang_and_fence[lab-b-an-node02]", "an-node02",
                 [("hang to declared failed", 1.0, "s"), ("hang to fence success", 2.1, "s")])
    labs = {"lab-a": INV, "lab-b": INV}
    assert truth.lab_of_case(case, labs) == "lab-b"
    got = {c.figure: c for c in truth.compare_run([case], labs, {"lab-b": events, "lab-a": []}, {})}
    assert got["hang to declared failed"].error == pytest.approx(0.2)
    assert got["hang to fence success"].error == pytest.approx(0.1)


def test_lab_copies_differ_only_in_name(tmp_path: Path) -> None:
    paths = lab_copies(ROOT / "inventories" / "anvil-sim.yaml", 3, tmp_path)
    labs = [load_inventory(p) for p in paths]
    assert [inv.lab for inv in labs] == ["par-1", "par-2", "par-3"]
    assert all(inv.simulation.base_port == "auto" and len(inv.nodes) == len(INV.nodes) for inv in labs)
