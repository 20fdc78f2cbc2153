"""Switch ports (automated cable pulls) and switch power.

Port control, one protocol (`SwitchPortControl`), four ways:

* `SnmpSwitchPorts`: IF-MIB, the port name looked up as ifName (then ifDescr)
  to find its ifIndex, ifAdminStatus set to down(2) / up(1) and read back.
* `CliSwitchPorts`: the switch's CLI over SSH, with the inventory's commands
  (`configure terminal` / `interface {port}` / `shutdown` / `end`).
* `NodeSidePorts`: `ip link set dev NIC down|up` on the node at the other end
  of the cable (the port is named by the node's NIC).
* `ManualPorts`: a person pulls the cable when asked on the terminal; refused
  when there is no terminal (CI).

Switch power: `PduSwitchPower` (an outlet, whose name is checked before it is
cut) and `ManualSwitchPower`.
"""

from __future__ import annotations

import re
import select
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence, TextIO, runtime_checkable

from .errors import CommandRefused, WaitTimeout
from .pdu import ApcPdu
from .redact import Secret
from .registry import SWITCH_PORTS, SWITCH_POWER, BuildContext, LabConfigError
from .snmp import GET_BATCH, SnmpClient, oid, wait_until_reads

IF_DESCR = oid("1.3.6.1.2.1.2.2.1.2")
IF_ADMIN_STATUS = oid("1.3.6.1.2.1.2.2.1.7")
IF_OPER_STATUS = oid("1.3.6.1.2.1.2.2.1.8")
IF_NAME = oid("1.3.6.1.2.1.31.1.1.1.1")
_UP, _DOWN = 1, 2


@runtime_checkable
class SwitchPortControl(Protocol):
    def port_down(self, port: str) -> None: ...
    def port_up(self, port: str) -> None: ...
    def port_is_up(self, port: str) -> bool | None: ...
    def describe(self) -> str: ...


def ports_are_up(control: SwitchPortControl, ports: Sequence[str]) -> dict[str, bool | None]:
    """`port_is_up` of every port in `ports`, in one request where the control can batch them."""
    batched = getattr(control, "ports_are_up", None)
    if callable(batched):
        return dict(batched(ports))
    return {port: control.port_is_up(port) for port in ports}


@runtime_checkable
class SwitchPowerControl(Protocol):
    def power_off(self) -> None: ...
    def power_on(self) -> None: ...
    def is_on(self) -> bool | None: ...
    def describe(self) -> str: ...


class NoOperator(CommandRefused):
    """A manual step was needed but no person can answer (stdin is not a terminal)."""


# ---------------------------------------------------------------- SNMP


class SnmpSwitchPorts:
    """Ports by IF-MIB: `port` is the ifName (or ifDescr) as the switch reports it."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int = 161,
        community_ro: str = "public",
        community_rw: str | None = "private",
        version: str = "2c",
        timeout: float = 2.0,
        retries: int = 1,
        settle_timeout: float = 10.0,
        poll_interval: float = 0.1,
    ) -> None:
        self.name = name
        self.snmp = SnmpClient(name, host, port, community_ro, community_rw, version, timeout, retries)
        self.settle_timeout = settle_timeout
        self.poll_interval = poll_interval
        self._index: dict[str, int] | None = None

    def describe(self) -> str:
        return f"{self.name} ports over SNMP v{self.snmp.version} at {self.snmp.address}"

    def interfaces(self) -> dict[str, int]:
        """{ifName: ifIndex}, plus ifDescr names that are not also ifNames (cached)."""
        if self._index is None:
            index: dict[str, int] = {}
            for name, value in self.snmp.walk(IF_NAME):
                index.setdefault(str(value), name[-1])
            for name, value in self.snmp.walk(IF_DESCR):
                index.setdefault(str(value), name[-1])
            self._index = index
        return self._index

    def ifindex(self, port: str) -> int:
        known = self.interfaces()
        if port in known:
            return known[port]
        raise CommandRefused(
            self.name, self.snmp.address, f"find port {port!r}", f"no interface has that ifName/ifDescr (known: {', '.join(sorted(known)[:20])})"
        )

    def port_down(self, port: str) -> None:
        self._set_admin(port, _DOWN)

    def port_up(self, port: str) -> None:
        self._set_admin(port, _UP)

    def port_is_up(self, port: str) -> bool:
        """Administratively up (ifAdminStatus)."""
        return int(self.snmp.get_one(IF_ADMIN_STATUS + (self.ifindex(port),))) == _UP

    def ports_are_up(self, ports: Sequence[str]) -> dict[str, bool]:
        """ifAdminStatus of several ports, one GET per `GET_BATCH` of them."""
        columns = [IF_ADMIN_STATUS + (self.ifindex(port),) for port in ports]
        values: list[Any] = []
        for first in range(0, len(columns), GET_BATCH):
            values += self.snmp.get(*columns[first:first + GET_BATCH])
        return {port: int(value) == _UP for port, value in zip(ports, values)}

    def oper_is_up(self, port: str) -> bool:
        """Link up (ifOperStatus)."""
        return int(self.snmp.get_one(IF_OPER_STATUS + (self.ifindex(port),))) == _UP

    def _set_admin(self, port: str, value: int) -> None:
        column = IF_ADMIN_STATUS + (self.ifindex(port),)
        self.snmp.set(column, value)
        want = "up" if value == _UP else "down"
        wait_until_reads(lambda: int(self.snmp.get_one(column)), value,
                         f"{self.name} port {port} ifAdminStatus to read {want}", self.settle_timeout, self.poll_interval,
                         client=self.snmp)

    def close(self) -> None:
        self.snmp.close()


# ---------------------------------------------------------------- CLI over SSH


class _Interactive(Protocol):
    def run_interactive(self, lines: Sequence[str], timeout: float | None = None) -> str: ...


@dataclass(frozen=True)
class CliCommands:
    """The CLI dialogue (mirrors the inventory's SwitchCliCommands)."""

    enter: tuple[str, ...] = ("configure terminal",)
    interface: str = "interface {port}"
    down: str = "shutdown"
    up: str = "no shutdown"
    leave: tuple[str, ...] = ("end",)

    @classmethod
    def from_inventory(cls, commands: object) -> "CliCommands":
        return cls(
            enter=tuple(getattr(commands, "enter")),
            interface=getattr(commands, "interface"),
            down=getattr(commands, "down"),
            up=getattr(commands, "up"),
            leave=tuple(getattr(commands, "leave")),
        )


class CliSwitchPorts:
    """Ports by the switch's CLI, for switches whose SNMP is read-only."""

    _ERROR = re.compile(r"^\s*(%|error|invalid|unknown command)", re.IGNORECASE | re.MULTILINE)

    def __init__(self, name: str, shell: _Interactive, commands: object = None, timeout: float = 20.0) -> None:
        """`commands`: a CliCommands or the inventory's SwitchCliCommands (default: Cisco-like)."""
        self.name = name
        self.shell = shell
        if commands is None:
            commands = CliCommands()
        elif not isinstance(commands, CliCommands):
            commands = CliCommands.from_inventory(commands)
        self.commands = commands
        self.timeout = timeout

    def describe(self) -> str:
        return f"{self.name} ports over its SSH CLI"

    def script(self, port: str, up: bool) -> list[str]:
        c = self.commands
        return [*c.enter, c.interface.format(port=port), c.up if up else c.down, *c.leave]

    def port_down(self, port: str) -> None:
        self._send(port, up=False)

    def port_up(self, port: str) -> None:
        self._send(port, up=True)

    def port_is_up(self, port: str) -> bool | None:
        return None  # a CLI's show output differs per vendor: unknown

    def _send(self, port: str, up: bool) -> None:
        output = self.shell.run_interactive(self.script(port, up), timeout=self.timeout)
        problem = self._ERROR.search(output)
        if problem:
            line = output[problem.start() :].splitlines()[0].strip()
            raise CommandRefused(self.name, "ssh cli", f"{'no shutdown' if up else 'shutdown'} port {port}", f"the switch said: {line}")


# ---------------------------------------------------------------- node side


class _Runner(Protocol):
    def run(self, cmd: str, timeout: float | None = None, check: bool = True): ...


class NodeSidePorts:
    """A cable pull done on the node: `ip link set dev NIC down|up`.

    `cabling` maps each switch port to (node name, NIC); `shells` maps node
    names to NodeShell-like objects.
    """

    def __init__(self, name: str, cabling: Mapping[str, tuple[str, str]], shells: Mapping[str, _Runner]) -> None:
        self.name = name
        self.shells = shells
        self.cabling = dict(cabling)

    def describe(self) -> str:
        return f"{self.name} ports by 'ip link' on the nodes cabled to them"

    def _end(self, port: str) -> tuple[_Runner, str]:
        try:
            node, nic = self.cabling[port]
        except KeyError:
            raise CommandRefused(self.name, "node side", f"find what port {port} is cabled to", "no node NIC is cabled to it") from None
        return self.shells[node], nic

    def port_down(self, port: str) -> None:
        shell, nic = self._end(port)
        shell.run(f"ip link set dev {nic} down")

    def port_up(self, port: str) -> None:
        shell, nic = self._end(port)
        shell.run(f"ip link set dev {nic} up")

    def port_is_up(self, port: str) -> bool | None:
        shell, nic = self._end(port)
        text = shell.run(f"ip -o link show dev {nic}").stdout
        flags = re.search(r"<([^>]*)>", text)
        if flags is None:
            return None
        return "UP" in flags.group(1).split(",")


# ---------------------------------------------------------------- a person


class Operator:
    """Asks a person on the terminal and waits (bounded) for them to answer."""

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None, timeout: float = 900.0) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.timeout = timeout

    def confirm(self, device: str, instruction: str) -> None:
        if not (hasattr(self.stdin, "isatty") and self.stdin.isatty()):
            raise NoOperator(device, "manual", instruction, "needs a person at a terminal, but stdin is not a terminal (CI?); use an automated method")
        self.stdout.write(f"\n>>> {instruction}\n>>> Press Enter when done, or type 'no' to refuse: ")
        self.stdout.flush()
        ready, _, _ = select.select([self.stdin], [], [], self.timeout)
        if not ready:
            raise WaitTimeout(f"a person to confirm: {instruction}", self.timeout, None)
        answer = self.stdin.readline().strip().lower()
        if answer in ("n", "no", "abort", "q"):
            raise CommandRefused(device, "manual", instruction, f"the operator answered {answer!r}")


class ManualPorts:
    def __init__(self, name: str, operator: Operator | None = None, where: Callable[[str], str] | None = None) -> None:
        self.name = name
        self.operator = operator or Operator()
        self.where = where or (lambda port: "")

    def describe(self) -> str:
        return f"{self.name} ports by hand"

    def _cable(self, port: str) -> str:
        extra = self.where(port)
        return f"switch {self.name} port {port}" + (f" ({extra})" if extra else "")

    def port_down(self, port: str) -> None:
        self.operator.confirm(self.name, f"Pull the cable from {self._cable(port)}.")

    def port_up(self, port: str) -> None:
        self.operator.confirm(self.name, f"Plug the cable back into {self._cable(port)}.")

    def port_is_up(self, port: str) -> bool | None:
        return None


# ---------------------------------------------------------------- power


class PduSwitchPower:
    """The switch's power comes from a PDU outlet; the outlet's name is checked first."""

    def __init__(self, name: str, pdu: ApcPdu, outlet: int, outlet_name: str) -> None:
        self.name = name
        self.pdu = pdu
        self.outlet = outlet
        self.outlet_name = outlet_name

    def describe(self) -> str:
        return f"{self.name} power through {self.pdu.name} outlet {self.outlet} ({self.outlet_name})"

    def check_identity(self) -> None:
        actual = self.pdu.outlet_name(self.outlet)
        if actual != self.outlet_name:
            raise CommandRefused(
                self.pdu.name,
                self.pdu.address,
                f"switch outlet {self.outlet} for {self.name}",
                f"the outlet is named {actual!r}, the inventory says {self.outlet_name!r}: refusing to cut it",
            )

    def power_off(self) -> None:
        self.check_identity()
        self.pdu.outlet_off(self.outlet)

    def power_on(self) -> None:
        self.check_identity()
        self.pdu.outlet_on(self.outlet)

    def is_on(self) -> bool:
        return self.pdu.outlet_status(self.outlet) == "on"


class ManualSwitchPower:
    def __init__(self, name: str, operator: Operator | None = None) -> None:
        self.name = name
        self.operator = operator or Operator()

    def describe(self) -> str:
        return f"{self.name} power by hand"

    def power_off(self) -> None:
        self.operator.confirm(self.name, f"Switch off (unplug) switch {self.name}.")

    def power_on(self) -> None:
        self.operator.confirm(self.name, f"Switch on (plug in) switch {self.name}.")

    def is_on(self) -> bool | None:
        return None


def _cabling(lab: BuildContext, switch: str) -> dict[str, tuple[str, str]]:
    """port -> (node, NIC) of every bond slave the inventory cables to `switch`."""
    return {link.port: (node.name, link.nic) for node in lab.inventory.nodes for bond in node.bonds
            for link in bond.slaves if link.switch == switch}


@SWITCH_PORTS.register("manual")
def build_manual_ports(lab: BuildContext, name: str, spec: Any) -> ManualPorts:
    cabling = _cabling(lab, name)
    return ManualPorts(name, where=lambda port: "/".join(cabling.get(port, ())))


@SWITCH_PORTS.register("node")
def build_node_side_ports(lab: BuildContext, name: str, spec: Any) -> NodeSidePorts:
    cabling = _cabling(lab, name)
    return NodeSidePorts(name, cabling, {node: lab.node(node) for node, _ in cabling.values()})


@SWITCH_PORTS.register("ssh")
def build_cli_ports(lab: BuildContext, name: str, spec: Any) -> CliSwitchPorts:
    ports = spec.ports
    if lab.simulated:
        raise LabConfigError(f"switch {name}: the simulated lab serves switch ports over SNMP only")
    assert ports.ssh is not None  # the inventory model guarantees it
    import os

    from .node import NodeShell

    password = lab.secret(f"switches.{name}.ports.ssh", ports.ssh.password_env, ports.ssh.password_file)
    cli = NodeShell(name, ports.ssh.host, ports.ssh.port, ports.ssh.user, password=password,
                    key_file=os.path.expanduser(ports.ssh.key_file) if ports.ssh.key_file else None,
                    connect_timeout=ports.ssh.connect_timeout, command_timeout=ports.ssh.command_timeout)
    return CliSwitchPorts(name, cli, ports.commands)


@SWITCH_PORTS.register("snmp")
def build_snmp_ports(lab: BuildContext, name: str, spec: Any) -> SnmpSwitchPorts:
    ports = spec.ports
    if lab.from_endpoints:
        ep = lab.endpoint("switches", name)
        host, port = ep["host"], int(ep["port"])
        ro, rw = Secret(ep["community_ro"]), Secret(ep["community_rw"])
    else:
        if not ports.host:
            raise LabConfigError(f"switch {name} has no ports.host in {lab.inventory.source}")
        host, port = ports.host, ports.port
        owner = f"switches.{name}.ports"
        ro = lab.secret(owner, ports.community_env, ports.community_file) or Secret("public")
        rw = lab.secret(owner, ports.write_community_env, ports.write_community_file) or ro
    return SnmpSwitchPorts(name, host, port, ro, rw, version=ports.snmp_version, timeout=ports.timeout)


@SWITCH_POWER.register("manual")
def build_manual_power(lab: BuildContext, name: str, spec: Any) -> ManualSwitchPower:
    return ManualSwitchPower(name)


@SWITCH_POWER.register("pdu")
def build_pdu_power(lab: BuildContext, name: str, spec: Any) -> PduSwitchPower:
    power = spec.power
    assert power.pdu is not None and power.outlet is not None
    return PduSwitchPower(name, lab.pdu(power.pdu), power.outlet, power.name)
