"""The suite runs shared by this folder's tests (see runs.py)."""

from __future__ import annotations

from tests.suites_network.runs import suite_runs

__all__ = ["suite_runs"]
