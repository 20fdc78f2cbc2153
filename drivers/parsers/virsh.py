"""virsh output: `list --all`, `dominfo`, `domstate [--reason]`, `domjobinfo [--completed]`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._common import ParseError, nonblank_lines, split_key_value

__all__ = [
    "VirshList", "DomInfo", "DomState", "DomJobInfo",
    "parse_virsh_list", "parse_virsh_dominfo", "parse_virsh_domstate", "parse_domjobinfo",
]

# (name header, state header) -> locale; the state words each locale prints, in English.
_LOCALES = {
    ("Name", "State"): "en",
    ("Nombre", "Estado"): "es",
}
_STATES_EN = {
    "en": {s: s for s in ("running", "idle", "paused", "in shutdown", "shut off", "crashed",
                          "pmsuspended", "no state", "blocked")},
    "es": {"ejecutando": "running", "apagado": "shut off"},
}
_MULTIWORD = ("shut off", "in shutdown", "no state")


@dataclass(frozen=True)
class VirshList:
    """`virsh list [--all]`.

    ``domains`` maps name -> state as printed (localized if virsh ran under a
    non-C locale); ``ids`` maps the running domains' names -> numeric id.
    ``locale`` is 'en', 'es' (from the header words) or 'unknown';
    ``states_in_english`` translates the printed state words this parser
    knows for that locale, ``state_en(name)`` one domain's state in English
    (None when the word is unknown, so a caller never mis-maps a state).
    """

    domains: dict[str, str]
    ids: dict[str, int]
    locale: str
    header: list[str] = field(default_factory=list)

    @property
    def states_in_english(self) -> dict[str, str]:
        table = _STATES_EN.get(self.locale, {})
        return {state: table[state] for state in sorted(set(self.domains.values())) if state in table}

    def state_en(self, name: str) -> str | None:
        return _STATES_EN.get(self.locale, {}).get(self.domains[name])

    @property
    def running(self) -> list[str]:
        return [name for name in self.domains if self.state_en(name) == "running"]


def parse_virsh_list(text: str) -> VirshList:
    """Parse `virsh list --all`: libvirt 0.9 (' Id Name   State' + 34 dashes),
    1.x-4.x fixed 30-wide names, >= 5 dynamic widths, and localized headers,
    with or without the leading space."""
    lines = nonblank_lines(text, "virsh list")
    head_no, head = lines[0]
    words = head.split()
    if len(words) < 3 or words[0] != "Id":
        raise ParseError("virsh list: expected an 'Id Name State' header", head, head_no)
    if len(lines) < 2 or not re.fullmatch(r"-+", lines[1][1].strip()):
        bad_no, bad = lines[1] if len(lines) > 1 else lines[0]
        raise ParseError("virsh list: expected a dashed line under the header", bad, bad_no)
    locale = _LOCALES.get((words[1], words[2]), "unknown")
    state_col = _column(head, words[2], head.index(words[1]))
    domains: dict[str, str] = {}
    ids: dict[str, int] = {}
    for lineno, row in lines[2:]:
        id_token, name, state = _split_row(row.rstrip(), state_col, locale, lineno)
        if id_token != "-":
            if not id_token.isdigit():
                raise ParseError("virsh list: Id is neither a number nor '-'", row, lineno)
            ids[name] = int(id_token)
        domains[name] = state
    return VirshList(domains, ids, locale, words)


def _column(header: str, word: str, after: int) -> int:
    return header.index(word, after + 1)


def _split_row(row: str, state_col: int, locale: str, lineno: int) -> tuple[str, str, str]:
    m = re.match(r"^\s*(\S+)\s+(\S.*)$", row)
    if not m:
        raise ParseError("virsh list: row without name and state", row, lineno)
    id_token, rest = m.group(1), m.group(2)
    rest_start = m.start(2)
    state = None
    # The state column lines up with the header unless a long name pushed it right.
    if rest_start < state_col < len(row) and row[state_col - 1] == " " and row[state_col] != " ":
        state = row[state_col:].strip()
    if state is None:
        known = [s for s in _MULTIWORD if rest.endswith(" " + s)] if locale == "en" else []
        state = known[0] if known else rest.split()[-1]
    name = rest[: len(rest) - len(state)].strip()
    if not name or not rest.endswith(state):
        raise ParseError("virsh list: row without name and state", row, lineno)
    return id_token, name, state


@dataclass(frozen=True)
class DomInfo:
    """`virsh dominfo DOMAIN`; ``fields`` keeps every line as printed."""

    name: str
    state: str
    id: int | None
    uuid: str | None
    persistent: bool | None
    autostart: bool | None
    max_memory_kib: int | None
    used_memory_kib: int | None
    cpus: int | None
    fields: dict[str, str]


def parse_virsh_dominfo(text: str) -> DomInfo:
    lines = nonblank_lines(text, "virsh dominfo")
    fields: dict[str, str] = {}
    for lineno, line in lines:
        key, value = split_key_value(line, lineno, "virsh dominfo")
        fields[key] = value
    for key in ("Name", "State"):
        if key not in fields:
            raise ParseError(f"virsh dominfo: no {key} line", lines[0][1], lines[0][0])

    def kib(key: str) -> int | None:
        m = re.match(r"(\d+) KiB", fields.get(key, ""))
        return int(m.group(1)) if m else None

    def yes_no(key: str) -> bool | None:
        value = fields.get(key)
        return None if value is None else value in ("yes", "enable")

    dom_id = fields.get("Id", "-")
    return DomInfo(
        name=fields["Name"], state=fields["State"], id=int(dom_id) if dom_id.isdigit() else None,
        uuid=fields.get("UUID"), persistent=yes_no("Persistent"), autostart=yes_no("Autostart"),
        max_memory_kib=kib("Max memory"), used_memory_kib=kib("Used memory"),
        cpus=int(fields["CPU(s)"]) if fields.get("CPU(s)", "").isdigit() else None, fields=fields,
    )


@dataclass(frozen=True)
class DomState:
    """`virsh domstate [--reason]`: 'running' or 'shut off (destroyed)'."""

    state: str
    reason: str | None = None


def parse_virsh_domstate(text: str) -> DomState:
    lines = nonblank_lines(text, "virsh domstate")
    if len(lines) != 1:
        raise ParseError("virsh domstate: expected a single line", lines[1][1], lines[1][0])
    lineno, line = lines[0]
    m = re.fullmatch(r"([a-z][a-z ]*?)(?: \(([^)]*)\))?", line.strip())
    if not m:
        raise ParseError("virsh domstate: unreadable state", line, lineno)
    return DomState(m.group(1), m.group(2))


@dataclass(frozen=True)
class DomJobInfo:
    """`virsh domjobinfo [--completed] DOMAIN`.

    ``job_type`` is 'None', 'Unbounded' (running) or 'Completed';
    ``milliseconds`` holds every '... ms' field by its label ('Time elapsed',
    'Total downtime', 'Setup time', ...); ``fields`` every line as printed.
    """

    job_type: str
    operation: str | None
    milliseconds: dict[str, int]
    fields: dict[str, str]

    @property
    def time_elapsed_ms(self) -> int | None:
        return self.milliseconds.get("Time elapsed")

    @property
    def downtime_ms(self) -> int | None:
        return self.milliseconds.get("Total downtime", self.milliseconds.get("Expected downtime"))


def parse_domjobinfo(text: str) -> DomJobInfo:
    lines = nonblank_lines(text, "virsh domjobinfo")
    fields: dict[str, str] = {}
    ms: dict[str, int] = {}
    for lineno, line in lines:
        key, value = split_key_value(line, lineno, "virsh domjobinfo")
        fields[key] = value
        m = re.fullmatch(r"(\d+)\s+ms", value)
        if m:
            ms[key] = int(m.group(1))
    if "Job type" not in fields:
        raise ParseError("virsh domjobinfo: no 'Job type' line", lines[0][1], lines[0][0])
    return DomJobInfo(fields["Job type"], fields.get("Operation"), ms, fields)
