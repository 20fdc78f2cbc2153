"""`ip -o link` -> list[IpLink].

One line per interface: '2: eth0: <BROADCAST,MULTICAST,SLAVE,UP,LOWER_UP> mtu 1500
qdisc pfifo_fast master bond0 state UP mode DEFAULT group default qlen 1000\\
link/ether 52:54:00:3f:99:f0 brd ff:ff:ff:ff:ff:ff' ('\\' separates the parts).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ._common import ParseError, nonblank_lines

__all__ = ["IpLink", "parse_ip_link"]


@dataclass(frozen=True)
class IpLink:
    """One interface. ``flags`` are the <...> words; ``state`` the operstate
    ('UP', 'DOWN', 'UNKNOWN'); ``master`` the bond/bridge it is enslaved to;
    ``parent`` the link after '@' ('vlan10@eth0'); ``attrs`` every other
    'key value' pair of the first part."""

    index: int
    name: str
    flags: list[str]
    mtu: int | None
    state: str | None
    master: str | None
    link_type: str | None
    address: str | None
    parent: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)

    @property
    def admin_up(self) -> bool:
        return "UP" in self.flags

    @property
    def carrier(self) -> bool:
        return "LOWER_UP" in self.flags and "NO-CARRIER" not in self.flags


_LINE = re.compile(r"^(?P<index>\d+):\s+(?P<name>[^\s:@]+)(?:@(?P<parent>[^\s:]+))?:\s+<(?P<flags>[^>]*)>(?P<rest>.*)$")


def parse_ip_link(text: str, on_bad_line: Callable[[ParseError], None] | None = None) -> list[IpLink]:
    """`ip -o link` -> one IpLink per line. With ``on_bad_line``, a line that is not an
    `ip -o link` line is handed to it as a ParseError and skipped (empty output: no links)."""
    links = []
    if on_bad_line is not None and not text.strip():
        return links
    for lineno, raw in nonblank_lines(text, "ip -o link"):
        m = _LINE.match(raw.strip())
        parts = [p.strip() for p in m["rest"].split("\\")] if m else []
        words = parts[0].split() if parts else []
        problem = ("ip -o link: unrecognised line" if not m else
                   "ip -o link: attributes are not 'key value' pairs" if len(words) % 2 else None)
        if problem is not None:
            if on_bad_line is None:
                raise ParseError(problem, raw, lineno)
            on_bad_line(ParseError(problem, raw, lineno))
            continue
        assert m is not None
        attrs = dict(zip(words[0::2], words[1::2]))
        link_type = address = None
        for part in parts[1:]:
            if part.startswith("link/"):
                tokens = part.split()
                link_type = tokens[0].removeprefix("link/")
                address = tokens[1] if len(tokens) > 1 and tokens[1] != "brd" else None
        mtu = attrs.pop("mtu", None)
        links.append(IpLink(
            index=int(m["index"]), name=m["name"], flags=[f for f in m["flags"].split(",") if f],
            mtu=int(mtu) if mtu and mtu.isdigit() else None, state=attrs.pop("state", None),
            master=attrs.pop("master", None), link_type=link_type, address=address,
            parent=m["parent"], attrs=attrs,
        ))
    return links
