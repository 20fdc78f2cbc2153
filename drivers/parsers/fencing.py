"""Pacemaker fence history: `stonith_admin --history '*'` text -> list[FenceEvent].

FenceEvent is also what crm_mon's <fence_history> becomes (see crm_mon.py).

Text forms read:
- pacemaker >= 2.0.3 (stonith_admin, crm_mon, pcs):
  "reboot of node2 successful: delegate=node1, client=pacemaker-controld.1234,
  origin=node1, completed='2022-03-13 23:26:20 +08:00'" (also 'failed',
  'last-successful=' / 'last-failed=', "pending: client=..., origin=..."),
  optionally bulleted with '* ', and crm_mon 1.1's variant that wraps the
  date onto an indented second line;
- pacemaker 1.1 / 2.0 stonith_admin: "node1 was able to reboot node node2 on
  behalf of crmd.1234 from node1 at Wed Oct 10 09:56:47 2018" and
  "... failed to reboot node ...".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._common import ParseError, nonblank_lines

__all__ = ["FenceEvent", "parse_stonith_history"]


@dataclass(frozen=True)
class FenceEvent:
    """One fencing operation.

    ``state`` is 'success', 'failed' or 'pending'; ``action`` 'reboot', 'off'
    or 'on'; ``delegate`` the node that executed it (None when unknown/empty);
    ``completed`` the completion time as printed (None while pending).
    """

    target: str
    action: str
    state: str
    origin: str | None = None
    client: str | None = None
    delegate: str | None = None
    completed: str | None = None
    later_succeeded: bool = False
    exit_reason: str | None = None


_MODERN = re.compile(
    r"^(?:\* )?(?P<action>\S+) of (?P<target>\S+) (?P<state>successful|failed|pending)"
    r"(?: \((?P<detail>[^)]*)\))?: (?P<fields>.*)$")
_FIELD = re.compile(r"(?P<key>[\w-]+)=(?:'(?P<quoted>[^']*)'|(?P<plain>[^,]*))(?:,\s*|$)")
_LEGACY = re.compile(
    r"^(?P<delegate>.+?) (?:(?:was|were) able to|(?P<failed>failed to)) (?P<action>reboot|turn off|turn on|off|on) "
    r"node (?P<target>\S+) on behalf of (?P<client>\S+)(?: from (?P<origin>\S+))? at (?P<when>.+)$")
_COUNT = re.compile(r"^\d+ events? found$")
_STATES = {"successful": "success", "failed": "failed", "pending": "pending"}


def parse_stonith_history(text: str) -> list[FenceEvent]:
    """Parse fence history text; header lines ('Fencing History:', 'N events found') are skipped.

    Headers without entries give []. Empty output is refused like everywhere
    else: a caller that ran `stonith_admin --history` and got nothing back
    decides itself that this means "no history".
    """
    lines = nonblank_lines(text, "stonith history")
    events: list[FenceEvent] = []
    pending: str | None = None  # a modern entry whose date wrapped onto the next line
    pending_no = 0
    for lineno, raw in lines:
        line = raw.strip()
        if pending is not None:
            if re.match(r"^[\w-]+='", line):
                events.append(_modern(pending + " " + line, raw, lineno))
                pending = None
                continue
            events.append(_modern(pending, pending, pending_no))
            pending = None
        if line in ("Fencing History:", "Failed Fencing Actions:", "Pending Fencing Actions:") or _COUNT.match(line):
            continue
        if _MODERN.match(line):
            if line.endswith(","):
                pending, pending_no = line, lineno
            else:
                events.append(_modern(line, raw, lineno))
            continue
        m = _LEGACY.match(line)
        if not m:
            raise ParseError("stonith history: unrecognised line", raw, lineno)
        delegate = m.group("delegate")
        events.append(FenceEvent(
            target=m.group("target"),
            action=m.group("action").removeprefix("turn "),
            state="failed" if m.group("failed") else "success",
            origin=m.group("origin"),
            client=m.group("client"),
            delegate=None if delegate in ("We", "This node") else delegate,
            completed=m.group("when").strip(),
        ))
    if pending is not None:
        events.append(_modern(pending, pending, pending_no))
    return events


def _modern(line: str, raw: str, lineno: int) -> FenceEvent:
    m = _MODERN.match(line.strip())
    if not m:
        raise ParseError("stonith history: unrecognised line", raw, lineno)
    fields: dict[str, str] = {}
    rest = m.group("fields").rstrip(",").strip()
    pos = 0
    while pos < len(rest):
        f = _FIELD.match(rest, pos)
        if not f:
            raise ParseError("stonith history: unreadable fields", raw, lineno)
        fields[f.group("key")] = f.group("quoted") if f.group("quoted") is not None else f.group("plain").strip()
        pos = f.end()
    when = fields.get("completed") or fields.get("last-successful") or fields.get("last-failed")
    later = False
    if when is not None:
        later = "(a later attempt succeeded)" in when
        when = when.replace("(a later attempt succeeded)", "").strip() or None
    return FenceEvent(
        target=m.group("target"),
        action=m.group("action"),
        state=_STATES[m.group("state")],
        origin=fields.get("origin") or None,
        client=fields.get("client") or None,
        delegate=fields.get("delegate") or None,
        completed=when,
        later_succeeded=later,
        exit_reason=fields.get("exit-reason") or m.group("detail") or None,
    )
