"""The guard, pytest-free: audit the lab before a case, audit the cluster's record after it, restore
the lab whatever happened. One module per job:

- state.py: findings, changes, the lab errors it raises, what it remembers per lab (`LabState`);
- expect.py: what a case declares (`changed`, `expect`);
- survey.py: the read-only health checks; commands.py: the fix-by-hand commands of its findings;
- audit.py: the audit before the fault and the post-case audit (`Aftermath`);
- restore.py: putting the lab back;
- core.py: `Guard`, all of the above for one case.

The pytest fixture and hooks are hacert.fixtures.guard.
"""

from hacert.procedures.guard.audit import Aftermath
from hacert.procedures.guard.core import Guard
from hacert.procedures.guard.state import (
    CLUSTER_KINDS, RESTORE_FAILED_EXIT, Change, Finding, LabLeftBroken, LabNotReady, LabState, RestoreFailed, render_leftovers,
)

__all__ = ["Aftermath", "CLUSTER_KINDS", "Change", "Finding", "Guard", "LabLeftBroken", "LabNotReady", "LabState",
           "RESTORE_FAILED_EXIT", "RestoreFailed", "render_leftovers"]
