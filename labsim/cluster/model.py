"""The simulated cluster's model: its state, queries and world events; the jobs live beside it
(membership.py, fenced.py, services.py, storage.py), one mixin each.

One model serves both flavours (cman + rgmanager, pacemaker): the shell commands
in `cluster_commands` only render it differently. Everything runs under
`world.lock`: the World calls `_on_event` synchronously from `world.emit`, and
our timers run on `world.scheduler`.

Behaviour follows seed 002 (AN!Cluster Tutorial 2): a member that stops
answering on the heartbeat network is declared failed after the token
timeout; the lowest-id survivor fences it by its fence methods in order,
looping until one succeeds; its VMs are taken over by the best surviving node
of their failover domain; a destroyed VM is noticed by the periodic status
check and restarted in place until `max_restarts` restarts inside
`restart_expire_time`, then relocated.
"""

from __future__ import annotations

import threading
import time
import zlib
from typing import Any, Callable

from hacert.labsim.cluster.records import SCSI_KEY_FILE, FailureRecord, FenceRecord, NodeRuntime, Resource, _FenceOp, _mono
from hacert.labsim.cluster.fenced import Fenced
from hacert.labsim.cluster.membership import Membership
from hacert.labsim.cluster.services import Services
from hacert.labsim.cluster.storage import Storage


class ClusterModel(Membership, Fenced, Services, Storage):
    def __init__(self, world: Any):
        self.world = world
        self.inv = world.inventory
        self.timing = world.timing
        self.manager = self.inv.cluster.manager
        self.name = self.inv.cluster.name
        self.cluster_id = zlib.crc32(self.name.encode()) & 0xFFFF
        self.generation = 4
        self.config_version = 12
        self.two_node = bool(self.inv.cluster.two_node) if self.inv.cluster.two_node is not None else len(self.inv.nodes) == 2
        self.nodes: dict[str, NodeRuntime] = {}
        for index, node in enumerate(self.inv.nodes, start=1):
            rt = NodeRuntime(node.name, node.member_name, index, node.votes)
            rt.autostart = not self.inv.fault("node_no_rejoin", node.name)
            self.nodes[node.name] = rt
        self.resources: dict[str, Resource] = {}
        for svc in self.inv.services:
            self._add_resource(svc.name, "service", svc.domain, svc.home, svc.storage, svc.address)
        for vm in self.inv.vms:
            self._add_resource(vm.name, "vm", vm.domain, vm.home, False, vm.address)
        self.constraints: dict[str, str] = {}  # pcs resource move: resource -> node
        self.fencing: dict[str, _FenceOp] = {}
        self.fence_history: list[FenceRecord] = []
        self.failures: list[FailureRecord] = []  # pacemaker's failed actions, until a cleanup
        self.fail_counts: dict[tuple[str, str], tuple[int, float]] = {}  # (node, resource) -> (count, last failure)
        self.crashed_once: set[str] = set()  # VMs the adversity restarted_before_case has crashed
        self.calls: dict[str, int] = {}
        self.cold_start_timer: Any = None
        self.cold_start_pending = False
        self._waiters: list[tuple[Callable[[], bool], threading.Event]] = []
        self.max_restarts = self.inv.expectations.max_restarts
        self.restart_expire = self.inv.expectations.restart_expire_time
        from hacert.labsim import fencing

        self.fence_setup = fencing.build(self)
        self._fence_pid = 1000

    def _add_resource(self, name: str, kind: str, domain: str | None, home: str | None,
                      storage: bool, address: str | None) -> None:
        if domain:
            dom = self.inv.domain(domain)
            cands, ordered, restricted, nofailback = list(dom.nodes), dom.ordered, dom.restricted, dom.nofailback
        else:
            others = [n.name for n in self.inv.nodes if n.name != home]
            cands, ordered, restricted, nofailback = ([home] if home else []) + others, False, False, True
        if home is None and cands:
            home = cands[0]
        self.resources[f"{kind}:{name}"] = Resource(name, kind, cands, ordered, restricted, nofailback, home, storage, address)

    def start(self) -> None:
        """Bring the cluster to its ideal state for every node that is up now."""
        now = _mono()
        up = [n for n in self.nodes if self._node_up(n)]
        for name in up:
            rt = self.nodes[name]
            rt.cman = rt.rgmanager = rt.member = rt.joinable = True
            rt.scsi_registered = True
            rt.joined_at = time.time()
            rt.incarnation = 4
            rt.last_ok = now
        for res in self.resources.values():
            if res.kind == "service":
                target = self._first_allowed(res, set(), need_storage=False)
                if target is not None:
                    self._set_running(res, target, emit=False)
        for name in up:
            self.nodes[name].drbd = self._storage_ready(name)
        for res in self.resources.values():
            if res.kind == "vm":
                target = res.home if res.home in up and self._storage_ready(res.home) else self._first_allowed(res, set())
                if target is not None:
                    self._set_running(res, target, emit=False)
        for res in self.resources.values():
            if res.address:
                self.world.register_address(res.address, self._answerer(res))
        self.world.emit("membership", members=self.member_names())
        for res in self.resources.values():  # the initial state, so the event log holds the whole truth
            if res.kind == "vm" and res.running_on:
                self.world.emit("vm_up", vm=res.name, node=res.running_on)
            self._emit_service(res)
        self.world.scheduler.after(self._hb_interval(), self._heartbeat, "cluster-heartbeat")
        self.world.scheduler.after(self._status_interval(), self._status_check, "rgmanager-status")

    def _hb_interval(self) -> float:
        return max(0.05, min(0.25, self.timing.token_timeout / 4))

    def _status_interval(self) -> float:
        return max(0.05, self.timing.status_check_interval)

    def members(self) -> list[str]:
        return [n for n, rt in self.nodes.items() if rt.member]

    def member_names(self) -> list[str]:
        return [self.nodes[n].member_name for n in self.members()]

    def is_member(self, node: str) -> bool:
        return self.nodes[node].member

    def quorate(self) -> bool:
        votes = sum(self.nodes[n].votes for n in self.members())
        return votes >= self.quorum() and votes > 0

    def expected_votes(self) -> int:
        return 1 if self.two_node else sum(rt.votes for rt in self.nodes.values())

    def quorum(self) -> int:
        return 1 if self.two_node else self.expected_votes() // 2 + 1

    def resource(self, name: str) -> Resource:
        if name in self.resources:
            return self.resources[name]
        matches = [r for r in self.resources.values() if r.name == name and r.kind == "service"]
        if len(matches) == 1:
            return matches[0]
        raise KeyError(name)

    def vm_owner(self, vm: str) -> str | None:
        return self.resources[f"vm:{vm}"].owner

    def service_state(self, name: str) -> tuple[str | None, str]:
        res = self.resource(name)
        return res.owner, res.state

    def vm_running_on(self, vm: str) -> str | None:
        res = self.resources[f"vm:{vm}"]
        if res.running_on and self._node_up(res.running_on):
            return res.running_on
        return None

    def node_of(self, name: str) -> str:
        """Inventory node name from a member name, short name or node name."""
        return self.inv.node_by_member(name).name

    def fence_methods(self, node: str) -> list[str]:
        methods = list(self.inv.node(node).fence)
        if self.inv.fault("no_pdu_fence", node):
            methods = [m for m in methods if m != "pdu"]
        return methods

    def _node_up(self, node: str) -> bool:
        return self.world.node_state(node) == "up"

    def _answerer(self, res: Resource) -> Callable[[], str | None]:
        def owner() -> str | None:
            host = res.running_on
            if host is None or not self._node_up(host) or _mono() < res.switchover_until:
                return None
            return host
        return owner

    def _storage_ready(self, node: str) -> bool:
        for svc in self.inv.node(node).storage_services:
            res = self.resources.get(f"service:{svc}")
            if res is None or res.state != "started" or res.owner != node:
                return False
        return True

    def _can_host(self, res: Resource, node: str, need_storage: bool = True) -> bool:
        rt = self.nodes[node]
        if not (rt.member and rt.rgmanager and not rt.standby and self._node_up(node)):
            return False
        return not (need_storage and res.kind == "vm" and not self._storage_ready(node))

    def _first_allowed(self, res: Resource, exclude: set[str], need_storage: bool = True) -> str | None:
        pool = list(res.candidates)
        if not res.restricted:
            pool += [n for n in self.nodes if n not in pool]
        for node in pool:
            if node not in exclude and self._can_host(res, node, need_storage):
                return node
        return None

    def _log(self, node: str, program: str, message: str) -> None:
        if program == "kernel":
            self.world.syslog(node, program, message)
            return
        pids = self.nodes[node].pids
        pid = pids.setdefault(program, 2000 + zlib.crc32(f"{node}/{program}".encode()) % 3000)
        self.world.syslog(node, program, message, pid=pid)

    def _corosync(self, node: str, message: str) -> None:
        self._log(node, "corosync", "  " + message)

    def _rgm(self, node: str | None, message: str) -> None:
        if node is not None:
            self._log(node, "rgmanager", message)

    def _emit_service(self, res: Resource) -> None:
        res.last_transition = time.time()
        owner = self.nodes[res.owner].member_name if res.owner else None
        self.world.emit("service_state", service=res.full_name, owner=owner, node=res.owner, state=res.state)
        self._notify()

    def _notify(self) -> None:
        for cond, event in list(self._waiters):
            if cond():
                event.set()
                self._waiters.remove((cond, event))

    def waiter(self, cond: Callable[[], bool]) -> threading.Event:
        """An event set (under the lock) once `cond()` holds; for shell commands that block."""
        event = threading.Event()
        if cond():
            event.set()
        else:
            self._waiters.append((cond, event))
        return event

    def on_event(self, record: dict[str, Any]) -> None:
        if record.get("kind") == "carrier" and record.get("up") is False and record.get("node") in self.nodes:
            self._cable_lost(record["node"], record["nic"])
            return
        if record.get("kind") != "node_state" or record.get("node") not in self.nodes:
            return
        node, state = record["node"], record["state"]
        if state == "up":
            self._node_booted(node)
        else:
            self._node_died(node, state)

    def _node_died(self, node: str, state: str) -> None:
        rt = self.nodes[node]
        self.world.scheduler.cancel(rt.start_timer)
        rt.start_timer = None
        was_running = rt.cman
        rt.cman = rt.rgmanager = False
        rt.drbd = False
        rt.drbd_sync_role = None
        self._forget_failures(node)  # pacemaker drops a lost node's resource history and fail counts
        for res in self.resources.values():
            if res.running_on == node:
                if res.kind == "vm":
                    self.world.emit("vm_down", vm=res.name, node=node, reason=f"host {state}")
                if state != "hung":
                    res.running_on = None
        if was_running and not rt.member:
            rt.joinable = False
        self._update_drbd()
        self._notify()

    def _node_booted(self, node: str) -> None:
        rt = self.nodes[node]
        for res in self.resources.values():
            if res.running_on == node:  # a hung host came back by reset: its guests are gone
                res.running_on = None
        if not rt.autostart:
            return
        delay = self.timing.cluster_start
        cold = self.cold_start_pending or not any(r.cman for r in self.nodes.values())
        if self._late_cold_starter(node) and cold:
            delay += self.inv.cluster.post_join_delay + self.timing.late_cold_start_extra
        rt.start_timer = self.world.scheduler.after(delay, lambda: self._autostart(node), f"autostart {node}")

    def _late_cold_starter(self, node: str) -> bool:
        faults = [f for f in (self.inv.simulation.faults if self.inv.simulation else []) if f.name == "late_cold_start"]
        if not faults:
            return False
        target = faults[0].target or self.inv.nodes[-1].name
        return node == target

    def _autostart(self, node: str) -> None:
        self.nodes[node].start_timer = None
        if self._node_up(node):
            self.start_cman(node)
            self.start_rgmanager(node)


def attach_cluster(world: Any) -> ClusterModel:
    """Build the cluster model for `world`, subscribe it to world events and start it."""
    with world.lock:
        model = ClusterModel(world)
        world.cluster = model
        world.subscribe(model.on_event)
        from hacert.labsim import fencing
        from hacert.labsim.formats import proc_drbd

        world.register_file("/proc/drbd", lambda node: proc_drbd(model, node))
        if model.manager != "pacemaker":
            world.register_file("/etc/cluster/cluster.conf", lambda node: fencing.cluster_conf(model))
        world.register_file(SCSI_KEY_FILE, model.scsi_key_file)
        from hacert.labsim import cts

        cts.attach(world, model)  # daemons killed, the fence race, quorum (hacert.model.cts's families)
        model.start()
    return model
