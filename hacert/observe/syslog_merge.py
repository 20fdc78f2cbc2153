"""The syslog window of every node merged into one time-ordered text.

Classic syslog lines (``Dec 13 12:42:39 host prog[pid]: msg``) carry no year and
whole seconds; RFC 3339 lines (``2026-11-22T02:19:40.123+00:00 host ...``) carry
both. Lines at the same instant keep their node order and their order within
the node, so the merge is stable. A line without a timestamp (a continuation)
stays behind the line it continues.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_CLASSIC = re.compile(r"^(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)\b")
_RFC3339 = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)\b")


def line_time(line: str, year: int | None = None) -> datetime | None:
    """When a syslog line was written (naive UTC-less for classic lines), or None."""
    match = _RFC3339.match(line)
    if match:
        stamp = match["ts"].replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError:
            return None
        return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment
    match = _CLASSIC.match(line)
    if match and match["mon"] in _MONTHS:
        try:
            return datetime(
                year or datetime.now().year, _MONTHS[match["mon"]], int(match["day"]), int(match["h"]), int(match["m"]), int(match["s"])
            )
        except ValueError:
            return None
    return None


def merge_syslog(windows: Mapping[str, Sequence[str]], year: int | None = None) -> str:
    """One text, all nodes' lines by time; `windows` is {node: [lines]} in each node's order."""
    year = year or datetime.now().year
    parsed: list[tuple[int, int, list[str], datetime | None]] = []
    for node_index, lines in enumerate(windows.values()):
        blocks: list[list[str]] = []
        for raw in lines:
            line = raw.rstrip("\n")
            if not line.strip():
                continue
            if line_time(line, year) is None and blocks:
                blocks[-1].append(line)
            else:
                blocks.append([line])
        for block_index, block in enumerate(blocks):
            parsed.append((node_index, block_index, block, line_time(block[0], year)))
    # A window across New Year: December lines belong to the year before January's.
    months = {moment.month for *_, moment in parsed if moment is not None}
    if 12 in months and 1 in months:
        parsed = [(n, b, block, m.replace(year=m.year - 1) if m is not None and m.month == 12 else m) for n, b, block, m in parsed]
    # A block with no time at all keeps its place after the previous timed block of its node.
    keyed: list[tuple[datetime, int, int, list[str]]] = []
    last_seen: dict[int, datetime] = {}
    for node_index, block_index, block, moment in parsed:
        if moment is None:
            moment = last_seen.get(node_index, datetime.min)
        last_seen[node_index] = moment
        keyed.append((moment, node_index, block_index, block))
    keyed.sort(key=lambda entry: (entry[0], entry[1], entry[2]))
    return "\n".join(line for *_, block in keyed for line in block) + ("\n" if keyed else "")
