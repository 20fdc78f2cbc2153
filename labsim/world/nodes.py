"""A simulated node's life: what the power model (hacert.labsim.devices.power), its BMC's chassis
control and its own OS do to it (boot, halt, reboot, hang)."""

from __future__ import annotations

import time

from hacert.labsim.devices.scheduler import Scheduler
from hacert.labsim.world.records import NodeModel


class NodeLife:
    """Part of World (hacert.labsim.world.model); runs under world.lock."""

    def set_outlet(self, pdu: str, n: int, action: str) -> None:
        """"on", "off" or "reboot" (off, then on after timing.outlet_reboot)."""
        self.power.set_outlet(pdu, n, action)

    # PowerListener: what the power model's outlets do to this lab (called under self.lock)

    def outlet_switched(self, pdu: str, outlet: int, on: bool) -> None:
        self.emit("outlet", pdu=pdu, outlet=outlet, on=on)

    def bmc_changed(self, node: str, answers: bool) -> None:
        self.emit("bmc", node=node, answers=answers)

    def node_power(self, node: str, powered: bool) -> None:
        model = self.nodes[node]
        if not powered:
            self._set_state(model, "off")
        elif model.chassis_on and model.state == "off":
            self._start_boot(model)  # restore on AC power

    def switch_power(self, switch: str, powered: bool) -> None:
        self._switch_power_changed(self.switches[switch])

    def chassis_control(self, node: str, action: str) -> None:
        """What the BMC does for `chassis power on|off|cycle|reset`."""
        with self.lock:
            model = self.nodes[node]
            if not self.power.bmc_answers(node):
                raise RuntimeError(f"{node}'s BMC has no power")
            self.emit("chassis", node=node, action=action)
            if action == "on":
                model.chassis_on = True
                if model.state == "off":
                    self._start_boot(model)
            elif action == "off":
                model.chassis_on = False
                self._set_state(model, "off")
            elif action in ("cycle", "reset"):
                model.chassis_on = True
                if action == "cycle" or model.state != "off":
                    self._set_state(model, "off")
                self._start_boot(model)
            else:
                raise ValueError(f"unknown chassis action {action!r}")

    def _os_shutdown(self, node: str) -> None:
        # RHEL's rc scripts stop rgmanager and cman before the halt: a clean leave, no fence
        cluster = getattr(self, "cluster", None)
        if cluster is not None and hasattr(cluster, "os_shutdown"):
            cluster.os_shutdown(node)

    def power_off_os(self, node: str) -> None:
        """`poweroff` inside the node: the OS halts and switches the chassis off."""
        with self.lock:
            self._os_shutdown(node)
            model = self.nodes[node]
            model.chassis_on = False
            self._set_state(model, "off")

    def reboot_os(self, node: str) -> None:
        with self.lock:
            self._os_shutdown(node)
            model = self.nodes[node]
            self._set_state(model, "off")
            self._start_boot(model)

    def hang(self, node: str) -> None:
        """The kernel stops (sysrq c): nothing answers, nothing is logged; the BMC still works."""
        with self.lock:
            model = self.nodes[node]
            if model.state == "up":
                self._set_state(model, "hung")

    def _start_boot(self, node: NodeModel) -> None:
        if not self.power.powered(node.name):
            return
        Scheduler.cancel(node.boot_timer)
        self._set_state(node, "booting")
        node.boot_timer = self.scheduler.after(self.timing.boot, lambda: self._boot_done(node), f"boot {node.name}")

    def _boot_done(self, node: NodeModel) -> None:
        node.boot_timer = None
        if node.state != "booting":
            return
        node.up_since = time.monotonic()
        self._set_state(node, "up")

    def _set_state(self, node: NodeModel, state: str) -> None:
        if node.state == state:
            return
        previous = node.state
        if state != "booting":
            Scheduler.cancel(node.boot_timer)
            node.boot_timer = None
        node.state = state
        if state != "up":
            for bond in node.bonds.values():
                bond.stop()
        self.emit("node_state", node=node.name, state=state, previous=previous)
        if previous == "off" or state == "off":
            self._refresh_links()
        if state == "up":
            self.syslog(node.name, "kernel", "Linux version 2.6.32-220.el6.x86_64 (mockbuild@c6b18n3.bsys.dev.centos.org)")
            for bond in node.bonds.values():
                bond.start(quiet=False)
