"""Pictures are drawn off the case's timeline and none is lost: every pending drawing is waited for
and attached; one that could not be drawn is said so."""

from __future__ import annotations

import threading

from hacert.verdict import evidence
from hacert.verdict.evidence import CaseEvidence, Record, attach_pending


def _case() -> CaseEvidence:
    return CaseEvidence(nodeid="t.py::x", title="x", feature="f", procedure="p", subject="s")


def test_the_timeline_is_drawn_by_the_background_thread_and_attached_later() -> None:
    case = _case()
    future = Record(case).attach_timeline([(0.0, "fault")], [(1.0, 2.0)], {"n1": [(0.0, "up"), (3.0, "down")]})
    assert case.attachments == ["timeline"] and [name for name, _ in case.pending] == ["timeline"]
    attached: dict[str, bytes] = {}
    attach_pending(case, lambda name, svg: attached.__setitem__(name, svg))
    assert future.done() and attached["timeline"].startswith(b"<svg ") and b">fault</text>" in attached["timeline"]
    assert case.pending == []


def test_the_drawing_does_not_run_on_the_case_s_thread(monkeypatch) -> None:
    threads: list[str] = []
    monkeypatch.setattr(evidence, "draw_timeline", lambda *a, **k: threads.append(threading.current_thread().name) or b"png")
    case = _case()
    Record(case).attach_timeline()
    attach_pending(case, lambda name, png: None)
    assert threads and threads[0].startswith("hacert-draw")


def test_a_picture_that_cannot_be_drawn_is_not_silently_dropped(monkeypatch) -> None:
    said: list[str] = []

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("no data")

    monkeypatch.setattr(evidence, "draw_timeline", broken)
    monkeypatch.setattr(evidence.allure, "attach", lambda body, name, attachment_type: said.append(f"{name}: {body}"))
    case = _case()
    Record(case).attach_timeline()
    attached: list[str] = []
    attach_pending(case, lambda name, png: attached.append(name))
    assert attached == [] and said and "could not be drawn" in said[0] and "no data" in said[0]
