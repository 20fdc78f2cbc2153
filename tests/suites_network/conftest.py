"""The suite runs shared by this folder's tests (see runs.py)."""

from __future__ import annotations

from .runs import suite_runs

__all__ = ["suite_runs"]
