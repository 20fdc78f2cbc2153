"""The parts of the simulated lab's world: nodes, their NICs, switches, their ports."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

from hacert.labsim.devices.bonding import BondModel
from hacert.labsim.devices.scheduler import _Timer

NODE_STATES = ("off", "booting", "up", "hung")
SWITCH_PORTS_MIN = 24


def _mac(*parts: str) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return "00:1b:21:" + ":".join(f"{b:02x}" for b in digest[:3])


@dataclass
class Nic:
    name: str
    admin_up: bool = True
    carrier: bool = False
    mac: str = ""
    cable: tuple[str, int] | None = None  # (switch, ifindex)


@dataclass
class NodeModel:
    name: str
    state: str = "off"
    chassis_on: bool = True
    nics: dict[str, Nic] = field(default_factory=dict)
    bonds: dict[str, BondModel] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    boot_timer: _Timer | None = None
    up_since: float = 0.0


@dataclass
class Port:
    ifindex: int
    name: str
    admin_up: bool = True
    oper_up: bool = False
    cable: tuple[str, str] | None = None  # (node, nic)


@dataclass
class SwitchModel:
    name: str
    state: str = "off"  # off | booting | up | blocking
    link: bool = False  # signalling link on its ports (flaps while booting)
    ports: dict[int, Port] = field(default_factory=dict)
    timers: list[_Timer] = field(default_factory=list)
    boots: int = 0


@dataclass
class Registered:
    owner: Callable[[], str | None]
    network: str | None
