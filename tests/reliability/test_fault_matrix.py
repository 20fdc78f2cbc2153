"""Fault detection, one table: for every seeded fault of the simulated lab (hacert.model.inventory.FAULT_NAMES),
a lab with only that fault runs the matching case and one or two neighbours. The matching case must fail
(or refuse) with its diagnosis; the neighbours must pass; no other case of that lab may fail; and the
guard must have put the lab back (exit code 1, not the guard's 3).

Runs go two at a time (two labs side by side keep the simulated timings honest on a small machine).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from hacert.model.inventory import FAULT_NAMES

from tests.reliability.harness import ANVIL, Finished, SuiteRun, write_inventory

FENCING = "suites/test_fencing.py"
COLD = "suites/test_cold_start.py"
NETWORK = "suites/test_network.py"
VM = "suites/test_vm_recovery.py"
MIGRATION = "suites/test_migration.py"
STANDBY = "suites/test_standby_drain.py"
MAINTENANCE = "suites/test_maintenance_mode.py"
ROLLING = "suites/test_rolling_restart.py"

# Short expectations and timings: a fault's case fails in seconds, not in the tutorial's minutes.
EXPECT = {"fence_timeout": 6, "rejoin_timeout": 8, "services_back_timeout": 15}
TIMING = {"boot": 1.0, "slow_fence_extra": 5.0, "late_cold_start_extra": 1.0}


@dataclass(frozen=True)
class Row:
    fault: str
    target: str | None
    case: str  # suite::test[id] that must catch it
    verdict: str
    diagnosis: str  # regex
    neighbours: tuple[str, ...]  # suite::test[id] that must still pass
    cluster: dict[str, Any] = field(default_factory=dict)
    restored: str | None = None  # regex: what the guard had to put back after the case, in its summary row

    @property
    def name(self) -> str:
        return self.case.split("::")[1]


MATRIX = [
    Row("ipmi_fence_broken", "an-node01", f"{FENCING}::test_hang_and_fence[an-node01]", "failed",
        r"an-node01 was fenced by the PDU, not IPMI: IPMI attempt failed with 'error from agent'",
        (f"{FENCING}::test_hang_and_fence[an-node02]",)),
    Row("no_pdu_fence", "an-node01", f"{FENCING}::test_pdu_power_cut[an-node01]", "failed",
        r"no fence of an-node01 within 6 s( of its power cut)?: fence_ipmilan failed \d+x \('error from agent'\), "
        r"and no other method succeeded",
        (f"{FENCING}::test_hang_and_fence[an-node01]",)),
    Row("bond_no_backup", "an-node02/bond1", f"{NETWORK}::test_bond_cable_pull[an-node02-bond1-failover]", "failed",
        r"bond1 on an-node02 did not fail over to eth4 within [\d.]+ s after eth1's cable was pulled",
        (f"{NETWORK}::test_bond_cable_pull[an-node01-bond1-failover]",)),
    Row("updelay_zero", "an-node01/bond2", f"{NETWORK}::test_bond_cable_pull[an-node01-bond2-updelay_return]", "failed",
        r"bond2 on an-node01 returned to eth2 [\d.]+ s after its link came up: its updelay is 0 ms",
        (f"{NETWORK}::test_bond_cable_pull[an-node01-bond0-updelay_return]",)),
    Row("stp_after_switch_boot", "sw1", f"{NETWORK}::test_switch_power_cycle[sw1]", "failed",
        r"membership changed during soak",
        (f"{NETWORK}::test_bond_cable_pull[an-node01-bond0-failover]",)),
    Row("no_relocate", "vm0002-web", f"{VM}::test_vm_destroy_relocates[vm0002-web]", "failed",
        r"vm0002-web restarted on an-node01 a third time instead of relocating",
        (f"{VM}::test_vm_destroy_relocates[vm0001-dev]",)),
    Row("vm_not_recovered", "vm0003-db", f"{VM}::test_vm_destroy_relocates[vm0003-db]", "failed",
        r"vm0003-db was not recovered after destroy #1",
        (f"{VM}::test_vm_destroy_relocates[vm0004-ms]",), restored=r"re-enabled failed vm0003-db on an-node02"),
    Row("node_no_rejoin", "an-node01", f"{FENCING}::test_hang_and_fence[an-node01]", "failed",
        r"an-node01 did not rejoin the cluster within 8 s of its fence: it booted \(SSH answers\) but did not join",
        (f"{FENCING}::test_hang_and_fence[an-node02]",), restored=r"started the cluster stack on an-node01"),
    Row("slow_fence", "an-node01", f"{FENCING}::test_hang_and_fence[an-node01]", "failed",
        r"no fence of an-node01 within 6 s( of the hang)?: fencing started after [\d.]+ s and had not finished",
        (f"{FENCING}::test_pdu_power_cut[an-node02]",)),
    Row("migration_drops", "vm0001-dev", f"{MIGRATION}::test_live_migration[vm0001-dev-to-an-node02]", "failed",
        r"migration of vm0001-dev lost ",
        (f"{MIGRATION}::test_live_migration[vm0003-db-to-an-node01]",)),
    Row("wrong_outlet", "an-node01", f"{FENCING}::test_pdu_power_cut[an-node01]", "failed",
        r"refused: PDU pdu2 outlet 1 is named 'an-node02'",
        (f"{FENCING}::test_hang_and_fence[an-node01]",)),
    Row("late_cold_start", "an-node02", f"{COLD}::test_cold_stop_start", "failed",
        r"an-node02 (being )?fenced by an-node01.* cold start|cold start: an-node02 (being )?fenced by an-node01",
        (f"{FENCING}::test_hang_and_fence[an-node01]",), cluster={"post_join_delay": 3}),
    Row("standby_stops_vm", "vm0001-dev", f"{STANDBY}::test_standby_drain[an-node01]", "failed",
        r"vm0001-dev stopped during the drain of an-node01: no node ran it",
        (f"{STANDBY}::test_standby_drain[an-node02]",)),
    Row("maintenance_recovers", None, f"{MAINTENANCE}::test_maintenance_mode", "failed",
        r"the cluster recovered vm0001-dev in maintenance mode: ",
        (f"{STANDBY}::test_standby_drain[an-node02]",)),
    Row("rolling_restart_restarts_vm", "vm0003-db", f"{ROLLING}::test_rolling_restart", "failed",
        r"vm0003-db stopped during the drain of an-node02: no node ran it",
        (f"{VM}::test_vm_destroy_relocates[vm0001-dev]",)),
]

LANES = 2


def _selected(session: pytest.Session) -> list[Row]:
    """The rows whose test was selected (`-k slow_fence` runs one lab, not twelve); all for the table."""
    wanted: set[str] = set()
    for item in session.items:
        row = getattr(getattr(item, "callspec", None), "params", {}).get("row")
        if isinstance(row, Row):
            wanted.add(row.fault)
        elif getattr(item, "originalname", item.name) == "test_print_fault_table":
            wanted |= {r.fault for r in MATRIX}
    return [r for r in MATRIX if r.fault in wanted]


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Finished]:
    """One run per selected fault (its case, then its neighbours), LANES at a time."""
    base = tmp_path_factory.mktemp("fault-matrix")
    out: dict[str, Finished] = {}
    queue = _selected(request.session)
    lock = threading.Lock()

    def lane() -> None:
        while True:
            with lock:
                if not queue:
                    return
                row = queue.pop(0)
            folder = base / row.fault
            inventory = write_inventory(folder / "inventory", ANVIL, faults=[{"name": row.fault, "target": row.target}],
                                        timing=TIMING, expectations=EXPECT, cluster=row.cluster)
            run = SuiteRun(folder / "run", inventory, [row.case, *row.neighbours], timeout=240)
            try:
                result = run.result()
            except AssertionError as exc:  # a stuck run: reported by its row's test
                result = Finished(-1, str(exc), folder / "run", 240.0)
            with lock:
                out[row.fault] = result

    threads = [threading.Thread(target=lane, name=f"fault-matrix-{i}") for i in range(LANES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_every_seeded_fault_is_in_the_matrix() -> None:
    """Every seeded fault is caught somewhere: here on anvil-sim, or (the CTS-like families' faults,
    which need a 3-node or pacemaker lab) by tests/cts on the lab they need."""
    from tests.cts.test_families import FAULTS as CTS_FAULTS

    assert sorted([r.fault for r in MATRIX] + [f.name for f in CTS_FAULTS]) == sorted(FAULT_NAMES)


@pytest.mark.parametrize("row", MATRIX, ids=[r.fault for r in MATRIX])
def test_fault_is_caught_and_nothing_else_fails(row: Row, runs: dict[str, Finished]) -> None:
    result = runs[row.fault]
    rows = result.rows()
    context = f"exit {result.returncode}; verdicts: { {k: v['verdict'] for k, v in rows.items()} }\n{result.tail()}"
    assert row.name in rows, f"{row.name} did not run: {context}"
    caught = rows[row.name]
    assert caught["verdict"] == row.verdict, f"{caught['verdict']}: {caught['diagnosis']}\n{context}"
    assert re.search(row.diagnosis, caught["diagnosis"]), f"diagnosis was: {caught['diagnosis']!r}"
    if row.restored is not None:  # nothing is repaired silently: the guard's repair is the case's evidence
        assert any(re.search(row.restored, action) for action in caught["restored"]), f"restored: {caught['restored']}"
    for neighbour in row.neighbours:
        name = neighbour.split("::")[1]
        assert name in rows, f"neighbour {name} did not run: {context}"
        assert rows[name]["verdict"] == "passed", f"false {rows[name]['verdict']} of {name}: {rows[name]['diagnosis']}"
    false_failures = {k: v["diagnosis"] for k, v in rows.items() if k != row.name and v["verdict"] != "passed"}
    assert not false_failures, f"other cases did not pass on the {row.fault} lab: {false_failures}"
    assert result.returncode == 1, f"the guard must have restored the lab (exit 1, not {result.returncode}): {context}"


def test_print_fault_table(runs: dict[str, Finished], capsys: pytest.CaptureFixture[str]) -> None:
    """The table for the notes: fault → case → verdict → diagnosis (and what the neighbours did)."""
    lines = ["| fault | case | verdict | diagnosis | neighbours |", "|---|---|---|---|---|"]
    for row in MATRIX:
        rows = runs[row.fault].rows()
        got = rows.get(row.name, {"verdict": "not run", "diagnosis": ""})
        neighbours = ", ".join(f"{n.split('::')[1]} {rows.get(n.split('::')[1], {}).get('verdict', 'not run')}"
                               for n in row.neighbours)
        diagnosis = re.sub(r"\s+", " ", got["diagnosis"] or "")[:160].replace("|", "/")
        lines.append(f"| {row.fault} | {row.name} | {got['verdict']} | {diagnosis} | {neighbours} |")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert len(lines) == 2 + len(MATRIX)
    assert all(runs[r.fault].rows() for r in MATRIX), "a run wrote no summary"

