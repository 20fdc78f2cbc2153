"""hacert.drivers.switch: SNMP ports against a test agent, the CLI over our SSH server,
node-side and manual variants, and PDU-fed switch power."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from hacert.drivers.errors import CommandRefused, WaitTimeout
from hacert.drivers.node import NodeShell
from hacert.drivers.switch import (
    CliCommands,
    CliSwitchPorts,
    ManualPorts,
    ManualSwitchPower,
    NodeSidePorts,
    NoOperator,
    Operator,
    PduSwitchPower,
    SnmpSwitchPorts,
    SwitchPortControl,
    SwitchPowerControl,
    ports_are_up,
)

from tests.drivers.conftest import free_port, python_module
from tests.drivers.sshd import PASSWORD, USER, FakeSshd


@pytest.fixture
def switch_agent(device_process, tmp_path: Path):
    port = free_port()
    log = tmp_path / "sets.log"
    device_process(python_module("tests.drivers.snmp_agent", str(port), "switch", "--log", str(log)))
    return port, log


def test_snmp_port_down_and_up_by_ifname(switch_agent) -> None:
    port, log = switch_agent
    ports = SnmpSwitchPorts("sw-a", "127.0.0.1", port, "public", "private", version="2c", timeout=1)
    assert isinstance(ports, SwitchPortControl)
    assert ports.ifindex("Gi0/3") == 10103
    assert ports.ifindex("GigabitEthernet0/4") == 10104  # ifDescr works too
    assert ports.port_is_up("Gi0/3") and ports.oper_is_up("Gi0/3")
    ports.port_down("Gi0/3")
    assert ports.port_is_up("Gi0/3") is False
    assert ports.oper_is_up("Gi0/3") is False
    assert ports.port_is_up("Gi0/2") is True  # only the port asked for
    ports.port_up("Gi0/3")
    assert ports.port_is_up("Gi0/3") is True
    ports.close()
    assert log.read_text().split("\n")[:2] == ["1.3.6.1.2.1.2.2.1.7.10103 2", "1.3.6.1.2.1.2.2.1.7.10103 1"]


def test_snmp_ports_are_up_asks_every_port_in_one_get(switch_agent) -> None:
    port, _ = switch_agent
    ports = SnmpSwitchPorts("sw-a", "127.0.0.1", port, "public", "private", version="2c", timeout=1)
    wanted = ["Gi0/1", "Gi0/2", "Gi0/3", "Gi0/4"]
    ports.interfaces()  # the ifName walk, once per driver
    ports.port_down("Gi0/2")
    asked: list[int] = []
    real_get = ports.snmp.get
    ports.snmp.get = lambda *oids: asked.append(len(oids)) or real_get(*oids)  # type: ignore[method-assign]
    together = ports_are_up(ports, wanted)
    ports.snmp.get = real_get  # type: ignore[method-assign]
    assert together == {p: ports.port_is_up(p) for p in wanted} == {"Gi0/1": True, "Gi0/2": False, "Gi0/3": True, "Gi0/4": True}
    assert asked == [4]
    ports.port_up("Gi0/2")
    # a control that cannot batch is asked port by port, with the same answers
    assert ports_are_up(ManualPorts("sw-d"), ["1", "2"]) == {"1": None, "2": None}
    ports.close()


def test_snmp_unknown_port_and_read_only_community(switch_agent) -> None:
    port, log = switch_agent
    ports = SnmpSwitchPorts("sw-a", "127.0.0.1", port, "public", "private", version="1", timeout=1)
    with pytest.raises(CommandRefused) as caught:
        ports.port_down("Gi9/9")
    assert "Gi0/1" in str(caught.value)  # says what exists
    read_only = SnmpSwitchPorts("sw-a", "127.0.0.1", port, "public", "public", timeout=1)
    with pytest.raises(CommandRefused):
        read_only.port_down("Gi0/1")
    assert read_only.port_is_up("Gi0/1")
    assert not log.exists() or log.read_text() == ""


class RecordingShell:
    """A NodeShell stand-in that records what it is asked to run."""

    def __init__(self, name: str = "node-a", outputs: dict[str, str] | None = None) -> None:
        self.name = name
        self.commands: list[str] = []
        self.typed: list[list[str]] = []
        self.outputs = outputs or {}

    def run(self, cmd: str, timeout: float | None = None, check: bool = True):
        self.commands.append(cmd)

        class Result:
            stdout = self.outputs.get(cmd, "")
            stderr = ""
            exit_code = 0

        return Result()

    def run_interactive(self, lines, timeout=None) -> str:
        self.typed.append(list(lines))
        return self.outputs.get("interactive", "")


def test_cli_default_commands_are_cisco_like() -> None:
    shell = RecordingShell("sw-cli")
    ports = CliSwitchPorts("sw-b", shell)
    ports.port_down("Gi0/7")
    ports.port_up("Gi0/7")
    assert shell.typed == [
        ["configure terminal", "interface Gi0/7", "shutdown", "end"],
        ["configure terminal", "interface Gi0/7", "no shutdown", "end"],
    ]
    assert ports.port_is_up("Gi0/7") is None


def test_cli_error_from_the_switch_is_refused() -> None:
    shell = RecordingShell("sw-cli", {"interactive": "sw-b(config)#interface Gi9/9\n% Invalid input detected at '^' marker.\n"})
    with pytest.raises(CommandRefused) as caught:
        CliSwitchPorts("sw-b", shell).port_down("Gi9/9")
    assert "Invalid input" in str(caught.value)


def test_cli_commands_from_the_inventory_over_real_ssh(tmp_path: Path) -> None:
    from hacert.model.inventory import SwitchCliCommands

    commands = SwitchCliCommands(
        enter=["echo enter >> cli.log"],
        interface="echo 'port {port}' >> cli.log",
        down="echo down >> cli.log",
        up="echo up >> cli.log",
        leave=["echo leave >> cli.log"],
    )
    server = FakeSshd(tmp_path)
    try:
        shell = NodeShell("sw-cli", "127.0.0.1", server.port, USER, password=PASSWORD, connect_timeout=2)
        ports = CliSwitchPorts("sw-b", shell, commands, timeout=5)
        ports.port_down("ge-0/0/5")
        ports.port_up("ge-0/0/5")
        shell.close()
    finally:
        server.close()
    assert (tmp_path / "cli.log").read_text().split("\n") == [
        "enter", "port ge-0/0/5", "down", "leave", "enter", "port ge-0/0/5", "up", "leave", ""
    ]


def test_node_side_ports_use_ip_link_on_the_cabled_node() -> None:
    a, b = RecordingShell("node-a", {"ip -o link show dev eth3": "4: eth3: <BROADCAST,MULTICAST,SLAVE> mtu 1500 state DOWN\n"}), RecordingShell("node-b")
    ports = NodeSidePorts("sw-c", {"1": ("node-a", "eth3"), "2": ("node-b", "eth0")}, {"node-a": a, "node-b": b})
    ports.port_down("1")
    ports.port_up("2")
    assert a.commands == ["ip link set dev eth3 down"]
    assert b.commands == ["ip link set dev eth0 up"]
    assert ports.port_is_up("1") is False
    with pytest.raises(CommandRefused):
        ports.port_down("9")


def test_manual_refused_without_a_terminal() -> None:
    ports = ManualPorts("sw-d", Operator(stdin=io.StringIO("\n"), stdout=io.StringIO()))
    with pytest.raises(NoOperator) as caught:
        ports.port_down("3")
    assert "not a terminal" in str(caught.value)
    with pytest.raises(NoOperator):
        ManualSwitchPower("sw-d", Operator(stdin=io.StringIO(""), stdout=io.StringIO())).power_off()


def _tty_operator(answer: bytes, timeout: float = 5.0) -> tuple[Operator, io.StringIO]:
    leader, follower = os.openpty()
    os.write(leader, answer)
    shown = io.StringIO()
    return Operator(stdin=os.fdopen(follower, "r"), stdout=shown, timeout=timeout), shown


def test_manual_asks_a_person_on_a_terminal_and_waits() -> None:
    operator, shown = _tty_operator(b"\n")
    ManualPorts("sw-d", operator).port_down("3")
    assert "Pull the cable from switch sw-d port 3" in shown.getvalue()
    operator, _ = _tty_operator(b"no\n")
    with pytest.raises(CommandRefused):
        ManualPorts("sw-d", operator).port_up("3")
    operator, _ = _tty_operator(b"", timeout=0.3)
    started = time.monotonic()
    with pytest.raises(WaitTimeout):
        ManualSwitchPower("sw-d", operator).power_on()
    assert time.monotonic() - started < 1.5


class FakePdu:
    name, address = "pdu-f", "127.0.0.1:161"

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names
        self.states = {n: "on" for n in names}
        self.calls: list[tuple[str, int]] = []

    def outlet_name(self, n: int) -> str:
        return self.names[n]

    def outlet_status(self, n: int) -> str:
        return self.states[n]

    def outlet_off(self, n: int) -> None:
        self.calls.append(("off", n))
        self.states[n] = "off"

    def outlet_on(self, n: int) -> None:
        self.calls.append(("on", n))
        self.states[n] = "on"


def test_pdu_switch_power_checks_the_outlet_name_first() -> None:
    pdu = FakePdu({1: "sw1", 2: "sw2"})
    power = PduSwitchPower("sw1", pdu, 1, "sw1")  # type: ignore[arg-type]
    assert isinstance(power, SwitchPowerControl)
    power.power_off()
    assert power.is_on() is False
    power.power_on()
    assert power.is_on() is True
    wrong = PduSwitchPower("sw1", pdu, 2, "sw1")  # type: ignore[arg-type]
    with pytest.raises(CommandRefused) as caught:
        wrong.power_off()
    assert "'sw2'" in str(caught.value)
    assert pdu.calls == [("off", 1), ("on", 1)]


def test_cli_commands_dataclass_mirrors_the_inventory() -> None:
    from hacert.model.inventory import SwitchCliCommands

    assert CliCommands.from_inventory(SwitchCliCommands()) == CliCommands()
