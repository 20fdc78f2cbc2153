"""A lab made of plain Python objects for the guard's own tests: no simulated lab, no network.

Its devices hold their state in one `FakeState`, so a test sets the lab up broken in exactly the
way it wants (an outlet off, a BMC that never powers on, a service on the wrong node, bad news in
a syslog, SSH that drops) and reads back what the guard did (`state.calls`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from hacert.drivers.cluster.base import ClusterStatus, Member, ServiceState
from hacert.drivers.errors import CommandFailed, DeviceUnreachable
from hacert.drivers.node import SyslogMark
from hacert.drivers.parsers.fence_config import FenceSetup, parse_cluster_conf
from hacert.model.inventory import Inventory
from hacert.observe.cluster_state import expected_homes
from tests.support.canned import bond_status


AGENTS = {"ipmi": "fence_ipmilan", "pdu": "fence_apc_snmp", "scsi": "fence_scsi"}


@dataclass
class FakeState:
    inv: Inventory
    outlets: dict[tuple[str, int], str] = field(default_factory=dict)
    power: dict[str, str] = field(default_factory=dict)
    stuck_off: set[str] = field(default_factory=set)  # BMCs whose power_on does nothing
    members: dict[str, bool] = field(default_factory=dict)
    owners: dict[str, str | None] = field(default_factory=dict)
    syslog: dict[str, list[str]] = field(default_factory=dict)
    ssh_down: set[str] = field(default_factory=set)
    never_joins: set[str] = field(default_factory=set)  # nodes whose cluster stack never comes up
    ports_down: set[tuple[str, str]] = field(default_factory=set)  # (switch, port)
    on_backup: set[tuple[str, str]] = field(default_factory=set)  # (node, bond) running on its backup slave
    states: dict[str, str] = field(default_factory=dict)  # service -> state other than started/stopped
    missing_files: set[tuple[str, str]] = field(default_factory=set)  # (node, path) a read of which fails
    commands: list[tuple[str, str]] = field(default_factory=list)  # (node, command) every run and file read
    calls: list[str] = field(default_factory=list)

    @classmethod
    def healthy(cls, inv: Inventory) -> "FakeState":
        state = cls(inv)
        for node in inv.nodes:
            state.power[node.name] = "on"
            state.members[node.name] = True
            state.syslog[node.name] = []
            for ref in node.power:
                state.outlets[(ref.pdu, ref.outlet)] = "on"
        for switch in inv.switches:
            if switch.power.method == "pdu" and switch.power.pdu and switch.power.outlet:
                state.outlets[(switch.power.pdu, switch.power.outlet)] = "on"
        state.owners = dict(expected_homes(inv))
        return state


def bond_status_of(state: FakeState, node_name: str, path: str) -> str:
    """/proc/net/bonding/<bond> of a fake node: on its backup slave when the state says so."""
    bond = next(b for b in state.inv.node(node_name).bonds if b.status_file == path)
    active = bond.backup.nic if (node_name, bond.name) in state.on_backup else bond.primary.nic
    return bond_status(bond.primary.nic, bond.backup.nic, active=active)


class FakeShell:
    def __init__(self, state: FakeState, name: str) -> None:
        self.state, self.name = state, name

    def _check(self, what: str) -> None:
        if self.name in self.state.ssh_down:
            raise DeviceUnreachable(self.name, "fake", what, "connection reset by peer")

    def reachable(self, timeout: float = 2.0) -> bool:
        return self.name not in self.state.ssh_down

    def read_file(self, path: str, timeout: float | None = None) -> str:
        self._check(f"read {path}")
        self.state.commands.append((self.name, f"cat {path}"))
        if (self.name, path) in self.state.missing_files:
            raise CommandFailed(self.name, "fake", f"cat {path}", 1, stderr=f"cat: {path}: No such file or directory")
        return bond_status_of(self.state, self.name, path)

    def syslog_mark(self) -> SyslogMark:
        self._check("mark syslog")
        return SyslogMark("/var/log/messages", len(self.state.syslog[self.name]))

    def syslog_since(self, mark: SyslogMark) -> list[str]:
        self._check("read syslog")
        return self.state.syslog[self.name][mark.lines:]

    def run(self, cmd: str, timeout: float | None = None, check: bool = True, **marks: Any) -> Any:
        self._check(f"run {cmd!r}")
        self.state.commands.append((self.name, cmd))
        words = shlex.split(cmd)
        if words[:1] == ["cat"] and len(words) > 1:  # the survey reads every bond file in one command
            present = [path for path in words[1:] if (self.name, path) not in self.state.missing_files]
            text = "".join(bond_status_of(self.state, self.name, path) for path in present)
            return SimpleNamespace(stdout=text, stderr="", exit_code=0 if len(present) == len(words) - 1 else 1)
        raise NotImplementedError(cmd)


class FakeBmc:
    host, port, user, timeout = "192.0.2.10", 623, "admin", 5.0

    def __init__(self, state: FakeState, name: str) -> None:
        self.state, self.name = state, name

    def power_status(self) -> str:
        return self.state.power[self.name]

    def power_on(self) -> None:
        self.state.calls.append(f"power on {self.name}")
        if self.name not in self.state.stuck_off:
            self.state.power[self.name] = "on"

    def power_cycle(self) -> None:
        self.state.calls.append(f"power cycle {self.name}")


class FakeSnmp:
    host, port = "192.0.2.20", 161


class FakePdu:
    snmp = FakeSnmp()

    def __init__(self, state: FakeState, name: str) -> None:
        self.state, self.name = state, name

    def outlet_status(self, n: int) -> str:
        return self.state.outlets.get((self.name, n), "on")

    def outlet_on(self, n: int) -> None:
        self.state.calls.append(f"outlet on {self.name}/{n}")
        self.state.outlets[(self.name, n)] = "on"


class FakePorts:
    def __init__(self, state: FakeState, name: str) -> None:
        self.state, self.name = state, name

    def port_is_up(self, port: str) -> bool:
        return (self.name, port) not in self.state.ports_down

    def port_up(self, port: str) -> None:
        self.state.calls.append(f"port up {self.name}/{port}")
        self.state.ports_down.discard((self.name, port))

    def describe(self) -> str:
        return "fake"


class FakeCluster:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    def fence_setup(self, via: str | None = None) -> FenceSetup:
        """A cluster.conf with one device per method of each node, in the inventory's order."""
        nodes, devices = [], []
        for node in self.state.inv.nodes:
            methods = "".join(f'<method name="{m}"><device name="{m}-{node.name}"/></method>' for m in node.fence)
            nodes.append(f'<clusternode name="{node.member_name}" nodeid="{len(nodes) + 1}"><fence>{methods}</fence></clusternode>')
            devices += [f'<fencedevice agent="{AGENTS[m]}" name="{m}-{node.name}"/>' for m in node.fence]
        return parse_cluster_conf(f'<cluster name="fake"><clusternodes>{"".join(nodes)}</clusternodes>'
                                  f'<fencedevices>{"".join(devices)}</fencedevices></cluster>')

    def status(self, via: str | None = None) -> ClusterStatus:
        if via in self.state.ssh_down:
            raise DeviceUnreachable(via or "?", "fake", "clustat", "connection reset by peer")
        inv = self.state.inv
        members = {n.name: Member(n.name, i + 1, self.state.members[n.name], n.name == via) for i, n in enumerate(inv.nodes)}
        services = {name: ServiceState(name, "vm", owner, self.state.states.get(name, "started" if owner else "stopped"))
                    for name, owner in self.state.owners.items()}
        return ClusterStatus(True, members, services, via=via or "")

    def reset_failures(self, svc: str, via: str | None = None) -> None:
        self.state.calls.append(f"cleanup {svc}")

    def migrate(self, vm: str, node: str, via: str | None = None) -> None:
        self.state.calls.append(f"migrate {vm} {node}")
        self.state.owners[vm] = node

    relocate = migrate

    def enable(self, svc: str, node: str | None = None, via: str | None = None) -> None:
        self.state.calls.append(f"enable {svc} {node}")
        self.state.owners[svc] = node
        self.state.states.pop(svc, None)

    def disable(self, svc: str, via: str | None = None) -> None:
        self.state.calls.append(f"disable {svc}")
        self.state.owners[svc] = None

    def start_stack(self, node: str) -> None:
        self.state.calls.append(f"start stack {node}")
        self.state.members[node] = node not in self.state.never_joins


class FakeLab:
    def __init__(self, state: FakeState) -> None:
        self.state = state
        self.inventory = state.inv
        self.cluster = FakeCluster(state)

    @property
    def name(self) -> str:
        return self.inventory.lab

    def node(self, name: str) -> FakeShell:
        return FakeShell(self.state, name)

    def bmc(self, name: str) -> FakeBmc:
        return FakeBmc(self.state, name)

    def pdu(self, name: str) -> FakePdu:
        return FakePdu(self.state, name)

    def switch_ports(self, name: str) -> FakePorts:
        return FakePorts(self.state, name)
