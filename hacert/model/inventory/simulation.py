"""Simulation-only sections: the simulated lab's timing, seeded faults, misbehaving devices,
adversities and node clock offsets (ignored by real labs)."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    model_validator,
)

from hacert.model.inventory.common import NonNegative, Strict

FAULT_NAMES = (
    "ipmi_fence_broken",
    "no_pdu_fence",
    "bond_no_backup",
    "updelay_zero",
    "stp_after_switch_boot",
    "no_relocate",
    "vm_not_recovered",
    "node_no_rejoin",
    "slow_fence",
    "migration_drops",
    "wrong_outlet",
    "late_cold_start",
    # case families of hacert.model.cts (daemon kill, split brain, quorum loss)
    "corosync_kill_survived",  # node: its corosync killed, the init system restarts it and nobody fences the node
    "daemon_not_restarted",  # node: a daemon the inventory expects restarted stays dead
    "fence_delay_ignored",  # the fence devices ignore their delay: both sides of a split fence each other
    "quorum_ignored",  # services keep running on members that lost quorum
    # case families of standby, maintenance and rolling restart (labsim/cts_modes.py)
    "standby_stops_vm",
    "maintenance_recovers",
    "rolling_restart_restarts_vm",
)

# Devices that misbehave (labsim/device_faults.py): a lab error for the harness, not a cluster defect.
DEVICE_FAULT_NAMES = (
    "bmc_dark",
    "pdu_silent",
    "switch_silent",
    "ssh_hang_after_accept",
    "ssh_drop",
    "switch_ignores_shutdown",
    "syslog_unreadable",
    "clock_step",
)

# What real labs do that the friendly simulated ones hide (labsim, switched on per lab): each one
# must not fool a check. Targets: a node, a VM, or nothing (every one of its kind).
ADVERSITY_NAMES = (
    "neutral_fence_names",  # fence devices named without a hint of their kind or their node
    "mislabelled_outlet",  # node: its outlet's label names it, but the cable feeds a peer
    "hang_does_not_take",  # node: the hang command returns and the node keeps running
    "vm_dies_in_network_case",  # VM: it dies when a cable of its host is pulled or a switch loses power
    "migration_refused",  # VM: the cluster refuses to live-migrate it
    "syslog_garbage",  # node: lines no parser knows are written into its syslog
    "scsi_wrong_key",  # node: its fence_scsi device acts on another node's key (a wrong nodename)
    "restarted_before_case",  # VM: it crashes once just after the lab starts; the cluster's restart stays counted
)



class SimTiming(Strict):
    """Delays of the simulated lab, in seconds unless the name says ms."""

    boot: NonNegative = 2.0
    bmc_boot: NonNegative = 0.2
    switch_boot: NonNegative = 1.5
    switch_bounces: int = Field(2, ge=0)
    switch_bounce_interval: NonNegative = 0.5
    miimon_ms: int = Field(100, ge=1)
    updelay_ms: int = Field(2000, ge=0)
    downdelay_ms: int = Field(0, ge=0)
    token_timeout: NonNegative = 1.0
    ipmi_fence: NonNegative = 0.5
    ipmi_fence_failure: NonNegative = 1.0
    pdu_fence: NonNegative = 0.5
    slow_fence_extra: NonNegative = 30.0
    cluster_start: NonNegative = 0.5
    vm_boot: NonNegative = 0.5
    status_check_interval: NonNegative = 0.5
    migration_switchover: NonNegative = 0.05
    migration_drop: NonNegative = 3.0
    stp_block: NonNegative = 4.0
    stp_delay: NonNegative = 0.5
    late_cold_start_extra: NonNegative = 3.0
    ssh_banner_delay: NonNegative = 0.0
    outlet_reboot: NonNegative = 1.0  # a PDU outlet's off time on a 'reboot' command


class Fault(Strict):
    name: Literal[FAULT_NAMES]  # type: ignore[valid-type]
    target: str | None = Field(None, description="limit the fault to one node, bond (node/bond), switch or VM")


class DeviceFault(Strict):
    name: Literal[DEVICE_FAULT_NAMES]  # type: ignore[valid-type]
    target: str | None = Field(None, description="the node, PDU or switch (None: every device of its kind)")
    after: NonNegative = Field(0.0, description="seconds after the lab starts, or after the 'when' event")
    duration: NonNegative | None = Field(None, description="then it clears by itself (None: it stays)")
    when: dict[str, str | int | float | bool] | None = Field(None, description="arm on the first event with these fields")


class Adversity(Strict):
    name: Literal[ADVERSITY_NAMES]  # type: ignore[valid-type]
    target: str | None = Field(None, description="the node or VM (None: every one of its kind)")


class Simulation(Strict):
    base_port: int | Literal["auto"] = "auto"
    # the simulated APC PDU's sysObjectID: rpdu = .318.1.3.4.5 (AP79xx), ms6 = .318.1.3.4.6
    pdu_variant: Literal["rpdu", "ms6"] = "rpdu"
    timing: SimTiming = SimTiming()
    faults: list[Fault] = []
    device_faults: list[DeviceFault] = []
    adversities: list[Adversity] = []
    clock_offsets: dict[str, float] = Field(
        {}, description="node -> seconds its clock runs ahead of the controller's (negative: behind)")

    @model_validator(mode="after")
    def _base_port_range(self) -> "Simulation":
        if isinstance(self.base_port, int) and not 1024 <= self.base_port <= 60000:
            raise ValueError(f"base_port must be 1024-60000 or 'auto' (got {self.base_port})")
        return self

    def fault(self, name: str, target: str | None = None) -> bool:
        """Is fault `name` seeded (for `target`, when the fault is limited to one)?"""
        return any(f.name == name and (f.target is None or target is None or f.target == target) for f in self.faults)

    def adversity(self, name: str, target: str | None = None) -> bool:
        """Is adversity `name` switched on (for `target`, when it is limited to one)?"""
        return any(a.name == name and (a.target is None or target is None or a.target == target) for a in self.adversities)
