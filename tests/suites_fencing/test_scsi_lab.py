"""SCSI-3 persistent-reservation fencing (seed 001's shape): a three-node lab whose nodes are fenced
only by fence_scsi. The hung node's key leaves the shared disk, a survivor holds the reservation,
the votes drop by the victim's and the cluster stays quorate; the hang-and-fence case sees the
SCSI fence, reboots the victim itself (a SCSI fence does not) and gets it back.

The run itself shares the seeded-fault runs' lanes (the session fixture `lane_runs`)."""

from __future__ import annotations

from tests.suites_fencing.harness import SuiteRun
from tests.suites_fencing.runs import SCSI_RUN


def test_scsi_fenced_lab(lane_runs: dict[str, SuiteRun]) -> None:
    run = lane_runs[SCSI_RUN]
    outcomes = run.outcomes()
    assert outcomes == {"test_hang_and_fence[et-virt06]": ("passed", ""), "test_scsi_fencing[et-virt05]": ("passed", "")}, run.output[-4000:]
    scsi = run.row("test_scsi_fencing[et-virt05]")
    assert scsi["facts"]["keys removed"].endswith("0001"), scsi["facts"]  # et-virt05 is node id 1
    assert run.row("test_hang_and_fence[et-virt06]")["facts"]["method"] == "scsi"
    fenced = [e for e in run.events if e["kind"] == "fence_done" and e["node"] == "et-virt05"]
    assert fenced and fenced[0]["method"] == "scsi"
    assert run.returncode == 0
