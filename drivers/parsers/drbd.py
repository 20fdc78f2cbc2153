"""DRBD 8.x status -> DrbdStatus, from /proc/drbd or `/etc/init.d/drbd status`.

/proc/drbd: 'version:' / 'GIT-hash:' / 'srcversion:' lines, then per minor
' 0: cs:Connected ro:Primary/Primary ds:UpToDate/UpToDate C r-----' (old 8.x
print 'st:' for 'ro:'; StandAlone prints no protocol letter), a counters line
('ns:0 nr:0 dw:0 ...'), and while resyncing a progress bar line
("[====>....] sync'ed: 26.4% (780928/1052672)K") and a 'finish:' line.
The init script prints the same version lines and a table
'm:res  cs  ro  ds  p  mounted  fstype' with rows '0:r0  Connected  ...'.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._common import ParseError, nonblank_lines

__all__ = ["DrbdMinor", "DrbdStatus", "parse_drbd"]


@dataclass(frozen=True)
class DrbdMinor:
    """One DRBD device. ``ro`` is 'local/peer' role ('Primary/Primary'), ``ds``
    'local/peer' disk state; ``protocol`` is None when not printed (StandAlone);
    ``resource`` only comes from the init script's table ('r0')."""

    minor: int
    cs: str
    ro: str | None
    ds: str | None
    protocol: str | None = None
    io_flags: str | None = None
    resource: str | None = None
    counters: dict[str, str] = field(default_factory=dict)
    sync_percent: float | None = None
    sync_finish: str | None = None
    mounted: str | None = None
    fstype: str | None = None

    @property
    def role(self) -> str | None:
        return self.ro.split("/")[0] if self.ro else None

    @property
    def peer_role(self) -> str | None:
        return self.ro.split("/")[1] if self.ro and "/" in self.ro else None

    @property
    def disk_state(self) -> str | None:
        return self.ds.split("/")[0] if self.ds else None

    @property
    def peer_disk_state(self) -> str | None:
        return self.ds.split("/")[1] if self.ds and "/" in self.ds else None

    @property
    def out_of_sync_kib(self) -> int | None:
        value = self.counters.get("oos")
        return int(value) if value is not None and value.isdigit() else None


@dataclass(frozen=True)
class DrbdStatus:
    """``version`` is None when the capture lacks the 'version:' line."""

    version: str | None
    api: str | None
    proto: str | None
    minors: dict[int, DrbdMinor]
    git_hash: str | None = None
    srcversion: str | None = None


_VERSION = re.compile(r"^version: (\S+) \(api:(\w+)/proto:([\w-]+)\)$")
_MINOR = re.compile(
    r"^(?P<minor>\d+): cs:(?P<cs>\S+)(?: (?:ro|st):(?P<ro>\S+))?(?: ds:(?P<ds>\S+))?"
    r"(?:\s+(?P<proto>[ABC]))?(?:\s+(?P<flags>[a-zA-Z-]+))?$")
_COUNTERS = re.compile(r"^(?:\w+:\S+\s*)+$")
_SYNC = re.compile(r"^\[[=>.]*\] (?:sync'ed|verified):\s*(?P<pct>[\d.]+)%")
_FINISH = re.compile(r"^finish: (?P<finish>\S+)")
_TABLE_HEAD = re.compile(r"^m:res\s+cs\s+ro\s+ds\s+p(?:\s+mounted\s+fstype)?$")
_TABLE_ROW = re.compile(
    r"^(?P<minor>\d+):(?P<res>\S+)\s+(?P<cs>\S+)\s+(?P<ro>\S+)\s+(?P<ds>\S+)\s+(?P<proto>[ABC])"
    r"(?:\s+(?P<mounted>\S+))?(?:\s+(?P<fstype>\S+))?$")
_TABLE_SYNC = re.compile(r"^\.\.\.\s+sync'ed:\s*(?P<pct>[\d.]+)%")
_IGNORED = ("drbd driver loaded OK", "resync:", "act_log:")


def parse_drbd(text: str) -> DrbdStatus:
    lines = nonblank_lines(text, "drbd")
    version = api = proto = git_hash = srcversion = None
    minors: dict[int, dict] = {}
    current: dict | None = None
    for lineno, raw in lines:
        line = raw.strip()
        if m := _VERSION.match(line):
            version, api, proto = m.groups()
        elif line.startswith("GIT-hash:"):
            git_hash = line.split()[1] if len(line.split()) > 1 else None
        elif line.startswith("srcversion:"):
            srcversion = line.partition(":")[2].strip()
        elif m := _MINOR.match(line):
            current = {"minor": int(m.group("minor")), "cs": m.group("cs"), "ro": m.group("ro"),
                       "ds": m.group("ds"), "protocol": m.group("proto"), "io_flags": m.group("flags")}
            minors[current["minor"]] = current
        elif _TABLE_HEAD.match(line):
            current = None
        elif m := _TABLE_ROW.match(line):
            current = {"minor": int(m.group("minor")), "resource": m.group("res"), "cs": m.group("cs"),
                       "ro": m.group("ro"), "ds": m.group("ds"), "protocol": m.group("proto"),
                       "mounted": m.group("mounted"), "fstype": m.group("fstype")}
            minors[current["minor"]] = current
        elif current is not None and line.startswith("ns:") and _COUNTERS.match(line):
            current["counters"] = dict(item.split(":", 1) for item in line.split())
        elif current is not None and ((m := _SYNC.match(line)) or (m := _TABLE_SYNC.match(line))):
            current["sync_percent"] = float(m.group("pct"))
        elif current is not None and (m := _FINISH.match(line)):
            current["sync_finish"] = m.group("finish")
        elif line.startswith(_IGNORED):
            continue
        else:
            raise ParseError("drbd: unrecognised line", raw, lineno)
    if version is None and not minors:
        raise ParseError("drbd: neither a 'version:' line nor a device line", lines[0][1], lines[0][0])
    return DrbdStatus(version, api, proto, {n: DrbdMinor(**f) for n, f in minors.items()}, git_hash, srcversion)
