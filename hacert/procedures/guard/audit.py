"""The guard's audits: before the fault (the lab ready) and after the case (the cluster's record of
the case minus what it caused on purpose)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from hacert.drivers.cluster.base import MIGRATING, RECOVERING, STARTING, STOPPING
from hacert.drivers.errors import ClusterFailure, HacertError, WaitTimeout
from hacert.observe.cluster_state import expected_homes, find_service
from hacert.observe.waiting import wait_for
from hacert.procedures.aftermath import ClusterRecord, Expected, cluster_record, unexpected
from hacert.procedures.guard.state import GuardParts, Finding
from hacert.procedures.guard.state import CLUSTER_KINDS, LabLeftBroken, LabNotReady


@dataclass
class Aftermath:
    """What the post-case audit found: every finding, the cluster's record of the case, the
    incidents the case caused on purpose, how long it took."""

    findings: list[Finding]
    record: ClusterRecord
    expected: list[Expected]
    caused: list[Any]
    seconds: float

    @property
    def blames_cluster(self) -> bool:
        return any(f.kind in CLUSTER_KINDS for f in self.findings)

    def diagnosis(self) -> str:
        return "after the case: " + "; ".join(f.what for f in self.findings)

    def text(self) -> str:
        """The evidence a person reads."""
        lines = [f"post-case audit, {self.seconds:.2f} s: " + ("nothing found" if not self.findings else
                                                                f"{len(self.findings)} finding(s)")]
        lines += [f"  - {f.what}" for f in self.findings]
        if self.caused:
            lines.append("caused by the case on purpose (" + ", ".join(f"{e.kind} {e.target}" for e in self.expected) + "):")
            lines += [f"  - {i.what}" for i in self.caused]
        if self.record.skipped_lines:
            lines.append(f"{self.record.skipped_lines} syslog line(s) were not syslog and were skipped one by one")
        evidence = [line for i in self.record.incidents for line in i.evidence if line]
        if evidence:
            lines += ["the cluster's record:", *(f"  {line}" for line in evidence)]
        return "\n".join(lines) + "\n"



SETTLING_STATES = frozenset({STARTING, STOPPING, RECOVERING, MIGRATING})
"""Service states the cluster leaves by itself: the audit before a case waits for them to end."""


class Audit(GuardParts):
    """The audit before the fault and the post-case audit."""

    def audit(self, *, syslog: bool = True) -> Any:
        """Check the lab is healthy; raise LabNotReady listing every problem. Returns the cluster status.
        Always a fresh survey: a device can die between the last restore and this case, and a
        survey the restore made before that would not see it."""
        if self.state.broken is not None:
            raise LabNotReady([Finding("restore", self.inv.lab, f"an earlier restore failed: {self.state.broken.findings[0].what}")])
        findings, status = self.survey()
        if findings and self.settling(status):
            self._await_settled()
            findings, status = self.survey()
        if syslog:
            findings += self._syslog_news()
        if findings:
            raise LabNotReady(findings)
        self.case_baseline = status  # the cluster's record (pacemaker's failures) just before the fault
        return status


    def settling(self, status: Any) -> list[str]:
        """The services the cluster is still starting, stopping, recovering or migrating ("vm0001-dev is starting")."""
        if status is None:
            return []
        moving = []
        for name in expected_homes(self.inv):
            svc = find_service(status, name)
            if svc is not None and svc.state in SETTLING_STATES:
                moving.append(f"{name} is {svc.state}")
        return moving

    def _await_settled(self) -> None:
        """A lab found mid-transition (a VM the cluster is restarting as the run begins) is given the
        time the cluster has to restart a VM, then judged as it stands."""
        nodes = [n.name for n in self.inv.nodes]

        def moving() -> list[str]:
            return self.settling(self._status(nodes))  # type: ignore[attr-defined]  # Survey's, in the Guard

        started, seen = time.monotonic(), self.settling(self.state.last_status)
        try:
            wait_for("the cluster to finish what it is doing before the case (" + "; ".join(seen) + ")",
                     moving, lambda still: not still, timeout=self.inv.expectations.vm_restart_timeout,
                     interval=0.5, retry_errors=(HacertError,))
        except (WaitTimeout, HacertError):
            pass  # the survey that follows names what is still wrong
        if self.record is not None:
            self.record.fact("before the case", f"waited {time.monotonic() - started:.1f} s for the cluster to settle "
                                                f"({'; '.join(seen)})")

    # ------------------------------------------------------------ after the case

    def begin_case(self) -> None:
        """The case's function starts: what the nodes logged and pacemaker recorded before it is
        not the case's (the syslog marks are where the last restore, or the heal, left them)."""
        self.case_marks = dict(self.state.marks)
        self.case_baseline = self.state.last_status
        self.audited_clean = False

    def after_case(self) -> Aftermath:
        """The post-case audit, read-only: the restore's survey (asked side by side, as always;
        without the BMCs) while every node's syslog since the case started is read, then the
        cluster's record of the case minus what the case caused on purpose."""
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="guard-aftermath") as pool:
            reading = pool.submit(self._case_windows)
            findings, status = self.survey(bmcs=False)
            windows, unreadable = reading.result()
        record = cluster_record(self.inv, windows, self.case_baseline, status)
        expected = self.expected_now()
        surprises = unexpected(record.incidents, expected)
        caused = [i for i in record.incidents if i not in surprises]
        findings = [Finding(i.kind, i.subject, i.what) for i in surprises] + findings + unreadable
        return Aftermath(findings, record, expected, caused, time.monotonic() - started)

    def judge_after_case(self) -> Aftermath:
        """After a case that returned normally: raise ClusterFailure (or LabLeftBroken when only
        devices are wrong) with what the audit found; note a clean audit."""
        aftermath = self.after_case()
        self._log(f"hacert guard: post-case audit of lab {self.inv.lab}: {aftermath.seconds:.2f} s, "
                  f"{len(aftermath.findings)} finding(s)")
        self._evidence(aftermath)
        if not aftermath.findings:
            self.audited_clean = True
            return aftermath
        diagnosis = aftermath.diagnosis()
        if self.record is not None:
            self.record.diagnosis(diagnosis)
        if aftermath.blames_cluster:
            raise ClusterFailure(diagnosis)
        raise LabLeftBroken(diagnosis)

    def audit_after_failure(self) -> None:
        """After a case that failed: the audit's findings become evidence; the verdict stays."""
        try:
            aftermath = self.after_case()
        except Exception as exc:  # evidence only: it must never hide the case's own failure
            if self.record is not None:
                self.record.attach_text("audit after the case", f"the post-case audit could not run: {exc!r}\n")
            return
        self._evidence(aftermath)
        if self.record is not None and aftermath.findings:
            self.record.fact("audit after the case", aftermath.diagnosis())

    def _evidence(self, aftermath: Aftermath) -> None:
        if self.record is None:
            return
        self.record.attach_text("audit after the case", aftermath.text())
        if aftermath.record.skipped_lines:
            self.record.fact("syslog lines skipped by the audit", aftermath.record.skipped_lines)

    def _case_windows(self) -> tuple[dict[str, list[str]], list[Finding]]:
        """Every node's syslog since the case started, each node asked in its own thread."""
        marks = self.case_marks if self.case_marks is not None else self.state.marks
        unreadable: list[Finding] = []
        names = [n.name for n in self.inv.nodes]
        for name in names:
            if marks.get(name) is None:
                unreadable.append(Finding("syslog", name, f"where {name}'s syslog stood when the case started is unknown: "
                                                          "its record of the case cannot be read"))
        readable = [name for name in names if marks.get(name) is not None]

        def read(name: str) -> list[str] | HacertError:
            try:
                return list(self.lab.node(name).syslog_since(marks[name]))
            except HacertError as exc:
                return exc

        windows: dict[str, list[str]] = {}
        if readable:
            with ThreadPoolExecutor(max_workers=len(readable), thread_name_prefix="guard-syslog") as pool:
                for name, got in zip(readable, pool.map(read, readable)):
                    if isinstance(got, HacertError):
                        unreadable.append(Finding("syslog", name, f"{name}'s syslog of the case cannot be read ({got})"))
                    else:
                        windows[name] = got
        return windows, unreadable

