"""The case families the other cluster test tools run (Pacemaker's CTS, crmsh's crash_test), as hacert
parametrizes them from the inventory: daemon kills, split brain (the fence race), quorum loss.

What each case must lead to comes from the inventory, never from a node's name:

- `expectations.daemon_kill` {daemon: "fence" | "restart"} overrides `DAEMONS`' default for the
  cluster's manager (corosync killed: the node is fenced by its first method; pacemakerd killed:
  systemd restarts it, nothing is fenced);
- `cluster.fence_delay` {node: seconds}: the devices that fence that node wait first (the tutorial's
  `delay` on one node's fence device), so that node wins a fence race between two halves;
- `cluster.no_quorum_policy`: what members without quorum do with their services ("stop").
"""

from __future__ import annotations

from dataclasses import dataclass

from hacert.model.inventory import Inventory

DAEMONS: dict[str, dict[str, str]] = {
    # corosync dies: the node leaves the membership uncleanly and a survivor fences it. pacemakerd
    # dies: systemd restarts it (Restart=on-failure) and it re-attaches to its running children;
    # pacemaker-fenced dies: pacemakerd respawns it.
    "pacemaker": {"corosync": "fence", "pacemakerd": "restart", "pacemaker-fenced": "restart"},
    # cman: corosync carries cman; rgmanager's watchdog child reboots the node when rgmanager dies;
    # cman leaves the cluster when fenced (a daemon it watches) dies; either way a survivor fences it.
    "rgmanager": {"corosync": "fence", "rgmanager": "fence", "fenced": "fence"},
}
"""Manager -> {daemon (its process name, as pidof finds it): what its SIGKILL must lead to by default}."""

OUTCOME_WORDS = {"fence": "the node fenced by its first method, then it rejoins",
                 "restart": "restarted by its supervisor, no fence, the node stays a member"}


def daemon_expectations(inv: Inventory) -> dict[str, str]:
    """{daemon: 'fence' | 'restart'} for the inventory's manager, its `expectations.daemon_kill` first."""
    out = dict(DAEMONS[inv.cluster.manager])
    out.update(inv.expectations.daemon_kill)
    return out


def favoured_node(inv: Inventory) -> str | None:
    """The node a fence race must leave alive: the one with the longest fence delay (None: no delay set,
    or a tie)."""
    delays = {n: d for n, d in inv.cluster.fence_delay.items() if d > 0}
    if not delays:
        return None
    best = max(delays.values())
    winners = [n for n, d in delays.items() if d == best]
    return winners[0] if len(winners) == 1 else None


def two_sided(inv: Inventory) -> bool:
    """Does each half of a split keep quorum (a two-node cluster: corosync's two_node)?"""
    return bool(inv.cluster.two_node) if inv.cluster.two_node is not None else len(inv.nodes) == 2


# ---------------------------------------------------------------- matrix values


@dataclass(frozen=True)
class DaemonKill:
    """SIGKILL `daemon` on `node`; `expect` is what must follow ('fence' | 'restart')."""

    lab: str
    node: str
    daemon: str
    expect: str

    @property
    def case_id(self) -> str:
        return f"{self.node}-{self.daemon}"

    def __str__(self) -> str:
        return f"{self.daemon} on {self.node}"


@dataclass(frozen=True)
class SplitCase:
    """Cut every heartbeat path of `isolated` (its ring bond's slaves, at the switch ports)."""

    lab: str
    isolated: str

    @property
    def case_id(self) -> str:
        return self.isolated

    def __str__(self) -> str:
        return self.isolated


@dataclass(frozen=True)
class QuorumCase:
    """Stop the members in `order` one by one until quorum is lost (the last kept: `watcher`)."""

    lab: str
    watcher: str
    order: tuple[str, ...]

    @property
    def case_id(self) -> str:
        return self.watcher

    def __str__(self) -> str:
        return f"stop {', '.join(self.order)}; watch from {self.watcher}"


def daemon_kills(inv: Inventory) -> list[DaemonKill]:
    expect = daemon_expectations(inv)
    return [DaemonKill(inv.lab, n.name, daemon, outcome) for n in inv.nodes for daemon, outcome in expect.items()]


def splits(inv: Inventory) -> list[SplitCase]:
    return [SplitCase(inv.lab, n.name) for n in inv.nodes]


def quorum_cases(inv: Inventory) -> list[QuorumCase]:
    """One case per lab: keep the first node, stop the others from the last (on a lab where losing
    quorum does not apply the case says so when it runs)."""
    names = [n.name for n in inv.nodes]
    return [QuorumCase(inv.lab, names[0], tuple(reversed(names[1:])))]


__all__ = ["DAEMONS", "DaemonKill", "OUTCOME_WORDS", "QuorumCase", "SplitCase", "daemon_expectations", "daemon_kills",
           "favoured_node", "quorum_cases", "splits", "two_sided"]
