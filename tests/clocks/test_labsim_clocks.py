"""labsim's node clocks (simulation.clock_offsets): everything a node stamps is on its own clock
(date, syslog, ping -D, uptime, what the cluster tools print), the ground truth stays on the
controller's; hacert.observe.clocks reads each offset back through real SSH."""

from __future__ import annotations

import re
import time
from typing import Iterator

import pytest

from hacert.drivers.errors import LabError
from hacert.drivers.parsers.ping import parse_ping
from hacert.drivers.parsers.syslog import parse_syslog_line
from hacert.model.inventory import load_inventory
from hacert.lab.build import Lab
from hacert.observe.clocks import clocks_of, ClockUnknown, NodeClocks
from hacert.labsim.core import read_event_log
from hacert.labsim.runner import start_lab
from hacert.suite_runs import write_inventory

OFFSETS = {"an-node01": 5.0, "an-node02": -5.0}


@pytest.fixture(scope="module")
def skewed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp("labsim-clocks")
    path = write_inventory(folder, "anvil-sim.yaml", edit=lambda d: d.setdefault("simulation", {}).update(
        {"clock_offsets": dict(OFFSETS), "base_port": "auto"}))
    running = start_lab(path, folder / "lab")
    lab = Lab(load_inventory(path), running.endpoints, running=running)
    try:
        yield lab
    finally:
        lab.close()


def _local(text: str, fmt: str) -> float:
    return time.mktime(time.strptime(text, fmt))


def test_each_node_reads_its_own_clock_and_the_harness_measures_it(skewed: Lab) -> None:
    started = time.monotonic()
    measurement = clocks_of(skewed).measure("test")
    took = time.monotonic() - started
    for node, offset in OFFSETS.items():
        reading = measurement.readings[node]
        assert abs(reading.offset - offset) <= reading.uncertainty + 0.002, reading
        assert reading.uncertainty < 0.02 and reading.utc_offset == time.localtime().tm_gmtoff
    assert took < 1.0, f"measuring 2 nodes took {took:.2f} s"
    again = clocks_of(skewed).measure("again")
    assert again.seconds < 0.3, f"a measurement on open connections took {again.seconds:.3f} s"


def test_date_uptime_and_the_cluster_tools_print_the_nodes_time(skewed: Lab) -> None:
    for node, offset in OFFSETS.items():
        before = time.time()
        out = skewed.node(node).run("date; uptime; clustat").stdout.splitlines()
        after = time.time()
        shown = _local(out[0].replace(" UTC", "").replace(f" {time.strftime('%Z')}", ""), "%a %b %d %H:%M:%S %Y")
        assert before + offset - 1 <= shown <= after + offset + 1, (node, out[0])
        clock = re.match(r" (\d\d):(\d\d):(\d\d) up ", out[1])
        assert clock, out[1]
        seconds = int(clock[1]) * 3600 + int(clock[2]) * 60 + int(clock[3])
        expected = time.localtime(before + offset)
        assert abs(seconds - (expected.tm_hour * 3600 + expected.tm_min * 60 + expected.tm_sec)) <= 1, (node, out[1])
        header = next(line for line in out if line.startswith("Cluster Status for"))
        stamp = _local(header.split(" @ ", 1)[1], "%a %b %d %H:%M:%S %Y")
        assert before + offset - 1 <= stamp <= after + offset + 1, (node, header)


def test_syslog_and_ping_stamps_are_the_nodes_the_event_log_the_controllers(skewed: Lab) -> None:
    since = time.time()
    for node in OFFSETS:
        skewed.node(node).run("ping -D -c 3 -i 0.1 " + ("10.20.0.2" if node == "an-node01" else "10.20.0.1"))
    pings = {e["node"]: e for e in read_event_log(skewed.event_log) if e["kind"] == "ping_done" and e["t"] >= since}
    for node, offset in OFFSETS.items():
        out = skewed.node(node).run("ping -D -c 3 -i 0.1 " + ("10.20.0.2" if node == "an-node01" else "10.20.0.1")).stdout
        first = parse_ping(out).replies[0].timestamp
        truth = [e for e in read_event_log(skewed.event_log) if e["kind"] == "ping_done" and e["node"] == node][-1]
        assert first - truth["first_t"] == pytest.approx(offset, abs=0.2), (node, first, truth)
        assert abs(pings[node]["first_t"] - since) < 5  # the truth is on the controller's clock
    # a cable pulled: the node's kernel logs it, stamped on its own clock (its local time, whole seconds)
    ports = skewed.switch_ports("sw1")
    pulled = time.time()
    ports.port_down("1")
    try:
        lines = []
        for _ in range(50):
            lines = [ln for ln in skewed.node("an-node01").run("cat /var/log/messages").stdout.splitlines()
                     if "NIC Link is Down" in ln]
            if lines:
                break
            time.sleep(0.1)
        assert lines, "an-node01 logged no link loss"
        written = time.mktime(parse_syslog_line(lines[-1]).timestamp.timetuple())
        assert pulled + OFFSETS["an-node01"] - 1 <= written <= time.time() + OFFSETS["an-node01"], (pulled, lines[-1])
    finally:
        ports.port_up("1")


def test_a_stepped_clock_is_seen_and_a_silent_node_cannot_be_measured(skewed: Lab) -> None:
    clocks = NodeClocks.of_lab(skewed)
    before = clocks.measure("before")
    skewed.running.inject("clock_step", "an-node02", duration=3.0)
    stepped = clocks.measure("during")
    assert stepped.readings["an-node02"].offset - before.readings["an-node02"].offset == pytest.approx(1.0, abs=0.02)
    skewed.running.inject("ssh_drop", "an-node01", duration=2.0)
    with pytest.raises(ClockUnknown) as caught:
        clocks.measure("dropped", ["an-node01"])
    assert isinstance(caught.value, LabError)
    assert str(caught.value).startswith("clock of an-node01 (ssh): read its clock (date +%s.%N%z): ")
    time.sleep(3.0)  # both faults clear by themselves
    clocks_of(skewed).measure("restored")

