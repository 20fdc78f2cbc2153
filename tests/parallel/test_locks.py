"""hacert.lab.locks: one actor per device across processes, re-entrant within a thread."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from hacert.model.inventory import load_inventory
from hacert.lab.locks import (
    DeviceBusy, LockedDriver, device_key, device_lock, device_locks, holder_of, lab_device_key, lock_dir,
    set_lock_dir,
)

ROOT = Path(__file__).resolve().parents[2]

HOLDER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from hacert.lab.locks import device_lock
    with device_lock({key!r}, "reboot outlet 1", folder={folder!r}):
        print("held", flush=True)
        time.sleep({hold})
""")


def _hold_in_subprocess(key: str, folder: Path, hold: float) -> subprocess.Popen[str]:
    code = HOLDER.format(root=str(ROOT), key=key, folder=str(folder), hold=hold)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_key_is_the_device_identity() -> None:
    assert device_key("pdu", "LocalHost", 161) == "pdu:127.0.0.1:161"
    assert device_key("pdu", "10.0.0.5.", "161") == device_key("pdu", "10.0.0.5", 161)
    assert device_key("bmc", "10.0.0.5", 623) != device_key("pdu", "10.0.0.5", 623)


def test_another_process_waits_until_the_holder_lets_go(tmp_path: Path) -> None:
    key = device_key("pdu", "10.0.0.5", 161)
    proc = _hold_in_subprocess(key, tmp_path, hold=1.0)
    try:
        holder = holder_of(key, tmp_path)
        assert holder is not None and holder.pid == proc.pid and holder.what == "reboot outlet 1"
        started = time.monotonic()
        with device_lock(key, "check outlet 1", folder=tmp_path):
            waited = time.monotonic() - started
        assert waited >= 0.5, f"got the lock after {waited:.2f} s while another process held it"
    finally:
        proc.wait(10)


def test_a_device_held_too_long_is_a_lab_error_naming_the_holder(tmp_path: Path) -> None:
    key = device_key("switch", "10.0.0.9", 161)
    proc = _hold_in_subprocess(key, tmp_path, hold=3.0)
    try:
        with pytest.raises(DeviceBusy, match=rf"pid {proc.pid} .*reboot outlet 1"):
            with device_lock(key, "port down", timeout=0.3, folder=tmp_path):
                pass
    finally:
        proc.wait(10)


def test_other_devices_are_not_blocked(tmp_path: Path) -> None:
    proc = _hold_in_subprocess(device_key("pdu", "10.0.0.5", 161), tmp_path, hold=3.0)
    try:
        started = time.monotonic()
        with device_lock(device_key("pdu", "10.0.0.6", 161), "outlet on", folder=tmp_path, timeout=1.0):
            pass
        assert time.monotonic() - started < 0.5
    finally:
        proc.kill()
        proc.wait(10)


def test_reentrant_in_one_thread_exclusive_between_threads(tmp_path: Path) -> None:
    key = device_key("pdu", "10.0.0.7", 161)
    inside = threading.Event()
    other_got_it: list[float] = []
    with device_lock(key, "switch power off", folder=tmp_path):
        with device_lock(key, "outlet off (nested)", folder=tmp_path, timeout=0.5):
            inside.set()

        def other() -> None:
            t = time.monotonic()
            with device_lock(key, "other thread", folder=tmp_path, timeout=5):
                other_got_it.append(time.monotonic() - t)

        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.4)
        assert not other_got_it, "a second thread entered a device lock that was held"
    thread.join(5)
    assert inside.is_set() and other_got_it and other_got_it[0] >= 0.3


def test_several_devices_locked_in_one_order(tmp_path: Path) -> None:
    keys = [device_key("pdu", "10.0.0.5", 161), device_key("bmc", "10.0.0.1", 623)]
    with device_locks(keys, "cold stop", folder=tmp_path):
        assert sorted(p.name for p in tmp_path.glob("*.lock")) == ["bmc_10.0.0.1_623.lock", "pdu_10.0.0.5_161.lock"]


def test_locked_driver_locks_only_acting_methods(tmp_path: Path) -> None:
    set_lock_dir(tmp_path)
    try:
        seen: list[str] = []

        class Pdu:
            def outlet_off(self, n: int) -> None:
                holder = holder_of("pdu:127.0.0.1:1161", tmp_path)
                seen.append(holder.what if holder else "unlocked")

            def outlet_status(self, n: int) -> str:
                return "on"

        pdu = LockedDriver(Pdu(), "pdu:127.0.0.1:1161", ("outlet_off",))
        pdu.outlet_off(3)
        assert seen == ["outlet_off(3)"]
        assert pdu.outlet_status(3) == "on" and pdu.device_key == "pdu:127.0.0.1:1161"
        assert lock_dir() == tmp_path.resolve()
    finally:
        set_lock_dir(None)


def test_lab_keys_come_from_the_endpoints_of_a_simulated_lab() -> None:
    inv = load_inventory(ROOT / "tests/parallel/inventories/anvil-par-a.yaml")
    endpoints = {
        "nodes": {"an-node01": {"ssh": {"host": "127.0.0.1", "port": 40001}, "bmc": {"host": "127.0.0.1", "port": 40101}}},
        "pdus": {"pdu1": {"host": "127.0.0.1", "port": 40200}},
        "switches": {"sw1": {"host": "127.0.0.1", "port": 40300}},
    }
    lab = SimpleNamespace(inventory=inv, endpoints=endpoints, simulated=True)
    assert lab_device_key(lab, "node", "an-node01") == "ssh:127.0.0.1:40001"
    assert lab_device_key(lab, "bmc", "an-node01") == "bmc:127.0.0.1:40101"
    assert lab_device_key(lab, "switch", "sw1") == "switch:127.0.0.1:40300"
    # sw1's power is outlet 1 of pdu1: acting on it is acting on the PDU
    assert lab_device_key(lab, "switch_power", "sw1") == "pdu:127.0.0.1:40200"
    with pytest.raises(ValueError):
        lab_device_key(lab, "toaster", "sw1")


def test_real_drivers_act_under_the_lock_of_their_device(tmp_path: Path) -> None:
    """A switch powered through a PDU outlet: power_off locks the PDU (the switch's power IS the PDU),
    the PDU's outlet_off inside it re-enters the same lock; another process meanwhile waits."""
    from hacert.drivers.switch import PduSwitchPower
    from hacert.lab.build import Lab
    from hacert.lab.locks import ACTING_METHODS
    from hacert.labsim.runner import start_lab

    inventory = ROOT / "tests/parallel/inventories/anvil-par-a.yaml"
    running = start_lab(inventory, tmp_path / "lab", cluster=False)
    set_lock_dir(tmp_path / "locks")
    try:
        lab = Lab(load_inventory(inventory), running.endpoints)
        key = lab_device_key(lab, "switch_power", "sw1")
        assert key == f"pdu:127.0.0.1:{running.endpoints['pdus']['pdu1']['port']}"
        pdu = LockedDriver(lab.pdu("pdu1"), lab_device_key(lab, "pdu", "pdu1"), ACTING_METHODS["pdu"])
        power = LockedDriver(PduSwitchPower("sw1", pdu, 1, "sw1"), key, ACTING_METHODS["switch_power"])
        seen: list[str] = []
        original = lab.pdu("pdu1").outlet_off

        def spying_outlet_off(n: int) -> None:
            holder = holder_of(key, tmp_path / "locks")
            seen.append(holder.what if holder else "unlocked")
            original(n)

        lab.pdu("pdu1").outlet_off = spying_outlet_off
        power.power_off()
        assert seen == ["power_off()"], seen  # the outermost holder is the switch power-off
        assert power.is_on() is False
        proc = _hold_in_subprocess(key, tmp_path / "locks", hold=1.0)
        try:
            started = time.monotonic()
            power.power_on()
            assert time.monotonic() - started >= 0.5, "powered the switch on while another process held its PDU"
        finally:
            proc.wait(10)
        assert power.is_on() is True
        lab.close()
    finally:
        set_lock_dir(None)
        running.stop()
