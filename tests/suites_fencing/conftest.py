"""Shared runs of the fencing suites' tests."""

from __future__ import annotations

import pytest

from tests.suites_fencing.harness import SuiteRun
from tests.suites_fencing.runs import run_lanes


@pytest.fixture(scope="session")
def lane_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SuiteRun]:
    """Every seeded-fault run and the SCSI-fenced lab's run (see runs.py), started once."""
    return run_lanes(tmp_path_factory)
