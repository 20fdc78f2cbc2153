"""A user-space active-backup bond for netlab nodes (this kernel has no bonding driver).

Runs inside the node (its init starts it at boot, so it dies, hangs and reboots with
the node): `python bondd.py CONFIG_JSON`. Each bond is a Linux bridge in the node's
network namespace, made by netlab with the bond's address and the MAC of its primary
NIC; this daemon decides which one slave is in the bridge, with labsim's model of the
kernel driver (`hacert.labsim.devices.bonding.BondModel`: miimon, updelay, downdelay, primary
reselect, the driver's syslog lines). It reads each slave's carrier every miimon
tick, sends a gratuitous ARP through the new slave on a failover, and writes each
bond's status in /proc/net/bonding's format to STATUS_DIR/<bond>.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hacert.labsim.devices.bonding import BondModel  # noqa: E402
from hacert.labsim.devices.contracts import BondHost  # noqa: E402
from hacert.labsim.devices.scheduler import Scheduler  # noqa: E402

ETH_P_ARP = 0x0806


def carrier(nic: str) -> bool:
    try:
        return Path(f"/sys/class/net/{nic}/carrier").read_text().strip() == "1"
    except OSError:  # EINVAL while the NIC is administratively down
        return False


def mac_of(dev: str) -> str:
    return Path(f"/sys/class/net/{dev}/address").read_text().strip()


def ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=False, capture_output=True, timeout=10)


def gratuitous_arp(dev: str, address: str) -> None:
    """One ARP request for our own address, broadcast from `dev` (the switches relearn our MAC)."""
    mac = bytes.fromhex(mac_of(dev).replace(":", ""))
    ipv4 = socket.inet_aton(address)
    frame = (b"\xff" * 6 + mac + struct.pack("!H", ETH_P_ARP)
             + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + ipv4 + b"\x00" * 6 + ipv4)
    try:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
            sock.bind((dev, 0))
            sock.send(frame)
    except OSError as exc:
        print(f"bondd: gratuitous ARP on {dev}: {exc}", file=sys.stderr, flush=True)


class Kernel(BondHost):
    """What BondModel asks of its host (hacert.labsim.devices.contracts.BondHost), answered by this
    node's real links and syslog."""

    def __init__(self, node: str, status_dir: Path) -> None:
        self.lock = threading.RLock()
        self.scheduler = Scheduler(self.lock)
        self.node = node
        self.status_dir = status_dir
        self.bonds: dict[str, BondModel] = {}
        self.addresses: dict[str, str] = {}
        self._written: dict[str, str] = {}
        self._syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def carrier(self, node: str, nic: str) -> bool:
        return carrier(nic)

    def kernel_log(self, node: str, message: str) -> None:
        try:
            self._syslog.sendto(f"<6>kernel: {message}".encode(), "/dev/log")
        except OSError:
            pass
        self.write_status()

    def emit(self, kind: str, **fields: Any) -> None:
        if kind != "bond_active":
            return
        bond, slave, previous = fields["bond"], fields["slave"], fields["previous"]
        if previous:
            ip("link", "set", previous, "nomaster")
        if slave:
            ip("link", "set", slave, "master", bond)
            gratuitous_arp(bond, self.addresses[bond])
        self.write_status()

    def write_status(self) -> None:
        for name, bond in self.bonds.items():
            text = bond.proc_text()
            if self._written.get(name) == text:
                continue
            tmp = self.status_dir / f".{name}.tmp"
            tmp.write_text(text)
            tmp.replace(self.status_dir / name)
            self._written[name] = text


def main() -> None:
    config = json.loads(sys.argv[1])
    status_dir = Path(config["status_dir"])
    status_dir.mkdir(parents=True, exist_ok=True)
    kernel = Kernel(config["node"], status_dir)
    with kernel.lock:
        for spec in config["bonds"]:
            for nic in spec["slaves"]:
                ip("link", "set", nic, "nomaster")  # what the last boot left in the bridge
            macs = {nic: mac_of(nic) for nic in spec["slaves"]}
            model = BondModel(kernel, config["node"], spec["name"], spec["network"], spec["address"],
                              spec["primary"], spec["slaves"], config["miimon_ms"], config["updelay_ms"],
                              config["downdelay_ms"], macs)
            kernel.bonds[spec["name"]] = model
            kernel.addresses[spec["name"]] = spec["address"]
        kernel.scheduler.start()
        for model in kernel.bonds.values():
            model.start(quiet=False)
        kernel.write_status()
    nics = {nic: None for spec in config["bonds"] for nic in spec["slaves"]}
    seen = {nic: carrier(nic) for nic in nics}
    period = config["miimon_ms"] / 1000.0
    while True:
        time.sleep(period)
        now = {nic: carrier(nic) for nic in nics}
        if now != seen:
            seen = now
            with kernel.lock:
                for model in kernel.bonds.values():
                    model.carrier_changed()


if __name__ == "__main__":
    main()
