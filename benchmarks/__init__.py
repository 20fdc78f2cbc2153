"""hacert's benchmarks: what the harness costs beyond what the procedures force.

    python -m benchmarks [--quick] [--json FILE] [--only p1,p2,p3,p4] [--keep DIR]

Not timed unit tests: each runs pytest in subprocesses against simulated labs
and compares within one run (ratios), since absolute times on shared machines
drift. The last line printed is one JSON object with p1_overhead_ratio,
p2_worst_time_error_s, p2_worst_packet_error, p3_ratio_8_labs, p4_collect_s,
p4_rerun_s, harness_s_per_case_median, harness_cpu_s_per_case and labs_per_core.

- P1 overhead (benchmarks/imposed.py): wall time of the matrix / the union of
  the waits the lab imposes (cause→effect intervals of its event log) and the
  demanded sleeps. From the same run, the harness's own cost per case: seconds
  beyond the imposed waits (median, worst), CPU seconds of the harness's
  processes per case (the probe's per-phase process CPU; the simulated lab's
  processes are not the harness's and are not counted) and the derived
  capacity, labs per core = case wall / harness CPU per case.
- P2 precision (benchmarks/truth.py): each case's measured numbers in
  summary.json against the event log; worst error in seconds and packets.
- P3 scale: 1, 2, 4, 8 simulated labs under `-n N --dist loadgroup`; wall
  time relative to one lab; CPU and memory per lab (benchmarks/resources.py).
- P4 feedback: `pytest suites --collect-only` and one case re-run from cold.

benchmarks/probe.py is a pytest plugin (`-p benchmarks.probe`) that records
where a run's time goes; benchmarks/runs.py runs pytest and reads its outputs.
"""
