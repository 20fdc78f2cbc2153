"""The emulators' contracts (hacert.labsim.devices.contracts): labsim's World and netlab's
out-of-band side implement the same Protocols, and both labs' power is the one PowerModel.
No lab is started: the hosts are built in-process, netlab's nodes are stand-ins."""

from __future__ import annotations

import importlib.util
import inspect
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from hacert.labsim.devices import contracts
from hacert.labsim.devices.power import PowerModel
from hacert.labsim.devices.scheduler import Scheduler
from hacert.labsim.world import World
from hacert.model.inventory import load_inventory
from hacert.netlab import oob
from hacert.netlab.config import Plan
from hacert.netlab.switches import Switches

REPO = Path(__file__).resolve().parents[2]
ANVIL = REPO / "inventories" / "anvil-sim.yaml"
NETLAB = REPO / "inventories" / "netlab.yaml"


class StandInNode:
    """A netlab NodePower that records what the power model asked of it."""

    def __init__(self) -> None:
        self.state = "up"
        self.asked: list[str] = []

    def request(self, action: str) -> None:
        self.asked.append(action)
        self.state = "off" if action == "off" else "booting"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(load_inventory(ANVIL), tmp_path, cluster=False)
    yield w
    w.stop()


@pytest.fixture
def netlab_power(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[oob.Power, dict[str, StandInNode]]]:
    inv = load_inventory(NETLAB)
    monkeypatch.setattr(oob.Power, "OUTLET_REBOOT_OFF", 0.05)
    nodes = {n.name: StandInNode() for n in inv.nodes}
    power = oob.Power(inv, nodes)  # type: ignore[arg-type]  (stand-ins for NodePower)
    yield power, nodes
    power.scheduler.stop()


def _bondd() -> Any:
    spec = importlib.util.spec_from_file_location("netlab_bondd", REPO / "netlab" / "bondd.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_world_is_the_host_of_every_emulator(world: World) -> None:
    for protocol in (contracts.BmcHost, contracts.PduHost, contracts.SwitchHost, contracts.BondHost,
                     contracts.PowerListener):
        assert isinstance(world, protocol), protocol.__name__
    assert isinstance(world.power, PowerModel)


def test_netlab_hosts_implement_the_same_contracts(netlab_power: Any, tmp_path: Path) -> None:
    power, _ = netlab_power
    for protocol in (contracts.BmcHost, contracts.PduHost, contracts.PowerListener):
        assert isinstance(power, protocol), protocol.__name__
    assert isinstance(power.model, PowerModel)
    assert isinstance(Switches(Plan.of(load_inventory(NETLAB))), contracts.SwitchHost)
    assert isinstance(_bondd().Kernel("an-node01", tmp_path), contracts.BondHost)
    # a host that lacks a method is not taken for one
    assert not isinstance(SimpleNamespace(lock=threading.RLock(), started=0.0, device_faults=contracts.NoFaults()),
                          contracts.PduHost)


def test_the_power_model_is_written_once() -> None:
    """Outlets live in PowerModel only: neither host keeps an outlet table of its own."""
    hosts = [*sorted((REPO / "labsim" / "world").glob("*.py")), Path(inspect.getfile(oob))]
    assert len(hosts) > 2
    for path in hosts:
        source = path.read_text()
        assert "_outlets" not in source and "NODE_LOAD_AMPS" not in source, path


def test_a_netlab_power_cut_darkens_the_bmc_and_switches_the_node_off(netlab_power: Any) -> None:
    power, nodes = netlab_power
    node = power.inventory.nodes[0]
    feed = node.power[0]
    assert power.bmc_answers(node.name) and power.outlet_load(feed.pdu, feed.outlet) == 1.6
    power.set_outlet(feed.pdu, feed.outlet, "off")
    assert not power.bmc_answers(node.name) and nodes[node.name].asked == ["off"]
    assert power.outlet_load(feed.pdu, feed.outlet) == 0.0 and not power.outlet_on(feed.pdu, feed.outlet)
    with pytest.raises(RuntimeError):
        power.chassis_control(node.name, "on")  # a BMC without power cannot act
    power.set_outlet(feed.pdu, feed.outlet, "on")
    assert power.bmc_answers(node.name) and nodes[node.name].asked == ["off", "on"]  # restore on AC power
    others = [n.name for n in power.inventory.nodes[1:]]
    assert all(nodes[n].asked == [] for n in others), "another node's power moved"
    power.set_outlet(feed.pdu, feed.outlet, "reboot")
    deadline = time.monotonic() + 5
    while nodes[node.name].asked != ["off", "on", "off", "on"]:
        assert time.monotonic() < deadline, f"the outlet reboot did not end: {nodes[node.name].asked}"
        time.sleep(0.01)
    with pytest.raises(KeyError):
        power.set_outlet(feed.pdu, 99, "off")


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def outlet_switched(self, pdu: str, outlet: int, on: bool) -> None:
        self.calls.append(("outlet", pdu, outlet, on))

    def node_power(self, node: str, powered: bool) -> None:
        self.calls.append(("node", node, powered))

    def switch_power(self, switch: str, powered: bool) -> None:
        self.calls.append(("switch", switch, powered))

    def bmc_changed(self, node: str, answers: bool) -> None:
        self.calls.append(("bmc", node, answers))


def test_a_node_with_two_feeds_loses_power_with_its_last_one() -> None:
    pdu = "pdu1"
    node = SimpleNamespace(name="node-a", power=[SimpleNamespace(pdu=pdu, outlet=7, name="a"),
                                                 SimpleNamespace(pdu=pdu, outlet=8, name="b")])
    inv: Any = SimpleNamespace(pdus=[SimpleNamespace(name=pdu, outlets=8)], nodes=[node], switches=[], simulation=None)
    lock = threading.RLock()
    scheduler = Scheduler(lock)
    scheduler.start()
    listener = Recorder()
    model = PowerModel(inv, listener, scheduler, lock, outlet_reboot=0.05, bmc_boot=0.05,
                       node_running=lambda n: True, switch_running=lambda s: True)
    try:
        model.set_outlet(pdu, 7, "off")
        assert listener.calls == [("outlet", pdu, 7, False)] and model.bmc_answers(node.name)
        assert model.outlet_load(pdu, 8) == 1.6  # the whole draw on the feed left
        model.set_outlet(pdu, 8, "off")
        assert listener.calls[1:] == [("outlet", pdu, 8, False), ("bmc", node.name, False), ("node", node.name, False)]
        model.set_outlet(pdu, 8, "on")
        assert listener.calls[-1] == ("node", node.name, True) and not model.bmc_answers(node.name)  # the BMC boots
        deadline = time.monotonic() + 5
        while not model.bmc_answers(node.name):
            assert time.monotonic() < deadline, "the BMC never answered again"
            time.sleep(0.01)
        assert listener.calls[-1] == ("bmc", node.name, True)
    finally:
        scheduler.stop()


class RecordingScheduler:
    def __init__(self) -> None:
        self.timers: list[tuple[float, str]] = []

    def after(self, delay: float, action: Any, name: str = "") -> Any:
        self.timers.append((round(delay, 3), name))
        return SimpleNamespace(action=action)


def test_both_labs_switches_boot_the_same_way() -> None:
    """One boot sequence (hacert.labsim.devices.switch_boot) for labsim's and netlab's switches."""
    from hacert.labsim.devices.switch_boot import schedule_boot

    seen: list[tuple[bool, bool]] = []
    scheduler = RecordingScheduler()
    timers = schedule_boot(scheduler, "sw1", interval=0.2, bounces=2, boot=1.5,  # type: ignore[arg-type]
                           link=lambda up, bounce: seen.append((up, bounce)), ready=lambda: seen.append((True, True)))
    assert scheduler.timers == [(0.2, "sw1 link"), (0.4, "sw1 bounce"), (0.6, "sw1 link"), (0.8, "sw1 bounce"),
                                (1.0, "sw1 link"), (1.5, "sw1 ready")]
    for timer in timers:
        timer.action()
    assert seen == [(True, False), (False, True), (True, False), (False, True), (True, False), (True, True)]
    late = RecordingScheduler()
    schedule_boot(late, "sw2", interval=1.0, bounces=1, boot=0.5, link=lambda up, bounce: None,  # type: ignore[arg-type]
                  ready=lambda: None)
    assert late.timers[-1] == (3.0, "sw2 ready"), "ready before its last bounce"
    for source in (REPO / "labsim" / "world" / "network.py", REPO / "netlab" / "switches.py"):
        assert "schedule_boot(" in source.read_text() and "switch_bounces)" not in source.read_text(), source
