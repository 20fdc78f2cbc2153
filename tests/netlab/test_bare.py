"""netlab without the cluster stack (nodes boot to sshd only, ~3 s): namespaces, the sysrq
mask and its refusal, power through the real BMC/PDU clients, hang, clean teardown
(also after the supervisor was SIGKILLed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from hacert.drivers.errors import DeviceUnreachable
from hacert.model.inventory import load_inventory
from hacert.labsim.runner import bmc_answers
from hacert.netlab import NetlabError, Plan, down, events, start_netlab
from hacert.netlab import nodes as netlab_nodes
from hacert.netlab import ns

from tests.netlab.conftest import bmc_power, everyone_in, host_mount_lines, lab_pdu, leftovers, node_bmc, node_shell, wait_until

REPO = Path(__file__).resolve().parents[2]
PREFIX = "hb-"
NODES = ("node-a", "node-b")

INVENTORY = """
lab: netlab-bare
cluster: {{name: bare, manager: pacemaker}}
nodes:
  - name: node-a
    ssh: {{host: 127.0.0.1, port: 22611}}
    bmc: {{host: 127.0.0.1, port: 22621}}
    power: [{{pdu: pdu1, outlet: 1, name: node-a}}]
    bonds:
      - {{name: bond0, network: lan, address: 10.44.0.1, status_path: /run/netlab/bonding/bond0,
         primary: {{nic: eth0, switch: sw-a, port: "1"}}, backup: {{nic: eth1, switch: sw-b, port: "1"}}}}
  - name: node-b
    ssh: {{host: 127.0.0.1, port: 22612}}
    bmc: {{host: 127.0.0.1, port: 22622}}
    power: [{{pdu: pdu1, outlet: 2, name: node-b}}]
    bonds:
      - {{name: bond0, network: lan, address: 10.44.0.2, status_path: /run/netlab/bonding/bond0,
         primary: {{nic: eth0, switch: sw-a, port: "2"}}, backup: {{nic: eth1, switch: sw-b, port: "2"}}}}
pdus:
  - {{name: pdu1, host: 127.0.0.1, port: 22631, outlets: 4}}
switches:
  - {{name: sw-a, ports: {{method: snmp, host: 127.0.0.1, port: 22641}}, power: {{method: pdu, pdu: pdu1, outlet: 3, name: sw-a}}}}
  - {{name: sw-b, ports: {{method: snmp, host: 127.0.0.1, port: 22642}}, power: {{method: pdu, pdu: pdu1, outlet: 4, name: sw-b}}}}
netlab:
  prefix: {prefix}
  subnet: 10.213.9
  stack_at_boot: false
  boot_delay: 0.5
  ready_timeout: 30
  workdir: {workdir}
  bond_updelay_ms: 1000
  switch_boot: 1.0
  switch_bounces: 2
  switch_bounce_interval: 0.3
"""
UPDELAY = 1.0

pytestmark = pytest.mark.timeout(600)  # includes waiting for another run's netlab tests


@pytest.fixture(scope="module")
def inventory_path(tmp_path_factory: pytest.TempPathFactory, netlab_machine_lock: None) -> Path:
    folder = tmp_path_factory.mktemp("netlab-bare")
    path = folder / "bare.yaml"
    path.write_text(INVENTORY.format(prefix=PREFIX, workdir=folder / "work"))
    return path


@pytest.fixture(scope="module")
def bare_lab(inventory_path: Path) -> Iterator[Any]:
    assert not leftovers(PREFIX), f"a netlab with prefix {PREFIX} is already there: {leftovers(PREFIX)}"
    running = start_netlab(inventory_path, reuse=False)
    try:
        yield running
    finally:
        running.stop()
        assert not leftovers(PREFIX)


@pytest.fixture(autouse=True)
def lab_as_found(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test on the module's lab, whatever it did or failed to undo: every outlet on, every
    node up and answering SSH. Otherwise one failure leaves a node hung or off for every later test."""
    yield
    if "bare_lab" not in request.fixturenames:
        return
    bare_lab = request.getfixturevalue("bare_lab")
    if bare_lab.proc is not None and bare_lab.proc.poll() is not None:
        return  # the teardown test stopped it
    pdu = lab_pdu(bare_lab.endpoints, "pdu1")
    try:
        for outlet in range(1, 5):
            if pdu.outlet_status(outlet) != "on":
                pdu.outlet_on(outlet)
    finally:
        pdu.close()
    for node in NODES:
        states = [e["state"] for e in netlab_events(bare_lab, "node_state", 0) if e["node"] == node]
        if states and states[-1] == "hung":
            with open(fifo(bare_lab, node), "w") as trigger:
                trigger.write("b")
        elif states and states[-1] == "off":
            bmc_power(bare_lab.endpoints, node, "on")
    for node in NODES:
        wait_until(f"{node} up again after the test", lambda: node_shell(bare_lab.endpoints, node).reachable(timeout=1), 30)


def init_pid(bare_lab: Any, node: str) -> int:
    """The node's init as the host sees it: the child of `unshare` in the node's netns."""
    for pid in ns.netns_pids(bare_lab.endpoints["netlab"]["node_netns"][node]):
        if b"node_init.py" in Path(f"/proc/{pid}/cmdline").read_bytes() and \
                os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid"):
            return pid
    raise AssertionError(f"{node} has no init")


def fifo(bare_lab: Any, node: str) -> Path:
    return Path(bare_lab.endpoints["workdir"]) / "nodes" / node / "sysrq-trigger"


def netlab_events(bare_lab: Any, kind: str, since: float) -> list[dict[str, Any]]:
    return [e for e in events.read(Path(bare_lab.endpoints["netlab_events"])) if e["kind"] == kind and e["t"] >= since]


# ---------------------------------------------------------------- namespaces


def test_every_object_is_named_with_the_prefix_and_the_host_is_untouched(bare_lab: Any) -> None:
    names = ns.netns_list(PREFIX)
    assert sorted(names) == sorted([f"{PREFIX}mgmt"] + [f"{PREFIX}{n}" for n in NODES]
                                   + [f"{PREFIX}sw-sw-a", f"{PREFIX}sw-sw-b"])
    assert not ns.host_links(PREFIX), "netlab put an interface in the host's namespace"
    assert not host_mount_lines(bare_lab.endpoints["workdir"]), "a node's bind mount leaked into the host"
    assert not host_mount_lines(" netlab-"), "a node's tmpfs (/dev, /run, /tmp, /dev/shm) leaked into the host"
    workdir = Path(bare_lab.endpoints["workdir"])
    assert workdir.stat().st_mode & 0o077 == 0 and (workdir / "endpoints.json").stat().st_mode & 0o077 == 0, \
        "the nodes' root password must be readable by root only"
    host_routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    assert "10.213.9." not in host_routes


def test_nodes_are_separate_machines(bare_lab: Any) -> None:
    seen = {}
    for node in NODES:
        with node_shell(bare_lab.endpoints, node) as shell:
            out = shell.run("hostname; ps -e -o pid=,comm=; ip -o -4 addr show mgmt0; cat /proc/uptime").stdout
        lines = out.splitlines()
        assert lines[0] == node
        processes = {line.split()[1] for line in lines[1:] if line.strip() and line.split()[0].isdigit()}
        assert "sshd" in processes and len(processes) < 12, f"{node} sees processes not its own: {processes}"
        assert float(lines[-1].split()[0]) < 600, "the node's uptime is the host's, not its own"
        seen[node] = out
    assert "10.213.9.11/24" in seen["node-a"] and "10.213.9.12/24" in seen["node-b"]


# ---------------------------------------------------------------- sysrq safety


def test_sysrq_is_netlabs_in_every_node(bare_lab: Any) -> None:
    kernel_has_sysrq = netlab_nodes.kernel_has_sysrq()
    for node in NODES:
        pid = init_pid(bare_lab, node)
        assert netlab_nodes.sysrq_mask_ok(pid, fifo(bare_lab, node))
        with node_shell(bare_lab.endpoints, node) as shell:
            inside = shell.run("test -p /proc/sysrq-trigger && echo fifo; test -e /proc/sysrq-trigger || echo absent; "
                               "test -p /run/netlab-sysrq && echo netlab").stdout.split()
        assert inside == (["fifo", "netlab"] if kernel_has_sysrq else ["absent", "netlab"])


def test_a_node_whose_sysrq_is_not_masked_is_refused(inventory_path: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The node's init is told the opposite of what this kernel has, so the mask (or the
    absence) cannot be proven: netlab must refuse and leave nothing running in the node."""
    inv = load_inventory(inventory_path).model_copy(update={"netlab": {"prefix": "hr-", "subnet": "10.213.10"}})
    inv._source = inventory_path  # type: ignore[attr-defined]
    plan = Plan.of(inv, tmp_path)
    real = netlab_nodes.kernel_has_sysrq()
    monkeypatch.setattr(netlab_nodes, "kernel_has_sysrq", lambda: not real)
    netns = plan.node_ns("node-a")
    ns.run("ip", "netns", "add", netns)
    power = None
    try:
        files = netlab_nodes.NodeFiles(plan, "node-a", "!", "", b"k" * 128)
        power = netlab_nodes.NodePower(plan, "node-a", files, lambda node, state: None)
        power.power_on(delay=0)
        wait_until("the unmasked node refused", lambda: power.last_error and power.state == "off", 20)
        assert "sysrq" in power.last_error
        assert "GO" not in (files.dir / "init.out").read_text(errors="replace")
        assert not ns.netns_pids(netns), "something still runs in the refused node"
        assert not (files.dir / "var-log" / "messages").stat().st_size, "the refused node started something"
    finally:
        if power is not None:
            power.shutdown()
        ns.sweep("hr-")
    assert not leftovers("hr-")


# ---------------------------------------------------------------- power and out-of-band


def test_bmc_power_off_and_on_act_on_that_node_only(bare_lab: Any) -> None:
    bmc = node_bmc(bare_lab.endpoints, "node-b")
    try:
        assert bmc.power_status() == "on"
        before = init_pid(bare_lab, "node-a")
        bmc.power_off()
        wait_until("node-b off", lambda: not ns.netns_pids(bare_lab.endpoints["netlab"]["node_netns"]["node-b"]), 15)
        assert bmc.power_status() == "off"
        assert init_pid(bare_lab, "node-a") == before, "node-a was touched"
        bmc.power_on()
        wait_until("node-b's sshd back", lambda: node_shell(bare_lab.endpoints, "node-b").reachable(timeout=1), 20)
    finally:
        bmc.close()


def test_pdu_outlet_feeds_the_node_and_its_bmc(bare_lab: Any) -> None:
    bmc = bare_lab.endpoints["nodes"]["node-a"]["bmc"]
    pdu = lab_pdu(bare_lab.endpoints, "pdu1")
    try:
        assert pdu.outlet_name(1) == "node-a" and pdu.outlet_status(1) == "on"
        assert bmc_answers(bmc["host"], int(bmc["port"]), timeout=2)
        pdu.outlet_off(1)
        assert not bmc_answers(bmc["host"], int(bmc["port"]), timeout=1), "the BMC answers without power"
        wait_until("node-a off", lambda: not ns.netns_pids(bare_lab.endpoints["netlab"]["node_netns"]["node-a"]), 15)
        pdu.outlet_on(1)
        wait_until("node-a's BMC back", lambda: bmc_answers(bmc["host"], int(bmc["port"]), timeout=1), 10)
        wait_until("node-a booted (power restore: on)",
                   lambda: node_shell(bare_lab.endpoints, "node-a").reachable(timeout=1), 20)
    finally:
        pdu.close()


def test_sysrq_c_hangs_every_process_of_the_node(bare_lab: Any) -> None:
    since = time.time()
    pid = init_pid(bare_lab, "node-a")
    with open(fifo(bare_lab, "node-a"), "w") as trigger:
        trigger.write("c")
    wait_until("node-a hung", lambda: netlab_events(bare_lab, "node_state", since) and
               netlab_events(bare_lab, "node_state", since)[-1]["state"] == "hung", 10)
    members = ns.pidns_members(pid)
    states = {p: Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] for p in members}
    assert members and all(s in "Tt" for s in states.values()), states
    with pytest.raises(DeviceUnreachable):
        node_shell(bare_lab.endpoints, "node-a", connect_timeout=2).run("true")
    assert node_shell(bare_lab.endpoints, "node-b").run("true").exit_code == 0
    with open(fifo(bare_lab, "node-a"), "w") as trigger:
        trigger.write("b")  # sysrq b: reset
    wait_until("node-a back after sysrq b", lambda: node_shell(bare_lab.endpoints, "node-a").reachable(timeout=1), 20)


def test_poweroff_inside_a_node_powers_off_that_node_only(bare_lab: Any) -> None:
    since = time.time()
    node_shell(bare_lab.endpoints, "node-b").fire_and_forget("poweroff")
    wait_until("node-b off", lambda: any(e["state"] == "off" and e["node"] == "node-b"
                                         for e in netlab_events(bare_lab, "node_state", since)), 30)
    assert [e["letter"] for e in netlab_events(bare_lab, "sysrq", since)] == ["o"]
    assert node_shell(bare_lab.endpoints, "node-a").run("true").exit_code == 0
    lab_bmc = bare_lab.endpoints["nodes"]["node-b"]["bmc"]
    done = subprocess.run(["ipmitool", "-I", "lanplus", "-H", lab_bmc["host"], "-p", str(lab_bmc["port"]),
                           "-U", lab_bmc["user"], "-P", lab_bmc["password"], "-R", "2", "-N", "2",
                           "chassis", "power", "on"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    wait_until("node-b back", lambda: node_shell(bare_lab.endpoints, "node-b").reachable(timeout=1), 20)


# ---------------------------------------------------------------- switches and bonds


def bond_status(bare_lab: Any, node: str) -> Any:
    from hacert.drivers.parsers import parse_bonding

    return parse_bonding(node_shell(bare_lab.endpoints, node).run("cat /run/netlab/bonding/bond0").stdout)


def carrier(bare_lab: Any, node: str, nic: str) -> bool:
    out = ns.run("ip", "-n", bare_lab.endpoints["netlab"]["node_netns"][node], "-o", "link", "show", nic).stdout
    return "LOWER_UP" in out.split(">")[0]


def switch_ports(bare_lab: Any, switch: str) -> Any:
    from hacert.drivers.switch import SnmpSwitchPorts

    ep = bare_lab.endpoints["switches"][switch]
    return SnmpSwitchPorts(switch, ep["host"], int(ep["port"]), ep["community_ro"], ep["community_rw"], version="2c")


def test_bonds_start_on_their_primary_and_carry_traffic(bare_lab: Any) -> None:
    for node in NODES:
        status = bond_status(bare_lab, node)
        assert status.active_slave == "eth0" and status.up_delay_ms == 1000 and status.mii_polling_interval_ms == 100
        assert [s.name for s in status.slaves] == ["eth0", "eth1"] and all(s.up for s in status.slaves)
    out = node_shell(bare_lab.endpoints, "node-a").run("ping -c 3 -i 0.2 -W 1 10.44.0.2").stdout
    assert " 0% packet loss" in out


def test_a_port_shut_over_snmp_fails_the_bond_over_and_it_returns_after_updelay(bare_lab: Any) -> None:
    """The switch agent's ifAdminStatus takes the port down for real: node-a's NIC loses carrier,
    its bond moves to the backup on the other switch (node-b, still on sw-a, is reached through
    the link between the switches), and comes back only after its updelay."""
    ports = switch_ports(bare_lab, "sw-a")
    shell = node_shell(bare_lab.endpoints, "node-a")
    mark = shell.syslog_mark()
    try:
        ports.port_down("1")
        assert ports.port_is_up("1") is False
        wait_until("node-a/eth0 without carrier", lambda: not carrier(bare_lab, "node-a", "eth0"), 2)
        wait_until("bond0 on eth1", lambda: bond_status(bare_lab, "node-a").active_slave == "eth1", 2)
        assert " 0% packet loss" in shell.run("ping -c 3 -i 0.2 -W 1 10.44.0.2").stdout
        ports.port_up("1")
        restored = time.monotonic()
        wait_until("node-a/eth0 has carrier again", lambda: carrier(bare_lab, "node-a", "eth0"), 2)
        assert bond_status(bare_lab, "node-a").active_slave == "eth1", "returned before its updelay"
        wait_until("bond0 back on eth0", lambda: bond_status(bare_lab, "node-a").active_slave == "eth0", UPDELAY + 2)
        assert time.monotonic() - restored >= UPDELAY - 0.15
    finally:
        ports.port_up("1")
        ports.close()
    kernel = [line for line in shell.syslog_since(mark) if " kernel: " in line]
    assert any("bonding: bond0: making interface eth1 the new active one." in line for line in kernel), kernel
    assert any("link status up for interface eth0, enabling it in 1000 ms." in line for line in kernel), kernel


def test_a_switch_without_power_drops_every_port_and_boots_with_link_bounces(bare_lab: Any) -> None:
    pdu = lab_pdu(bare_lab.endpoints, "pdu1")
    since = time.time()
    try:
        assert pdu.outlet_name(3) == "sw-a"
        pdu.outlet_off(3)
        wait_until("both nodes' eth0 without carrier",
                   lambda: not carrier(bare_lab, "node-a", "eth0") and not carrier(bare_lab, "node-b", "eth0"), 2)
        for node in NODES:
            wait_until(f"{node} on its backup", lambda: bond_status(bare_lab, node).active_slave == "eth1", 2)
        assert " 0% packet loss" in node_shell(bare_lab.endpoints, "node-a").run("ping -c 3 -i 0.2 -W 1 10.44.0.2").stdout
        pdu.outlet_on(3)
        wait_until("sw-a up", lambda: [e["state"] for e in netlab_events(bare_lab, "switch_state", since)][-1] == "up", 10)
        for node in NODES:
            wait_until(f"{node} back on eth0", lambda: bond_status(bare_lab, node).active_slave == "eth0", UPDELAY + 3)
    finally:
        pdu.outlet_on(3)
        pdu.close()
    states = netlab_events(bare_lab, "switch_state", since)
    assert [e["state"] for e in states] == ["off", "booting", "up"]
    bounces = netlab_events(bare_lab, "link_bounce", since)
    assert len(bounces) == 2 and all(e["switch"] == "sw-a" for e in bounces)
    assert states[2]["t"] - states[1]["t"] >= 1.0 - 0.05, "forwarding before switch_boot"


# ---------------------------------------------------------------- teardown


def test_down_after_sigkill_leaves_nothing(inventory_path: Path, bare_lab: Any) -> None:
    """Runs last: its own lab (the module's is stopped first), killed with SIGKILL, then `down`."""
    bare_lab.stop()
    assert not leftovers(PREFIX), "netlab's stop() left something"
    running = start_netlab(inventory_path, reuse=False)
    pids = everyone_in(PREFIX)
    assert len(pids) >= 4, f"expected node processes in the netns, found {pids}"
    os.kill(running.pid, signal.SIGKILL)
    running.proc.wait(timeout=10)
    time.sleep(0.5)
    assert everyone_in(PREFIX), "the nodes died with the supervisor: this test would prove nothing"
    left = down(inventory_path)
    assert not left and not leftovers(PREFIX, pids + [running.pid])
    with pytest.raises(NetlabError):
        Plan.of(load_inventory(inventory_path).model_copy(update={"netlab": {"prefix": "BAD"}}))


STARTER = """
import sys, time
from hacert.netlab import start_netlab
running = start_netlab(sys.argv[1], reuse=False)
print(running.pid, flush=True)
time.sleep(600)
"""


def test_a_lab_whose_starter_was_killed_tears_itself_down(inventory_path: Path, bare_lab: Any) -> None:
    """The run that started the lab is SIGKILLed (no teardown can run): the supervisor sees
    its owner end and takes the whole lab down, as `down` would."""
    bare_lab.stop()
    assert not leftovers(PREFIX)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    starter = subprocess.Popen([sys.executable, "-c", STARTER, str(inventory_path)], stdout=subprocess.PIPE,
                               env=env, cwd=REPO)
    try:
        line = starter.stdout.readline()  # type: ignore[union-attr]
        assert line.strip(), "the starter printed nothing: netlab did not start"
        supervisor = int(line)
        pids = everyone_in(PREFIX)
        assert len(pids) >= 4, f"expected node processes in the netns, found {pids}"
    finally:
        starter.kill()
        starter.wait()
    try:
        wait_until("the lab torn down after its starter died", lambda: not leftovers(PREFIX, pids + [supervisor]), 90)
    finally:
        down(inventory_path)  # whatever this test finds, the next one starts clean
    log = (Plan.of(load_inventory(inventory_path)).workdir / "netlab.log").read_text()
    assert f"(pid {starter.pid}) ended without stopping it" in log
