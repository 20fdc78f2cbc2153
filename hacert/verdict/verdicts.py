"""Typed verdicts: what a case concluded about the cluster, decided by the type of what ended it.

A case ends in exactly one `Verdict`. The procedures and suites say which by
raising a typed exception (or by returning normally: passed); nothing is read
from message text or skip-reason prefixes:

- `ClusterFailure` (an AssertionError) and `hacert.drivers.errors.ClusterError` (a
  request the cluster refused): the cluster did not do what the documents
  require -> FAILED. `CapabilityMissing` is the same for a lab built without
  a capability the documents require (a second, independent fence method);
- `NotApplicable`: the case does not fit this lab's legitimate shape (a node
  that hosts no VM, no SCSI fencing in use) -> NOT_APPLICABLE;
- `Inconclusive`: the harness could not see enough to judge (no samples, an
  injection that did not take) -> INCONCLUSIVE;
- `hacert.drivers.errors.LabError`: a lab device did not answer or misbehaved, a bad
  inventory -> LAB_ERROR;
- anything else, `HarnessError` included -> HARNESS_ERROR.

pytest-free: the pytest plugin turns these into pytest outcomes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from hacert.drivers.errors import ClusterError, Inconclusive, LabError, NotApplicable


class Verdict(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_APPLICABLE = "not applicable"
    LAB_ERROR = "lab error"
    HARNESS_ERROR = "harness error"
    INCONCLUSIVE = "inconclusive"
    SKIPPED = "skipped"
    """Not run and not judged: refused by the safety settings, or a skip marker."""

    def __str__(self) -> str:
        return self.value

    @property
    def blocks_pass(self) -> bool:
        """Whether a case with this verdict keeps a certification from passing."""
        return self not in (Verdict.PASSED, Verdict.NOT_APPLICABLE)

    @property
    def judged_cluster(self) -> bool:
        """The case saw the cluster do (or not do) what it must."""
        return self in (Verdict.PASSED, Verdict.FAILED)


ORDER = tuple(Verdict)
"""Verdicts in the order a summary lists their counts."""


# ---------------------------------------------------------------- classification


def verdict_of(exc: BaseException | None) -> Verdict:
    """The verdict of a case that ended with `exc` (None: it returned normally)."""
    if exc is None:
        return Verdict.PASSED
    if isinstance(exc, NotApplicable):
        return Verdict.NOT_APPLICABLE
    if isinstance(exc, Inconclusive):
        return Verdict.INCONCLUSIVE
    if isinstance(exc, (AssertionError, ClusterError)):
        return Verdict.FAILED
    if isinstance(exc, LabError):
        return Verdict.LAB_ERROR
    # anything else, a WaitTimeout the procedure did not attribute (to the cluster: a failure; to a
    # device: a LabError) included, is the harness's own gap
    return Verdict.HARNESS_ERROR


@dataclass(frozen=True)
class CaseVerdict:
    """A case's verdict, the diagnosis a person reads, and the type of what decided it."""

    verdict: Verdict
    diagnosis: str = ""
    cause: str = ""
    """The class name of the exception that ended the case ('' for a pass)."""
    phase: str = ""
    """Where it was decided: 'setup', 'call' or 'teardown' (after a call that passed)."""

    @classmethod
    def of(cls, exc: BaseException | None, diagnosis: str = "") -> "CaseVerdict":
        verdict = verdict_of(exc)
        if exc is None:
            return cls(verdict, diagnosis)
        text = diagnosis or _message(exc)
        if verdict in (Verdict.LAB_ERROR, Verdict.HARNESS_ERROR) and not diagnosis:
            text = f"{type(exc).__name__}: {text}"
        return cls(verdict, text, type(exc).__name__)


def _message(exc: BaseException) -> str:
    text = str(getattr(exc, "diagnosis", "") or exc).strip()
    # pytest's assertion rewriting appends "assert ..." lines: the case's own words come first
    return text.split("\nassert ")[0].strip()


# ---------------------------------------------------------------- a run as a whole


class Overall(str, enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCOMPLETE = "INCOMPLETE"
    NO_CASES = "NO CASES RAN"

    def __str__(self) -> str:
        return self.value


OVERALL_MEANING = {
    Overall.PASS: "every required case passed: the cluster recovered as required",
    Overall.FAIL: "the cluster did not recover as required in at least one case, or lacks a capability the documents require",
    Overall.INCOMPLETE: "no case failed, but some could not judge the cluster (lab or harness error, inconclusive, not run)",
    Overall.NO_CASES: "nothing was run",
}


def overall(verdicts: Iterable[Verdict], findings: int = 0) -> Overall:
    """PASS: every case passed or did not apply; FAIL: any failed, or a capability is missing;
    INCOMPLETE otherwise."""
    seen = list(verdicts)
    if findings:
        return Overall.FAIL
    if not seen:
        return Overall.NO_CASES
    if Verdict.FAILED in seen:
        return Overall.FAIL
    if any(v.blocks_pass for v in seen) or Verdict.PASSED not in seen:
        return Overall.INCOMPLETE
    return Overall.PASS


__all__ = [
    "CaseVerdict",
    "ORDER", "OVERALL_MEANING", "Overall", "Verdict", "overall", "verdict_of",
]
