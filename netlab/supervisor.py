"""The netlab supervisor: builds the lab, serves its devices, keeps the nodes' power, tears it all down.

`python -m hacert.netlab _serve INVENTORY --workdir DIR` runs it in the foreground
(`netlab up` starts it detached). It writes DIR/<lab>/state.json at once and
DIR/<lab>/endpoints.json when the cluster is quorate with every node online and
configured; SIGTERM/SIGINT tear everything down.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from hacert.labsim.owner import watch_owner
from hacert.model.inventory import Inventory

from .config import NetlabError, Plan
from .nodes import NodeFiles, NodePower
from .switches import Switches
from . import events, ns, virt

SSH_USER = "root"
BMC_USER = "admin"
LOOPBACK = "127.0.0.1"


def log(message: str) -> None:
    print(f"netlab {time.strftime('%H:%M:%S')}: {message}", file=sys.stderr, flush=True)


def corosync_conf(plan: Plan) -> str:
    inv = plan.inventory
    nodes = "".join(
        f"    node {{\n        ring0_addr: {plan.ring_ip(n.name)}\n        name: {n.member_name}\n"
        f"        nodeid: {i + 1}\n    }}\n"
        for i, n in enumerate(inv.nodes)
    )
    two_node = inv.cluster.two_node if inv.cluster.two_node is not None else len(inv.nodes) == 2
    return (
        "totem {\n    version: 2\n"
        f"    cluster_name: {inv.cluster.name}\n    transport: knet\n"
        f"    token: {plan.settings.token_ms}\n"
        # knet declares a link dead after a bond failover's ~0.2 s gap with its default ping
        # timeout (token / 2): its link checks must be slower than the token, which still decides
        "    interface {\n        linknumber: 0\n        knet_ping_interval: 1000\n        knet_ping_timeout: 5000\n    }\n"
        "    crypto_cipher: aes256\n    crypto_hash: sha256\n}\n"
        f"nodelist {{\n{nodes}}}\n"
        "quorum {\n    provider: corosync_votequorum\n"
        f"    two_node: {1 if two_node else 0}\n}}\n"
        "logging {\n    to_logfile: yes\n    logfile: /var/log/cluster/corosync.log\n    to_syslog: yes\n"
        "    timestamp: on\n}\n"
    )


class Netlab:
    def __init__(self, inventory: Inventory, workdir: Path) -> None:
        self.plan = Plan.of(inventory, workdir)
        self.inv = inventory
        self.started = time.monotonic()
        self.ssh_password = f"netlab-{secrets.token_hex(6)}"
        self.bmc_password = f"netlab-{secrets.token_hex(6)}"
        tag = secrets.token_hex(4)
        self.community_ro = f"netlab-ro-{tag}"
        self.community_rw = f"netlab-rw-{tag}"
        self.nodes: dict[str, NodePower] = {}
        self.switches = Switches(self.plan, lambda node: self.nodes[node].state != "off")
        self.relays: list[Any] = []
        self.parts: list[Any] = []
        self.redfish: Any = None  # netlab.oob.RedfishBmcs when a node has a Redfish BMC
        self._check_ports()

    def _check_ports(self) -> None:
        for node in self.inv.nodes:
            for what, access in (("ssh", node.ssh), ("bmc", node.bmc)):
                if access is not None and access.host != LOOPBACK:
                    raise NetlabError(f"nodes.{node.name}.{what}.host must be {LOOPBACK} for netlab (its relay)")
        for pdu in self.inv.pdus:
            if pdu.host not in (None, LOOPBACK):
                raise NetlabError(f"pdus.{pdu.name}.host must be {LOOPBACK} for netlab (its relay)")
        for sw in self.inv.switches:
            if sw.ports.method not in ("snmp", "node"):
                raise NetlabError(f"switches.{sw.name}.ports.method must be snmp or node for netlab")
            if sw.ports.method == "snmp" and sw.ports.host not in (None, LOOPBACK):
                raise NetlabError(f"switches.{sw.name}.ports.host must be {LOOPBACK} for netlab (its relay)")

    # ------------------------------------------------------------ build

    def build(self) -> None:
        ns.require()
        plan = self.plan
        left = ns.sweep(plan.prefix)
        if left:
            raise NetlabError("leftovers of an earlier netlab could not be removed: " + ", ".join(left))
        plan.workdir.mkdir(parents=True, exist_ok=True)
        self._network()
        self.switches.build()
        self._bonds()
        root_hash = ns.run("openssl", "passwd", "-6", self.ssh_password).stdout.strip()
        conf, authkey = corosync_conf(plan), os.urandom(256)
        for name in plan.nodes:
            files = NodeFiles(plan, name, root_hash, conf, authkey)
            self.nodes[name] = NodePower(plan, name, files, self._on_state)
        self._oob()
        self._relays()
        for power in self.nodes.values():
            power.power_on(delay=0)

    def _on_state(self, node: str, state: str) -> None:
        """A node without power has no link on any NIC; it gets them back when it boots."""
        events.emit("node_state", node=node, state=state)
        if state in ("off", "booting"):
            nics = ["mgmt0"] + [link.nic for bond in self.inv.node(node).bonds for link in bond.slaves]
            script = "".join(f"link set {nic} {'down' if state == 'off' else 'up'}\n" for nic in nics)
            ns.run_input(script, "ip", "-n", self.plan.node_ns(node), "-batch", "-")

    def _bonds(self) -> None:
        """Each bond: a bridge in the node's netns with the bond's address and its primary NIC's MAC
        (the node's bondd puts the active slave in it). ARP answers only on the interface that owns
        the address, as on a real multi-homed node, so each network's traffic takes its own bond."""
        for node in self.inv.nodes:
            net = self.plan.node_ns(node.name)
            if not node.bonds:
                continue
            ns.run("ip", "netns", "exec", net, "sysctl", "-q", "-w", "net.ipv4.conf.all.arp_ignore=1",
                   "net.ipv4.conf.all.arp_announce=2")
            for bond in node.bonds:
                mac = ns.run("ip", "netns", "exec", net, "cat", f"/sys/class/net/{bond.primary.nic}/address").stdout.strip()
                # a port that is always up keeps the bridge's carrier while bondd swaps slaves: a bridge
                # without carrier flushes its neighbours and its carrier comes back only up to 1 s later
                keep = f"{bond.name}-keep"[:15]
                script = (f"link add {bond.name} type bridge stp_state 0 forward_delay 0\n"
                          f"link set {bond.name} address {mac}\n"
                          f"link add {keep} type veth peer name {keep[:13]}-p\n"
                          f"link set {keep[:13]}-p up\n"
                          f"link set {keep} master {bond.name} up\n"
                          f"addr add {bond.address}/{self.plan.settings.prefix_length} dev {bond.name}\n"
                          f"link set {bond.name} up\n")
                ns.run_input(script, "ip", "-n", net, "-batch", "-")

    def _network(self) -> None:
        plan = self.plan
        mgmt = plan.mgmt_ns
        ns.run("ip", "netns", "add", mgmt)
        ns.run("ip", "-n", mgmt, "link", "set", "lo", "up")
        ns.run("ip", "-n", mgmt, "link", "add", plan.bridge, "type", "bridge")
        ns.run("ip", "-n", mgmt, "link", "set", plan.bridge, "up")
        addresses = [plan.mgmt_ip] + [plan.bmc_ip(n) for n in plan.nodes] + [plan.pdu_ip(p.name) for p in self.inv.pdus]
        addresses += [plan.switch_ip(s.name) for s in self.inv.switches if s.ports.method == "snmp"]
        for address in addresses:
            ns.run("ip", "-n", mgmt, "addr", "add", f"{address}/24", "dev", plan.bridge)
        for node in plan.nodes:
            net = plan.node_ns(node)
            ns.run("ip", "netns", "add", net)
            ns.run("ip", "-n", net, "link", "set", "lo", "up")
            ns.run("ip", "-n", mgmt, "link", "add", plan.veth(node), "type", "veth", "peer", "name", "mgmt0", "netns", net)
            ns.run("ip", "-n", mgmt, "link", "set", plan.veth(node), "master", plan.bridge, "up")
            ns.run("ip", "-n", net, "addr", "add", f"{plan.node_ip(node)}/24", "dev", "mgmt0")
            ns.run("ip", "-n", net, "link", "set", "mgmt0", "up")


    def _oob(self) -> None:
        from hacert.labsim.devices.snmp import Device, pdu_device, switch_device

        from .oob import Agents, Bmcs, Power, wake_socket

        self.power = Power(self.inv, self.nodes, self.switches)
        wake_socket(self.plan.mgmt_ns)
        self.parts.append(Bmcs(self.plan, self.power, BMC_USER, self.bmc_password))
        self.redfish = None
        redfish_nodes = [n.name for n in self.inv.nodes if n.bmc is not None and n.bmc.protocol == "redfish"]
        if redfish_nodes:
            from .oob import RedfishBmcs

            self.redfish = RedfishBmcs(self.plan, self.power, redfish_nodes, BMC_USER, self.bmc_password)
            self.parts.append(self.redfish)
        devices: dict[str, tuple[Device, str]] = {
            pdu.name: (pdu_device(self.power, pdu.name), self.plan.pdu_ip(pdu.name)) for pdu in self.inv.pdus}
        for sw in self.inv.switches:
            if sw.ports.method == "snmp":
                devices[sw.name] = (switch_device(self.switches, sw.name), self.plan.switch_ip(sw.name))
        if devices:
            self.parts.append(Agents(self.plan, devices, self.community_ro, self.community_rw, self.power))

    def _relays(self) -> None:
        from .relay import TcpRelay, UdpRelay

        mgmt = self.plan.mgmt_ns
        self.ports: dict[str, dict[str, int]] = {"ssh": {}, "bmc": {}, "pdu": {}, "switch": {}}
        for node in self.inv.nodes:
            ssh_port = node.ssh.port if node.ssh else 0
            relay = TcpRelay(mgmt, ssh_port, (self.plan.node_ip(node.name), 22))
            self.relays.append(relay)
            self.ports["ssh"][node.name] = relay.port
            bmc_port = node.bmc.port if node.bmc else 0
            if node.bmc is not None and node.bmc.protocol == "redfish":  # HTTPS: a TCP relay to its port 443
                bmc_relay: Any = TcpRelay(mgmt, bmc_port, (self.plan.bmc_ip(node.name), 443))
            else:
                bmc_relay = UdpRelay(mgmt, bmc_port, (self.plan.bmc_ip(node.name), 623))
            self.relays.append(bmc_relay)
            self.ports["bmc"][node.name] = bmc_relay.port
        for pdu in self.inv.pdus:
            udp = UdpRelay(mgmt, pdu.port if pdu.host else 0, (self.plan.pdu_ip(pdu.name), 161))
            self.relays.append(udp)
            self.ports["pdu"][pdu.name] = udp.port
        for sw in self.inv.switches:
            if sw.ports.method == "snmp":
                udp = UdpRelay(mgmt, sw.ports.port if sw.ports.host else 0, (self.plan.switch_ip(sw.name), 161))
                self.relays.append(udp)
                self.ports["switch"][sw.name] = udp.port

    # ------------------------------------------------------------ inside the nodes

    def node_run(self, node: str, command: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        pid = self.nodes[node].init_pid
        if not pid:
            raise NetlabError(f"{node} is not running")
        argv = ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "--", "/bin/sh", "-c", command]
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)

    def ssh_answers(self, node: str) -> bool:
        """Does the node's sshd send its banner (seen from the management netns)?"""
        sock = ns.netns_socket(self.plan.mgmt_ns, socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(2.0)
        try:
            sock.connect((self.plan.node_ip(node), 22))
            return sock.recv(64).startswith(b"SSH-")
        except OSError:
            return False
        finally:
            sock.close()

    def cluster_view(self, node: str) -> tuple[bool, dict[str, bool]]:
        """(quorate, {member name: online}) as node's crm_mon says; (False, {}) when it cannot say."""
        try:
            result = self.node_run(node, "crm_mon -1 --output-as=xml", timeout=15)
        except (NetlabError, subprocess.TimeoutExpired):
            return False, {}
        if result.returncode != 0:
            return False, {}
        try:
            root = ET.fromstring(result.stdout)
        except ET.ParseError:
            return False, {}
        dc = root.find("./summary/current_dc")
        quorate = dc is not None and dc.get("with_quorum") == "true"
        online = {n.get("name", ""): n.get("online") == "true" for n in root.iterfind("./nodes/node")}
        return quorate, online

    @property
    def stack_nodes(self) -> list[str]:
        return [n for n, p in self.nodes.items() if p.stack_at_boot]

    def wait_ready(self) -> None:
        """Every node up; with a cluster stack: quorate, every stack node online (seen by the first)."""
        deadline = time.monotonic() + self.plan.settings.ready_timeout
        if not self.stack_nodes:
            while not all(p.state == "up" and self.ssh_answers(n) for n, p in self.nodes.items()):
                if time.monotonic() > deadline:
                    raise NetlabError("the nodes did not boot in time")
                time.sleep(0.1)
            return
        first = self.stack_nodes[0]
        members = {self.inv.node(n).member_name for n in self.stack_nodes}
        while True:
            failed = [n for n, p in self.nodes.items() if p.last_error or p.state == "off"]
            if failed:
                raise NetlabError("; ".join(f"{n}: {self.nodes[n].last_error or 'off'}" for n in failed))
            quorate, online = self.cluster_view(first) if self.nodes[first].state == "up" else (False, {})
            if quorate and all(online.get(m) for m in members) and all(self.ssh_answers(n) for n in self.nodes):
                return
            if time.monotonic() > deadline:
                raise NetlabError(f"the cluster did not form within {self.plan.settings.ready_timeout:.0f} s "
                                  f"(quorate={quorate}, online={online}); see {self.plan.workdir}/nodes/*/var-log")
            time.sleep(0.5)

    def configure(self) -> None:
        """Fence devices, fencing topology and Dummy resources, loaded from the first node."""
        first = self.stack_nodes[0]
        xml = self.cib_resources()
        script = "\n".join([
            "set -e",
            f"cibadmin --replace -o resources --xml-text '{xml['resources']}'",
            f"cibadmin --create -o configuration --xml-text '{xml['topology']}'",
            f"cibadmin --replace -o constraints --xml-text '{xml['constraints']}'",
            "crm_attribute --type crm_config --name stonith-enabled --update true",
            "crm_attribute --type crm_config --name stonith-timeout --update 60s",
            f"crm_attribute --type rsc_defaults --name resource-stickiness --update {self.stickiness()}",
        ])
        result = self.node_run(first, script, timeout=60)
        if result.returncode != 0:
            raise NetlabError(f"configuring the CIB on {first} failed: {result.stderr.strip() or result.stdout.strip()}")
        wanted = {d["id"] for d in self.fence_devices()} | {rid for rid, _ in self.dummy_resources()}
        wanted |= {vm.name for vm in self.inv.vms} | {svc.name for svc in virt.storage_services(self.plan)}
        deadline = time.monotonic() + 60
        while True:
            started = self.started_resources(first)
            if wanted <= started:
                return
            if time.monotonic() > deadline:
                raise NetlabError(f"resources not started within 60 s: {', '.join(sorted(wanted - started))}")
            time.sleep(0.5)

    def stickiness(self) -> int:
        """Failover domains that do not fail back (rgmanager's nofailback) = resources that stay where
        they run: a stickiness above the home preference (100); otherwise none."""
        domains = self.inv.failover_domains
        return 200 if domains and all(d.nofailback for d in domains) else 0

    def started_resources(self, node: str) -> set[str]:
        try:
            result = self.node_run(node, "crm_mon -1 --output-as=xml", timeout=15)
            root = ET.fromstring(result.stdout)
        except (NetlabError, subprocess.TimeoutExpired, ET.ParseError):
            return set()
        return {r.get("id", "") for r in root.iter("resource") if r.get("role") == "Started" and r.get("active") == "true"}

    def device_id(self, kind: str, index: int, node: str, pdu: str = "", outlet: int = 0, several: bool = False) -> str:
        """A stonith device's id. `fence_names: misleading` (the default): a node's BMC is
        `fence-pilot-pduK` and its outlet `st-nodeK-bmc`, so nothing but the agent tells what a device
        drives (the harness must read the agent, never the name); `plain`: fence-NODE-ipmi, fence-NODE-PDU-N."""
        if self.plan.settings.fence_names == "plain":
            return f"fence-{node}-{kind}" if kind in ("ipmi", "redfish") else f"fence-{node}-{pdu}-{outlet}"
        k = index + 1
        return f"fence-pilot-pdu{k}" if kind in ("ipmi", "redfish") else f"st-node{k}-bmc" + (f"-{outlet}" if several else "")

    def fence_devices(self) -> list[dict[str, Any]]:
        """Every fence device: id, agent, the node it fences, its level, its parameters."""
        out: list[dict[str, Any]] = []
        for i, node in enumerate(self.inv.nodes):
            for level, method in enumerate(node.fence, start=1):
                if method == "ipmi":
                    params = {"ip": self.plan.bmc_ip(node.name), "ipport": "623", "username": BMC_USER,
                              "password": self.bmc_password, "lanplus": "1", "pcmk_host_list": node.member_name,
                              # a dark BMC costs one agent timeout, not two, before the PDU level
                              "pcmk_reboot_retries": "1"}
                    # the inventory's cluster.fence_delay, else netlab.fence_delay on the first node
                    delay = (self.inv.cluster.fence_delay.get(node.name, 0) if self.inv.cluster.fence_delay
                             else (self.plan.settings.fence_delay if i == 0 else 0))
                    if delay:
                        params["delay"] = str(int(round(delay)))
                    out.append({"id": self.device_id("ipmi", i, node.name), "agent": "fence_ipmilan", "node": node.member_name,
                                "level": level, "params": params})
                elif method == "redfish":
                    # Debian's fence_redfish (requests without a timeout): a dark BMC holds its connection
                    # unanswered, so pacemaker's own operation timeout ends the attempt before the PDU level
                    params = {"ip": self.plan.bmc_ip(node.name), "ipport": "443", "username": BMC_USER,
                              "password": self.bmc_password, "ssl_insecure": "1",
                              "systems_uri": self.redfish.systems_uri(node.name) if self.redfish else "/redfish/v1/Systems/1",
                              "pcmk_host_list": node.member_name, "pcmk_reboot_retries": "1", "pcmk_reboot_timeout": "25s"}
                    if i == 0 and self.plan.settings.fence_delay:
                        params["delay"] = str(self.plan.settings.fence_delay)
                    out.append({"id": self.device_id("redfish", i, node.name), "agent": "fence_redfish",
                                "node": node.member_name, "level": level, "params": params})
                elif method == "pdu":
                    for ref in node.power:
                        params = {"ip": self.plan.pdu_ip(ref.pdu), "community": self.community_rw,
                                  "plug": str(ref.outlet), "pcmk_host_list": node.member_name}
                        out.append({"id": self.device_id("pdu", i, node.name, ref.pdu, ref.outlet, len(node.power) > 1),
                                    "agent": "fence_apc_snmp",
                                    "node": node.member_name, "level": level, "params": params})
        return out

    def dummy_resources(self) -> list[tuple[str, str | None]]:
        """(id, home node) of the Dummy resources standing in for VMs: the inventory's non-storage
        services (preferring their home), else `netlab.dummies` resources dummy1.. with no home."""
        services = [(svc.name, svc.home) for svc in self.inv.services if not svc.storage]
        return services or [(f"dummy{k}", None) for k in range(1, self.plan.settings.dummies + 1)]

    def cib_resources(self) -> dict[str, str]:
        resources = ET.Element("resources")
        for dev in self.fence_devices():
            prim = ET.SubElement(resources, "primitive", id=dev["id"], **{"class": "stonith", "type": dev["agent"]})
            attrs = ET.SubElement(prim, "instance_attributes", id=f"{dev['id']}-ia")
            for name, value in dev["params"].items():
                ET.SubElement(attrs, "nvpair", id=f"{dev['id']}-{name}", name=name, value=value)
            ops = ET.SubElement(prim, "operations")
            ET.SubElement(ops, "op", id=f"{dev['id']}-monitor", name="monitor", interval="60s")
        for rid, home in self.dummy_resources():
            prim = ET.SubElement(resources, "primitive", id=rid, **{"class": "ocf", "provider": "pacemaker", "type": "Dummy"})
            ops = ET.SubElement(prim, "operations")
            ET.SubElement(ops, "op", id=f"{rid}-monitor", name="monitor", interval="10s")
        storage_resources, storage_constraints = virt.storage_cib(self.plan)
        resources.extend(storage_resources)
        guests = virt.vm_resources(self.plan) if virt.has_guests(self.plan) else {}
        for parts in guests.values():
            resources.append(ET.fromstring(parts["primitive"]))
        topology = ET.Element("fencing-topology")
        levels: dict[tuple[str, int], list[str]] = {}
        for dev in self.fence_devices():
            levels.setdefault((dev["node"], dev["level"]), []).append(dev["id"])
        for (node, level), devices in levels.items():
            ET.SubElement(topology, "fencing-level", id=f"fl-{node}-{level}", target=node, index=str(level),
                          devices=",".join(devices))
        # resources hold no quote: they are passed inside single quotes to the node's shell
        constraints = ET.Element("constraints")
        for rid, home in self.dummy_resources():
            if home:
                ET.SubElement(constraints, "rsc_location", id=f"prefer-{rid}-home", rsc=rid,
                              node=self.inv.node(home).member_name, score="100")
        for parts in guests.values():
            constraints.append(ET.fromstring(parts["location"]))
        constraints.extend(storage_constraints)
        return {"resources": ET.tostring(resources, encoding="unicode"),
                "constraints": ET.tostring(constraints, encoding="unicode"),
                "topology": ET.tostring(topology, encoding="unicode")}

    # ------------------------------------------------------------ published

    def endpoints(self) -> dict[str, Any]:
        inv = self.inv
        return {
            "lab": inv.lab,
            "pid": os.getpid(),
            "workdir": str(self.plan.workdir),
            "netlab_events": str(self.plan.workdir / "events.jsonl"),
            "netlab": {"prefix": self.plan.prefix, "mgmt_netns": self.plan.mgmt_ns,
                       "node_netns": {n: self.plan.node_ns(n) for n in self.plan.nodes},
                       "node_addresses": {n: self.plan.node_ip(n) for n in self.plan.nodes},
                       "bmc_addresses": {n: self.plan.bmc_ip(n) for n in self.plan.nodes},
                       "fence_devices": [{k: v for k, v in d.items() if k != "params"} for d in self.fence_devices()]},
            "nodes": {
                n.name: {
                    "ssh": {"host": LOOPBACK, "port": self.ports["ssh"][n.name], "user": SSH_USER,
                            "password": self.ssh_password},
                    "bmc": (self.redfish.endpoint(n.name, LOOPBACK, self.ports["bmc"][n.name])
                            if self.redfish is not None and n.bmc is not None and n.bmc.protocol == "redfish" else
                            {"host": LOOPBACK, "port": self.ports["bmc"][n.name], "user": BMC_USER, "password": self.bmc_password}),
                }
                for n in inv.nodes
            },
            "pdus": {
                p.name: {"host": LOOPBACK, "port": self.ports["pdu"][p.name], "community_ro": self.community_ro,
                         "community_rw": self.community_rw, "version": "1",
                         "outlets": {str(n): self.power.outlet_name(p.name, n) for n in self.power.outlets(p.name)}}
                for p in inv.pdus
            },
            "switches": {
                s.name: {"host": LOOPBACK, "port": self.ports["switch"][s.name], "community_ro": self.community_ro,
                         "community_rw": self.community_rw, "version": "1"}
                for s in inv.switches if s.ports.method == "snmp"
            },
            "startup_seconds": round(time.monotonic() - self.started, 1),
            "memory_mb": round(self.memory_mb(), 1),
        }

    def memory_mb(self) -> float:
        """Proportional set size of the supervisor and every process in netlab's namespaces."""
        pids = {os.getpid()}
        for name in ns.netns_list(self.plan.prefix):
            pids.update(ns.netns_pids(name))
        total_kb = 0
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total_kb += int(line.split()[1])
            except OSError:
                pass
        return total_kb / 1024

    # ------------------------------------------------------------ teardown

    def teardown(self) -> list[str]:
        for power in self.nodes.values():
            power.shutdown()
        for relay in self.relays:
            relay.close()
        for part in self.parts:
            part.stop()
        self.switches.stop()
        return ns.sweep(self.plan.prefix)


def serve(inventory: Inventory, workdir: Path, owner: int | None = None) -> int:
    """Build the lab, serve it until SIGTERM/SIGINT (or until process `owner` ends), tear it down."""
    lab = Netlab(inventory, workdir)
    lab.plan.workdir.mkdir(parents=True, exist_ok=True)
    lab.plan.workdir.chmod(0o700)  # secrets and the nodes' sysrq FIFOs live here
    state = lab.plan.workdir / "state.json"
    endpoints = lab.plan.workdir / "endpoints.json"
    endpoints.unlink(missing_ok=True)
    events.open_log(lab.plan.workdir / "events.jsonl")
    state.write_text(json.dumps({"pid": os.getpid(), "prefix": lab.plan.prefix, "lab": inventory.lab}))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    if owner is not None:
        def owner_gone() -> None:
            log(f"the process that started this lab (pid {owner}) ended without stopping it; tearing it down")
            done.set()

        watch_owner(owner, owner_gone)
    code = 0
    try:
        lab.build()
        lab.wait_ready()
        if lab.stack_nodes:
            log(f"cluster formed in {time.monotonic() - lab.started:.1f} s; configuring fencing and resources")
            lab.configure()
        data = lab.endpoints()
        tmp = endpoints.with_suffix(".tmp")
        # root's password of the nodes: a node's root is root of this machine (no user namespace)
        tmp.unlink(missing_ok=True)
        tmp.touch(mode=0o600)
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(endpoints)
        log(f"ready in {data['startup_seconds']} s, {data['memory_mb']} MB")
        done.wait()
    except NetlabError as exc:
        log(f"ERROR: {exc}")
        code = 2
    except Exception as exc:  # the lab must be torn down whatever broke
        log(f"ERROR: {type(exc).__name__}: {exc}")
        code = 3
    finally:
        left = lab.teardown()
        endpoints.unlink(missing_ok=True)
        state.unlink(missing_ok=True)
        if left:
            log("left behind: " + ", ".join(left))
            code = code or 4
        log("down")
    return code
