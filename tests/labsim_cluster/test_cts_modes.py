"""labsim's maintenance mode and frozen groups: what the real tools print, parsed by the
drivers' parsers, and what the cluster then does (nothing, until it is told again)."""

from __future__ import annotations

import pytest

from hacert.drivers.parsers import parse_clustat, parse_crm_mon
from tests.labsim_cluster.lab import wait_until

pytestmark = pytest.mark.timeout(120)

N1, N2 = "an-node01", "an-node02"
M1, M2 = "an-node01.alteeve.ca", "an-node02.alteeve.ca"
VM = "vm0001-dev"


def _ups(lab) -> int:
    return len([e for e in lab.events("vm_up") if e["vm"] == VM])


def test_pacemaker_maintenance_mode_leaves_a_dead_guest_alone_until_it_ends(make_lab):
    lab = make_lab(edit=lambda inv: inv["cluster"].update(manager="pacemaker"))
    assert lab.run(N1, "pcs property set maintenance-mode=true") == (0, "")
    status = parse_crm_mon(lab.out(N2, "crm_mon --output-as=xml"))
    assert status.cluster_options["maintenance-mode"] == "true"
    assert not any(r.managed for r in status.resources)
    text = lab.out(N1, "pcs status")
    assert "*** Resource management is DISABLED ***" in text and f"Started {M1} (unmanaged)" in text
    ups = _ups(lab)
    lab.out(N1, f"virsh destroy {VM}")
    with pytest.raises(AssertionError):  # status checks every 0.2 s: 2 s is ten of them
        wait_until(lambda: _ups(lab) > ups, 2.0, "a recovery in maintenance mode")
    assert parse_crm_mon(lab.out(N1, "crm_mon --output-as=xml")).resource(VM)[0].nodes == [M1]
    code, _ = lab.run(N1, "pcs property set maintenance-mode=maybe")
    assert code == 1
    lab.out(N1, "pcs property set maintenance-mode=false")
    wait_until(lambda: _ups(lab) > ups, 10, "the recovery once maintenance ended")
    status = parse_crm_mon(lab.out(N1, "crm_mon --output-as=xml"))
    assert status.cluster_options["maintenance-mode"] == "false" and all(r.managed for r in status.resources)


def test_rgmanager_frozen_group_is_not_recovered_until_unfrozen(make_lab):
    lab = make_lab()
    assert lab.out(N1, f"clusvcadm -Z vm:{VM}") == f"Local machine freezing vm:{VM}...Success\n"
    for command in ("clustat", "clustat -x"):
        groups = {s.name: s for s in parse_clustat(lab.out(N2, command)).services}
        assert groups[f"vm:{VM}"].flags == ["frozen"] and groups["vm:vm0002-web"].flags == []
    ups = _ups(lab)
    lab.out(N1, f"virsh destroy {VM}")
    with pytest.raises(AssertionError):
        wait_until(lambda: _ups(lab) > ups, 2.0, "a recovery of a frozen group")
    assert lab.out(N1, f"clusvcadm -U vm:{VM}") == f"Local machine unfreezing vm:{VM}...Success\n"
    wait_until(lambda: _ups(lab) > ups, 10, "the recovery once unfrozen")


def test_seeded_faults_recover_in_maintenance_and_restart_a_drained_guest(make_lab):
    lab = make_lab(faults=[{"name": "maintenance_recovers"}, {"name": "standby_stops_vm", "target": "vm0002-web"}],
                   edit=lambda inv: inv["cluster"].update(manager="pacemaker"))
    lab.out(N1, "pcs property set maintenance-mode=true")
    ups = _ups(lab)
    lab.out(N1, f"virsh destroy {VM}")
    wait_until(lambda: _ups(lab) > ups, 10, "the faulty recovery in maintenance mode")
    lab.out(N1, "pcs property set maintenance-mode=false")
    lab.out(N2, f"pcs node standby {M1}")
    wait_until(lambda: [e for e in lab.events("vm_down") if e["vm"] == "vm0002-web"], 10, "vm0002-web stopped by the drain")
    wait_until(lambda: [e for e in lab.events("migration") if e["vm"] == VM], 10, f"{VM} live-migrated by the drain")
