"""The device emulators labsim and netlab share: the IPMI BMC (`bmc`), the SNMP agents of the APC
PDUs and IF-MIB switches (`snmp`), the bonding driver's model (`bonding`), the outlet -> node power
model (`power`), a switch's boot sequence (`switch_boot`) and the scheduler they run their timers
on (`scheduler`).

Each emulator asks its host for what it needs through a Protocol of `contracts` (a BMC asks a
`BmcHost`, a PDU agent a `PduHost`, ...): labsim's `World` implements all of them on its
simulated nodes, netlab's out-of-band side (hacert.netlab.oob, hacert.netlab.switches) and each
node's bond daemon (hacert.netlab.bondd) implement theirs on the real namespaces."""
