"""Fencing in the simulated cluster: the fence daemon of the lowest-id survivor trying the
victim's methods in order (IPMI, PDU, SCSI) until one succeeds, the fence record, the recovery
of the victim's services after it."""

from __future__ import annotations

import time

from hacert.labsim.cluster.records import FENCE_AGENTS, FenceRecord, _FenceOp


class Fenced:
    """Part of ClusterModel (hacert.labsim.cluster.model); runs under world.lock."""

    def start_fence(self, victim: str, fencer: str) -> None:
        if victim in self.fencing:
            return
        op = _FenceOp(victim, fencer, list(self.fence_setup.methods.get(victim, [])))
        self.fencing[victim] = op
        self.world.emit("fence_start", node=victim, by=fencer)
        member = self.nodes[victim].member_name
        if self.manager == "pacemaker":
            self._log(fencer, "pacemaker-schedulerd", f" warning: Cluster node {member} will be fenced: peer is no longer part of the cluster")
            self._log(fencer, "pacemaker-controld", f" notice: Requesting fencing (reboot) of node {member} ")
            self._log(fencer, "pacemaker-fenced", f" notice: Requesting peer fencing (reboot) targeting {member} ")
        else:
            self._log(fencer, "fenced", f"fencing node {member}")
        if not op.methods:
            if self.manager == "pacemaker":
                self._log(fencer, "pacemaker-fenced", f" error: Couldn't find anyone to fence (reboot) {member} using any device")
            else:
                self._log(fencer, "fenced", f"fence {member} failed")
            return
        self._fence_step(op)

    def _fence_step(self, op: _FenceOp) -> None:
        method = op.methods[op.index].kind
        extra = self.timing.slow_fence_extra if self.inv.fault("slow_fence", op.victim) else 0.0
        extra += self.world.cluster_faults.delay(op.victim) if op.index == 0 else 0.0  # the device's `delay`
        if method in ("ipmi", "redfish"):
            delay = self.timing.ipmi_fence if self._bmc_fence_works(op.victim, method) else self.timing.ipmi_fence_failure
        elif method == "pdu":
            delay = self.timing.pdu_fence
        else:
            delay = self.timing.ipmi_fence
        self.world.scheduler.after(delay + extra, lambda: self._fence_complete(op, method), f"fence {op.victim} {method}")

    def _ipmi_works(self, victim: str) -> bool:
        return self.world.bmc_answers(victim) and not self.inv.fault("ipmi_fence_broken", victim)

    def _bmc_fence_works(self, victim: str, method: str) -> bool:
        """Would the BMC's agent succeed? A Redfish BMC also fails its agent when its device fault
        (bmc_dark) is on; the seeded fault ipmi_fence_broken breaks either protocol's agent."""
        if method == "redfish":
            return self._ipmi_works(victim) and not self.world.device_faults.active("bmc_dark", victim)
        return self._ipmi_works(victim)

    def _redfish_reboot(self, victim: str) -> bool:
        """fence_redfish's reboot (fence_action's on/off method): ForceOff, then On, through the node's
        Redfish BMC, which records both in its log service. False when the BMC refuses either."""
        bmc = getattr(self.world, "redfish_bmcs", {}).get(victim)
        if bmc is None:
            return False
        if self.world.chassis_on(victim) and bmc.reset("ForceOff", "admin")[0] != 204:
            return False
        return bmc.reset("On", "admin")[0] == 204

    def _scsi_key_holder(self, victim: str, fencer: str) -> str:
        """Whose key a fence_scsi of `victim` removes: its own, unless the lab's scsi_wrong_key
        adversity makes the device act on another registered node (a misconfigured nodename)."""
        if not self.inv.adversity("scsi_wrong_key", victim):
            return victim
        others = [n for n in self.nodes if n not in (victim, fencer) and self.nodes[n].scsi_registered]
        others = others or [n for n in self.nodes if n != victim and self.nodes[n].scsi_registered]
        return others[0] if others else victim

    def _fence_complete(self, op: _FenceOp, method: str) -> None:
        victim = op.victim
        if not self._can_fence(op.fencer):
            others = [m for m in self.members() if self._can_fence(m)]
            if not others:
                del self.fencing[victim]
                return
            op.fencer = min(others, key=lambda n: self.nodes[n].node_id)
        ok = False
        try:
            if method == "ipmi":
                ok = self._ipmi_works(victim)
                if ok:
                    self.world.chassis_control(victim, "cycle" if self.world.chassis_on(victim) else "on")
            elif method == "redfish":
                ok = self._bmc_fence_works(victim, method) and self._redfish_reboot(victim)
            elif method == "pdu":
                for ref in self.inv.node(victim).power:
                    self.world.set_outlet(ref.pdu, ref.outlet, "reboot")
                ok = bool(self.inv.node(victim).power)
            elif method == "scsi":
                self.nodes[self._scsi_key_holder(victim, op.fencer)].scsi_registered = False
                ok = True
        except Exception as exc:  # a device that refuses counts as a failed agent
            print(f"labsim: fence {victim} by {method} raised {exc!r}", flush=True)
            ok = False
        self.world.emit("fence_attempt", node=victim, method=method, ok=ok, by=op.fencer)
        member_name = self.nodes[victim].member_name
        devices = op.methods[op.index].devices
        if not ok:
            if self.manager == "pacemaker":
                self._fence_pid += 1
                self._log(op.fencer, "pacemaker-fenced", f" error: Operation 'reboot' [{self._fence_pid}] targeting {member_name} "
                                                         f"using {devices[0]} returned 1 ")
            else:
                self._log(op.fencer, "fenced", f"fence {member_name} dev {op.index}.0 agent {FENCE_AGENTS[method]} result: error from agent")
            self.fence_history.append(FenceRecord(victim, op.fencer, "reboot", False, method, time.time()))
            op.index = (op.index + 1) % len(op.methods)
            self._fence_step(op)
            return
        del self.fencing[victim]
        if self.manager == "pacemaker":
            by = self.nodes[op.fencer].member_name
            client = f"pacemaker-controld.{1000 + self.nodes[op.fencer].node_id}@{by}"
            for device in devices:
                self._fence_pid += 1
                self._log(op.fencer, "pacemaker-fenced", f" notice: Operation 'reboot' [{self._fence_pid}] targeting {member_name} "
                                                         f"using {device} returned 0 ")
            self._log(op.fencer, "pacemaker-fenced", f" notice: Operation 'reboot' targeting {member_name} by {by} for {client}: OK (complete) ")
            self._log(op.fencer, "pacemaker-controld", f" notice: Peer {member_name} was terminated (reboot) by {by} on behalf of {client}: OK ")
        else:
            self._log(op.fencer, "fenced", f"fence {member_name} success")
        self.fence_history.append(FenceRecord(victim, op.fencer, "reboot", True, method, time.time()))
        self.world.emit("fence_done", node=victim, method=method, ok=True, by=op.fencer)
        peer = self.drbd_peer(victim)
        if peer is not None:
            self.nodes[peer].drbd_peer_outdated = True
        self._recover_from(victim, op.fencer)

    def _can_fence(self, node: str) -> bool:
        rt = self.nodes[node]
        return rt.member and rt.cman and self._node_up(node)

    def _recover_from(self, victim: str, fencer: str) -> None:
        """rgmanager on the survivors takes over the fenced node's services."""
        down = self.nodes[victim].member_name
        for res in self.resources.values():
            if res.owner != victim or res.state not in ("started", "starting", "recovering", "migrating"):
                continue
            res.busy = False
            if res.kind == "vm" and res.running_on == victim:
                res.running_on = None
            target = self._first_allowed(res, {victim})
            if target is None:
                if res.restricted:
                    self._rgm(fencer, f"Marking {res.full_name} as stopped: Restricted domain unavailable")
                self._stop_resource(res, "stopped")
                continue
            self._rgm(target, f"Taking over service {res.full_name} from down member {down}")
            self._start_on(res, target, self.timing.vm_boot if res.kind == "vm" else self.timing.cluster_start,
                           how="takeover", source=victim)
        self._update_drbd()
