"""What the procedures expect of the cluster (timeouts, bounds) and how far a run may go (safety)."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
)

from hacert.model.inventory.common import NonNegative, Seconds, Strict


class Expectations(Strict):
    fence_timeout: Seconds = 60.0
    rejoin_timeout: Seconds = 600.0
    services_back_timeout: Seconds = 300.0
    vm_restart_timeout: Seconds = 120.0
    max_restarts: int = Field(2, ge=0)
    restart_expire_time: Seconds = 600.0
    failover_timeout: Seconds = 5.0
    primary_return_margin: Seconds = 10.0
    cable_pull_max_lost: int = Field(20, ge=0)
    migration_max_lost_pings: int = Field(5, ge=0)
    migration_max_gap: Seconds = 2.0
    soak_seconds: NonNegative = 300.0
    switch_boot_timeout: Seconds = 300.0
    cold_start_timeout: Seconds = 900.0
    ping_interval: Seconds = 0.2
    daemon_kill: dict[str, Literal["fence", "restart"]] = Field(
        {}, description="daemon -> what its SIGKILL must lead to (unset: hacert.model.cts.DAEMONS' default)")
    clock_drift_max: Seconds = 0.1
    """Seconds a node's clock offset may move between the measurements before and after a case,
    beyond their uncertainty; more is a lab error (hacert.observe.clocks.ClockDrifted)."""
    clock_uncertainty_max: Seconds = 0.05
    """Seconds a node's clock offset may be uncertain (half the tightest SSH round trip of `date`);
    more is a lab error (hacert.observe.clocks.ClockUnknown)."""


class Safety(Strict):
    destructive: bool = False
    production: bool = False
