"""Per-node virtualization of netlab (part 2: real guests): what a node needs at boot.

`node_binds` lists (host folder, path inside the node) bind mounts, `boot_commands` the
argvs the node's init starts at boot (after sshd, before the cluster stack). Both are
empty for an inventory without VMs.

Each node runs its own libvirtd (no systemd, no virtlogd, no cgroups, security driver
none) with its own /etc/libvirt (own host UUID: libvirt refuses to migrate to a host
with its own UUID), /var/lib/libvirt and /var/cache/libvirt; its sockets live in the
node's private /run, its logs in the node's /var/log/libvirt. It listens on TCP (auth
none) only on the node's netlab address, for `virsh migrate --live NAME
qemu+tcp://PEER/system`. The guests' "shared storage" is one folder of the lab
(`<workdir>/<lab>/guests`: kernel, initramfs, one domain XML per VM) mounted at
`SHARED` in every node. Guests run under TCG (domain type qemu) with an e1000 NIC on
the node's bridge of the VM network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

from hacert.model.inventory import Service, Vm

from .config import NetlabError, Plan
from .guest import GuestImage, ensure_guest_image

GUEST_NIC = "e1000"
"""The guests' NIC model (its driver is the one module netlab/guest.py puts in the initramfs)."""

SHARED = "/var/lib/libvirt/netlab"  # the lab's guest folder, the same path in every node
HYPERVISOR = "qemu:///system"
LIBVIRTD = "/usr/sbin/libvirtd"
QEMU = "/usr/bin/qemu-system-x86_64"
# host folders that must exist as mount points (libvirt-daemon-system would create them)
MOUNT_POINTS = ("/var/lib/libvirt", "/var/cache/libvirt")
OCF_ROOT = "/usr/lib/ocf"
QEMU_ACCOUNT = "libvirt-qemu"  # Debian's build of libvirt: the qemu driver's compiled-in user and group
QEMU_ID = 64055
TB_CACHE_MB = 32
KERNEL = "kernel"  # the guest kernel's name in the shared folder (vmlinux or vmlinuz, as the image has it)


def has_guests(plan: Plan) -> bool:
    return bool(plan.inventory.vms)


def vm_bridge(plan: Plan, node: str) -> str:
    """The bridge guests use on `node`: its bond on `netlab.vm_network` (netlab makes each bond a
    bridge of that name in the node's netns); a node without any bond: a bridge named after the
    VM network, which whoever builds that network provides. Every node must use the same name
    (the domain XML is shared and a migrated guest keeps it)."""
    names = set()
    for each in plan.inventory.nodes:
        if not each.bonds:
            names.add(plan.settings.vm_network)
            continue
        bonds = [b.name for b in each.bonds if b.network == plan.settings.vm_network]
        if not bonds:
            raise NetlabError(f"{each.name} has no bond on the VM network {plan.settings.vm_network!r} (netlab.vm_network)")
        names.add(bonds[0])
    if len(names) != 1:
        raise NetlabError(f"the nodes' bonds on {plan.settings.vm_network!r} must have one name for live migration "
                          f"(got {', '.join(sorted(names))})")
    if node not in plan.nodes:
        raise NetlabError(f"{node} is not a node of this lab")
    return names.pop()


def guest_mac(vm: str) -> str:
    digest = hashlib.sha256(vm.encode()).digest()
    return "52:54:00:" + ":".join(f"{b:02x}" for b in digest[:3])


def host_uuid(plan: Plan, node: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"netlab:{plan.inventory.lab}:{node}"))


def shared_dir(plan: Plan) -> Path:
    return plan.workdir / "guests"


def domain_file(vm: str) -> str:
    """The domain XML's path inside every node (VirtualDomain's `config`)."""
    return f"{SHARED}/{vm}.xml"


def domain_xml(plan: Plan, vm: Vm) -> str:
    """Direct kernel boot from the shared folder, no disk, an emulated e1000 NIC on the VM bridge, serial
    console to a file in the running node's /var/log/libvirt/qemu."""
    domain = ET.Element("domain", type="qemu")
    ET.SubElement(domain, "name").text = vm.name
    ET.SubElement(domain, "uuid").text = str(uuid.uuid5(uuid.NAMESPACE_URL, f"netlab:{plan.inventory.lab}:vm:{vm.name}"))
    ET.SubElement(domain, "memory", unit="MiB").text = str(plan.settings.guest_memory_mb)
    ET.SubElement(domain, "vcpu").text = "1"
    os_ = ET.SubElement(domain, "os")
    ET.SubElement(os_, "type", arch="x86_64", machine="pc").text = "hvm"
    ET.SubElement(os_, "kernel").text = f"{SHARED}/{KERNEL}"
    ET.SubElement(os_, "initrd").text = f"{SHARED}/initrd.img"
    ET.SubElement(os_, "cmdline").text = (f"console=ttyS0 quiet panic=-1 "
                                          f"netlab.ip={vm.address}/{plan.settings.prefix_length} netlab.name={vm.name}")
    features = ET.SubElement(domain, "features")
    ET.SubElement(features, "acpi")
    # TCG's translation cache defaults to 1 GiB; a small guest needs little
    ET.SubElement(ET.SubElement(features, "tcg"), "tb-cache", unit="MiB").text = str(TB_CACHE_MB)
    for event in ("on_poweroff", "on_reboot", "on_crash"):
        ET.SubElement(domain, event).text = "destroy"
    devices = ET.SubElement(domain, "devices")
    ET.SubElement(devices, "emulator").text = QEMU
    nic = ET.SubElement(devices, "interface", type="bridge")
    ET.SubElement(nic, "source", bridge=vm_bridge(plan, vm.home))
    ET.SubElement(nic, "mac", address=guest_mac(vm.name))
    ET.SubElement(nic, "model", type=GUEST_NIC)
    ET.SubElement(nic, "rom", enabled="no")  # no iPXE: direct kernel boot
    serial = ET.SubElement(devices, "serial", type="file")
    ET.SubElement(serial, "source", path=f"/var/log/libvirt/qemu/{vm.name}.console", append="on")
    ET.SubElement(serial, "target", port="0")
    ET.SubElement(devices, "controller", type="usb", model="none")
    ET.SubElement(devices, "memballoon", model="none")
    ET.SubElement(ET.SubElement(devices, "video"), "model", type="none")
    ET.indent(domain)  # VirtualDomain finds the name with a grep for a line holding only <name>...</name>
    return ET.tostring(domain, encoding="unicode") + "\n"


def _write(path: Path, text: str | bytes) -> None:
    """Atomically (two nodes boot at once and both prepare the shared folder)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    if isinstance(text, bytes):
        tmp.write_bytes(text)
    else:
        tmp.write_text(text)
    tmp.chmod(0o644)
    tmp.replace(path)


def _place(source: Path, target: Path) -> None:
    """`source` at `target`: a hard link when both are on one file system, else a copy (atomically)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}")
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
        tmp.chmod(0o644)
    tmp.replace(target)


def prepare_shared(plan: Plan, image: GuestImage | None = None) -> Path:
    """The lab's guest folder: the guest image and one domain XML per VM."""
    image = image or ensure_guest_image()
    folder = shared_dir(plan)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    for source, name in ((image.kernel, KERNEL), (image.initrd, "initrd.img")):
        target = folder / name
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            _place(source, target)
    for vm in plan.inventory.vms:
        _write(folder / f"{vm.name}.xml", domain_xml(plan, vm))
    return folder


def libvirtd_conf(plan: Plan, node: str) -> str:
    return "\n".join([
        "listen_tls = 0",
        "listen_tcp = 1",
        f'listen_addr = "{plan.node_ip(node)}"',
        'auth_tcp = "none"',
        'auth_unix_ro = "none"',
        'auth_unix_rw = "none"',
        'unix_sock_rw_perms = "0700"',
        f'host_uuid = "{host_uuid(plan, node)}"',
        'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"',
        "keepalive_interval = 5",
        "keepalive_count = 5",
    ]) + "\n"


def qemu_conf(plan: Plan, node: str) -> str:
    return "\n".join([
        'security_driver = "none"',
        'user = "root"',
        'group = "root"',
        "dynamic_ownership = 0",
        "remember_owner = 0",
        "cgroup_controllers = [ ]",
        "namespaces = [ ]",
        'stdio_handler = "file"',
        f'migration_address = "{plan.node_ip(node)}"',
        f'migration_host = "{plan.node_ip(node)}"',
    ]) + "\n"


def _accounts(node_dir: Path) -> list[tuple[str, str]]:
    """The node's /etc/passwd and /etc/group: the host's plus QEMU_ACCOUNT, whose ids libvirt's
    qemu driver resolves before it reads qemu.conf (libvirt-daemon-system, which adds them, is not
    needed: qemu.conf makes guests run as root)."""
    binds = []
    for name, line in (("passwd", f"{QEMU_ACCOUNT}:x:{QEMU_ID}:{QEMU_ID}:netlab guests:/var/lib/libvirt:/usr/sbin/nologin"),
                       ("group", f"{QEMU_ACCOUNT}:x:{QEMU_ID}:")):
        lines = Path("/etc", name).read_text().splitlines()
        if not any(entry.startswith(QEMU_ACCOUNT + ":") for entry in lines):
            lines.append(line)
        _write(node_dir / name, "\n".join(lines) + "\n")
        binds.append((str(node_dir / name), f"/etc/{name}"))
    return binds


def node_binds(plan: Plan, node: str, node_dir: Path) -> list[tuple[str, str]]:
    if not has_guests(plan):
        return []
    for binary, package in ((LIBVIRTD, "libvirt-daemon"), (QEMU, "qemu-system-x86"), ("/usr/bin/virsh", "libvirt-clients")):
        if not Path(binary).exists():
            raise NetlabError(f"netlab guests need {binary} (apt-get install {package})")
    shared = prepare_shared(plan)
    etc = node_dir / "etc-libvirt"
    etc.mkdir(exist_ok=True)
    for name in ("libvirt.conf", "libvirt-admin.conf"):
        if Path("/etc/libvirt", name).exists():
            shutil.copy(Path("/etc/libvirt", name), etc / name)
    (etc / "libvirtd.conf").write_text(libvirtd_conf(plan, node))
    (etc / "qemu.conf").write_text(qemu_conf(plan, node))
    (etc / "qemu").mkdir(exist_ok=True)
    lib = node_dir / "var-lib-libvirt"
    for sub in ("qemu", "netlab"):
        (lib / sub).mkdir(parents=True, exist_ok=True)
    cache = node_dir / "var-cache-libvirt"
    cache.mkdir(exist_ok=True)
    (node_dir / "var-log" / "libvirt" / "qemu").mkdir(parents=True, exist_ok=True)
    for point in MOUNT_POINTS:
        os.makedirs(point, mode=0o755, exist_ok=True)
    mounts = [(etc, "/etc/libvirt"), (lib, "/var/lib/libvirt"), (shared, SHARED), (cache, "/var/cache/libvirt")]
    return _accounts(node_dir) + [(str(source), target) for source, target in mounts]


def boot_commands(plan: Plan, node: str) -> list[list[str]]:
    if not has_guests(plan):
        return []
    # /run/resource-agents: VirtualDomain's state files (systemd-tmpfiles makes it on a real host);
    # libvirtd in the foreground: the node's init is its parent, it dies with the node as its guests do
    return [["mkdir", "-p", "-m", "0755", "/run/resource-agents"], [LIBVIRTD, "--listen"]]


def storage_attribute(storage: str) -> str:
    """The node attribute a storage resource sets to 1 where it runs (0 once stopped there; gone
    when the node leaves). One per resource: the agent reads an attribute it does not own, set
    on a node by another resource, as itself running there."""
    return f"netlab-{storage}"


def storage_services(plan: Plan) -> list[Service]:
    return [svc for svc in plan.inventory.services if svc.storage]


def storage_cib(plan: Plan) -> tuple[list[ET.Element], list[ET.Element]]:
    """(resources, constraints) of the nodes' storage (the seed's DRBD, clvmd and GFS2 on each
    node): per storage service an ocf:pacemaker:attribute raising its storage_attribute where it
    runs, on its home only (its failover domain's nodes, when it names one); per VM the
    constraints that keep it off a node whose storage stopped and order it after the storage."""
    inv = plan.inventory
    resources: list[ET.Element] = []
    constraints: list[ET.Element] = []
    storage = storage_services(plan)
    for svc in storage:
        prim = ET.Element("primitive", id=svc.name, **{"class": "ocf", "provider": "pacemaker", "type": "attribute"})
        attrs = ET.SubElement(prim, "instance_attributes", id=f"{svc.name}-ia")
        for key, value in (("name", storage_attribute(svc.name)), ("active_value", "1"), ("inactive_value", "0")):
            ET.SubElement(attrs, "nvpair", id=f"{svc.name}-{key}", name=key, value=value)
        ops = ET.SubElement(prim, "operations")
        ET.SubElement(ops, "op", id=f"{svc.name}-monitor", name="monitor", interval="10s")
        resources.append(prim)
        domain = next((d for d in inv.failover_domains if d.name == svc.domain), None)
        allowed = set(domain.nodes) if domain is not None else {svc.home}
        constraints += [ET.Element("rsc_location", id=f"{svc.name}-on-{node.name}", rsc=svc.name, node=node.member_name,
                                   score="100" if node.name == svc.home else "-INFINITY")
                        for node in inv.nodes if node.name == svc.home or node.name not in allowed]
    for vm in inv.vms if storage else []:
        constraints += _after_storage(vm.name, [svc.name for svc in storage])
    return resources, constraints


def vm_resources(plan: Plan) -> dict[str, dict[str, str]]:
    """Per VM: `primitive` (ocf:heartbeat:VirtualDomain, live migration allowed) and `location`
    (its home, score 100), as CIB XML without single quotes (they go inside '...' to cibadmin)."""
    inv, out = plan.inventory, {}
    expect = inv.expectations
    for vm in inv.vms:
        rid = vm.name
        prim = ET.Element("primitive", id=rid, **{"class": "ocf", "provider": "heartbeat", "type": "VirtualDomain"})
        attrs = ET.SubElement(prim, "instance_attributes", id=f"{rid}-ia")
        # force_stop: the guest has no disk to lose and no ACPI listener, so a graceful shutdown request
        # would only wait out the stop timeout before the agent destroys it anyway
        params = {"config": domain_file(vm.name), "hypervisor": HYPERVISOR, "migration_transport": "tcp",
                  "force_stop": "true"}
        for name, value in params.items():
            ET.SubElement(attrs, "nvpair", id=f"{rid}-{name}", name=name, value=value)
        meta = ET.SubElement(prim, "meta_attributes", id=f"{rid}-meta")
        metas = {"allow-migrate": "true", "migration-threshold": str(expect.max_restarts + 1),
                 "failure-timeout": f"{int(expect.restart_expire_time)}s"}
        for name, value in metas.items():
            ET.SubElement(meta, "nvpair", id=f"{rid}-meta-{name}", name=name, value=value)
        ops = ET.SubElement(prim, "operations")
        for name, interval, timeout in (("start", "0s", "90s"), ("stop", "0s", "90s"), ("monitor", "10s", "30s"),
                                        ("migrate_to", "0s", "120s"), ("migrate_from", "0s", "60s")):
            ET.SubElement(ops, "op", id=f"{rid}-{name}", name=name, interval=interval, timeout=timeout)
        location = ET.Element("rsc_location", id=f"prefer-{rid}-home", rsc=rid,
                              node=inv.node(vm.home).member_name, score="100")
        out[vm.name] = {"primitive": ET.tostring(prim, encoding="unicode"),
                        "location": ET.tostring(location, encoding="unicode")}
    return out


def _after_storage(rid: str, storage: list[str]) -> list[ET.Element]:
    # banned where a storage was stopped (0); a node that has just booted has no value yet, and the
    # Optional orders below start its storage before any guest it takes in the same transition
    needs = ET.Element("rsc_location", id=f"{rid}-needs-storage", rsc=rid)
    rule = ET.SubElement(needs, "rule", id=f"{rid}-needs-storage-rule", score="-INFINITY", **{"boolean-op": "or"})
    for name in storage:
        ET.SubElement(rule, "expression", id=f"{rid}-{name}-stopped", attribute=storage_attribute(name),
                      operation="eq", value="0")
    # Optional: binds only when both act in one transition (a node's start or stop), as rgmanager's
    # service dependencies did; the location rule above holds the rest of the time
    orders = [ET.Element("rsc_order", id=f"{name}-before-{rid}", first=name, then=rid, kind="Optional")
              for name in storage]
    return [needs, *orders]
