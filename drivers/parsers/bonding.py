"""/proc/net/bonding/bondN -> BondStatus.

Handles the RHEL 6 driver (v3.6.0, no blank lines in some captures), ARP
monitoring (ARP Polling Interval, ARP IP target/s), 802.3ad ('802.3ad info',
TAB-indented 'Active Aggregator Info', 4-space indented 'details ... lacp pdu'
blocks, which are kept apart from the bond and slave fields) and modes without
Primary/Currently Active Slave lines (balance-rr, 802.3ad).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._common import ParseError, nonblank_lines, split_key_value, to_int

__all__ = ["BondSlave", "BondStatus", "parse_bonding"]


@dataclass(frozen=True)
class BondSlave:
    """One 'Slave Interface:' section.

    ``speed`` and ``duplex`` are the printed text ('1000 Mbps', 'Unknown') or
    None when the driver did not print them; ``speed_mbps`` is the number.
    ``aggregator_id`` is only printed in 802.3ad mode. ``lacp_pdus`` holds the
    indented 'details actor/partner lacp pdu:' blocks, ``extra`` every other
    'Key: value' line of the section.
    """

    name: str
    mii_status: str
    link_failure_count: int
    speed: str | None = None
    duplex: str | None = None
    permanent_hw_addr: str | None = None
    queue_id: int | None = None
    aggregator_id: int | None = None
    lacp_pdus: dict[str, dict[str, str]] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def up(self) -> bool:
        """In use by the bond: the link is up and any updelay has run out."""
        return self.mii_status == "up"

    @property
    def carrier(self) -> bool:
        """The link has carrier, as the driver last saw it: 'going back' is an updelay running on
        a link that is up, 'going down' a downdelay on one that is down."""
        return self.mii_status in ("up", "going back")

    @property
    def speed_mbps(self) -> int | None:
        m = re.match(r"(\d+) Mbps", self.speed or "")
        return int(m.group(1)) if m else None


@dataclass(frozen=True)
class BondStatus:
    """The bond-level fields plus its slaves, in file order.

    ``primary_slave`` / ``active_slave`` are None when the mode does not print
    them or the driver prints 'None'. ``primary_reselect`` comes from
    'Primary Slave: eth0 (primary_reselect always)'. ``arp_ip_targets`` is empty
    without ARP monitoring. ``ad_info`` holds the '802.3ad info' block
    (``lacp_rate`` is lifted out of it), ``active_aggregator`` the indented
    'Active Aggregator Info' lines, ``extra`` unrecognised bond-level lines.
    """

    driver_version: str
    mode: str
    mii_status: str
    mii_polling_interval_ms: int
    up_delay_ms: int
    down_delay_ms: int
    primary_slave: str | None = None
    primary_reselect: str | None = None
    active_slave: str | None = None
    peer_notification_delay_ms: int | None = None
    transmit_hash_policy: str | None = None
    arp_polling_interval_ms: int | None = None
    arp_ip_targets: list[str] = field(default_factory=list)
    lacp_rate: str | None = None
    ad_info: dict[str, str] = field(default_factory=dict)
    active_aggregator: dict[str, str] = field(default_factory=dict)
    slaves: list[BondSlave] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)

    def slave(self, name: str) -> BondSlave:
        for s in self.slaves:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def slave_aggregator_ids(self) -> dict[str, int | None]:
        return {s.name: s.aggregator_id for s in self.slaves}


_BOND_INT_KEYS = {
    "MII Polling Interval (ms)": "mii_polling_interval_ms",
    "Up Delay (ms)": "up_delay_ms",
    "Down Delay (ms)": "down_delay_ms",
    "Peer Notification Delay (ms)": "peer_notification_delay_ms",
    "ARP Polling Interval (ms)": "arp_polling_interval_ms",
}
_BOND_TEXT_KEYS = {
    "Bonding Mode": "mode",
    "MII Status": "mii_status",
    "Transmit Hash Policy": "transmit_hash_policy",
}
_SLAVE_INT_KEYS = {
    "Link Failure Count": "link_failure_count",
    "Slave queue ID": "queue_id",
    "Aggregator ID": "aggregator_id",
}
_SLAVE_TEXT_KEYS = {
    "MII Status": "mii_status",
    "Speed": "speed",
    "Duplex": "duplex",
    "Permanent HW addr": "permanent_hw_addr",
}
_REQUIRED_BOND = ("mode", "mii_status", "mii_polling_interval_ms", "up_delay_ms", "down_delay_ms")
_DRIVER = re.compile(r"^Ethernet Channel Bonding Driver:\s*(.+?)\s*$")
_PRIMARY = re.compile(r"^(\S+)(?:\s+\(primary_reselect (\w+)\))?$")


def _none_if_none(value: str) -> str | None:
    return None if value in ("", "None") else value


def parse_bonding(text: str) -> BondStatus:
    """Parse the content of /proc/net/bonding/bondN."""
    lines = nonblank_lines(text, "bonding")
    first_no, first = lines[0]
    m = _DRIVER.match(first.strip())
    if not m:
        raise ParseError("bonding: expected 'Ethernet Channel Bonding Driver:' first", first, first_no)
    bond: dict = {"driver_version": m.group(1)}
    ad_info: dict[str, str] = {}
    active_agg: dict[str, str] = {}
    bond_extra: dict[str, str] = {}
    slaves: list[tuple[int, str, dict]] = []  # (lineno, header line, fields)
    section = "bond"  # bond | ad_info | slave
    block: dict[str, str] | None = None  # the indented block being filled

    for lineno, line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if block is None:
                raise ParseError("bonding: unexpected indented line", line, lineno)
            key, value = split_key_value(line, lineno, "bonding")
            block[key] = value
            continue
        block = None
        stripped = line.strip()
        if stripped == "802.3ad info":
            section = "ad_info"
            continue
        key, value = split_key_value(stripped, lineno, "bonding")
        if key == "Slave Interface":
            section = "slave"
            slaves.append((lineno, line, {"name": value, "lacp_pdus": {}, "extra": {}}))
            continue
        if key == "Active Aggregator Info" and section == "ad_info":
            block = active_agg
            continue
        if section == "slave":
            fields = slaves[-1][2]
            pdu = re.fullmatch(r"details (actor|partner) lacp pdu", key)
            if pdu:
                block = fields["lacp_pdus"].setdefault(pdu.group(1), {})
            elif key in _SLAVE_INT_KEYS:
                fields[_SLAVE_INT_KEYS[key]] = to_int(value, line, lineno, "bonding")
            elif key in _SLAVE_TEXT_KEYS:
                fields[_SLAVE_TEXT_KEYS[key]] = value or None
            else:
                fields["extra"][key] = value
        elif section == "ad_info":
            ad_info[key] = value
        elif key in _BOND_INT_KEYS:
            bond[_BOND_INT_KEYS[key]] = to_int(value, line, lineno, "bonding")
        elif key in _BOND_TEXT_KEYS:
            bond[_BOND_TEXT_KEYS[key]] = value
        elif key == "Primary Slave":
            pm = _PRIMARY.match(value)
            if not pm:
                raise ParseError("bonding: unreadable 'Primary Slave'", line, lineno)
            bond["primary_slave"] = _none_if_none(pm.group(1))
            bond["primary_reselect"] = pm.group(2)
        elif key == "Currently Active Slave":
            bond["active_slave"] = _none_if_none(value)
        elif key.startswith("ARP IP target"):
            bond["arp_ip_targets"] = [t.strip() for t in value.split(",") if t.strip()]
        else:
            bond_extra[key] = value

    last_no, last = lines[-1]
    for name in _REQUIRED_BOND:
        if name not in bond:
            raise ParseError(f"bonding: no {name} line (truncated output?)", last, last_no)
    built = []
    for lineno, header, fields in slaves:
        for name in ("mii_status", "link_failure_count"):
            if fields.get(name) is None:
                raise ParseError(f"bonding: slave {fields['name']!r} has no {name} line (truncated output?)",
                                 header, lineno)
        built.append(BondSlave(**fields))
    return BondStatus(**bond, lacp_rate=ad_info.get("LACP rate"), ad_info=ad_info,
                      active_aggregator=active_agg, slaves=built, extra=bond_extra)
