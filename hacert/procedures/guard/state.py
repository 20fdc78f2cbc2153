"""What the guard knows and says: its findings, the changes a case declares, what it remembers
about a lab across the cases of a run, and the lab errors it raises."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, TypeVar

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from hacert.drivers.errors import LabError
from hacert.model.inventory import Inventory
from hacert.procedures.aftermath import Expected

RESTORE_FAILED_EXIT = 3
"""The exit code of a run that stopped because the guard could not put the lab back."""

BMC_ATTEMPTS = 3
"""Times the audit asks a BMC for its power status before calling it silent."""

ACTED_SETTLE = 5.0
"""Seconds the guard leaves the cluster to act on a request before asking again."""

POLL = 0.2
"""Seconds between polls of the restore's waits."""

BMC_RECOVERY = 45.0
"""Seconds the restore waits for a BMC to answer again after its power came back."""


# Syslog news that means the lab was not quiet since the last case ended.
_BAD_NEWS = (
    re.compile(r"fencing node|Requesting fencing|will be fenced"),
    re.compile(r"A processor failed"),
    re.compile(r"quorum lost|non-primary component"),
    re.compile(r"link status definitely down"),
    re.compile(r"now running without any active interface"),
    re.compile(r"Recovering failed service|Restart threshold .* exceeded"),
)


class LabNotReady(LabError):
    """The lab was unhealthy before the fault (the audit's findings, or a precondition a case
    checks itself): the case cannot judge the cluster."""

    def __init__(self, findings: "list[Finding] | str") -> None:
        if isinstance(findings, str):
            findings = [Finding("precondition", "", findings)]
        self.findings = findings
        what = "; ".join(f.what for f in findings)
        self.device, self.address, self.attempted, self.detail = "lab", "", "check the lab is ready", what
        Exception.__init__(self, "lab not ready: " + what)


class LabLeftBroken(LabError):
    """After the case the lab is not as it should be, and only its devices are wrong (an outlet
    off, a port down, a BMC or a node's SSH that does not answer): not a pass, not the cluster's."""

    def __init__(self, diagnosis: str) -> None:
        self.device, self.address, self.attempted, self.detail = "lab", "", "audit the lab after the case", diagnosis
        Exception.__init__(self, diagnosis)


class RestoreFailed(LabError):
    """The guard could not put the lab back; `findings` is what is left broken."""

    def __init__(self, lab: str, findings: list["Finding"], actions: list[str]) -> None:
        self.lab = lab
        self.findings = findings
        self.actions = actions
        self.device, self.address, self.attempted, self.detail = f"lab {lab}", "", "restore the lab", ""
        Exception.__init__(self, render_leftovers(lab, findings, actions))


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the lab: what, and the command a person runs to fix it."""

    kind: str
    target: str
    what: str
    fix: str = ""


@dataclass(frozen=True)
class Change:
    """Something a case changed on purpose (`guard.changed(kind, target)`)."""

    kind: str
    target: str
    detail: str = ""


CLUSTER_KINDS = frozenset({"quorum", "member", "service", "bond", "fence", "failure"})
"""Finding kinds that are the cluster's doing; the others (outlet, port, power, ssh, device,
syslog) are the lab's devices."""




def render_leftovers(lab: str, findings: list[Finding], actions: list[str]) -> str:
    lines = [f"hacert could not restore lab {lab}; the run stops here. Left broken:"]
    for f in findings:
        lines.append(f"  - {f.what}")
        if f.fix:
            lines.append(f"      fix by hand: {f.fix}")
    if actions:
        lines.append("What the guard did before giving up:")
        lines.extend(f"  - {a}" for a in actions)
    return "\n".join(lines)



@dataclass
class LabState:
    """What the guard remembers about one lab across the cases of a run."""

    healed: bool = False
    marks: dict[str, Any] = field(default_factory=dict)
    broken: RestoreFailed | None = None
    last_status: Any = None
    """The cluster status of the last survey: the record a case starts from."""


class GuardParts:
    """What every part of the guard (hacert.procedures.guard.core.Guard) shares: its lab, the lab's state
    across cases, what the case changed and expects, what the restore did."""

    lab: Any
    inv: Inventory
    state: LabState
    changes: list[Change]
    expected: list[Expected]
    actions: list[str]
    record: Any
    case_marks: dict[str, Any] | None
    case_baseline: Any
    audited_clean: bool
    _log: Callable[[str], None]


T = TypeVar("T")
R = TypeVar("R")


def side_by_side(items: Sequence[T], ask: Callable[[T], R], name: str = "guard-nodes") -> list[R]:
    """`ask` of every item at once, one thread each (nodes answer independently; each over its own
    connection, kept open for the session by the lab's drivers); results in the items' order.
    `ask` catches what it expects; anything else is raised here."""
    if len(items) <= 1:
        return [ask(item) for item in items]
    with ThreadPoolExecutor(max_workers=len(items), thread_name_prefix=name) as pool:
        return list(pool.map(ask, items))
