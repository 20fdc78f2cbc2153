"""The guard of one lab: audit before a case, post-case audit, restore after it (pytest-free; the
fixture and hooks are hacert.fixtures.guard)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hacert.model.inventory import Inventory
from hacert.procedures.aftermath import Expected
from hacert.procedures.guard.state import Change, LabState
from hacert.procedures.guard.audit import Audit
from hacert.procedures.guard.expect import Expectations
from hacert.procedures.guard.restore import Restore
from hacert.procedures.guard.survey import Survey


class Guard(Expectations, Audit, Restore, Survey):
    """Audit and restore one lab. One per case; `LabState` carries across cases."""

    def __init__(self, lab: Any, state: LabState | None = None, log: Callable[[str], None] | None = None,
                 record: Any = None) -> None:
        self.lab = lab
        self.inv: Inventory = lab.inventory
        self.state = state or LabState()
        self.changes: list[Change] = []
        self.expected: list[Expected] = []
        self.actions: list[str] = []
        self.record = record
        self.case_marks: dict[str, Any] | None = None
        self.case_baseline: Any = None
        self.audited_clean = False
        self._log = log or (lambda line: None)

