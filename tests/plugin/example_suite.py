"""A tiny suite that uses every matrix fixture, written into tmp_path by the tests.

Every test appends its node id to the file named by HACERT_EXAMPLE_RAN, so a
test of the plugin can tell what really ran (nothing, under --plan).
"""

SUITE = '''
import os

import pytest

from hacert.fixtures.plan import plan_steps


def ran(request, *extra):
    path = os.environ.get("HACERT_EXAMPLE_RAN")
    if path:
        with open(path, "a") as log:
            log.write(" ".join([request.node.nodeid, *map(str, extra)]) + "\\n")
    group = request.node.get_closest_marker("xdist_group")
    return group.args[0] if group else None


@pytest.mark.destructive
@plan_steps(
    "audit the lab healthy",
    "hang {victim} with 'echo c > /proc/sysrq-trigger'",
    "wait up to {expect.fence_timeout} s for a peer to fence {victim}",
    touches=["ssh {victim}", "bmc {victim}", "outlets {victim}", "cluster"],
)
def test_hang_and_fence(victim, request):
    assert ran(request) == victim.lab


@pytest.mark.destructive
@plan_steps(
    "pull the primary cable of {bond_case.bond} on {bond_case.node} ({bond_case.variant})",
    touches=["bond {bond_case.node}/{bond_case.bond}", "ssh {bond_case.node}"],
)
def test_bond_cable_pull(bond_case, request):
    assert ran(request) == bond_case.lab


@pytest.mark.destructive
@plan_steps("power-cycle switch {switch} and wait for it to boot", touches=["switch {switch}"])
def test_switch_power_cycle(switch, request):
    assert ran(request) == switch.lab


def test_vm_destroy(vm, request):
    assert ran(request) == vm.lab


@plan_steps("live-migrate {migration.vm} from {migration.source} to {migration.target}", touches=["vm {migration.vm}"])
def test_live_migration(migration, request):
    assert ran(request) == migration.lab


def test_withdraw_node(node, request):
    assert ran(request) == node.lab


def test_service_relocate(service_move, request):
    assert ran(request) == service_move.lab


def test_uses_lab(lab, request):
    assert ran(request, lab.name, lab.endpoints.get("pid"), lab.event_log) == lab.name


def test_soak(soak_seconds, request):
    ran(request, soak_seconds)


@pytest.mark.manual
def test_manual_cable_pull(request):
    ran(request)
'''

STUB_RUNNER = '''
"""A stand-in for hacert.labsim.runner that records start and stop in HACERT_STUB_LOG."""
import os
from pathlib import Path


def _log(line):
    with open(os.environ["HACERT_STUB_LOG"], "a") as out:
        out.write(line + "\\n")


class RunningLab:
    def __init__(self, inventory_path, workdir):
        self.inventory_path = Path(inventory_path)
        self.event_log = Path(workdir) / "events.jsonl"
        self.endpoints = {"lab": self.inventory_path.stem, "pid": os.getpid(), "event_log": str(self.event_log),
                          "nodes": {}, "pdus": {}, "switches": {}}

    def stop(self):
        _log(f"stop {self.inventory_path.name}")


def start_lab(inventory_path, workdir):
    _log(f"start {Path(inventory_path).name} {workdir}")
    return RunningLab(inventory_path, workdir)
'''
