"""Audit once: the restore's clean survey serves as the next case's pre-case audit when nothing ran on
the lab in between, and only then (a case, a declared change, an old survey or a second audit make the
guard survey again; the syslogs since the restore are always read)."""

from __future__ import annotations

import pytest

from hacert.procedures.guard import Guard, LabNotReady, LabState
from hacert.procedures.guard import state as guard_state

from tests.suites_fencing.fake_lab import FakeLab, FakeState
from tests.suites_fencing.test_guard import INV, N1, N2


def counted(guard: Guard) -> list[bool]:
    """Every survey the guard makes, noted (bmcs or not)."""
    calls: list[bool] = []
    original = guard.survey

    def survey(*, bmcs: bool = True):  # type: ignore[no-untyped-def]
        calls.append(bmcs)
        return original(bmcs=bmcs)

    guard.survey = survey  # type: ignore[method-assign]
    return calls


def restored() -> tuple[FakeLab, LabState]:
    fake = FakeLab(FakeState.healthy(INV))
    state = LabState()
    Guard(fake, state).restore()
    assert state.clean is not None
    return fake, state


def test_the_restore_s_clean_survey_is_the_next_pre_case_audit() -> None:
    fake, state = restored()
    guard = Guard(fake, state)
    calls = counted(guard)
    guard.begin_case()
    assert guard.audit() is not None
    assert calls == [] and guard.reused_survey


def test_one_clean_survey_serves_one_audit_only() -> None:
    fake, state = restored()
    guard = Guard(fake, state)
    calls = counted(guard)
    guard.audit()
    fake.state.outlets[("pdu2", 1)] = "off"
    with pytest.raises(LabNotReady, match="outlet 1 .* is off"):
        guard.audit()
    assert calls == [True]


def test_a_declared_change_makes_the_audit_survey_again() -> None:
    fake, state = restored()
    guard = Guard(fake, state)
    calls = counted(guard)
    guard.changed("outlet", "pdu2/1")
    fake.state.outlets[("pdu2", 1)] = "off"
    with pytest.raises(LabNotReady, match="outlet 1 .* is off"):
        guard.audit()
    assert calls == [True] and not guard.reused_survey


def test_a_case_that_ran_makes_the_audit_survey_again() -> None:
    fake, state = restored()
    guard = Guard(fake, state)
    guard.begin_case()
    guard.after_case()
    fake.state.members[N2] = False  # what the case left (its post-case audit ran before this broke)
    following = Guard(fake, state)
    calls = counted(following)
    with pytest.raises(LabNotReady, match=f"{N2} is not an online cluster member"):
        following.audit()
    assert calls == [True]


def test_an_old_clean_survey_is_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    fake, state = restored()
    monkeypatch.setattr(guard_state, "REUSE_WITHIN", 0.0)
    fake.state.power[N1] = "off"
    guard = Guard(fake, state)
    calls = counted(guard)
    with pytest.raises(LabNotReady, match=f"{N1}'s BMC says power off"):
        guard.audit()
    assert calls == [True]


def test_news_in_the_syslogs_since_the_restore_is_still_seen() -> None:
    fake, state = restored()
    fake.state.syslog[N2].append(f"Dec 13 12:42:41 {N2} kernel: bond0: link status definitely down for interface eth0")
    guard = Guard(fake, state)
    calls = counted(guard)
    with pytest.raises(LabNotReady, match="link status definitely down"):
        guard.audit()
    assert calls == []
