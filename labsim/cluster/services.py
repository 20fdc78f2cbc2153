"""Services and VMs of the simulated cluster: rgmanager (or pacemaker) starting and stopping them,
the periodic status check and restart policy, relocation and live migration, the admin requests
(clusvcadm, pcs), pacemaker's failure record and standby."""

from __future__ import annotations

import time
from hacert.labsim import cts_modes
from typing import Callable

from hacert.labsim.cluster.records import ClusterError, FailureRecord, MigrationJob, Resource, _mono


class Services:
    """Part of ClusterModel (hacert.labsim.cluster.model); runs under world.lock."""

    def start_rgmanager(self, node: str) -> bool:
        rt = self.nodes[node]
        if not rt.cman or not self._node_up(node):
            return False
        if rt.rgmanager:
            return True
        rt.rgmanager = True
        self._rgm(node, "I am node #%d" % rt.node_id)
        self._rgm(node, "Resource Group Manager Starting")
        self.world.scheduler.after(self.timing.cluster_start, lambda: self._rgmanager_ready(node), f"rgmanager {node}")
        self._notify()
        return True

    def _rgmanager_ready(self, node: str) -> None:
        rt = self.nodes[node]
        if not (rt.rgmanager and rt.member):
            if rt.rgmanager and rt.cman:  # not a member yet: try again shortly
                self.world.scheduler.after(self._hb_interval(), lambda: self._rgmanager_ready(node), f"rgmanager {node}")
            return
        for res in self.resources.values():
            if res.kind == "service" and res.state in ("stopped", "failed") and not res.busy:
                target = self._first_allowed(res, set(), need_storage=False)
                if target == node:
                    self._start_on(res, node, self.timing.cluster_start, how="start")
        self._update_drbd()
        self.world.scheduler.after(self.timing.cluster_start * 2 + 0.01, lambda: self._failback(node), f"failback {node}")

    def _failback(self, node: str) -> None:
        """Ordered domains without nofailback return to a better node when it rejoins."""
        if not self._can_host_any(node):
            return
        for res in self.resources.values():
            if res.state != "started" or res.busy or res.nofailback or not res.ordered or res.owner in (None, node):
                continue
            if node not in res.candidates or res.owner not in res.candidates:
                continue
            if res.candidates.index(node) < res.candidates.index(res.owner) and self._can_host(res, node):
                if res.kind == "vm":
                    self._rgm(res.owner, f"Migrating {res.full_name} to better node {self.nodes[node].member_name}")
                    self.migrate(res, node)
                else:
                    self._rgm(res.owner, f"Relocating {res.full_name} to better node {self.nodes[node].member_name}")
                    self.relocate(res, node)

    def _can_host_any(self, node: str) -> bool:
        rt = self.nodes[node]
        return rt.member and rt.rgmanager and self._node_up(node)

    def stop_rgmanager(self, node: str) -> None:
        rt = self.nodes[node]
        if not rt.rgmanager:
            return
        self._rgm(node, "Shutting down")
        moved = []
        for res in self.resources.values():
            if res.owner == node and res.state in ("started", "starting", "migrating", "recovering"):
                self._stop_resource(res, "stopped")
                moved.append(res)
        rt.rgmanager = False
        self._rgm(node, "Shutdown complete, exiting")
        for res in moved:
            if res.kind == "vm":
                target = self._first_allowed(res, {node})
                if target is not None:
                    self._rgm(target, f"Taking over service {res.full_name} from down member {rt.member_name}")
                    self._start_on(res, target, self.timing.vm_boot, how="takeover", source=node)
        self._update_drbd()
        self._notify()

    def _set_running(self, res: Resource, node: str, emit: bool = True) -> None:
        rt = self.nodes[node]
        res.state = "started"
        res.owner = node
        res.last_owner = node
        res.busy = False
        res.running_on = node
        if res.kind == "vm":
            rt.domids[res.name] = rt.next_domid
            rt.next_domid += 1
            if emit:
                self.world.emit("vm_up", vm=res.name, node=node)
            self._crash_once_if_asked(res, node)
        if emit:
            self._emit_service(res)

    def _stop_resource(self, res: Resource, state: str) -> None:
        previous = res.owner
        if res.kind == "vm" and res.running_on is not None:
            host = res.running_on
            res.running_on = None
            if self._node_up(host):
                self.world.emit("vm_down", vm=res.name, node=host, reason=state)
        res.running_on = None
        res.state = state
        res.owner = None
        res.last_owner = previous or res.last_owner
        res.busy = False
        self._emit_service(res)

    def _start_on(self, res: Resource, node: str, delay: float, how: str, source: str | None = None,
                  done: Callable[[bool], None] | None = None) -> None:
        """Start `res` on `node` after `delay`; log as rgmanager does."""
        res.busy = True
        res.state = "starting"
        res.owner = node
        self._emit_service(res)

        def finish() -> None:
            if res.owner != node or res.state != "starting":
                if done:
                    done(False)
                return
            if not self._can_host(res, node, need_storage=res.kind == "vm"):
                res.busy = False
                self._stop_resource(res, "stopped")
                if done:
                    done(False)
                return
            self._set_running(res, node)
            if how == "relocate-threshold":
                self._rgm(source, f"Service {res.full_name} is now running on member {self.nodes[node].node_id}")
            else:
                self._rgm(node, f"Service {res.full_name} started")
            if source is not None and source != node:
                self.world.emit("vm_relocated" if res.kind == "vm" else "service_relocated",
                                vm=res.name, source=source, target=node)
            if res.storage:
                self._update_drbd()
                self.world.scheduler.after(0, lambda: self._storage_came_up(node), "storage up")
            if done:
                done(True)
        self.world.scheduler.after(delay, finish, f"start {res.full_name} on {node}")

    def _storage_came_up(self, node: str) -> None:
        """VMs waiting for a node's storage (stopped, not disabled) start now."""
        for res in self.resources.values():
            if res.kind == "vm" and res.state == "stopped" and not res.busy and self._can_host(res, node):
                target = self._first_allowed(res, set())
                if target is not None:
                    self._start_on(res, target, self.timing.vm_boot, how="start")

    def _status_check(self) -> None:
        try:
            for res in self.resources.values():
                if res.kind != "vm" or res.state != "started" or res.busy or res.owner is None:
                    continue
                rt = self.nodes[res.owner]
                if not (rt.rgmanager and rt.member and self._node_up(res.owner)):
                    continue
                if not cts_modes.state(self).watched(res):  # maintenance mode, a frozen service
                    continue
                if res.running_on != res.owner:
                    self._vm_failed(res)
        finally:
            self.world.scheduler.after(self._status_interval(), self._status_check, "rgmanager-status")

    def _vm_failed(self, res: Resource) -> None:
        node = res.owner
        assert node is not None
        self._record_failure(res, node, "monitor", int(self._status_interval() * 1000), 7, "not running")
        self._rgm(node, f'status on vm "{res.name}" returned 7 (unspecified)')
        self._rgm(node, f"Stopping service {res.full_name}")
        res.state = "recovering"
        res.busy = True
        self._emit_service(res)
        self._rgm(node, f"Service {res.full_name} is recovering")
        if self.inv.fault("vm_not_recovered", res.name):
            self._rgm(node, f'start on vm "{res.name}" returned 1 (generic error)')
            self._rgm(node, f"#68: Failed to start {res.full_name}; return value: 1")
            self._stop_resource(res, "failed")
            return
        now = _mono()
        res.restarts = [t for t in res.restarts if now - t < self.restart_expire]
        relocate = len(res.restarts) >= self.max_restarts and not self.inv.fault("no_relocate", res.name)
        if relocate:
            self._rgm(node, f"Restart threshold for {res.full_name} exceeded; attempting to relocate")
            target = self._first_allowed(res, {node})
            if target is not None:
                res.restarts = []
                res.restart_total += 1
                self._start_on(res, target, self.timing.vm_boot, how="relocate-threshold", source=node)
                return
        self._rgm(node, f"Recovering failed service {res.full_name}")
        res.restarts.append(now)
        res.restart_total += 1
        self._start_on(res, node, self.timing.vm_boot, how="restart")

    def enable(self, res: Resource, node: str | None, local: str) -> str:
        """Start a disabled/stopped resource; returns the node it runs on. Raises ClusterError."""
        if res.state == "started" and res.owner:
            return res.owner
        if res.busy:
            raise ClusterError("Operation violates dependency rule")
        target = node if node is not None else (local if local in res.candidates or not res.restricted else None)
        if target is None or not self._can_host(res, target):
            target = self._first_allowed(res, set()) if node is None else None
        if target is None:
            raise ClusterError("Failure")
        self._start_on(res, target, self.timing.vm_boot if res.kind == "vm" else self.timing.cluster_start, how="start")
        return target

    def disable(self, res: Resource) -> None:
        if res.state == "disabled":
            return
        if res.owner:
            self._rgm(res.owner, f"Stopping service {res.full_name}")
        self._stop_resource(res, "disabled")
        if res.last_owner:
            self._rgm(res.last_owner, f"Service {res.full_name} is disabled")

    def relocate(self, res: Resource, node: str | None) -> str:
        if res.state != "started" or res.owner is None or res.busy:
            raise ClusterError("Failure")
        source = res.owner
        target = node if node is not None else self._first_allowed(res, {source})
        if target is None or target == source or not self._can_host(res, target):
            raise ClusterError("Failure")
        self._rgm(source, f"Stopping service {res.full_name}")
        self._stop_resource(res, "stopped")
        self._rgm(source, f"Service {res.full_name} is stopped")
        self._start_on(res, target, self.timing.vm_boot if res.kind == "vm" else self.timing.cluster_start,
                       how="relocate", source=source)
        return target

    def migrate(self, res: Resource, target: str) -> None:
        """Live migration: the domain keeps running; its address is silent during the switch-over."""
        if res.kind != "vm" or res.state != "started" or res.owner is None or res.busy:
            raise ClusterError("Failure")
        if res.running_on != res.owner or target == res.owner or not self._can_host(res, target):
            raise ClusterError("Failure")
        if cts_modes.state(self).restart_instead(res, target):  # seeded faults: stop and start, not live
            cts_modes.restart_for_migration(self, res, target)
            return
        source = res.owner
        res.busy = True
        res.state = "migrating"
        self._emit_service(res)
        self._rgm(source, f"Migrating {res.full_name} to {self.nodes[target].member_name}")
        copy_time = max(0.05, min(self.timing.vm_boot, 1.0))
        gap = self.timing.migration_drop if self.inv.fault("migration_drops", res.name) else self.timing.migration_switchover

        def switch() -> None:
            if res.state != "migrating" or not self._node_up(target) or not self._node_up(source):
                res.busy = False
                if res.state == "migrating":
                    res.state = "started"
                    self._emit_service(res)
                self._notify()
                return
            gap_start = time.time()
            res.switchover_until = _mono() + gap
            res.running_on = target
            rt = self.nodes[target]
            rt.domids[res.name] = rt.next_domid
            rt.next_domid += 1

            def finish() -> None:
                gap_end = time.time()
                res.owner = res.last_owner = target
                res.state = "started"
                res.busy = False
                job = MigrationJob(source, target, int(copy_time * 1000 + gap * 1000), int(gap * 1000), gap_end)
                self.nodes[source].jobs[res.name] = job
                self.nodes[target].jobs[res.name] = job
                self._rgm(source, f"Migration of {res.full_name} to {self.nodes[target].member_name} completed")
                self.world.emit("migration", vm=res.name, source=source, target=target,
                                gap_start=round(gap_start, 6), gap_end=round(gap_end, 6))
                self._emit_service(res)
            self.world.scheduler.after(gap, finish, f"migrate {res.name} switch-over")
        self.world.scheduler.after(copy_time, switch, f"migrate {res.name} copy")

    def destroy_vm(self, node: str, vm: str) -> bool:
        """`virsh destroy`: the domain dies; rgmanager notices at its next status check."""
        res = self.resources.get(f"vm:{vm}")
        if res is None or res.running_on != node:
            return False
        self._domain_gone(res, node, "destroyed")
        return True

    def _crash_once_if_asked(self, res: Resource, node: str) -> None:
        """Adversity restarted_before_case: the VM's first domain crashes as soon as it runs, so the
        cluster restarts it once before any case, a restart rgmanager keeps counting for
        restart_expire_time (a case destroying the VM must count it too)."""
        if res.restart_total or res.name in self.crashed_once or not self.inv.adversity("restarted_before_case", res.name):
            return
        self.crashed_once.add(res.name)

        def crash() -> None:
            if res.running_on == node and res.state == "started":
                self._domain_gone(res, node, "crashed")
        self.world.scheduler.after(0.1, crash, f"crash {res.name} once")

    def _domain_gone(self, res: Resource, node: str, reason: str) -> None:
        """The VM's qemu process is gone (destroyed, crashed): its tap device leaves the bridge."""
        res.running_on = None
        self._log(node, "kernel", "vbr2: port 2(vnet0) entering disabled state")
        self._log(node, "kernel", "device vnet0 left promiscuous mode")
        self.world.emit("vm_down", vm=res.name, node=node, reason=reason)
        self._notify()

    def _cable_lost(self, node: str, nic: str) -> None:
        """Adversity vm_dies_in_network_case: a VM whose running host loses a cable (pulled, or its
        switch lost power; not the link bounces of a booting switch) crashes as a qemu would, and
        the cluster finds it at its next status check, as after `virsh destroy`."""
        if not self.inv.adversity("vm_dies_in_network_case") or not self._node_up(node):
            return
        cable = self.world.nodes[node].nics[nic].cable
        if cable is not None and self.world.switch_state(cable[0]) == "booting":
            return
        for res in self.resources.values():
            if res.kind == "vm" and res.running_on == node and self.inv.adversity("vm_dies_in_network_case", res.name):
                self._domain_gone(res, node, f"crashed when {node} lost {nic}'s link")

    def _record_failure(self, res: Resource, node: str, task: str, interval_ms: int, rc: int, rc_text: str) -> None:
        now = time.time()
        call = self.calls[node] = self.calls.get(node, 20) + 1
        self.failures.append(FailureRecord(res.name, node, task, interval_ms, rc, rc_text, call, now))
        count, _ = self.fail_counts.get((node, res.name), (0, now))
        self.fail_counts[(node, res.name)] = (count + 1, now)

    def _forget_failures(self, node: str) -> None:
        self.failures = [f for f in self.failures if f.node != node]
        self.fail_counts = {key: value for key, value in self.fail_counts.items() if key[0] != node}

    def cleanup(self, res: Resource) -> None:
        """`pcs resource cleanup`: the resource's failures and fail counts are forgotten everywhere."""
        res.restarts.clear()
        self.failures = [f for f in self.failures if f.resource != res.name]
        self.fail_counts = {key: value for key, value in self.fail_counts.items() if key[1] != res.name}

    def set_standby(self, node: str, standby: bool) -> None:
        self.nodes[node].standby = standby
        if standby:
            for res in self.resources.values():
                if res.owner == node and res.state == "started" and not res.busy:
                    target = self._first_allowed(res, {node})
                    if target is None:
                        self._stop_resource(res, "stopped")
                    elif res.kind == "vm":
                        self.migrate(res, target)
                    else:
                        self.relocate(res, target)
        else:
            self.world.scheduler.after(0, lambda: self._rgmanager_ready(node), "unstandby")
        self._notify()
