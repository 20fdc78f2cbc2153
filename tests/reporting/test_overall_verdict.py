"""The overall verdict of a certification: what blocks a PASS and what does not."""

import pytest

from hacert.verdict.summary import overall_verdict


def cases(*verdicts: str) -> list[dict[str, str]]:
    return [{"verdict": v} for v in verdicts]


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        (("passed", "passed"), "PASS"),
        (("passed", "not applicable"), "PASS"),
        (("passed", "failed", "not applicable"), "FAIL"),
        (("passed", "lab error"), "INCOMPLETE"),
        (("passed", "inconclusive"), "INCOMPLETE"),
        (("passed", "skipped"), "INCOMPLETE"),
        (("not applicable",), "INCOMPLETE"),
        ((), "NO CASES RAN"),
    ],
)
def test_overall_verdict(verdicts: tuple[str, ...], expected: str) -> None:
    assert overall_verdict(cases(*verdicts)) == expected
