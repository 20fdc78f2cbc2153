"""Verdicts are typed: what ends a case decides its verdict by its type, never by its text."""

from __future__ import annotations

import pytest

from hacert.drivers.errors import (
    AuthenticationRefused, ClusterRefused, CommandFailed, DeviceUnreachable, HacertError, LabError, WaitTimeout,
)
from hacert.fixtures.guard import LabNotReady, RestoreFailed
from hacert.lab.build import LabConfigError
from hacert.verdict.verdicts import CaseVerdict, Overall, Verdict, overall, verdict_of
from hacert.drivers.errors import CapabilityMissing, ClusterFailure, HarnessError, Inconclusive, NotApplicable


@pytest.mark.parametrize(("exc", "verdict"), [
    (None, Verdict.PASSED),
    (ClusterFailure("an-node01 was fenced by the PDU, not IPMI"), Verdict.FAILED),
    (AssertionError("a bare assert in a suite"), Verdict.FAILED),
    (CapabilityMissing("independent fence method", "n1 has no second fence method"), Verdict.FAILED),
    (ClusterRefused("n1", "clusvcadm -M vm:a -m n2", 1, "Failure"), Verdict.FAILED),
    (DeviceUnreachable("pdu2", "10.0.0.2:161", "outlet status"), Verdict.LAB_ERROR),
    (AuthenticationRefused("n1 bmc", "10.0.0.1:623", "login"), Verdict.LAB_ERROR),
    (CommandFailed("n1", "127.0.0.1:22", "run 'true'", 1), Verdict.LAB_ERROR),
    (LabNotReady("vm0001-dev does not answer pings"), Verdict.LAB_ERROR),
    (RestoreFailed("anvil-sim", [], []), Verdict.LAB_ERROR),
    (LabConfigError("node n1 has no 'bmc' section"), Verdict.LAB_ERROR),
    (NotApplicable("n3 hosts no VM"), Verdict.NOT_APPLICABLE),
    (Inconclusive("no virsh sample was taken"), Verdict.INCONCLUSIVE),
    (WaitTimeout("something", 5.0), Verdict.HARNESS_ERROR),
    (HarnessError("a misuse"), Verdict.HARNESS_ERROR),
    (HacertError("an error of hacert's own no one attributed"), Verdict.HARNESS_ERROR),
    (KeyError("an-node03"), Verdict.HARNESS_ERROR),
])
def test_the_type_decides_the_verdict(exc: BaseException | None, verdict: Verdict) -> None:
    assert verdict_of(exc) is verdict


@pytest.mark.parametrize("text", ["lab not ready: sw1 port 3 down", "DeviceUnreachable: pdu2", "not applicable: x",
                                  "inconclusive: no samples", "AssertionError"])
def test_the_text_never_decides(text: str) -> None:
    """Words that once steered the classification (prefixes, class names) change nothing now."""
    assert verdict_of(HarnessError(text)) is Verdict.HARNESS_ERROR
    assert verdict_of(ClusterFailure(text)) is Verdict.FAILED
    assert verdict_of(DeviceUnreachable("x", "y", text)) is Verdict.LAB_ERROR


def test_a_refused_request_is_no_lab_error() -> None:
    refused = ClusterRefused("an-node01", "pcs resource move web01 pm-node3", 1, "", "Error: resource 'web01' is not running")
    assert not isinstance(refused, LabError)
    decided = CaseVerdict.of(refused)
    assert decided.verdict is Verdict.FAILED and decided.cause == "ClusterRefused"
    assert "pcs resource move web01 pm-node3" in decided.diagnosis and "is not running" in decided.diagnosis


def test_lab_and_harness_errors_are_named_by_their_type_in_the_diagnosis() -> None:
    assert CaseVerdict.of(KeyError("x")).diagnosis == "KeyError: 'x'"
    assert CaseVerdict.of(DeviceUnreachable("pdu2", "10.0.0.2:161", "outlet status")).diagnosis.startswith("DeviceUnreachable: pdu2")
    assert CaseVerdict.of(ClusterFailure("did not fence")).diagnosis == "did not fence"
    assert CaseVerdict.of(ClusterFailure("did not fence\nassert 3 <= 2")).diagnosis == "did not fence"


@pytest.mark.parametrize(("verdicts", "findings", "expected"), [
    ((Verdict.PASSED, Verdict.PASSED), 0, Overall.PASS),
    ((Verdict.PASSED, Verdict.NOT_APPLICABLE), 0, Overall.PASS),
    ((Verdict.PASSED, Verdict.NOT_APPLICABLE), 1, Overall.FAIL),
    ((Verdict.PASSED, Verdict.FAILED, Verdict.LAB_ERROR), 0, Overall.FAIL),
    ((Verdict.PASSED, Verdict.LAB_ERROR), 0, Overall.INCOMPLETE),
    ((Verdict.PASSED, Verdict.INCONCLUSIVE), 0, Overall.INCOMPLETE),
    ((Verdict.PASSED, Verdict.HARNESS_ERROR), 0, Overall.INCOMPLETE),
    ((Verdict.PASSED, Verdict.SKIPPED), 0, Overall.INCOMPLETE),
    ((Verdict.NOT_APPLICABLE,), 0, Overall.INCOMPLETE),
    ((), 0, Overall.NO_CASES),
])
def test_overall(verdicts: tuple[Verdict, ...], findings: int, expected: Overall) -> None:
    assert overall(verdicts, findings) is expected
