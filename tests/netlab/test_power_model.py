"""A node's power as its BMC reports it (runs anywhere: the node's processes are stand-ins)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from netlab import nodes as netlab_nodes


class SlowToDieInit:
    """unshare's process, which goes on existing until `released` is set (as on a loaded machine)."""

    def __init__(self) -> None:
        self.released = threading.Event()

    def wait(self, timeout: float | None = None) -> int:
        self.released.wait(timeout)
        return -9

    def kill(self) -> None:
        self.released.set()


class UnstartedBoot:
    """Stands in for power_on's boot thread: records that the boot was asked for."""

    made: list[str] = []

    def __init__(self, **kwargs: Any) -> None:
        UnstartedBoot.made.append(kwargs["name"])

    def start(self) -> None:
        pass


def test_a_bmc_asked_right_after_a_power_off_reports_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI once saw `chassis power status` say "on" after every process of the node was gone,
    because "off" was set only once the cleanup had finished."""
    killed: list[int] = []
    monkeypatch.setattr(netlab_nodes.ns, "kill_all", lambda pids, sig=None: killed.extend(pids))
    monkeypatch.setattr(netlab_nodes.ns, "pidns_members", lambda pid: [])
    seen: list[tuple[str, str]] = []
    power: Any = object.__new__(netlab_nodes.NodePower)  # no sysrq FIFO watcher: nothing to watch
    power.node, power.lock, power._generation = "node-b", threading.RLock(), 1
    power.on_change = lambda node, state: seen.append((node, state))
    init = SlowToDieInit()
    power.state, power.init_pid, power.proc = "up", 4242, init

    cutting = threading.Thread(target=power.power_off)
    cutting.start()
    try:
        netlab_nodes.time.sleep(0.2)
        assert killed == [4242]
        assert cutting.is_alive(), "power_off returned before the node's init was gone"
        assert power.state == "off" and seen == [("node-b", "off")]
        starter = threading.Thread(target=power.power_on, kwargs={"delay": 0}, daemon=True)
        monkeypatch.setattr(netlab_nodes.threading, "Thread", UnstartedBoot)
        starter.start()
        starter.join(0.2)
        assert starter.is_alive() and not UnstartedBoot.made, "power-on went ahead while the old node was still dying"
        init.kill()
        starter.join(5)
        assert UnstartedBoot.made == ["boot-node-b"] and power.state == "booting"
    finally:
        init.kill()
        cutting.join(5)
