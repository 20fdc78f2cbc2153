"""`python -m hacert.labsim INVENTORY [--endpoints-json FILE] [--workdir DIR] [--base-port N|auto] [--quiet] [--no-cluster]`

Serves the simulated lab of INVENTORY on 127.0.0.1 until Ctrl-C (or SIGTERM):
prints a table of its endpoints and, with --endpoints-json, writes them as JSON
(written only once every endpoint is serving, so the file's existence means ready).

Ports: `simulation.base_port: auto` (the default) lets the OS choose free ports,
so any number of labs run side by side; a number N gives SSH N+i, BMC N+100+i
(node i), PDU N+200+j, switch N+300+k.
"""

from __future__ import annotations

import time

STARTED = time.monotonic()  # start-up is measured from here: imports included

import argparse
import json
import os
import secrets
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hacert.model.inventory import Inventory, InventoryError, load_inventory
from hacert.labsim.owner import watch_owner

HOST = "127.0.0.1"
SSH_USER = "root"
BMC_USER = "admin"


def _ed25519() -> tuple[str, str]:
    """(OpenSSH private key text, 'ssh-ed25519 AAAA...' public line)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return private, public


def _ports(inv: Inventory, base: int | str) -> dict[str, dict[str, int]]:
    auto = not isinstance(base, int)
    b = 0 if auto else int(base)
    return {
        "ssh": {n.name: 0 if auto else b + i for i, n in enumerate(inv.nodes)},
        "bmc": {n.name: 0 if auto else b + 100 + i for i, n in enumerate(inv.nodes)},
        "pdu": {p.name: 0 if auto else b + 200 + j for j, p in enumerate(inv.pdus)},
        "switch": {s.name: 0 if auto else b + 300 + k for k, s in enumerate(inv.switches)},
    }


def redfish_servers(world: Any, ports: dict[str, int], user: str, password: str, workdir: Path) -> Any:
    from hacert.labsim.redfish import RedfishServers

    return RedfishServers(world, ports, user, password, workdir)


class Lab:
    """Every endpoint of one simulated lab, in this process."""

    def __init__(self, inventory: Inventory, workdir: Path, base_port: int | str | None = None, cluster: bool = True):
        from hacert.labsim.devices.bmc import BmcServers
        from hacert.labsim.devices.snmp import SnmpAgents, pdu_device, switch_device
        from hacert.labsim.ssh import SshServers, load_private_key
        from hacert.labsim.world import World

        self.inventory = inventory
        self.workdir = workdir
        sim = inventory.simulation
        base = base_port if base_port is not None else (sim.base_port if sim else "auto")
        ports = _ports(inventory, base)
        tag = secrets.token_hex(4)
        self.ssh_password = f"labsim-{secrets.token_hex(6)}"
        self.bmc_password = f"labsim-{secrets.token_hex(6)}"
        self.community_ro = f"labsim-ro-{tag}"
        self.community_rw = f"labsim-rw-{tag}"

        host_private, _ = _ed25519()
        client_private, client_public = _ed25519()
        self.key_file = workdir / "id_ed25519"
        self.key_file.write_text(client_private)
        os.chmod(self.key_file, 0o600)
        (workdir / "id_ed25519.pub").write_text(client_public + "\n")
        client_key = load_private_key(client_private)

        self.world = World(inventory, workdir, cluster=cluster)
        redfish = {n.name for n in inventory.nodes if n.bmc is not None and n.bmc.protocol == "redfish"}
        self.bmcs = BmcServers(self.world, {n: p for n, p in ports["bmc"].items() if n not in redfish}, BMC_USER, self.bmc_password)
        self.redfish = redfish_servers(self.world, {n: p for n, p in ports["bmc"].items() if n in redfish}, BMC_USER,
                                       self.bmc_password, workdir)
        self.ssh = SshServers(self.world, ports["ssh"], SSH_USER, self.ssh_password,
                              [client_key.asbytes()], load_private_key(host_private))
        variant = sim.pdu_variant if sim else "rpdu"
        devices: dict[str, Any] = {}
        for p in inventory.pdus:
            devices[p.name] = (pdu_device(self.world, p.name, variant), ports["pdu"][p.name])
        for s in inventory.switches:
            devices[s.name] = (switch_device(self.world, s.name), ports["switch"][s.name])
        self.snmp = SnmpAgents(self.world, devices, self.community_ro, self.community_rw)

    def start(self) -> None:
        self.world.start()
        self.bmcs.start()
        self.redfish.start()
        self.ssh.start()
        self.snmp.start()

    def stop(self) -> None:
        for part in (self.ssh, self.snmp, self.bmcs, self.redfish):
            try:
                part.stop()
            except Exception as exc:  # stopping must go on whatever one part does
                print(f"labsim: stopping {type(part).__name__}: {exc!r}", file=sys.stderr)
        self.world.stop()

    def endpoints(self) -> dict[str, Any]:
        inv = self.inventory
        nodes = {
            n.name: {
                "ssh": {"host": HOST, "port": self.ssh.ports[n.name], "user": SSH_USER,
                        "password": self.ssh_password, "key_file": str(self.key_file)},
                "bmc": self.redfish.endpoint(n.name) if n.name in self.redfish.ports else
                       {"host": HOST, "port": self.bmcs.ports[n.name], "user": BMC_USER, "password": self.bmc_password},
            }
            for n in inv.nodes
        }
        pdus = {
            p.name: {"host": HOST, "port": self.snmp.ports[p.name], "community_ro": self.community_ro,
                     "community_rw": self.community_rw, "version": "1",
                     "outlets": {str(o): self.world.outlet_name(p.name, o) for o in self.world.outlets(p.name)}}
            for p in inv.pdus
        }
        switches = {
            s.name: {"host": HOST, "port": self.snmp.ports[s.name], "community_ro": self.community_ro,
                     "community_rw": self.community_rw, "version": "2c",
                     "ports": {p.name: i for i, p in self.world.ports(s.name).items()}}
            for s in inv.switches
        }
        return {"lab": inv.lab, "pid": os.getpid(), "workdir": str(self.workdir),
                "event_log": str(self.world.event_log_path), "nodes": nodes, "pdus": pdus, "switches": switches}


def endpoint_table(endpoints: dict[str, Any]) -> str:
    rows = [("device", "name", "endpoint", "credentials")]
    for name, node in endpoints["nodes"].items():
        s, b = node["ssh"], node["bmc"]
        rows.append(("node ssh", name, f"{s['host']}:{s['port']}/tcp", f"{s['user']} / {s['password']} (key {s['key_file']})"))
        if b.get("protocol") == "redfish":
            rows.append(("node bmc", name, f"https://{b['host']}:{b['port']}{b['systems_uri']}", f"{b['user']} / {b['password']} (Redfish)"))
        else:
            rows.append(("node bmc", name, f"{b['host']}:{b['port']}/udp", f"{b['user']} / {b['password']} (IPMI lanplus)"))
    for kind in ("pdus", "switches"):
        for name, dev in endpoints[kind].items():
            rows.append((kind[:-1] if kind == "pdus" else "switch", name, f"{dev['host']}:{dev['port']}/udp",
                         f"SNMP v{dev['version']} ro {dev['community_ro']} rw {dev['community_rw']}"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}" for r in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    lines.append(f"event log: {endpoints['event_log']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hacert.labsim", description="Serve a simulated lab on 127.0.0.1.")
    parser.add_argument("inventory")
    parser.add_argument("--endpoints-json", metavar="FILE")
    parser.add_argument("--workdir", metavar="DIR", help="event log, keys (default: a new temporary directory)")
    parser.add_argument("--base-port", default=None, help="'auto' or a number (default: the inventory's)")
    parser.add_argument("--quiet", action="store_true", help="do not print the endpoint table")
    parser.add_argument("--no-cluster", action="store_true",
                        help="devices only: no cluster behaviour (membership, fencing, services, VMs)")
    parser.add_argument("--owner", type=int, metavar="PID",
                        help="stop when process PID ends (the run that started the lab, should it die unable to stop it)")
    args = parser.parse_args(argv)
    try:
        inventory = load_inventory(args.inventory)
    except InventoryError as exc:
        print(f"labsim: {exc}", file=sys.stderr)
        return 2
    if not inventory.simulated:
        print(f"labsim: {args.inventory} has no 'simulation:' section; it describes a real lab", file=sys.stderr)
        return 2
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix=f"labsim-{inventory.lab}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    base: int | str | None = None
    if args.base_port is not None:
        base = args.base_port if args.base_port == "auto" else int(args.base_port)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.owner is not None:
        def owner_gone() -> None:
            print(f"labsim: the process that started it (pid {args.owner}) ended without stopping it; stopping",
                  flush=True)
            stop.set()

        watch_owner(args.owner, owner_gone)
    lab = Lab(inventory, workdir, base, cluster=not args.no_cluster)
    lab.start()
    endpoints = lab.endpoints()
    endpoints["startup_seconds"] = round(time.monotonic() - STARTED, 3)
    if args.endpoints_json:
        target = Path(args.endpoints_json)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(endpoints, indent=2))
        tmp.replace(target)
    if not args.quiet:
        print(endpoint_table(endpoints))
        print(f"labsim: {inventory.lab} serving (started in {endpoints['startup_seconds']:.2f} s); Ctrl-C stops it", flush=True)
    else:
        print(f"labsim: {inventory.lab} ready", flush=True)
    try:
        stop.wait()
    finally:
        lab.stop()
    print("labsim: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
