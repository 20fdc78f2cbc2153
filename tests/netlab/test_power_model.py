"""A node's power as its BMC and PDU see it (runs anywhere: the node's processes are stand-ins)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from hacert.netlab import nodes as netlab_nodes


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


@pytest.fixture
def running_node(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, SlowToDieInit, list[tuple[str, str]]]]:
    """node-b up, its init slow to die; (power, init, the states on_change was told)."""
    monkeypatch.setattr(netlab_nodes.ns, "kill_all", lambda pids, sig=None: None)
    monkeypatch.setattr(netlab_nodes.ns, "pidns_members", lambda pid: [])
    UnstartedBoot.made = []
    seen: list[tuple[str, str]] = []
    power: Any = object.__new__(netlab_nodes.NodePower)  # no sysrq FIFO watcher: nothing to watch
    power.node, power.lock, power._generation, power.last_error = "node-b", threading.RLock(), 1, ""
    power.on_change = lambda node, state: seen.append((node, state))
    power.plan = SimpleNamespace(settings=SimpleNamespace(boot_delay=0.0))
    init = SlowToDieInit()
    power.state, power.init_pid, power.proc = "up", 4242, init
    power._start_worker()
    yield power, init, seen
    init.kill()
    power._requests.put(None)


def wait_for(what: str, check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not seen within {timeout} s: {what}"
        time.sleep(0.01)


def test_a_bmc_asked_right_after_a_power_off_reports_off(running_node: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """CI once saw `chassis power status` say "on" after every process of the node was gone,
    because "off" was set only once the teardown had finished."""
    power, init, seen = running_node
    cutting = threading.Thread(target=power.power_off)
    cutting.start()
    try:
        wait_for("the chassis off", lambda: power.state == "off")
        assert cutting.is_alive(), "power_off returned before the node's init was gone"
        assert seen == [("node-b", "off")]
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


def test_power_requests_return_at_once_and_run_in_their_order(running_node: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The BMC's serving thread asks "off" then "on" while the node is slow to die: neither call may
    wait for the teardown (every BMC of the lab would be silent meanwhile), and the node must
    end up booting, not off."""
    power, init, seen = running_node
    monkeypatch.setattr(netlab_nodes.threading, "Thread", UnstartedBoot)
    asked = time.monotonic()
    power.request("off")
    wait_for("the chassis off", lambda: power.state == "off")
    power.request("on")
    assert time.monotonic() - asked < 1.0
    time.sleep(0.2)
    assert not UnstartedBoot.made, "booted before the last power-off's teardown ended"
    init.kill()
    wait_for("the boot asked for", lambda: UnstartedBoot.made == ["boot-node-b"])
    assert seen == [("node-b", "off"), ("node-b", "booting")] and power.state == "booting"
    with pytest.raises(ValueError):
        power.request("explode")
