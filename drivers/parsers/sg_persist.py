"""`sg_persist -i -k` (READ KEYS) and `sg_persist -i -r` (READ RESERVATION) -> SgPersist.

Tolerates the INQUIRY header ('Msft      Virtual Disk      1.0' followed by
'Peripheral device type: disk', absent with -n) and the -v command-block line
('Persistent Reservation In cmd: 5e 00 ...').
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._common import ParseError, nonblank_lines

__all__ = ["Reservation", "SgPersist", "parse_sg_persist"]


@dataclass(frozen=True)
class Reservation:
    """The reservation holder: ``key`` ('0x63d20005'), ``scope`` ('LU_SCOPE'),
    ``type`` ('Write Exclusive, registrants only')."""

    key: str
    scope: str
    type: str


@dataclass(frozen=True)
class SgPersist:
    """One sg_persist answer.

    READ KEYS: ``keys`` is the list of registered keys (hex strings as
    printed), ``reservation_queried`` False and ``reservation`` None.
    READ RESERVATION: ``keys`` is None, ``reservation_queried`` True and
    ``reservation`` the holder, or None when 'there is NO reservation held'.
    ``pr_generation`` is kept as printed ('0x158'); ``pr_generation_int`` is
    its value.
    """

    pr_generation: str
    keys: list[str] | None
    reservation: Reservation | None
    reservation_queried: bool
    inquiry: str | None = None
    device_type: str | None = None
    commands: list[str] = field(default_factory=list)

    @property
    def pr_generation_int(self) -> int:
        return int(self.pr_generation, 16)


_GEN = re.compile(r"^PR generation=(?P<gen>0x[0-9a-fA-F]+),\s*(?P<rest>.+)$")
_KEYS_FOLLOW = re.compile(r"^(?P<n>\d+) registered reservation keys? follows?:$")
_SCOPE = re.compile(r"^scope:\s*(?P<scope>[^,]+),\s*type:\s*(?P<type>.+)$")
_CDB = re.compile(r"^Persistent Reservation In cmd:(?P<cdb>.*)$")
_DEVTYPE = re.compile(r"^Peripheral device type:\s*(?P<type>.+)$")


def parse_sg_persist(text: str) -> SgPersist:
    lines = [(n, raw.strip(), raw) for n, raw in nonblank_lines(text, "sg_persist")]
    commands: list[str] = []
    inquiry = device_type = None
    i = 0
    while i < len(lines) and not _GEN.match(lines[i][1]):
        n, line, raw = lines[i]
        nxt = lines[i + 1][1] if i + 1 < len(lines) else ""
        if m := _CDB.match(line):
            commands.append(m.group("cdb").strip())
        elif m := _DEVTYPE.match(line):
            device_type = m.group("type").strip()
        elif inquiry is None and _DEVTYPE.match(nxt):
            inquiry = " ".join(line.split())
        else:
            raise ParseError("sg_persist: unrecognised line before 'PR generation='", raw, n)
        i += 1
    if i == len(lines):
        raise ParseError("sg_persist: no 'PR generation=' line", lines[-1][2], lines[-1][0])
    gen_no, gen_line, gen_raw = lines[i]
    m = _GEN.match(gen_line)
    generation, rest = m.group("gen"), m.group("rest").strip()
    body = lines[i + 1:]

    def no_more(reason: str) -> None:
        if body:
            raise ParseError(f"sg_persist: unexpected line after {reason}", body[0][2], body[0][0])

    if rest == "there are NO registered reservation keys":
        no_more("'NO registered reservation keys'")
        return SgPersist(generation, [], None, False, inquiry, device_type, commands)
    if rest == "there is NO reservation held":
        no_more("'NO reservation held'")
        return SgPersist(generation, None, None, True, inquiry, device_type, commands)
    if km := _KEYS_FOLLOW.match(rest):
        expected = int(km.group("n"))
        keys = []
        for n, line, raw in body:
            key = re.fullmatch(r"0x[0-9a-fA-F]+", line)
            if not key:
                raise ParseError("sg_persist: expected a reservation key", raw, n)
            keys.append(line)
        if len(keys) != expected:
            last_no, _, last_raw = (body or [lines[i]])[-1]
            raise ParseError(f"sg_persist: announced {expected} keys, found {len(keys)} (truncated output?)",
                             last_raw, last_no)
        return SgPersist(generation, keys, None, False, inquiry, device_type, commands)
    if rest == "Reservation follows:":
        if not body or not (key := re.fullmatch(r"Key=(0x[0-9a-fA-F]+)", body[0][1])):
            bad_no, _, bad = body[0] if body else lines[i]
            raise ParseError("sg_persist: expected 'Key=0x...' after 'Reservation follows:'", bad, bad_no)
        sm = _SCOPE.match(body[1][1]) if len(body) > 1 else None
        if not sm:
            bad_no, _, bad = body[1] if len(body) > 1 else body[0]
            raise ParseError("sg_persist: expected 'scope: ..., type: ...' (truncated output?)", bad, bad_no)
        scope, rtype = sm.group("scope").strip(), sm.group("type").strip()
        if len(body) > 2:
            raise ParseError("sg_persist: unexpected line after the reservation", body[2][2], body[2][0])
        return SgPersist(generation, None, Reservation(key.group(1), scope, rtype), True,
                         inquiry, device_type, commands)
    raise ParseError("sg_persist: unrecognised 'PR generation=' line", gen_raw, gen_no)
