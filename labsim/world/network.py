"""The simulated network: switches booting (links bouncing, STP blocking), ports and NICs set
administratively up or down, and every NIC's carrier and port's status recomputed from them."""

from __future__ import annotations

from hacert.labsim.devices.scheduler import Scheduler
from hacert.labsim.devices.switch_boot import schedule_boot
from hacert.labsim.world.records import SwitchModel


class Network:
    """Part of World (hacert.labsim.world.model); runs under world.lock."""

    def _switch_power_changed(self, sw: SwitchModel) -> None:
        for timer in sw.timers:
            Scheduler.cancel(timer)
        sw.timers.clear()
        if not self.power.switch_powered(sw.name):
            self._switch_set(sw, "off", link=False)
            return
        sw.boots += 1
        self._switch_set(sw, "booting", link=False)
        sw.timers.extend(schedule_boot(self.scheduler, sw.name, interval=self.timing.switch_bounce_interval,
                                       bounces=self.timing.switch_bounces, boot=self.timing.switch_boot,
                                       link=lambda up, bounce: self._switch_link(sw, up, bounce=bounce),
                                       ready=lambda: self._switch_ready(sw)))

    def _switch_link(self, sw: SwitchModel, up: bool, bounce: bool = False) -> None:
        if bounce:
            self.emit("link_bounce", switch=sw.name)
        sw.link = up
        self._refresh_links()

    def _switch_ready(self, sw: SwitchModel) -> None:
        self._switch_set(sw, "up", link=True)
        if self.inventory.fault("stp_after_switch_boot", sw.name):
            # A misconfigured STP: a while after the switch is up, both switches
            # recompute the tree and stop forwarding for many seconds (links stay up).
            sw.timers.append(self.scheduler.after(self.timing.stp_delay, self._stp_block, "stp block"))

    def _stp_block(self) -> None:
        blocked = [s for s in self.switches.values() if s.state == "up"]
        for s in blocked:
            self._switch_set(s, "blocking", link=True)

        def release() -> None:
            for s in blocked:
                if s.state == "blocking":
                    self._switch_set(s, "up", link=True)

        self.scheduler.after(self.timing.stp_block, release, "stp release")

    def _switch_set(self, sw: SwitchModel, state: str, link: bool) -> None:
        changed = sw.state != state
        sw.state, sw.link = state, link
        if changed:
            self.emit("switch_state", switch=sw.name, state=state)
        self._refresh_links()

    def forwarding(self, sw: str) -> bool:
        with self.lock:
            return self.switches[sw].state == "up"

    def set_port_admin(self, sw: str, ifindex: int, up: bool) -> None:
        with self.lock:
            port = self.switches[sw].ports[ifindex]
            if port.admin_up == up:
                return
            port.admin_up = up
            self._refresh_links(force_port=(sw, ifindex))

    def set_link_admin(self, node: str, nic: str, up: bool) -> None:
        """`ip link set dev NIC up|down` on the node."""
        with self.lock:
            model = self.nodes[node]
            if nic not in model.nics:
                raise KeyError(nic)
            model.nics[nic].admin_up = up
            self._refresh_links()

    def _refresh_links(self, log: bool = True, force_port: tuple[str, int] | None = None) -> None:
        """Recompute every NIC's carrier and port's oper status; report the changes."""
        for sw in self.switches.values():
            for port in sw.ports.values():
                oper = sw.link and port.admin_up and port.cable is not None and self._nic_alive(*port.cable)
                if oper != port.oper_up or force_port == (sw.name, port.ifindex):
                    port.oper_up = oper
                    if log:
                        self.emit("port", switch=sw.name, port=port.name, ifindex=port.ifindex,
                                  admin_up=port.admin_up, oper_up=oper)
        for node in self.nodes.values():
            for nic in node.nics.values():
                carrier = False
                if nic.cable is not None and self._nic_alive(node.name, nic.name):
                    sw = self.switches[nic.cable[0]]
                    carrier = sw.link and sw.ports[nic.cable[1]].admin_up
                if carrier == nic.carrier:
                    continue
                nic.carrier = carrier
                if not log:
                    continue
                self.emit("carrier", node=node.name, nic=nic.name, up=carrier)
                if node.state == "up":
                    if carrier:
                        self.kernel_log(node.name, f"e1000e: {nic.name} NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx")
                    else:
                        self.kernel_log(node.name, f"e1000e: {nic.name} NIC Link is Down")
                    for bond in node.bonds.values():
                        if nic.name in bond.slaves:
                            bond.carrier_changed()

    def _nic_alive(self, node: str, nic: str) -> bool:
        model = self.nodes[node]
        return model.state != "off" and model.nics[nic].admin_up
