"""Every `expected` bound a case writes next to a number is enforced: a number outside it fails the
case, a bound without a measured number makes it inconclusive, a case that already ended keeps its
verdict. The bounds themselves: typed, parsed from the words suites write, shown as they were."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, make_example_lab
from hacert.model.bounds import Bound, BoundError

# ---------------------------------------------------------------- the bound itself


@pytest.mark.parametrize(("words", "inside", "outside"), [
    ("<= 5", [5.0, 0.0, -1.0], [5.000001, math.nan]),
    ("< 15 s", [14.999], [15.0, 16.0]),
    (">= 2", [2.0, 100.0], [1.999]),
    ("> 0", [0.001], [0.0]),
    ("2 .. 6", [2.0, 4.0, 6.0], [1.99, 6.01]),
    ("0.12 .. 2.5 s", [0.12, 2.5], [0.1]),
])
def test_a_bound_from_the_words_suites_write(words: str, inside: list[float], outside: list[float]) -> None:
    bound = Bound.parse(words)
    assert all(bound.holds(v) for v in inside), (words, inside)
    assert not any(bound.holds(v) for v in outside), (words, outside)


def test_a_typed_bound_keeps_its_exact_limit_and_shows_it_plainly() -> None:
    assert str(Bound.at_most(5)) == "<= 5" and str(Bound.below(15)) == "< 15" and str(Bound.at_least(2)) == ">= 2"
    assert str(Bound.between(2, 6)) == "2 .. 6" and str(Bound.between(0.125, 2.1)) == "0.125 .. 2.1"
    # what is enforced is the suite's exact limit, not a rounded text of it
    assert not Bound.at_least(0.12).holds(0.11) and Bound.at_least(0.12).holds(0.12)
    assert Bound.of(None) is None and Bound.of("<= 3") == Bound.at_most(3)


@pytest.mark.parametrize("words", ["about 5", "<=", "5", "fast", "6 .. 2"])
def test_words_that_are_no_bound_are_refused_at_once(words: str) -> None:
    with pytest.raises(BoundError):
        Bound.parse(words)


# ---------------------------------------------------------------- enforced by the report

BOUNDED_SUITE = '''
import pytest
from hacert.model.bounds import Bound


def test_out_of_bound(record):
    """A case that records a number outside its bound and otherwise passes."""
    record.number("seconds to fence", 7.25, "s", expected=Bound.at_most(6))
    record.number("lost pings", 3, "packets", expected="<= 5")  # inside: not named
    record.diagnosis("an-node01 fenced by IPMI 7.2 s after the hang")


def test_inside_its_bounds(record):
    record.number("seconds to fence", 5.5, "s", expected=Bound.at_most(6))
    record.number("downtime", 1.0, "s", expected="< 15 s")


def test_bound_not_measured(record):
    record.number("power cut to IPMI failure", None, "s", expected=Bound.below(6))


def test_already_failed(record):
    record.number("seconds to fence", 99.0, "s", expected=Bound.at_most(6))
    record.diagnosis("no fence of an-node01 within 6 s of the hang")
    raise AssertionError("no fence of an-node01 within 6 s of the hang")


def test_bad_bound(record):
    record.number("seconds to fence", 1.0, "s", expected="about 6")
'''


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    lab = make_example_lab(tmp_path_factory.mktemp("bounded"))
    (lab.path / "test_example.py").write_text(BOUNDED_SUITE)
    argv = [sys.executable, "-m", "pytest", "-p", "no:hacert", "-p", "hacert.fixtures.report", "-p", "no:cacheprovider", "-q",
            f"--alluredir={lab.results}", "--summary-dir", str(lab.path / "reports"), "-rA"]
    done = subprocess.run(argv, cwd=lab.path, env=lab.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(next((lab.path / "reports").rglob("summary.json")).read_text())
    return {case["id"].split("::")[-1]: case for case in summary["cases"]}


def test_a_number_outside_its_bound_fails_a_case_that_otherwise_passed(bounded: dict[str, dict]) -> None:
    case = bounded["test_out_of_bound"]
    assert case["verdict"] == "failed"
    # the diagnosis names the number, its value and its bound (not the pass the case wrote)
    assert case["diagnosis"] == ("measured outside the bounds the procedure sets: seconds to fence = 7.250 s, "
                                 "outside its bound <= 6"), case["diagnosis"]
    assert {n["name"]: n["expected"] for n in case["numbers"]} == {"seconds to fence": "<= 6", "lost pings": "<= 5"}


def test_numbers_inside_their_bounds_pass(bounded: dict[str, dict]) -> None:
    assert bounded["test_inside_its_bounds"]["verdict"] == "passed"


def test_a_bound_without_its_number_is_inconclusive(bounded: dict[str, dict]) -> None:
    case = bounded["test_bound_not_measured"]
    assert case["verdict"] == "inconclusive"
    assert "power cut to IPMI failure (expected < 6)" in case["diagnosis"] and "not measured" in case["diagnosis"]


def test_a_case_that_already_failed_keeps_its_own_diagnosis(bounded: dict[str, dict]) -> None:
    case = bounded["test_already_failed"]
    assert case["verdict"] == "failed" and case["diagnosis"] == "no fence of an-node01 within 6 s of the hang"


def test_an_expected_no_one_can_enforce_is_the_harness_s_error(bounded: dict[str, dict]) -> None:
    case = bounded["test_bad_bound"]
    assert case["verdict"] == "harness error" and "about 6" in case["diagnosis"]


def test_the_suites_write_no_bound_that_cannot_be_enforced() -> None:
    """Every `expected=` in suites/ is a typed Bound (or words Bound.parse reads)."""
    import re

    for path in sorted((ROOT / "suites").glob("*.py")):
        for match in re.finditer(r'expected=f?"([^"]*)"', path.read_text()):
            words = re.sub(r"\{[^}]*\}", "1", match.group(1))
            Bound.parse(words)  # raises for anything the report could not enforce
    assert Path(ROOT / "suites").is_dir()
