"""Membership and quorum of the simulated cluster: cman (corosync) starting, joining and leaving,
the heartbeat on the cluster network, the token timeout that declares a silent member failed,
the component that keeps quorum."""

from __future__ import annotations

import time

from hacert.labsim.cluster.records import _mono


class Membership:
    """Part of ClusterModel (hacert.labsim.cluster.model); runs under world.lock."""

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
        race = self.world.cluster_faults.favoured  # equal votes: the half with the longest fence delay wins the race
        return max(comps, key=lambda c: (sum(self.nodes[n].votes for n in c), race(c), -min(self.nodes[n].node_id for n in c)))

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
        self.world.cluster_faults.losers_fence(lost, survivors)
        self._notify()
