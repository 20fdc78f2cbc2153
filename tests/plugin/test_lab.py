"""`Lab` builds the right drivers from an inventory (and a simulated lab's endpoints), lazily."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hacert.model.inventory import load_inventory
from hacert.lab.build import Lab, LabConfigError
from hacert.fixtures.plan import probe_lab
from tests.inventory.test_inventories import EXAMPLE_ENV
from tests.plugin.runner import EXAMPLE_INVENTORY, SIM_INVENTORY

ENDPOINTS = {
    "lab": "anvil-sim",
    "pid": 1,
    "event_log": "/tmp/labsim/events.jsonl",
    "nodes": {
        name: {
            "ssh": {"host": "127.0.0.1", "port": 2200 + i, "user": "root", "password": "sim-ssh"},
            "bmc": {"host": "127.0.0.1", "port": 6230 + i, "user": "admin", "password": "sim-bmc"},
        }
        for i, name in enumerate(("an-node01", "an-node02"))
    },
    "pdus": {
        name: {"host": "127.0.0.1", "port": 1610 + i, "community_ro": "sim-ro", "community_rw": "sim-rw", "outlets": {}}
        for i, name in enumerate(("pdu1", "pdu2"))
    },
    "switches": {
        name: {"host": "127.0.0.1", "port": 1620 + i, "community_ro": "sw-ro", "community_rw": "sw-rw"}
        for i, name in enumerate(("sw1", "sw2"))
    },
}


class FakeRunning:
    def __init__(self) -> None:
        self.stopped = 0
        self.endpoints = ENDPOINTS

    def stop(self) -> None:
        self.stopped += 1


def test_simulated_lab_drivers_come_from_the_endpoints() -> None:
    running = FakeRunning()
    lab = Lab(load_inventory(SIM_INVENTORY), ENDPOINTS, running=running)
    assert lab.name == "anvil-sim" and lab.simulated
    assert lab.event_log == Path("/tmp/labsim/events.jsonl")
    shell = lab.node("an-node02")
    assert (shell.host, shell.port, shell.user) == ("127.0.0.1", 2201, "root")
    assert lab.node("an-node02") is shell  # built once
    bmc = lab.bmc("an-node01")
    assert (bmc.host, bmc.port, bmc.user) == ("127.0.0.1", 6230, "admin")
    assert "sim-bmc" not in repr(bmc._password) and "sim-bmc" not in str(bmc._password)
    pdu = lab.pdu("pdu2")
    assert pdu.name == "pdu2"
    assert lab.switch_ports("sw1").name == "sw1"
    power = lab.switch_power("sw2")
    assert (power.pdu is lab.pdu("pdu1"), power.outlet, power.outlet_name) == (True, 2, "sw2")
    assert lab.virsh("an-node01").shell is lab.node("an-node01")
    lab.close()
    assert running.stopped == 1
    lab.close()
    assert running.stopped == 1


def test_a_simulated_lab_needs_its_endpoints() -> None:
    with pytest.raises(LabConfigError, match="needs the endpoints"):
        Lab(load_inventory(SIM_INVENTORY))


def test_real_lab_secrets_come_from_the_environment_and_files(tmp_path: Path) -> None:
    (tmp_path / "ipmi.secret").write_text("from-a-file\n")
    copy = tmp_path / "lab.yaml"
    copy.write_text(EXAMPLE_INVENTORY.read_text().replace("password_env: ANVIL_IPMI_PASSWORD", "password_file: ipmi.secret"))
    env = {k: v for k, v in EXAMPLE_ENV.items() if k != "ANVIL_IPMI_PASSWORD"} | {"ANVIL_NODE_PASSWORD": "node-pw"}
    lab = Lab(load_inventory(copy, environ=env), environ=env)
    assert lab.event_log is None and not lab.simulated
    shell = lab.node("an-node01")
    assert (shell.host, shell.port) == ("10.20.0.1", 22)
    assert shell._password.reveal() == "node-pw" and str(shell._password) == "***"
    bmc = lab.bmc("an-node02")
    assert (bmc.host, bmc._password.reveal()) == ("an-node02.ipmi", "from-a-file")
    # a variable that vanished after loading is a clear error, not a None password
    with pytest.raises(LabConfigError, match="ANVIL_NODE_PASSWORD is not set"):
        Lab(load_inventory(copy, environ=env), environ={}).node("an-node01")


def test_unknown_devices_are_key_errors() -> None:
    lab = Lab(load_inventory(SIM_INVENTORY), ENDPOINTS)
    with pytest.raises(KeyError, match="an-node09"):
        lab.node("an-node09")


class _Answers:
    """A stand-in driver: every method returns what `value` says, or raises it."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if isinstance(self.value, Exception):
                raise self.value
            return self.value(name, *args) if callable(self.value) else self.value

        return call


class FakeLab:
    def __init__(self, outlet_names: dict[int, str], bmc: Any = "on") -> None:
        self.inventory = load_inventory(SIM_INVENTORY)
        self._outlets = outlet_names
        self._bmc = bmc

    def node(self, name: str) -> Any:
        return _Answers(lambda method, *a: type("R", (), {"exit_code": 0})())

    def bmc(self, name: str) -> Any:
        return _Answers(self._bmc)

    def pdu(self, name: str) -> Any:
        return _Answers(lambda method, n: self._outlets[n])

    def switch_ports(self, name: str) -> Any:
        return _Answers(True)

    def switch_power(self, name: str) -> Any:
        return _Answers(True)

    @property
    def cluster(self) -> Any:
        status = type("S", (), {"quorate": True, "members": {}})()
        return _Answers(status)


def test_probe_reports_every_device_and_catches_a_wrong_outlet() -> None:
    results = probe_lab(FakeLab({1: "an-node01", 2: "an-node02"}))
    assert all(r.ok for r in results), results
    devices = {r.device for r in results}
    assert {"SSH an-node01", "BMC an-node02", "PDU pdu2 outlet 2", "switch sw1", "cluster an-cluster-A"} <= devices

    results = probe_lab(FakeLab({1: "an-node01", 2: "an-node01"}, bmc=TimeoutError("no answer from 127.0.0.1:6231")))
    failed = {(r.device, r.detail) for r in results if r.ok is False}
    assert ("PDU pdu2 outlet 2", "ValueError: outlet 2 is named 'an-node01', the inventory expects 'an-node02'") in failed
    assert ("BMC an-node01", "TimeoutError: no answer from 127.0.0.1:6231") in failed
