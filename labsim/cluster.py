"""The simulated cluster: membership, fencing, rgmanager services and VMs, DRBD.

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
from dataclasses import dataclass, field
from typing import Any, Callable

from hacert.labsim import cts

STATE_CODES = {
    "stopped": 110, "starting": 111, "started": 112, "stopping": 113, "failed": 114,
    "uninitialized": 115, "checking": 116, "error": 117, "recovering": 118,
    "disabled": 119, "migrating": 120,
}
DRBD_MINORS = 3  # r0..r2 as in the tutorial; DRBD resources are not part of the inventory
FENCE_AGENTS = {"ipmi": "fence_ipmilan", "pdu": "fence_apc_snmp", "scsi": "fence_scsi"}
SCSI_KEY_FILE = "/var/run/cluster/fence_scsi.key"
"""Where fence_scsi (RHEL 6/7) keeps the key it registered for this node."""


def _mono() -> float:
    return time.monotonic()


@dataclass
class NodeRuntime:
    name: str
    member_name: str
    node_id: int
    votes: int
    autostart: bool = True
    cman: bool = False
    rgmanager: bool = False
    member: bool = False
    joinable: bool = False
    joined_at: float | None = None  # wall clock
    incarnation: int = 0
    last_ok: float = 0.0
    start_timer: Any = None
    standby: bool = False
    scsi_registered: bool = False  # its key on the shared disk: registered when cman starts (unfencing), removed by a fence
    drbd: bool = False
    drbd_sync_until: float = 0.0
    drbd_sync_role: str | None = None  # "source" | "target" while resyncing
    drbd_peer_outdated: bool = False
    next_domid: int = 1
    domids: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, "MigrationJob"] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)


@dataclass
class MigrationJob:
    source: str
    target: str
    elapsed_ms: int
    downtime_ms: int
    completed: float


@dataclass
class Resource:
    """An rgmanager resource group (`service:NAME` or `vm:NAME`)."""

    name: str
    kind: str  # "vm" | "service"
    candidates: list[str]
    ordered: bool
    restricted: bool
    nofailback: bool
    home: str | None
    storage: bool = False
    address: str | None = None
    state: str = "stopped"
    owner: str | None = None
    last_owner: str | None = None
    restarts: list[float] = field(default_factory=list)
    restart_total: int = 0
    last_transition: float = field(default_factory=time.time)
    running_on: str | None = None  # where the VM's domain actually runs
    switchover_until: float = 0.0
    busy: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass
class FenceRecord:
    target: str
    by: str
    action: str
    ok: bool
    method: str | None
    completed: float  # wall clock


@dataclass
class FailureRecord:
    """A failed resource action as pacemaker records it (crm_mon's <failures>), per node."""

    resource: str
    node: str
    task: str
    interval_ms: int
    rc: int
    rc_text: str
    call: int
    when: float  # wall clock


@dataclass
class _FenceOp:
    victim: str
    fencer: str
    methods: list[Any]  # hacert.labsim.fencing.SimMethod, the victim's configured methods in order
    index: int = 0


class ClusterError(Exception):
    """A clusvcadm/pcs request the cluster refuses (message as the tool prints it)."""


class ClusterModel:
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
        self.calls: dict[str, int] = {}
        self.cold_start_timer: Any = None
        self.cold_start_pending = False
        self._waiters: list[tuple[Callable[[], bool], threading.Event]] = []
        self.max_restarts = self.inv.expectations.max_restarts
        self.restart_expire = self.inv.expectations.restart_expire_time
        from hacert.labsim import fencing

        self.fence_setup = fencing.build(self)
        self._fence_pid = 1000

    # ------------------------------------------------------------ setup

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

    # ------------------------------------------------------------ queries

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

    # ------------------------------------------------------------ logging helpers

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

    # ------------------------------------------------------------ world events

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

    # ------------------------------------------------------------ stack start/stop

    def start_cman(self, node: str) -> bool:
        rt = self.nodes[node]
        if not self._node_up(node):
            return False
        if rt.cman:
            return True
        rt.cman = True
        rt.joinable = True
        rt.incarnation += 4
        rt.scsi_registered = True
        self._corosync(node, "[MAIN  ] Corosync Cluster Engine ('1.4.1'): started and ready to provide service.")
        self._corosync(node, f"[TOTEM ] The network interface [{self._hb_address(node) or '127.0.0.1'}] is now up.")
        if not self.members():
            self._form_cluster(node)
        else:
            self._try_join(node)
        self._log(node, "fenced", "fenced 3.0.12.1 started")
        return True

    def _form_cluster(self, node: str) -> None:
        rt = self.nodes[node]
        rt.member = True
        rt.joined_at = time.time()
        rt.last_ok = _mono()
        self.generation += 4
        for res in self.resources.values():  # a fresh cluster has no memory of owners
            res.owner = res.last_owner = None
            res.restarts.clear()
            res.state = "disabled" if res.kind == "vm" else "stopped"
        self._corosync(node, "[TOTEM ] A processor joined or left the membership and a new membership was formed.")
        self._corosync(node, "[CMAN  ] quorum regained, resuming activity")
        self._corosync(node, "[QUORUM] This node is within the primary component and will provide service.")
        self._corosync(node, f"[QUORUM] Members[1]: {rt.node_id}")
        self.world.emit("member_joined", node=node)
        self.world.emit("membership", members=self.member_names())
        self.cold_start_pending = True
        self.world.scheduler.cancel(self.cold_start_timer)
        self.cold_start_timer = self.world.scheduler.after(
            self.inv.cluster.post_join_delay, self._post_join_delay_expired, "post_join_delay")
        self._notify()

    def _post_join_delay_expired(self) -> None:
        self.cold_start_timer = None
        self.cold_start_pending = False
        members = self.members()
        if not members or not self.quorate():
            return
        fencer = min(members, key=lambda n: self.nodes[n].node_id)
        for node, rt in self.nodes.items():
            if not rt.member and node not in self.fencing:
                self.start_fence(node, fencer)

    def _try_join(self, node: str) -> bool:
        rt = self.nodes[node]
        members = self.members()
        if not rt.joinable or not rt.cman or rt.member or node in self.fencing:
            return False
        if not any(self._linked(node, m) for m in members):
            return False
        rt.member = True
        rt.joined_at = time.time()
        rt.last_ok = _mono()
        self.generation += 4
        members = self.members()
        ids = " ".join(str(self.nodes[m].node_id) for m in members)
        for m in members:
            self._corosync(m, "[TOTEM ] A processor joined or left the membership and a new membership was formed.")
            self._corosync(m, f"[QUORUM] Members[{len(members)}]: {ids}")
        self.world.emit("member_joined", node=node)
        self.world.emit("membership", members=self.member_names())
        self._notify()
        return True

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

    def stop_cman(self, node: str) -> None:
        rt = self.nodes[node]
        if rt.rgmanager:
            self.stop_rgmanager(node)
        if not rt.cman:
            return
        was_member = rt.member
        rt.cman = rt.member = rt.joinable = False
        rt.joined_at = None
        if was_member:
            self.generation += 4
            members = self.members()
            ids = " ".join(str(self.nodes[m].node_id) for m in members)
            for m in members:
                self._corosync(m, "[TOTEM ] A processor joined or left the membership and a new membership was formed.")
                self._corosync(m, f"[QUORUM] Members[{len(members)}]: {ids}")
            self.world.emit("membership", members=self.member_names())
        self._update_drbd()
        self._notify()

    def os_shutdown(self, node: str) -> None:
        """`poweroff`/`reboot` inside the node: the rc scripts stop rgmanager and cman cleanly."""
        if self.nodes[node].cman:
            self.stop_cman(node)

    # ------------------------------------------------------------ heartbeat

    def _hb_address(self, node: str) -> str | None:
        net = self.inv.cluster.heartbeat_network
        for bond in self.inv.node(node).bonds:
            if net is None or bond.network == net:
                return bond.address
        return None

    def _linked(self, a: str, b: str) -> bool:
        addr_a, addr_b = self._hb_address(a), self._hb_address(b)
        if addr_a is None or addr_b is None:
            return self._node_up(a) and self._node_up(b)
        return self.world.reachable(a, addr_b) and self.world.reachable(b, addr_a)

    def _heartbeat(self) -> None:
        try:
            self._heartbeat_once()
        finally:
            self.world.scheduler.after(self._hb_interval(), self._heartbeat, "cluster-heartbeat")

    def _heartbeat_once(self) -> None:
        now = _mono()
        members = self.members()
        if members:
            alive = [n for n in members if self._node_up(n) and self.nodes[n].cman]
            main = self._main_component(alive)
            for n in main:
                self.nodes[n].last_ok = now
            lost = [n for n in members if n not in main and now - self.nodes[n].last_ok >= self.timing.token_timeout]
            if lost:
                self._members_lost(lost, main)
        for node, rt in self.nodes.items():
            if rt.cman and rt.joinable and not rt.member and self._node_up(node):
                if self.members():
                    self._try_join(node)
        self._update_drbd()

    def _main_component(self, alive: list[str]) -> list[str]:
        left = list(alive)
        comps: list[list[str]] = []
        while left:
            comp = [left.pop(0)]
            grew = True
            while grew:
                grew = False
                for n in list(left):
                    if any(self._linked(n, c) for c in comp):
                        comp.append(n)
                        left.remove(n)
                        grew = True
            comps.append(comp)
        if not comps:
            return []
        return max(comps, key=lambda c: (sum(self.nodes[n].votes for n in c), -min(self.nodes[n].node_id for n in c)))

    def _members_lost(self, lost: list[str], survivors: list[str]) -> None:
        old = len(self.members())
        for n in lost:
            rt = self.nodes[n]
            rt.member = False
            rt.joinable = False
            rt.joined_at = None
        self.generation += 4
        ids = " ".join(str(self.nodes[s].node_id) for s in survivors)
        fencer = min(survivors, key=lambda n: self.nodes[n].node_id) if survivors else None
        for s in survivors:
            self._corosync(s, "[TOTEM ] A processor failed, forming new configuration.")
            self._corosync(s, f"[QUORUM] Members[{len(survivors)}]: {ids}")
            self._corosync(s, "[TOTEM ] A processor joined or left the membership and a new membership was formed.")
            self._corosync(s, f"[CPG   ] chosen downlist: sender r(0) ip({self._hb_address(fencer) or '127.0.0.1'}) ; members(old:{old} left:{len(lost)})")
            self._corosync(s, "[MAIN  ] Completed service synchronization, ready to provide service.")
            for n in lost:
                self._log(s, "kernel", f"dlm: closing connection to node {self.nodes[n].node_id}")
        for n in lost:
            self.world.emit("member_lost", node=n, observer=fencer)
        self.world.emit("membership", members=self.member_names())
        self._update_drbd()
        if fencer is None:
            return
        if not self.quorate():
            for s in survivors:
                self._corosync(s, "[CMAN  ] quorum lost, blocking activity")
            return
        for n in lost:
            self.start_fence(n, fencer)
        self._notify()

    # ------------------------------------------------------------ fencing

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
        if method == "ipmi":
            delay = self.timing.ipmi_fence if self._ipmi_works(op.victim) else self.timing.ipmi_fence_failure
        elif method == "pdu":
            delay = self.timing.pdu_fence
        else:
            delay = self.timing.ipmi_fence
        self.world.scheduler.after(delay + extra, lambda: self._fence_complete(op, method), f"fence {op.victim} {method}")

    def _ipmi_works(self, victim: str) -> bool:
        return self.world.bmc_answers(victim) and not self.inv.fault("ipmi_fence_broken", victim)

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

    # ------------------------------------------------------------ resources

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
                if not cts.state(self).watched(res):  # maintenance mode, a frozen service
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

    # ------------------------------------------------------------ admin requests (clusvcadm, pcs)

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
        if cts.state(self).restart_instead(res, target):  # seeded faults: stop and start, not live
            cts.restart_for_migration(self, res, target)
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

    # ------------------------------------------------------------ pacemaker's failure record

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

    # ------------------------------------------------------------ DRBD

    def _storage_nodes(self) -> list[str]:
        return [n.name for n in self.inv.nodes if n.storage_services]

    def drbd_peer(self, node: str) -> str | None:
        others = [n for n in self._storage_nodes() if n != node]
        return others[0] if others else None

    def _update_drbd(self) -> None:
        now = _mono()
        resync = max(0.5, self.timing.cluster_start * 2)
        for node in self._storage_nodes():
            rt = self.nodes[node]
            running = self._node_up(node) and self._storage_ready(node)
            if running and not rt.drbd:
                rt.drbd = True
                peer = self.drbd_peer(node)
                if peer and self.nodes[peer].drbd:
                    rt.drbd_sync_role, rt.drbd_sync_until = "target", now + resync
                    self.nodes[peer].drbd_sync_role, self.nodes[peer].drbd_sync_until = "source", now + resync
                    self.nodes[peer].drbd_peer_outdated = rt.drbd_peer_outdated = False
                    self.world.scheduler.after(resync + 0.01, self._update_drbd, "drbd resync")
            elif not running and rt.drbd:
                rt.drbd = False
                rt.drbd_sync_role = None
            if rt.drbd_sync_role and now >= rt.drbd_sync_until:
                rt.drbd_sync_role = None

    def drbd_view(self, node: str) -> dict[str, Any] | None:
        """cs/ro/ds and sync progress of the node's DRBD minors, or None when DRBD is not loaded."""
        rt = self.nodes[node]
        self._update_drbd()
        if not rt.drbd:
            return None
        peer = self.drbd_peer(node)
        peer_rt = self.nodes[peer] if peer else None
        if peer_rt is not None and peer_rt.drbd and self._node_up(peer):
            if rt.drbd_sync_role:
                total = max(0.001, max(0.5, self.timing.cluster_start * 2))
                done = 1.0 - max(0.0, rt.drbd_sync_until - _mono()) / total
                if rt.drbd_sync_role == "source":
                    return {"cs": "SyncSource", "ro": "Primary/Primary", "ds": "UpToDate/Inconsistent", "progress": done}
                return {"cs": "SyncTarget", "ro": "Primary/Primary", "ds": "Inconsistent/UpToDate", "progress": done}
            return {"cs": "Connected", "ro": "Primary/Primary", "ds": "UpToDate/UpToDate", "progress": None}
        peer_ds = "Outdated" if rt.drbd_peer_outdated else "DUnknown"
        return {"cs": "WFConnection", "ro": "Primary/Unknown", "ds": f"UpToDate/{peer_ds}", "progress": None}

    # ------------------------------------------------------------ SCSI-3 persistent reservations

    def scsi_keys(self) -> list[str]:
        base = self.cluster_id & 0xFFFF
        # a registration stays on the disk whatever its node does (hung, off) until a fence removes it
        return [f"0x{base:04x}{rt.node_id:04x}" for rt in self.nodes.values()
                if rt.scsi_registered and "scsi" in self.fence_methods(rt.name)]

    def scsi_key(self, node: str) -> str:
        """The node's registration key as fence_scsi makes it (cluster id and node id, hex)."""
        return f"0x{self.cluster_id & 0xFFFF:04x}{self.nodes[node].node_id:04x}"

    def scsi_key_file(self, node: str) -> str | None:
        """fence_scsi's record of the node's own key (written when it unfenced itself), lower-case hex
        without 0x; no file on a node that SCSI does not fence."""
        if "scsi" not in self.fence_methods(node):
            return None
        return self.scsi_key(node)[2:] + "\n"

    def scsi_holder(self) -> str | None:
        members = [n for n in self.members() if self.nodes[n].scsi_registered and "scsi" in self.inv.node(n).fence]
        if not members:
            return None
        rt = self.nodes[min(members, key=lambda n: self.nodes[n].node_id)]
        return f"0x{self.cluster_id & 0xFFFF:04x}{rt.node_id:04x}"


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
        model.start()
    return model
