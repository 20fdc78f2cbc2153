"""The fencing suites against a simulated lab built badly on purpose: each seeded fault makes its
matching case fail (or refuse) with a diagnosis naming the fault's symptom, and the guard still
leaves the lab restored (the run ends with "tests failed", not with the guard's exit code 3)."""

from __future__ import annotations

import re

import pytest

from tests.suites_fencing.harness import SuiteRun
from tests.suites_fencing.runs import FAULTS, Fault


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_fails_its_case_with_a_diagnosis(fault: Fault, lane_runs: dict[str, SuiteRun]) -> None:
    run = lane_runs[fault.name]
    outcomes = run.outcomes()
    assert list(outcomes) == [fault.case], f"expected only {fault.case} to run: {outcomes}\n{run.output[-3000:]}"
    outcome, message = outcomes[fault.case]
    assert outcome == "failed", f"{fault.case} with {fault.name}: {outcome}\n{message}\n{run.output[-3000:]}"
    assert re.search(fault.diagnosis, message), f"diagnosis of {fault.name} not as expected:\n{message}"
    row = run.row(fault.case)
    assert row["verdict"] == "failed" and row["diagnosis"], row
    # the guard put the lab back: no "could not restore", pytest's ordinary "tests failed" exit code
    assert run.returncode == 1, f"exit code {run.returncode}\n{run.output[-3000:]}"
    assert "could not restore" not in run.output
    if fault.check is not None:
        fault.check(run)
