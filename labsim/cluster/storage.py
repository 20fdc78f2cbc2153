"""Storage of the simulated cluster: DRBD's replication state between the storage nodes and the
SCSI-3 persistent reservations fence_scsi registers and preempts."""

from __future__ import annotations

from typing import Any

from hacert.labsim.cluster.records import _mono


class Storage:
    """Part of ClusterModel (hacert.labsim.cluster.model); runs under world.lock."""

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
                    self.world.emit("drbd_sync", node=node, peer=peer, seconds=resync)
            elif not running and rt.drbd:
                rt.drbd = False
                rt.drbd_sync_role = None
            if rt.drbd_sync_role and now >= rt.drbd_sync_until:
                if rt.drbd_sync_role == "target":
                    self.world.emit("drbd_synced", node=node, peer=self.drbd_peer(node))
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
