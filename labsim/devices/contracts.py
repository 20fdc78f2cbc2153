"""What each emulator asks of the lab it runs in: one Protocol per kind of device.

labsim's `World` implements every one on its simulated nodes. netlab implements them on its
namespaces: `hacert.netlab.oob.Power` is the `BmcHost` and `PduHost`, `hacert.netlab.switches.Switches`
the `SwitchHost`, and each node's bond daemon (`hacert.netlab.bondd.Kernel`) the `BondHost`.
The power model (`hacert.labsim.devices.power.PowerModel`) tells a `PowerListener` what its
outlets did; World and netlab's Power are both one.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

from hacert.labsim.devices.scheduler import Scheduler


class FaultSwitch(Protocol):
    """Device faults switched on for the harness's own tests (labsim's DeviceFaults; netlab has none)."""

    def active(self, name: str, target: str | None = None) -> bool: ...


class NoFaults:
    """A lab whose devices never misbehave on purpose."""

    def active(self, name: str, target: str | None = None) -> bool:
        return False


@runtime_checkable
class DeviceHost(Protocol):
    """What every device agent needs: the lock its reads and writes hold, when the devices
    started (sysUpTime) and the faults it must play."""

    lock: threading.RLock
    started: float
    device_faults: FaultSwitch


@runtime_checkable
class BmcHost(DeviceHost, Protocol):
    """What a node's IPMI BMC asks (hacert.labsim.devices.bmc)."""

    def bmc_answers(self, node: str) -> bool: ...

    def chassis_on(self, node: str) -> bool: ...

    def chassis_control(self, node: str, action: str) -> None:
        """"on", "off", "cycle" or "reset"; RuntimeError when the BMC itself has no power."""
        ...


class EventSource(Protocol):
    def subscribe(self, callback: Callable[[dict[str, Any]], None]) -> None: ...


class ObservedBmcHost(BmcHost, EventSource, Protocol):
    """A BmcHost that also says when a BMC went dark (its sessions are then forgotten at once)."""


@runtime_checkable
class PduHost(DeviceHost, Protocol):
    """What an APC PDU's SNMP agent asks (hacert.labsim.devices.snmp.pdu_device)."""

    def outlets(self, pdu: str) -> list[int]: ...

    def outlet_on(self, pdu: str, n: int) -> bool: ...

    def outlet_name(self, pdu: str, n: int) -> str: ...

    def outlet_load(self, pdu: str, n: int) -> float: ...

    def set_outlet(self, pdu: str, n: int, action: str) -> None:
        """"on", "off" or "reboot"; KeyError for an outlet the PDU does not have."""
        ...


class PortView(Protocol):
    """One switch port as the IF-MIB agent reads it."""

    @property
    def name(self) -> str: ...

    @property
    def admin_up(self) -> bool: ...

    @property
    def oper_up(self) -> bool: ...

    @property
    def cable(self) -> tuple[str, str] | None: ...


@runtime_checkable
class SwitchHost(DeviceHost, Protocol):
    """What a switch's IF-MIB agent asks (hacert.labsim.devices.snmp.switch_device)."""

    def switch_state(self, sw: str) -> str: ...

    def ports(self, sw: str) -> Mapping[int, PortView]: ...

    def set_port_admin(self, sw: str, ifindex: int, up: bool) -> None: ...


@runtime_checkable
class BondHost(Protocol):
    """What the bonding driver's model asks of the node's kernel (hacert.labsim.devices.bonding)."""

    scheduler: Scheduler

    def carrier(self, node: str, nic: str) -> bool: ...

    def kernel_log(self, node: str, message: str) -> None: ...

    def emit(self, kind: str, **fields: Any) -> Any:
        """Emitted: "bond_active" {node, bond, slave, previous}, a new active slave (None: none), and
        "bond_slave" {node, bond, nic, up}, a slave's MII status definitely up (after its updelay) or down."""
        ...


@runtime_checkable
class PowerListener(Protocol):
    """Told by the power model (under its lock) what its outlets did to the devices they feed."""

    def outlet_switched(self, pdu: str, outlet: int, on: bool) -> None: ...

    def node_power(self, node: str, powered: bool) -> None:
        """The node lost its last powered feed (False) or got power back (True)."""
        ...

    def switch_power(self, switch: str, powered: bool) -> None:
        """The switch's one feed went off (False) or on (True)."""
        ...

    def bmc_changed(self, node: str, answers: bool) -> None:
        """The node's BMC went dark (False) or answers again (True)."""
        ...
