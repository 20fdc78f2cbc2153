"""Canned device output shared by the unit tests' fake labs and shells."""

from __future__ import annotations

BOND = """Ethernet Channel Bonding Driver: v3.6.0 (September 26, 2009)

Bonding Mode: fault-tolerance (active-backup)
Primary Slave: {primary} (primary_reselect always)
Currently Active Slave: {active}
MII Status: up
MII Polling Interval (ms): 100
Up Delay (ms): 120000
Down Delay (ms): 0

Slave Interface: {primary}
MII Status: {pmii}
Link Failure Count: 0
Permanent HW addr: 00:e0:81:c7:ec:49
Slave queue ID: 0

Slave Interface: {backup}
MII Status: up
Link Failure Count: 0
Permanent HW addr: 00:1b:21:9d:59:fc
Slave queue ID: 0
"""
"""/proc/net/bonding/<bond> of an active-backup bond (RHEL 6); `pmii` is the primary's MII status."""


def bond_status(primary: str, backup: str, active: str, primary_mii: str = "up") -> str:
    return BOND.format(primary=primary, backup=backup, active=active, pmii=primary_mii)
