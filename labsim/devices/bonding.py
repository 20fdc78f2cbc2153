"""An active-backup bond that behaves like the Linux bonding driver (v3.6.0, RHEL 6).

The kernel polls each slave's carrier every `miimon` ms. Here a carrier change
schedules a poll at the next miimon tick instead, so an idle lab sleeps; the
states, delays and syslog lines are the driver's:

- up → (carrier lost) → down after `downdelay` ("link status definitely down
  for interface eth0, disabling it"), counting a link failure; if it was the
  active slave another one takes over ("making interface eth3 the new active one.").
- down → (carrier back) → back ("link status up for interface eth0, enabling it
  in 120000 ms.") → up after `updelay` ("bond0: link status definitely up for
  interface eth0, 1000 Mbps full duplex."); a bounce while waiting ("link status
  down again after N ms") starts the wait over.
- the updelay is ignored when the bond has no active slave: losing the backup
  while the primary waits brings the primary back at once.
- primary_reselect always: the primary becomes active as soon as it is up.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from hacert.labsim.devices.contracts import BondHost
from hacert.labsim.devices.scheduler import Scheduler, _Timer

DRIVER = "Ethernet Channel Bonding Driver: v3.6.0 (September 26, 2009)"
KERNEL_LINK_WORDS = {"up": "up", "fail": "going down", "down": "down", "back": "going back"}
"""A slave's MII Status as the kernel's /proc/net/bonding words its link states (downdelay and
updelay running: "going down", "going back")."""


@dataclass
class Slave:
    nic: str
    mac: str
    link: str = "down"  # up | fail | down | back
    since: float = 0.0
    failures: int = 0


class BondModel:
    def __init__(self, world: BondHost, node: str, name: str, network: str, address: str, primary: str,
                 slaves: list[str], miimon_ms: int, updelay_ms: int, downdelay_ms: int, macs: dict[str, str]):
        self.world = world
        self.node = node
        self.name = name
        self.network = network
        self.address = address
        self.primary = primary
        self.miimon_ms = miimon_ms
        self.updelay_ms = updelay_ms
        self.downdelay_ms = downdelay_ms
        self.slave_state = {nic: Slave(nic, macs[nic]) for nic in slaves}
        self.active: str | None = None
        self.running = False
        self._phase = 0.0
        self._timer: _Timer | None = None
        self._due = math.inf

    @property
    def slaves(self) -> list[str]:
        return list(self.slave_state)

    # ------------------------------------------------------------ driver life

    def start(self, quiet: bool) -> None:
        """The node booted: enslave the NICs; those with carrier are up at once."""
        self.running = True
        self._phase = time.monotonic()
        for slave in self.slave_state.values():
            slave.link = "up" if self._carrier(slave.nic) else "down"
            slave.since = self._phase
        self._reselect(quiet=quiet)

    def stop(self) -> None:
        """The kernel is gone (power off, hang, reboot): nothing polls any more."""
        self.running = False
        Scheduler.cancel(self._timer)
        self._timer, self._due = None, math.inf
        if self.active is not None:
            previous, self.active = self.active, None
            self.world.emit("bond_active", node=self.node, bond=self.name, slave=None, previous=previous)

    def carrier_changed(self) -> None:
        if self.running:
            self._poll_at(time.monotonic())

    # ------------------------------------------------------------ miimon

    def _carrier(self, nic: str) -> bool:
        return self.world.carrier(self.node, nic)

    def _poll_at(self, when: float) -> None:
        """Poll at the first miimon tick at or after `when`."""
        period = self.miimon_ms / 1000.0
        ticks = math.ceil(max(0.0, when - self._phase) / period - 1e-9)
        due = self._phase + max(ticks, 1) * period
        if due >= self._due:
            return
        Scheduler.cancel(self._timer)
        self._due = due
        self._timer = self.world.scheduler.after(due - time.monotonic(), self._poll, f"miimon {self.node}/{self.name}")

    def _log(self, message: str) -> None:
        self.world.kernel_log(self.node, message)

    def _poll(self) -> None:
        self._timer, self._due = None, math.inf
        if not self.running:
            return
        now = time.monotonic()
        ignore_updelay = self.active is None
        for slave in self.slave_state.values():
            carrier = self._carrier(slave.nic)
            elapsed_ms = int(round((now - slave.since) * 1000))
            if slave.link == "up" and not carrier:
                if self.downdelay_ms > 0:
                    slave.link, slave.since = "fail", now
                    which = "active " if slave.nic == self.active else "backup "
                    self._log(f"bonding: {self.name}: link status down for {which}interface {slave.nic}, "
                              f"disabling it in {self.downdelay_ms} ms.")
                    self._poll_at(now + self.downdelay_ms / 1000.0)
                else:
                    self._definitely_down(slave)
            elif slave.link == "fail":
                if carrier:
                    slave.link = "up"
                    self._log(f"bonding: {self.name}: link status up again after {elapsed_ms} ms for interface {slave.nic}.")
                elif elapsed_ms >= self.downdelay_ms:
                    self._definitely_down(slave)
                else:
                    self._poll_at(slave.since + self.downdelay_ms / 1000.0)
            elif slave.link == "down" and carrier:
                slave.link, slave.since = "back", now
                if self.updelay_ms > 0:
                    self._log(f"bonding: {self.name}: link status up for interface {slave.nic}, "
                              f"enabling it in {self.updelay_ms} ms.")
                self._back(slave, now, ignore_updelay)
            elif slave.link == "back":
                if not carrier:
                    slave.link, slave.since = "down", now
                    self._log(f"bonding: {self.name}: link status down again after {elapsed_ms} ms for interface {slave.nic}.")
                else:
                    self._back(slave, now, ignore_updelay)
        self._reselect(quiet=False)
        if self.active is None and any(s.link == "back" for s in self.slave_state.values()):
            self._poll_at(now + self.miimon_ms / 1000.0)

    def _back(self, slave: Slave, now: float, ignore_updelay: bool) -> None:
        if ignore_updelay or now - slave.since >= self.updelay_ms / 1000.0 - 1e-6:
            slave.link, slave.since = "up", now
            self._log(f"{self.name}: link status definitely up for interface {slave.nic}, 1000 Mbps full duplex.")
            self.world.emit("bond_slave", node=self.node, bond=self.name, nic=slave.nic, up=True)
        else:
            self._poll_at(slave.since + self.updelay_ms / 1000.0)

    def _definitely_down(self, slave: Slave) -> None:
        slave.link, slave.since = "down", time.monotonic()
        slave.failures += 1
        self._log(f"bonding: {self.name}: link status definitely down for interface {slave.nic}, disabling it")
        self.world.emit("bond_slave", node=self.node, bond=self.name, nic=slave.nic, up=False)

    def _reselect(self, quiet: bool) -> None:
        up = [s.nic for s in self.slave_state.values() if s.link == "up"]
        current = self.active
        current_ok = current is not None and self.slave_state[current].link in ("up", "fail")
        if self.primary in up:
            choice = self.primary
        elif current_ok:
            choice = current
        else:
            choice = up[0] if up else None
        if choice == current:
            return
        self.active = choice
        if not quiet:
            if choice is not None:
                self._log(f"bonding: {self.name}: making interface {choice} the new active one.")
                if current is None:
                    self._log(f"bonding: {self.name}: first active interface up!")
            else:
                self._log(f"bonding: {self.name}: now running without any active interface !")
        self.world.emit("bond_active", node=self.node, bond=self.name, slave=choice, previous=current)

    # ------------------------------------------------------------ /proc/net/bonding

    def proc_text(self) -> str:
        """The content of /proc/net/bonding/<name>, as the RHEL 6 driver prints it."""
        lines = [
            DRIVER,
            "",
            "Bonding Mode: fault-tolerance (active-backup)",
            f"Primary Slave: {self.primary} (primary_reselect always)",
            f"Currently Active Slave: {self.active or 'None'}",
            f"MII Status: {'up' if self.active else 'down'}",
            f"MII Polling Interval (ms): {self.miimon_ms}",
            f"Up Delay (ms): {self.updelay_ms}",
            f"Down Delay (ms): {self.downdelay_ms}",
        ]
        for slave in self.slave_state.values():
            lines += [
                "",
                f"Slave Interface: {slave.nic}",
                f"MII Status: {KERNEL_LINK_WORDS[slave.link]}",
                f"Link Failure Count: {slave.failures}",
                f"Permanent HW addr: {slave.mac}",
                "Slave queue ID: 0",
            ]
        return "\n".join(lines) + "\n"
