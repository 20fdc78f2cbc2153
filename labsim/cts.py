"""The simulated cluster under the other tools' failures: daemons killed, a split brain's fence race,
quorum lost and regained (the families of hacert.model.cts), for both managers.

- `pidof` and `kill` on the nodes: a cluster daemon has the pid its syslog lines carry. SIGKILL of
  corosync (and, on cman, of rgmanager, whose watchdog reboots the node, or of fenced, which cman
  watches) takes the node's cluster stack down uncleanly while the node runs: the survivors lose it
  after the token timeout and fence it. SIGKILL of pacemakerd or pacemaker-fenced: its supervisor
  starts it again with a new pid, nothing else happens.
- A fence race: when a two-node cluster splits with both halves alive, each half fences the other.
  The devices that fence a node with a `cluster.fence_delay` wait that long before they act; a half
  whose fence command leaves before the other half's fence of it completed takes its peer down
  too (a dual fence). So with no delay both nodes die; with the favoured node's delay longer than
  a fence takes, only the other one does.
- Quorum: members that lose quorum stop their services (no-quorum-policy=stop, rgmanager's
  "quorum lost, blocking activity"); they start them again when quorum returns.

Seeded faults (`simulation.faults`): corosync_kill_survived (the killed corosync is restarted at once
and nobody fences the node), daemon_not_restarted (a daemon expected restarted stays dead),
fence_delay_ignored (the devices ignore their delay: a dual fence), quorum_ignored (services keep
running without quorum).
"""

from __future__ import annotations

import time
import zlib
from typing import Any

from hacert.labsim.core import COMMANDS, CommandContext

STACK_DAEMONS = {
    "pacemaker": ("corosync", "pacemakerd", "pacemaker-fenced"),
    "rgmanager": ("corosync", "fenced", "rgmanager"),
}
CRASHING = {"corosync", "rgmanager", "fenced"}
"""Daemons whose death takes the node out of the cluster (the others are restarted by a supervisor)."""
RESTART_AFTER = 0.3
"""Seconds a supervisor (systemd, pacemakerd) takes to start a killed daemon again."""


def _cts(world: Any) -> "ClusterFaults":
    return world.cluster_faults


class ClusterFaults:
    """Per-lab state: which daemons are dead, whether the members had quorum."""

    def __init__(self, world: Any, model: Any) -> None:
        self.world = world
        self.model = model
        self.dead: set[tuple[str, str]] = set()
        self.quorate = model.quorate()
        self.parked: list[Any] = []  # resources stopped by the loss of quorum

    # ------------------------------------------------------------ daemons

    def pid(self, node: str, daemon: str) -> int:
        pids = self.model.nodes[node].pids
        return pids.setdefault(daemon, 2000 + zlib.crc32(f"{node}/{daemon}".encode()) % 3000)

    def running(self, node: str, daemon: str) -> bool:
        rt = self.model.nodes[node]
        if self.world.node_state(node) != "up" or (node, daemon) in self.dead:
            return False
        if daemon == "rgmanager":
            return rt.rgmanager
        return daemon in STACK_DAEMONS[self.model.manager] and rt.cman

    def kill(self, node: str, pid: int) -> bool:
        """SIGKILL `pid` on `node`; False when no cluster daemon of the node has it."""
        for daemon in STACK_DAEMONS[self.model.manager]:
            if self.running(node, daemon) and self.pid(node, daemon) == pid:
                self._killed(node, daemon)
                return True
        return False

    def _killed(self, node: str, daemon: str) -> None:
        model, inv = self.model, self.model.inv
        self.world.emit("daemon_killed", node=node, daemon=daemon, pid=self.pid(node, daemon))
        if daemon == "corosync" and inv.fault("corosync_kill_survived", node):
            self._restart(node, daemon)
            return
        if daemon in CRASHING:
            if daemon == "rgmanager":
                model._log(node, "rgmanager", "Watchdog: Daemon died, rebooting...")
            if daemon == "fenced":
                model._corosync(node, "[CMAN  ] daemon fenced exited: leaving the cluster")
            rt = model.nodes[node]
            # the stack is gone; the node runs on, its guests too, until a survivor fences it
            rt.cman = rt.rgmanager = False
            self.world.emit("stack_crashed", node=node, daemon=daemon)
            return
        if inv.fault("daemon_not_restarted", node):
            self.dead.add((node, daemon))
            return
        self.dead.add((node, daemon))
        self.world.scheduler.after(RESTART_AFTER, lambda: self._restart(node, daemon), f"restart {daemon} on {node}")

    def _restart(self, node: str, daemon: str) -> None:
        self.dead.discard((node, daemon))
        pids = self.model.nodes[node].pids
        pids[daemon] = self.pid(node, daemon) + 7
        if daemon == "corosync":
            self.model._corosync(node, "[MAIN  ] Corosync Cluster Engine exiting with status 0 at main.c:2200.")
            self.model._corosync(node, "[MAIN  ] Corosync Cluster Engine ('3.1.7'): started and ready to provide service.")
        elif daemon == "pacemakerd":
            self.model._log(node, "pacemakerd", " notice: Starting Pacemaker 2.1.5")
            self.model._log(node, "pacemakerd", " notice: Pacemaker daemon successfully started and accepting connections")
        else:
            self.model._log(node, "pacemakerd", f" notice: Respawning subdaemon {daemon} after unexpected exit")
        self.world.emit("daemon_restarted", node=node, daemon=daemon, pid=pids[daemon])

    def on_event(self, record: dict[str, Any]) -> None:
        kind = record.get("kind")
        if kind == "node_state" and record.get("node") in self.model.nodes:
            self.dead = {(n, d) for n, d in self.dead if n != record["node"]}
        elif kind == "membership":
            self.world.scheduler.after(0, self._quorum_check, "quorum check")

    # ------------------------------------------------------------ quorum

    def _quorum_check(self) -> None:
        model = self.model
        quorate = bool(model.members()) and model.quorate()
        if quorate == self.quorate:
            return
        self.quorate = quorate
        if not quorate:
            if model.inv.cluster.no_quorum_policy != "stop" or model.inv.fault("quorum_ignored"):
                return
            for res in model.resources.values():
                if res.owner is not None and res.state in ("started", "starting", "migrating", "recovering"):
                    model._rgm(res.owner, f"Stopping service {res.full_name}: quorum lost")
                    model._stop_resource(res, "stopped")
                    self.parked.append(res)
            return
        parked, self.parked = self.parked, []
        for res in sorted(parked, key=lambda r: r.storage, reverse=True):
            if res.state != "stopped" or res.busy:
                continue
            target = model._first_allowed(res, set(), need_storage=False)
            if target is not None:
                model._start_on(res, target, model.timing.vm_boot if res.kind == "vm" else model.timing.cluster_start,
                                how="start")

    def can_host(self, node: str) -> bool:
        """No member starts anything while the cluster is inquorate under no-quorum-policy=stop."""
        model = self.model
        return model.quorate() or model.inv.cluster.no_quorum_policy != "stop" or model.inv.fault("quorum_ignored")

    # ------------------------------------------------------------ the fence race

    def delay(self, victim: str) -> float:
        """Seconds the devices that fence `victim` wait before they act."""
        if self.model.inv.fault("fence_delay_ignored"):
            return 0.0
        return float(self.model.inv.cluster.fence_delay.get(victim, 0.0))

    def favoured(self, component: list[str]) -> float:
        """A component's claim in a race between halves of equal votes: its longest fence delay."""
        return max((self.delay(n) for n in component), default=0.0)

    def losers_fence(self, lost: list[str], survivors: list[str]) -> None:
        """The half that lost the race fences too, if it still runs when its (delayed) command leaves."""
        model = self.model
        if not model.two_node or not survivors:
            return
        alive = [n for n in lost if model._node_up(n) and model.nodes[n].cman]
        if not alive:
            return
        fencer = min(alive, key=lambda n: model.nodes[n].node_id)
        life = model.nodes[fencer].incarnation
        for victim in survivors:
            self._log_request(fencer, victim)
            self.world.scheduler.after(self.delay(victim), lambda v=victim: self._send(fencer, v, life), f"race {fencer}->{victim}")

    def _log_request(self, fencer: str, victim: str) -> None:
        model = self.model
        member = model.nodes[victim].member_name
        if model.manager == "pacemaker":
            model._log(fencer, "pacemaker-schedulerd", f" warning: Cluster node {member} will be fenced: peer is no longer part of the cluster")
            model._log(fencer, "pacemaker-fenced", f" notice: Requesting peer fencing (reboot) targeting {member} ")
        else:
            model._log(fencer, "fenced", f"fencing node {member}")
        self.world.emit("fence_start", node=victim, by=fencer)

    def _send(self, fencer: str, victim: str, life: int) -> None:
        """The loser's fence command leaves now, unless the loser went down (or rebooted) meanwhile."""
        rt = self.model.nodes[fencer]
        if not (self.world.node_state(fencer) == "up" and self.world.node_state(victim) == "up" and rt.cman and rt.incarnation == life):
            return
        self.world.scheduler.after(self.model.timing.ipmi_fence, lambda: self._complete(fencer, victim), f"race fence {victim}")

    def _complete(self, fencer: str, victim: str) -> None:
        from hacert.labsim.cluster import FenceRecord

        model = self.model
        if not self.world.bmc_answers(victim):
            return
        self.world.chassis_control(victim, "cycle" if self.world.chassis_on(victim) else "on")
        member, by = model.nodes[victim].member_name, model.nodes[fencer].member_name
        if model.manager == "pacemaker":
            methods = model.fence_setup.methods.get(victim, [])
            device = methods[0].devices[0] if methods and methods[0].devices else "unknown"
            model._fence_pid += 1
            client = f"pacemaker-controld.{1000 + model.nodes[fencer].node_id}@{by}"
            model._log(fencer, "pacemaker-fenced", f" notice: Operation 'reboot' [{model._fence_pid}] targeting {member} "
                                                   f"using {device} returned 0 ")
            model._log(fencer, "pacemaker-fenced", f" notice: Operation 'reboot' targeting {member} by {by} for {client}: OK (complete) ")
        else:
            model._log(fencer, "fenced", f"fence {member} success")
        model.fence_history.append(FenceRecord(victim, fencer, "reboot", True, "ipmi", time.time()))
        self.world.emit("fence_done", node=victim, method="ipmi", ok=True, by=fencer)


def attach(world: Any, model: Any) -> ClusterFaults:
    faults = ClusterFaults(world, model)
    world.cluster_faults = faults
    world.subscribe(faults.on_event)
    return faults


# ---------------------------------------------------------------- shell commands


@COMMANDS.register("pidof")
def _pidof(ctx: CommandContext) -> int:
    names = [a for a in ctx.argv[1:] if not a.startswith("-")]
    faults = getattr(ctx.world, "cluster_faults", None)
    pids: list[str] = []
    with ctx.world.lock:
        for name in names:
            if faults is not None and name in STACK_DAEMONS[faults.model.manager] and faults.running(ctx.node, name):
                pids.append(str(faults.pid(ctx.node, name)))
    if not pids:
        return 1
    ctx.io.write(" ".join(pids) + "\n")
    return 0


@COMMANDS.register("kill")
def _kill(ctx: CommandContext) -> int:
    args = ctx.argv[1:]
    if args[:1] == ["-s"]:
        args = ["-" + args[1]] + args[2:] if len(args) > 1 else []
    signal = args[0][1:] if args and args[0].startswith("-") else "TERM"
    if args and args[0].startswith("-"):
        args = args[1:]
    if signal.upper() not in ("9", "KILL", "SIGKILL"):
        ctx.io.write_err(f"kill: only SIGKILL is simulated (got {signal})\n")
        return 1
    faults = getattr(ctx.world, "cluster_faults", None)
    code = 0
    for raw in args:
        try:
            pid = int(raw)
        except ValueError:
            ctx.io.write_err(f"kill: failed to parse argument: '{raw}'\n")
            code = 1
            continue
        with ctx.world.lock:
            ok = faults is not None and faults.kill(ctx.node, pid)
        if not ok:
            ctx.io.write_err(f"kill: ({pid}) - No such process\n")
            code = 1
    return code
