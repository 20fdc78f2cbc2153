"""Commands a person runs to fix by hand what the guard finds or cannot restore."""

from __future__ import annotations


from hacert.procedures.guard.state import GuardParts


class Commands(GuardParts):
    """The fix-by-hand commands of the findings, from the lab's drivers or its inventory."""

    def _bmc_command(self, node: str, action: str) -> str:
        systems_uri = None
        try:
            bmc = self.lab.bmc(node)
            host, port, user = bmc.host, bmc.port, bmc.user
            protocol, systems_uri = getattr(bmc, "protocol", "ipmi"), getattr(bmc, "systems_uri", None)
        except Exception:  # no BMC driver: describe it from the inventory
            spec = self.inv.node(node).bmc
            host, port, user = (spec.host, spec.port, spec.user) if spec else ("BMC-ADDRESS", 623, "USER")
            protocol = spec.protocol if spec else "ipmi"
        if protocol == "redfish":
            from hacert.drivers.redfish import manual_command

            return manual_command(host, port, user, systems_uri, action)
        return f"ipmitool -I lanplus -H {host} -p {port} -U {user} -P \"$IPMI_PASSWORD\" chassis power {action}"

    def _outlet_on_command(self, pdu: str, outlet: int) -> str:
        try:
            snmp = self.lab.pdu(pdu).snmp
            host, port = snmp.host, snmp.port
        except Exception:  # describe it from the inventory
            spec = self.inv.pdu(pdu)
            host, port = spec.host or pdu, spec.port
        return f"fence_apc_snmp --ip={host} --ipport={port} --community=\"$PDU_WRITE_COMMUNITY\" -n {outlet} -o on"

    def _stack_command(self, node: str) -> str:
        if self.inv.cluster.manager == "pacemaker":
            return f"ssh {node} pcs cluster start"
        return f"ssh {node} 'service cman start && service rgmanager start'"

    def _service_command(self, name: str, home: str | None, what: str) -> str:
        member = self.inv.node(home).member_name if home else None
        if self.inv.cluster.manager == "pacemaker":
            if what == "enable":
                return f"pcs resource enable {name}" + (f"; pcs resource move {name} {member}; pcs resource clear {name}" if member else "")
            return f"pcs resource move {name} {member}; pcs resource clear {name}"
        kind = "vm" if name in {vm.name for vm in self.inv.vms} else "service"
        if what == "enable":
            return f"clusvcadm -e {kind}:{name}" + (f" -m {member}" if member else "")
        return f"clusvcadm -{'M' if kind == 'vm' else 'r'} {kind}:{name} -m {member}"

