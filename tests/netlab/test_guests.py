"""netlab part 2's groundwork: real TCG guests under a libvirtd per node.

Two netlab nodes (no cluster stack) of tests/netlab/inventories/netlab-guests.yaml, each with
its own libvirtd; the test builds the VM network ("ifn", a bridge in each node's netns, the two
joined by a veth pair) as netlab's bonds will. Shown through real clients: a guest answers ping
from the other node, `virsh` on a node sees that node's guests only, `virsh destroy` kills the
qemu, `virsh migrate --live` moves a guest between nodes while it is pinged every 0.05 s, the
VirtualDomain agent drives a guest through start/monitor/migrate/stop with netlab's resource
parameters, and the memory of the lab with four guests. Figures go to stderr (`-s` shows them).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterator

import pytest

from hacert.drivers.virsh import Virsh
from hacert.model.inventory import load_inventory
from hacert.netlab import NetlabError, Plan, start_netlab, virt
from hacert.netlab.guest import download_package, ensure_guest_image, has_pvh_entry, module_order

from tests.netlab.conftest import FULL_MATRIX, REPO, bmc_power, leftovers, node_shell, wait_until

INVENTORY = REPO / "tests" / "netlab" / "inventories" / "netlab-guests.yaml"
A, B = "an-node01", "an-node02"
BRIDGE_ADDRESSES = {A: "10.214.9.11", B: "10.214.9.12"}  # the nodes' own addresses on the VM network
PING_INTERVAL = 0.05
BOOT_TIMEOUT = 90.0  # TCG, two cores shared by up to four booting guests

pytestmark = pytest.mark.timeout(900)  # includes waiting for another run's netlab tests

FIGURES: dict[str, Any] = {}


def report(name: str, value: Any) -> None:
    FIGURES[name] = value
    print(f"\nnetlab guests: {name} = {value}", file=sys.stderr)


class GuestLab:
    def __init__(self, running: Any) -> None:
        self.running = running
        self.endpoints = running.endpoints
        self.inv = load_inventory(INVENTORY)
        self.plan = Plan.of(self.inv)
        self.shells = {node: node_shell(self.endpoints, node) for node in (A, B)}
        self.virshes = {node: Virsh(shell) for node, shell in self.shells.items()}  # the harness's own driver

    def netns(self, node: str) -> str:
        return str(self.endpoints["netlab"]["node_netns"][node])

    def virsh(self, node: str, args: str, check: bool = True, timeout: float = 60.0) -> Any:
        return self.shells[node].run(f"virsh {args}", timeout=timeout, check=check)

    def listed(self, node: str) -> dict[str, str]:
        """{domain: state} as `virsh list --all` on the node shows them."""
        return self.virshes[node].list()

    def qemu_pids(self, node: str, vm: str | None = None) -> list[int]:
        """Host pids of the qemu processes in the node's netns (of one guest when `vm` is given)."""
        out = []
        for pid in subprocess.run(["ip", "netns", "pids", self.netns(node)], capture_output=True, text=True,
                                  timeout=10).stdout.split():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmdline and cmdline[0].endswith(b"qemu-system-x86_64") and \
                    (vm is None or f"guest={vm},".encode() in b" ".join(cmdline)):
                out.append(int(pid))
        return out

    def pings(self, node: str, address: str, wait: float = 1.0) -> bool:
        result = subprocess.run(["ip", "netns", "exec", self.netns(node), "ping", "-n", "-c", "1", "-W", str(wait), address],
                                capture_output=True, timeout=wait + 10)
        return result.returncode == 0

    def start(self, node: str, vm: str) -> float:
        """`virsh create` of the shared domain XML on `node`; seconds until the guest answers ping from
        the other node."""
        started = time.monotonic()
        self.virsh(node, f"create {virt.domain_file(vm)}")
        other = B if node == A else A
        wait_until(f"{vm} answers ping from {other}", lambda: self.pings(other, self.inv.vm(vm).address, 0.5),
                   BOOT_TIMEOUT, interval=0.05)
        return round(time.monotonic() - started, 1)

    def memory_mb(self) -> float:
        """PSS of the supervisor and everything in the lab's namespaces (as Netlab.memory_mb counts)."""
        pids = {self.running.pid}
        for name in self.endpoints["netlab"]["node_netns"].values():
            pids.update(int(p) for p in subprocess.run(["ip", "netns", "pids", name], capture_output=True,
                                                       text=True, timeout=10).stdout.split())
        pids.update(int(p) for p in subprocess.run(["ip", "netns", "pids", self.endpoints["netlab"]["mgmt_netns"]],
                                                   capture_output=True, text=True, timeout=10).stdout.split())
        return round(sum(_pss_kb(pid) for pid in pids) / 1024, 1)

    def close(self) -> None:
        for shell in self.shells.values():
            shell.close()


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def vm_network(lab: GuestLab) -> None:
    """The VM network the inventory's bondless nodes get from outside: bridge `ifn` per node netns,
    one veth pair between them, each node's own address on it."""
    bridge = virt.vm_bridge(lab.plan, A)
    for node in (A, B):
        net = lab.netns(node)
        subprocess.run(["ip", "-n", net, "link", "add", bridge, "type", "bridge"], check=True, timeout=10)
        subprocess.run(["ip", "-n", net, "addr", "add", f"{BRIDGE_ADDRESSES[node]}/{lab.plan.settings.prefix_length}",
                        "dev", bridge], check=True, timeout=10)
        subprocess.run(["ip", "-n", net, "link", "set", bridge, "up"], check=True, timeout=10)
    subprocess.run(["ip", "-n", lab.netns(A), "link", "add", "vmcable", "type", "veth", "peer", "name", "vmcable",
                    "netns", lab.netns(B)], check=True, timeout=10)
    for node in (A, B):
        subprocess.run(["ip", "-n", lab.netns(node), "link", "set", "vmcable", "master", bridge, "up"], check=True, timeout=10)


@pytest.fixture(scope="module")
def guest_image() -> Any:
    started = time.monotonic()
    image = ensure_guest_image()
    report("guest image (ensure_guest_image) seconds", round(time.monotonic() - started, 1))
    report("guest image build seconds (when it was built)", image.versions["build_seconds"])
    report("guest image versions", {k: v for k, v in image.versions.items() if k != "build_seconds"})
    return image


@pytest.fixture(scope="module")
def lab(netlab_machine_lock: None, guest_image: Any) -> Iterator[GuestLab]:
    prefix = load_inventory(INVENTORY).netlab["prefix"]  # type: ignore[index]
    assert not leftovers(prefix), f"a netlab with prefix {prefix} is already there: {leftovers(prefix)}"
    started = time.monotonic()
    running = start_netlab(INVENTORY, reuse=False)
    report("lab up seconds (2 nodes with libvirtd, no cluster stack)", round(time.monotonic() - started, 1))
    guest_lab = GuestLab(running)
    qemus: list[int] = []
    try:
        vm_network(guest_lab)
        for node in (A, B):  # libvirtd answers on the node's socket
            wait_until(f"libvirtd on {node}", lambda n=node: guest_lab.virsh(n, "list --all", check=False).ok, 30, 0.2)
        yield guest_lab
        qemus = guest_lab.qemu_pids(A) + guest_lab.qemu_pids(B)
    finally:
        guest_lab.close()
        running.stop()
        left = leftovers(prefix, qemus)
        assert not left, f"netlab down left: {left}"


# ---------------------------------------------------------------- the image


def test_guest_image_is_debian_kernel_with_our_initramfs(guest_image: Any) -> None:
    assert guest_image.versions["kernel_package"].startswith("linux-image-6.1.0-")
    assert guest_image.kernel.stat().st_size > 4_000_000
    # TCG boots the uncompressed kernel ~7 s sooner (no xz in the guest); qemu needs its PVH entry for it
    assert guest_image.kernel.name == "vmlinux" and has_pvh_entry(guest_image.kernel.read_bytes())
    initrd = guest_image.initrd.stat().st_size
    report("initrd.img bytes (gzip)", initrd)
    assert initrd < 4_000_000, "the initramfs holds busybox and a few modules only"
    # the emulated e1000's driver, with whatever modules.dep says it needs first, and nothing else
    loaded = guest_image.versions["modules"].split()
    assert loaded[-1] == "e1000.ko" and len(loaded) <= 3, loaded


def test_a_package_apt_cannot_deliver_is_named(tmp_path: Path) -> None:
    with pytest.raises(NetlabError, match="hacert-no-such-package"):
        download_package("hacert-no-such-package", tmp_path)


def test_module_order_puts_dependencies_first(tmp_path: Path) -> None:
    (tmp_path / "modules.dep").write_text("kernel/c.ko: kernel/b.ko kernel/a.ko\nkernel/b.ko: kernel/a.ko\n"
                                          "kernel/a.ko:\nkernel/d-x.ko: kernel/c.ko\n")
    order = [p.name for p in module_order(tmp_path, ("d_x", "b"))]
    assert order == ["a.ko", "b.ko", "c.ko", "d-x.ko"]


# ---------------------------------------------------------------- libvirt per node


def test_guest_starts_on_a_and_answers_ping_from_b(lab: GuestLab) -> None:
    vm = lab.inv.vm("vm0001-dev")
    seconds = lab.start(A, vm.name)
    report("one guest: virsh create to first ping answer (s)", seconds)
    assert lab.listed(A).get(vm.name) == "running"
    assert lab.virshes[A].state(vm.name) == "running"
    console = lab.shells[A].run(f"cat /var/log/libvirt/qemu/{vm.name}.console").stdout
    assert f"netlab-guest-ready {vm.name} {vm.address}/16" in console
    with_own_uuids = {n: lab.virsh(n, "capabilities").stdout for n in (A, B)}
    uuids = {n: re.search(r"<uuid>([^<]+)</uuid>", caps).group(1) for n, caps in with_own_uuids.items()}  # type: ignore[union-attr]
    assert uuids[A] != uuids[B], "each node's libvirtd has its own host UUID"


def test_virsh_on_b_does_not_see_a_guests(lab: GuestLab) -> None:
    assert "vm0001-dev" in lab.listed(A)
    assert "vm0001-dev" not in lab.listed(B)
    assert lab.virshes[B].state("vm0001-dev") is None
    assert lab.qemu_pids(A, "vm0001-dev") and not lab.qemu_pids(B, "vm0001-dev")


def test_virsh_destroy_kills_the_guests_qemu(lab: GuestLab) -> None:
    vm = lab.inv.vm("vm0002-web")
    lab.virsh(A, f"create {virt.domain_file(vm.name)}")
    pids = wait_until(f"{vm.name}'s qemu", lambda: lab.qemu_pids(A, vm.name), 30)
    lab.shells[A].run(vm.destroy_command.format(vm=vm.name))
    wait_until(f"{vm.name}'s qemu gone", lambda: not any(Path(f"/proc/{p}").exists() for p in pids), 10)
    assert vm.name not in lab.listed(A)
    assert lab.qemu_pids(A, "vm0001-dev"), "destroying one guest left the other running"


def test_live_migration_a_to_b_through_libvirt_while_pinged(lab: GuestLab) -> None:
    vm = lab.inv.vm("vm0001-dev")
    if lab.listed(A).get(vm.name) != "running":
        lab.start(A, vm.name)
    source_pids = lab.qemu_pids(A, vm.name)
    pinger = subprocess.Popen(["ip", "netns", "exec", lab.netns(B), "ping", "-n", "-D", "-i", str(PING_INTERVAL),
                               "-W", "1", vm.address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1.0)  # a baseline of answered pings before the move
        started = time.monotonic()
        moved = lab.virsh(A, f"migrate --live {vm.name} qemu+tcp://{lab.inv.node(B).member_name}/system",
                          check=False, timeout=120)
        migration_seconds = round(time.monotonic() - started, 2)
        time.sleep(2.0)  # pings after the move
    finally:
        pinger.send_signal(signal.SIGINT)
        out, _ = pinger.communicate(timeout=10)
    assert moved.ok, f"virsh migrate failed: {moved.stderr.strip()}"
    lost, gap = ping_loss(out)
    downtime = lab.virshes[B].downtime_ms(vm.name)  # the destination's: a transient domain leaves the source
    report("migration: virsh migrate seconds", migration_seconds)
    report("migration: lost pings (0.05 s interval)", lost)
    report("migration: longest ping gap (s)", round(gap, 3))
    report("migration: libvirt's total downtime (ms)", downtime)
    assert lab.listed(B).get(vm.name) == "running" and vm.name not in lab.listed(A)
    wait_until("the source qemu gone", lambda: not any(Path(f"/proc/{p}").exists() for p in source_pids), 10)
    assert lab.qemu_pids(B, vm.name)
    # a live move, not a stop and a boot (tens of seconds): libvirt's downtime within the lab's allowed gap
    assert downtime is not None and downtime <= lab.inv.expectations.migration_max_gap * 1000
    assert lost <= lab.inv.expectations.migration_max_lost_pings
    assert gap <= lab.inv.expectations.migration_max_gap


def ping_loss(output: str) -> tuple[int, float]:
    """(pings lost between the first and last answer, longest time between two answers) of `ping -D`."""
    replies = [(int(m.group(2)), float(m.group(1)))
               for m in re.finditer(r"^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)", output, re.M)]
    assert len(replies) > 20, f"too few answers to judge: {output[-500:]}"
    seqs = sorted({seq for seq, _ in replies})
    lost = (seqs[-1] - seqs[0] + 1) - len(seqs)
    stamps = sorted(t for _, t in replies)
    return lost, max(b - a for a, b in zip(stamps, stamps[1:]))


# ---------------------------------------------------------------- the cluster's agent


def test_virtualdomain_agent_with_netlabs_resource_parameters(lab: GuestLab) -> None:
    vm = lab.inv.vm("vm0003-db")
    resources = virt.vm_resources(lab.plan)[vm.name]
    assert "'" not in resources["primitive"] + resources["location"]
    primitive = ET.fromstring(resources["primitive"])
    assert (primitive.get("class"), primitive.get("provider"), primitive.get("type")) == ("ocf", "heartbeat", "VirtualDomain")
    params = {nv.get("name"): nv.get("value") for nv in primitive.iterfind("./instance_attributes/nvpair")}
    meta = {nv.get("name"): nv.get("value") for nv in primitive.iterfind("./meta_attributes/nvpair")}
    assert meta == {"allow-migrate": "true", "migration-threshold": str(lab.inv.expectations.max_restarts + 1),
                    "failure-timeout": f"{int(lab.inv.expectations.restart_expire_time)}s"}
    location = ET.fromstring(resources["location"])
    assert (location.get("rsc"), location.get("node"), location.get("score")) == (vm.name, B, "100")
    home, away = B, A

    def agent(node: str, action: str, peer: str = "") -> int:
        env = {"OCF_ROOT": virt.OCF_ROOT, "OCF_RESOURCE_INSTANCE": vm.name, "OCF_RESKEY_CRM_meta_timeout": "90000",
               "OCF_RESKEY_CRM_meta_migrate_target": peer, "OCF_RESKEY_CRM_meta_migrate_source": peer}
        env.update({f"OCF_RESKEY_{name}": value for name, value in params.items()})
        assignments = " ".join(f"{k}={v}" for k, v in env.items())
        result = lab.shells[node].run(f"env {assignments} {virt.OCF_ROOT}/resource.d/heartbeat/VirtualDomain {action}",
                                      timeout=120, check=False)
        return result.exit_code

    assert agent(home, "monitor") == 7, "not running before start"
    assert agent(home, "start") == 0
    assert agent(home, "monitor") == 0 and agent(away, "monitor") == 7
    wait_until(f"{vm.name} answers ping", lambda: lab.pings(away, vm.address, 0.5), BOOT_TIMEOUT, 0.05)
    assert agent(home, "migrate_to", lab.inv.node(away).member_name) == 0
    assert agent(away, "migrate_from", lab.inv.node(home).member_name) == 0
    assert agent(away, "monitor") == 0 and agent(home, "monitor") == 7
    assert lab.pings(home, vm.address, 2.0), "the migrated guest answers on the VM network"
    pids = lab.qemu_pids(away, vm.name)
    started = time.monotonic()
    assert agent(away, "stop") == 0
    report("VirtualDomain stop seconds", round(time.monotonic() - started, 1))
    assert agent(away, "monitor") == 7
    assert pids and not any(Path(f"/proc/{p}").exists() for p in pids)


# ---------------------------------------------------------------- size


def test_two_nodes_with_four_guests_fit_the_machine(lab: GuestLab) -> None:
    before = lab.memory_mb()
    report("lab memory with guests so far (MB PSS)", before)
    wanted = {vm.name: vm.home for vm in lab.inv.vms}
    running = {**{name: A for name in lab.listed(A)}, **{name: B for name in lab.listed(B)}}
    started = time.monotonic()
    for name, home in wanted.items():
        if name not in running:
            lab.virsh(home, f"create {virt.domain_file(name)}")
    for name in wanted:
        wait_until(f"{name} answers ping", lambda n=name: lab.pings(A, lab.inv.vm(n).address, 0.5), BOOT_TIMEOUT, 0.05)
    report("guests started together: create to all answering ping (s)", round(time.monotonic() - started, 1))
    assert sum(len(lab.listed(n)) for n in (A, B)) == 4
    per_guest = {name: round(_pss_kb(pid) / 1024, 1) for node in (A, B) for name in lab.listed(node)
                 for pid in lab.qemu_pids(node, name)}
    total = lab.memory_mb()
    report("qemu PSS per guest (MB)", per_guest)
    report("2-node lab with 4 guests (MB PSS)", total)
    report("os.cpu_count()", os.cpu_count())
    assert len(per_guest) == 4
    assert all(mb < 2.5 * lab.plan.settings.guest_memory_mb for mb in per_guest.values())
    assert total < 1500
    started = time.monotonic()
    start_cluster_stack(lab)
    report("corosync + pacemaker started on both nodes, both online (s)", round(time.monotonic() - started, 1))
    with_stack = lab.memory_mb()
    report("2-node lab with 4 guests and corosync + pacemaker (MB PSS)", with_stack)
    assert total < with_stack < 1500


# ---------------------------------------------------------------- under pacemaker


def start_cluster_stack(lab: GuestLab) -> None:
    """corosync and pacemaker on both nodes (this lab's nodes boot without them), until both are online."""
    for node in (A, B):
        if not lab.shells[node].run("pidof pacemakerd", check=False).ok:
            lab.shells[node].run("systemctl start corosync && systemctl start pacemaker", timeout=60)
    wait_until("both nodes online", lambda: lab.shells[A].run("crm_mon -1 --output-as=xml", check=False)
               .stdout.count('online="true"') == 2, 90, 1.0)


def placement(lab: GuestLab) -> dict[str, str]:
    """{resource: node} of the started resources, as crm_mon on the first node says."""
    out = lab.shells[A].run("crm_mon -1 --output-as=xml", timeout=30, check=False).stdout
    try:
        root = ET.fromstring(out)
    except ET.ParseError:
        return {}
    return {r.get("id", ""): n.get("name", "") for r in root.iter("resource") if r.get("role") == "Started"
            for n in r.iter("node")}


@pytest.mark.skipif(not FULL_MATRIX, reason="CI subset: tests/netlab/test_cluster.py runs the VM suites on the "
                    "pacemaker-managed guests of inventories/netlab.yaml; NETLAB_FULL_MATRIX=1 runs this too")
def test_pacemaker_runs_the_guests_migrates_live_and_relocates_after_the_third_destroy(lab: GuestLab) -> None:
    for node in (A, B):
        for name in lab.listed(node):
            lab.virshes[node].destroy(name)
    start_cluster_stack(lab)
    # fencing is part 1's (tests/netlab/test_cluster.py); this lab loads no fence device
    script = ["set -e", "crm_attribute --type crm_config --name stonith-enabled --update false"]
    for xml in virt.vm_resources(lab.plan).values():
        script += [f"cibadmin --create -o resources --xml-text '{xml['primitive']}'",
                   f"cibadmin --create -o constraints --xml-text '{xml['location']}'"]
    lab.shells[A].run("\n".join(script), timeout=60)
    homes = {vm.name: vm.home for vm in lab.inv.vms}
    started = time.monotonic()
    wait_until("every guest started on its home", lambda: all(placement(lab).get(n) == h for n, h in homes.items()),
               120, 1.0)
    for vm in lab.inv.vms:
        wait_until(f"{vm.name} answers ping", lambda v=vm: lab.pings(A, v.address, 0.5), BOOT_TIMEOUT, 0.05)
    report("pacemaker: 4 guests started and answering ping (s)", round(time.monotonic() - started, 1))

    vm = lab.inv.vm("vm0001-dev")
    source = lab.qemu_pids(A, vm.name)
    pinger = subprocess.Popen(["ip", "netns", "exec", lab.netns(B), "ping", "-n", "-D", "-i", str(PING_INTERVAL),
                               "-W", "1", vm.address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1.0)
        started = time.monotonic()
        lab.shells[A].run(f"crm_resource --move --resource {vm.name} --node {lab.inv.node(B).member_name}")
        wait_until(f"{vm.name} started on {B}", lambda: placement(lab).get(vm.name) == B, 60, 0.2)
        report("pacemaker: crm_resource --move to started on the peer (s)", round(time.monotonic() - started, 1))
        time.sleep(2.0)
    finally:
        pinger.send_signal(signal.SIGINT)
        out, _ = pinger.communicate(timeout=10)
    lab.shells[A].run(f"crm_resource --clear --resource {vm.name}")
    lost, gap = ping_loss(out)
    downtime = lab.virshes[B].downtime_ms(vm.name)
    report("pacemaker migration: lost pings, longest gap (s), libvirt downtime (ms)", (lost, round(gap, 3), downtime))
    log = lab.shells[A].run(f"grep -c 'Result of migrate_to operation for {vm.name}.*: ok' "
                            "/var/log/pacemaker/pacemaker.log", check=False).stdout.strip()
    assert log not in ("", "0"), "pacemaker moved the guest without a live migration"
    assert not any(Path(f"/proc/{p}").exists() for p in source)
    assert downtime is not None and lost <= lab.inv.expectations.migration_max_lost_pings

    victim = lab.inv.vm("vm0003-db")
    threshold = lab.inv.expectations.max_restarts + 1
    for attempt in range(1, threshold + 1):
        pids = lab.qemu_pids(B, victim.name)
        assert pids, f"{victim.name} is not running on {B} before destroy {attempt}"
        destroyed = time.monotonic()
        lab.shells[B].run(victim.destroy_command.format(vm=victim.name))
        expected = B if attempt < threshold else A
        wait_until(f"{victim.name} back on {expected} after destroy {attempt}",
                   lambda: lab.virshes[expected].state(victim.name) == "running" and
                   placement(lab).get(victim.name) == expected, lab.inv.expectations.vm_restart_timeout, 0.5)
        report(f"pacemaker: destroy {attempt} of {victim.name} -> running on {expected} (s)",
               round(time.monotonic() - destroyed, 1))
    assert lab.virshes[B].state(victim.name) is None


def test_a_node_powered_off_takes_its_guests_with_it(lab: GuestLab) -> None:
    on_a = {name: lab.qemu_pids(A, name) for name in lab.listed(A)}
    on_b = {name: lab.qemu_pids(B, name) for name in lab.listed(B)}
    assert on_a and on_b
    bmc_power(lab.endpoints, A, "off")
    gone = [p for pids in on_a.values() for p in pids]
    wait_until(f"{A}'s qemus gone", lambda: not any(Path(f"/proc/{p}").exists() for p in gone), 15)
    assert {name: lab.qemu_pids(B, name) for name in on_b} == on_b, f"{B}'s guests were touched"
    assert all(lab.pings(B, lab.inv.vm(name).address, 2.0) for name in on_b)
