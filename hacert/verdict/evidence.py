"""The evidence of a case, pytest-free: what a case reports (`Record`: title, procedure, numbers
with their bounds, facts, steps, attachments, diagnosis, the guard's restore) into its row
(`CaseEvidence`), the bounds enforced once it returned (`enforce_bounds`), and its verdict with
the suite's own diagnosis (`classify`). Every text goes through `redact` first.

The plugin that makes one `CaseEvidence` per case and hands suites its `record` is
hacert.fixtures.report.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import allure

from hacert.drivers.errors import ClusterFailure, Inconclusive
from hacert.model.bounds import Bound
from hacert.observe import progress as live
from hacert.verdict.secrets import redact, redact_any
from hacert.observe.syslog_merge import merge_syslog
from hacert.verdict.timeline import draw_timeline
from hacert.verdict.verdicts import CaseVerdict, Verdict


@dataclass
class CaseEvidence:
    """One case's row: what it reported, its verdict once decided."""

    nodeid: str
    title: str
    feature: str
    procedure: str
    subject: str
    started: float = field(default_factory=time.time)
    numbers: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    diagnosis: str = ""
    restored: list[str] = field(default_factory=list)
    labels_set: set[str] = field(default_factory=set)
    step_depth: int = 0
    verdict: CaseVerdict | None = None
    bounds: dict[str, tuple[float | None, Bound, str]] = field(default_factory=dict)
    """name -> (value as measured, its bound, unit): what `enforce_bounds` checks once the case returned."""
    clocks: list[dict[str, Any]] = field(default_factory=list)
    pending: list[tuple[str, Future[bytes]]] = field(default_factory=list)
    """Attachments still being drawn off the case's timeline (name, PNG to come): `attach_pending` adds them."""



class Record:
    """What a case reports: title, procedure, numbers, facts, steps, evidence, diagnosis.

    Every text goes through `redact` before it reaches Allure or the summary.
    """

    SKIPPED: tuple[type[BaseException], ...] = ()
    """Exceptions that end a step as skipped (the test runner's skip; its plugin names it)."""

    def __init__(self, case: CaseEvidence) -> None:
        self._case = case

    def title(self, text: str) -> None:
        """The sentence a person reads, e.g. "Hang an-node01 — an-node02 fences it by IPMI"."""
        self._case.title = redact(text)
        allure.dynamic.title(self._case.title)
        live.case_title(self._case.title)

    def story(self, procedure: str) -> None:
        """The procedure this case follows (Allure story)."""
        self._case.procedure = redact(procedure)
        self._case.labels_set.add("story")
        allure.dynamic.story(self._case.procedure)

    def feature(self, suite: str) -> None:
        self._case.feature = redact(suite)
        self._case.labels_set.add("feature")
        allure.dynamic.feature(self._case.feature)

    def severity(self, level: str) -> None:
        """blocker, critical, normal, minor or trivial."""
        self._case.labels_set.add("severity")
        allure.dynamic.severity(allure.severity_level(level))

    def subject(self, name: str) -> None:
        """The victim or subject of the case (node, bond, switch, VM)."""
        self._case.subject = redact(name)

    victim = subject

    def number(self, name: str, value: float | int | None, unit: str = "", expected: Bound | str | None = None) -> float | int | None:
        """A measured number: an Allure parameter (excluded from the history id) and a summary cell.

        `expected` is the bound the number must keep (a `hacert.model.bounds.Bound`, or its words:
        "<= 5", "< 15 s", ">= 2", "2 .. 6"); it is enforced once the case returns (see
        `enforce_bounds`): outside it the case fails, not measured it is inconclusive."""
        shown: float | int | None = None
        measured: float | None = None
        if isinstance(value, (bool, str)):
            raise TypeError(f"record.number({name!r}) needs a number, got {value!r}")
        bound = Bound.of(expected)  # an `expected` no one can enforce is the suite's mistake: raised here
        if value is not None:
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise TypeError(f"record.number({name!r}) needs a number, got {value!r}") from None
            if math.isfinite(number):
                shown = int(value) if isinstance(value, int) else round(number, 3)
                measured = number
        name = redact(name)
        parameter = f"{name} ({unit})" if unit else name
        words = None if expected is None else (expected if isinstance(expected, str) else str(bound))
        entry = {"name": name, "value": shown, "unit": unit, "expected": redact_any(words), "parameter": parameter,
                 "display": "not measured" if shown is None else f"{shown:g} {unit}".strip()}
        self._case.numbers = [n for n in self._case.numbers if n["name"] != name] + [entry]
        self._case.bounds.pop(name, None)
        if bound is not None:
            self._case.bounds[name] = (measured, bound, unit)
        allure.dynamic.parameter(parameter, shown if shown is not None else "not measured", excluded=True)
        if words is not None:
            allure.dynamic.parameter(f"{name} expected", redact(words), excluded=True)
        return value

    def fact(self, name: str, value: Any) -> None:
        """A fact of the case that is not a number (the fence method used, the new owner, ...)."""
        name, text = redact(str(name)), redact(str(value))
        self._case.facts[name] = text
        allure.dynamic.parameter(name, text, excluded=True)

    def method(self, value: str) -> None:
        """How the cluster recovered (e.g. the fence method that worked)."""
        self.fact("method", value)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """An Allure step named after the procedure's step, timed and kept for the summary."""
        name = redact(name)
        entry: dict[str, Any] = {"name": name, "depth": self._case.step_depth, "status": "passed", "duration_s": None}
        self._case.steps.append(entry)
        self._case.step_depth += 1
        start = time.monotonic()
        try:
            with allure.step(name), live.step(name):
                yield
        except self.SKIPPED:
            entry["status"] = "skipped"
            raise
        except AssertionError:
            entry["status"] = "failed"
            raise
        except BaseException:
            entry["status"] = "broken"
            raise
        finally:
            entry["duration_s"] = round(time.monotonic() - start, 3)
            self._case.step_depth -= 1

    def attach_text(self, name: str, text: str) -> None:
        name = redact(name)
        self._case.attachments.append(name)
        allure.attach(redact(text), name=name, attachment_type=allure.attachment_type.TEXT)

    def attach_json(self, name: str, data: Any) -> None:
        name = redact(name)
        self._case.attachments.append(name)
        body = redact(json.dumps(redact_any(data), indent=2, default=str))
        allure.attach(body, name=name, attachment_type=allure.attachment_type.JSON)

    def attach_csv(self, name: str, rows: Iterable[Sequence[Any] | Mapping[str, Any]], header: Sequence[str] | None = None) -> None:
        """Rows of values (or dicts; their keys make the header)."""
        rows = list(rows)
        buffer = io.StringIO()
        if rows and isinstance(rows[0], Mapping):
            keys = list(header or rows[0].keys())
            writer = csv.DictWriter(buffer, fieldnames=keys, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)  # type: ignore[arg-type]
        else:
            writer2 = csv.writer(buffer)
            if header:
                writer2.writerow(header)
            writer2.writerows(rows)  # type: ignore[arg-type]
        name = redact(name)
        self._case.attachments.append(name)
        allure.attach(redact(buffer.getvalue()), name=name, attachment_type=allure.attachment_type.CSV)

    def attach_syslog(self, windows: Mapping[str, Sequence[str]], name: str = "syslog, all nodes by time") -> str:
        """Merge {node: [lines]} by time, attach it, return the merged text."""
        merged = redact(merge_syslog(windows))
        self.attach_text(name, merged)
        return merged

    def attach_png(self, name: str, png: bytes) -> None:
        name = redact(name)
        self._case.attachments.append(name)
        allure.attach(png, name=name, attachment_type=allure.attachment_type.PNG)

    def attach_timeline(self, events: Iterable[Any] = (), gaps: Iterable[Any] = (),
                        states: Mapping[str, Sequence[tuple[float, Any]]] | None = None, *,
                        name: str = "timeline", title: str | None = None, t0: float | None = None) -> Future[bytes]:
        """Draw events (vertical lines), ping gaps (shaded) and state changes (step lines) as an SVG, off the
        case's timeline: drawn by one background thread while the case goes on (its audit, the restore),
        attached to the case before its result is written (`attach_pending`). Returns the SVG to come."""
        events, gaps = list(events), list(gaps)
        states = {key: list(values) for key, values in states.items()} if states else None
        title = title or self._case.title
        future = drawer().submit(draw_timeline, events, gaps, states, title=title, t0=t0, label=redact)
        name = redact(name)
        self._case.attachments.append(name)
        self._case.pending.append((name, future))
        return future

    def clocks(self, records: Sequence[Mapping[str, Any]]) -> None:
        """The nodes' clock readings around the case (hacert.observe.clocks.case_records), for the summary."""
        self._case.clocks = [dict(redact_any(dict(r))) for r in records]

    def diagnosis(self, text: str) -> None:
        """What the cluster did instead (or how it did it): the summary's diagnosis column."""
        self._case.diagnosis = redact(text)
        allure.dynamic.description(self._case.diagnosis)

    def restored(self, actions: Sequence[str]) -> None:
        """What the guard had to do to put the lab back after the case: evidence of the case
        (the summary's "restored after the case: ..." and an Allure step with each action)."""
        self._case.restored = [redact(str(a)) for a in actions]
        try:
            allure.dynamic.parameter("restored after the case", "; ".join(self._case.restored), excluded=True)
        except Exception:  # an interrupted run restores at session end, when its Allure result is gone
            pass

    def verdict(self, kind: str, reason: str) -> None:
        """End the case as "inconclusive" (raises `Inconclusive`) or "failed" (raises `ClusterFailure`);
        "passed" only notes the reason. Suites may as well raise those types themselves."""
        reason = redact(reason)
        if kind == "inconclusive":
            self._case.diagnosis = self._case.diagnosis or reason
            raise Inconclusive(reason)
        if kind == "failed":
            self._case.diagnosis = self._case.diagnosis or reason
            raise ClusterFailure(reason)
        if kind == "passed":
            self.fact("verdict note", reason)
            return
        raise ValueError(f"unknown verdict {kind!r}: inconclusive, failed or passed")


_DRAWER: list[ThreadPoolExecutor] = []
_DRAWER_LOCK = threading.Lock()
DRAW_TIMEOUT = 120.0
"""Seconds `attach_pending` waits for a picture still being drawn."""


def drawer() -> ThreadPoolExecutor:
    """The one thread that draws the run's pictures."""
    with _DRAWER_LOCK:
        if not _DRAWER:
            _DRAWER.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="hacert-draw"))
        return _DRAWER[0]


def attach_pending(case: CaseEvidence, attach: Callable[[str, bytes], None]) -> None:
    """Every picture of the case drawn off its timeline, waited for and handed to `attach(name, png)`;
    one that could not be drawn becomes a text attachment saying why (evidence is never dropped silently)."""
    pending, case.pending = case.pending, []
    for name, future in pending:
        try:
            png = future.result(timeout=DRAW_TIMEOUT)
        except Exception as exc:  # the picture is evidence only: the case's verdict stands
            allure.attach(redact(f"the picture could not be drawn: {exc!r}\n"), name=name,
                          attachment_type=allure.attachment_type.TEXT)
            continue
        attach(name, png)


def enforce_bounds(case: CaseEvidence) -> None:
    """Every bound the case wrote next to a number, enforced: a number outside its bound fails the
    case (`ClusterFailure` naming each number, its value and its bound); a bound whose number was
    not measured makes it inconclusive. The diagnosis replaces the one the case wrote for a pass."""
    outside, unmeasured = [], []
    for name, (value, bound, unit) in case.bounds.items():
        if value is None:
            unmeasured.append(f"{name} (expected {bound})")
        elif not bound.holds(value):
            outside.append(f"{name} = {value:.3f}{(' ' + unit) if unit else ''}, outside its bound {bound}")
    if outside:
        case.diagnosis = redact("measured outside the bounds the procedure sets: " + "; ".join(outside))
        allure.dynamic.description(case.diagnosis)
        raise ClusterFailure(case.diagnosis)
    if unmeasured:
        case.diagnosis = redact("a number the procedure bounds was not measured: " + "; ".join(unmeasured))
        allure.dynamic.description(case.diagnosis)
        raise Inconclusive(case.diagnosis)


def classify(case: CaseEvidence) -> tuple[str, str]:
    """(verdict, diagnosis): the verdict the case's outcome decided by type (hacert.fixtures.verdicts),
    with the suite's own diagnosis where it gave one."""
    decided = case.verdict or CaseVerdict(Verdict.PASSED)
    if decided.verdict in (Verdict.NOT_APPLICABLE, Verdict.SKIPPED):
        return decided.verdict.value, decided.diagnosis
    if decided.phase == "teardown" and decided.diagnosis and decided.diagnosis != case.diagnosis:
        # the case's body passed and said so; what broke after it decides, and is said first
        seen = f" (the case itself saw: {case.diagnosis})" if case.diagnosis else ""
        return decided.verdict.value, decided.diagnosis + seen
    return decided.verdict.value, case.diagnosis or decided.diagnosis


__all__ = ["CaseEvidence", "Record", "attach_pending", "classify", "drawer", "enforce_bounds"]
