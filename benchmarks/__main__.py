"""`python -m benchmarks [--quick] [--json FILE] [--only p1,p2,p3,p4,stamina] [--runs N] [--keep DIR]`

Runs the benchmarks of docs/BENCHMARKS (see benchmarks/__init__.py), prints a
table per benchmark and, LAST, one JSON line with the keys p1_overhead_ratio,
p2_worst_time_error_s, p2_worst_packet_error, p3_ratio_8_labs, p4_collect_s,
p4_rerun_s, harness_s_per_case_median, harness_cpu_s_per_case, labs_per_core (null when not
measured; the last three come with P1's run). Exit code 0 whatever the figures: the
targets are judged by whoever reads them (see TARGETS); 2 when a run broke.
`--only stamina` (never in the default set: netlab, root, long) runs benchmarks.stamina.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import imposed, stamina, truth
from benchmarks.resources import ProcessSampler
from benchmarks.runs import DEFAULT_INVENTORY, ROOT, SuiteRun, bytecode_cached_env, lab_copies
from hacert.verdict.summary import latest_summary_path

TARGETS = {
    "p1_overhead_ratio": ("<=", 1.10),
    "p2_worst_time_error_s": ("<=", 0.25),
    "p2_worst_packet_error": ("<=", 1),
    "p3_ratio_8_labs": ("<=", 1.5),
    "p4_collect_s": ("<=", 2.0),
    "p4_rerun_s": ("<=", 15.0),
    "harness_s_per_case_median": ("<=", 1.0),
    "harness_cpu_s_per_case": ("<=", None),
    "labs_per_core": (">=", 16),
}

QUICK_MATRIX = " or ".join([
    "(test_bond_cable_pull and an-node01-bond0)",
    "(test_switch_power_cycle and sw1)",
    "(test_hang_and_fence and an-node01)",
    "(test_pdu_power_cut and an-node02)",
    "(test_vm_destroy_relocates and vm0001)",
    "(test_live_migration and vm0001)",
    "(test_node_crash_recovers_vms and an-node01)",
])
"""--quick's P1/P2 matrix: one case of each kind of procedure."""

SCALE_SELECT = {True: "test_bond_cable_pull and an-node01-bond0-failover",
                False: "test_bond_cable_pull and bond0-failover"}
"""P3's cheap subset per lab (quick: one case; else one per node)."""
SCALE_LABS = {True: (1, 8), False: (1, 2, 4, 8)}
RERUN_SELECT = "test_bond_cable_pull and an-node01-bond0-failover"


def say(text: str = "") -> None:
    print(text, flush=True)


def table(header: list[str], rows: list[list[Any]]) -> None:
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        say("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if n == 0:
            say("  " + "  ".join("-" * w for w in widths))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return "-" if value is None else str(value)


def _met(value: float, op: str, target: float) -> bool:
    return value <= target if op == "<=" else value >= target


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# ---------------------------------------------------------------- P4


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall s, CPU s of the child, exit code) of one command run from the repository root."""
    before = os.times()
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          stdin=subprocess.DEVNULL, env={**env, "CI": "1"})
    wall = time.monotonic() - started
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system), proc.returncode


def p4(work: Path, quick: bool) -> dict[str, Any]:
    say("P4 feedback")
    collect = [sys.executable, "-m", "pytest", "suites", "--collect-only", "-q", "-p", "no:cacheprovider"]
    repeat = 2 if quick else 3
    variants = [
        ("collect-only, this shell's environment", collect, dict(os.environ)),
        ("collect-only, without hypothesis' plugin", collect + ["-p", "no:hypothesispytest"], dict(os.environ)),
        ("collect-only, bytecode cache on", collect, bytecode_cached_env()),
        ("collect-only, both", collect + ["-p", "no:hypothesispytest"], bytecode_cached_env()),
    ]
    _timed(collect, bytecode_cached_env())  # fills the bytecode cache
    measured = []
    for label, cmd, env in variants:
        samples = [_timed(cmd, env) for _ in range(repeat)]
        measured.append((label, statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)))
    # the figure: as a user runs it (bytecode cache on), whatever plugins the machine has
    _, wall, cpu = measured[2]
    rerun = SuiteRun("rerun", work / "p4-rerun", ["suites/test_network.py"], [DEFAULT_INVENTORY],
                     select=RERUN_SELECT, probe=False)
    rerun.run(300)
    passed = rerun.counts().get("passed", 0) if rerun.returncode in (0, 1) else 0
    rows = [[f"{label} (median of {repeat})", w, c, "pytest suites --collect-only -q"] for label, w, c in measured]
    rows.append(["one case from cold, lab start incl.", rerun.wall, None,
                 f"pytest suites/test_network.py -k '{RERUN_SELECT}' ({passed} passed, exit {rerun.returncode})"])
    table(["what", "wall s", "CPU s", "command"], rows)
    say(f"  p4_collect_s = the 'bytecode cache on' row; load average during P4: {load_average()}")
    return {"p4_collect_s": wall, "p4_collect_cpu_s": cpu,
            "p4_collect_variants": {label: {"wall_s": w, "cpu_s": c} for label, w, c in measured},
            "p4_rerun_s": rerun.wall if rerun.returncode == 0 else None, "p4_rerun_exit": rerun.returncode}


# ---------------------------------------------------------------- P1 and P2


def p1_p2(work: Path, quick: bool) -> dict[str, Any]:

    what = "quick subset" if quick else "the whole matrix"
    say(f"P1 overhead and P2 precision: {what} on {DEFAULT_INVENTORY.relative_to(ROOT)}")
    run = SuiteRun("matrix", work / "p1-matrix", ["suites"], [DEFAULT_INVENTORY],
                   select=QUICK_MATRIX if quick else None)
    run.run(3600)
    return analyze_matrix(run)


def analyze_matrix(run: SuiteRun) -> dict[str, Any]:
    """P1 and P2 from a finished matrix run (its folder: summary, event log, probe files)."""
    from hacert.model.inventory import load_inventory

    out: dict[str, Any] = {"p1_run_exit": run.returncode, "p1_wall_s": run.wall}
    try:
        cases = run.cases()
    except RuntimeError as exc:
        say(f"  the run broke: {exc}")
        return out
    inv = load_inventory(DEFAULT_INVENTORY)
    events = run.events()
    probes = run.probes()
    lab_events = events.get(inv.lab, [])
    waits = imposed.lab_waits(lab_events, inv) + imposed.demanded_waits(probes["demanded"])
    imposed_s = imposed.union_seconds(waits)
    ratio = run.wall / imposed_s if imposed_s > 0 else None
    counts = run.counts()
    say(f"  cases: {', '.join(f'{n} {v}' for v, n in sorted(counts.items()))}; exit {run.returncode}; "
        f"load average {load_average()}")
    table(["imposed wait", "count", "sum s"], [[k, n, s] for k, (n, s) in sorted(imposed.by_label(waits).items())])
    say(f"  wall {run.wall:.1f} s / imposed (union) {imposed_s:.1f} s = P1 ratio {_fmt(ratio)}")
    costs = imposed.case_costs(probes["phases"], waits)
    in_cases = sum(c.wall for c in costs)
    say(f"  outside cases (pytest start, collection, lab start, session end): {run.wall - in_cases:.1f} s; "
        f"SSH commands: {probes['ssh']['count']} taking {probes['ssh']['total']:.1f} s, "
        f"{len(probes['ssh']['slow'])} slower than 0.5 s")
    table(["case (most overhead first)", "wall s", "imposed s", "overhead s", "harness CPU s"],
          [[c.case.split("::")[-1], c.wall, c.imposed, c.overhead, sum(probes["cpu"].get(c.case, {}).values()) or None]
           for c in costs[:12]])
    out.update(harness_figures(costs, probes))
    say(f"  harness per case: {_fmt(out['harness_s_per_case_median'])} s median, {_fmt(out['harness_s_per_case_worst'])} s worst "
        f"(wall beyond the imposed waits); CPU {_fmt(out['harness_cpu_s_per_case'])} s/case (the harness's processes "
        f"alone, the simulated lab's excluded) -> {_fmt(out['labs_per_core'])} labs per core at this pace")
    for slow in probes["ssh"]["slow"][:8]:
        say(f"  slow ssh: {slow['node']} {slow['cmd']!r} {slow['seconds']:.2f} s")

    comparisons = truth.compare_run(cases, {inv.lab: inv}, events, probes["phases"])
    compared = [c for c in comparisons if c.error is not None]
    worst_t, worst_p = truth.worst(comparisons)
    say("")
    say(f"  P2: {len(compared)} figures compared with the event log, {len(comparisons) - len(compared)} without a rule or event")
    table(["case", "figure", "measured", "truth", "error", "rule"],
          [[c.case.split("[")[-1].rstrip("]"), c.figure, c.measured, c.truth, c.error, c.rule]
           for c in sorted(compared, key=lambda c: -(c.error or 0))[:15]])
    skipped = sorted({(c.figure, c.rule) for c in comparisons if c.error is None})
    for figure, rule in skipped[:12]:
        say(f"  not compared: {figure} ({rule})")
    out.update({"p1_overhead_ratio": ratio, "p1_imposed_s": imposed_s, "p1_cases": counts,
                "p2_worst_time_error_s": worst_t, "p2_worst_packet_error": worst_p,
                "p2_compared": len(compared), "p2_not_compared": len(comparisons) - len(compared)})
    return out


def harness_figures(costs: list[Any], probes: dict[str, Any]) -> dict[str, Any]:
    """The harness's own cost per case: seconds beyond what the procedure imposes (median, worst), CPU
    seconds of the harness's processes (pytest and its workers; the simulated lab runs in processes
    of its own, not counted), and the labs one core could drive at this pace (a lab keeps
    cpu/wall of a core busy)."""
    out: dict[str, Any] = {"harness_s_per_case_median": None, "harness_s_per_case_worst": None,
                           "harness_cpu_s_per_case": None, "labs_per_core": None}
    if not costs:
        return out
    overheads = [max(0.0, c.overhead) for c in costs]
    out["harness_s_per_case_median"] = statistics.median(overheads)
    out["harness_s_per_case_worst"] = max(overheads)
    cpus = [sum(probes["cpu"][c.case].values()) for c in costs if probes["cpu"].get(c.case)]
    if cpus:
        cpu = statistics.mean(cpus)
        wall = statistics.mean(c.wall for c in costs if probes["cpu"].get(c.case))
        out["harness_cpu_s_per_case"] = cpu
        out["harness_cpu_s_total"] = probes.get("cpu_total")
        out["labs_per_core"] = wall / cpu if cpu > 0 else None
    return out


# ---------------------------------------------------------------- P3


def p3(work: Path, quick: bool) -> dict[str, Any]:
    select = SCALE_SELECT[quick]
    say(f"P3 scale: N simulated labs, -n N --dist loadgroup, -k '{select}' per lab")
    rows, out, walls = [], {}, {}
    per_lab: dict[int, tuple[float, float, float]] = {}
    for n in SCALE_LABS[quick]:
        folder = work / f"p3-{n}"
        inventories = lab_copies(DEFAULT_INVENTORY, n, folder / "inventories")
        run = SuiteRun(f"scale-{n}", folder, ["suites/test_network.py"], inventories, select=select,
                       workers=n, probe=False)
        sampler: list[ProcessSampler] = []

        def watch(r: SuiteRun) -> None:
            while r.process is None:
                time.sleep(0.05)
            s = ProcessSampler(r.process.pid, interval=0.5).start()
            sampler.append(s)
            r.process.wait()
            s.stop()

        run.run(1200, during=watch)
        walls[n] = run.wall
        counts = run.counts() if latest_summary_path(run.summary_dir).is_file() else {}
        labs = sampler[0].of("lab") if sampler else []
        workers = sampler[0].of("worker") if sampler else []
        cpu = statistics.mean(p.cpu_s for p in labs) if labs else None
        pct = statistics.mean(100 * p.cpu_s / p.lifetime for p in labs) if labs else None
        rss = statistics.mean(p.peak_rss_mb for p in labs) if labs else None
        wcpu = statistics.mean(p.cpu_s for p in workers) if workers else None
        per_lab[n] = (cpu or 0.0, pct or 0.0, rss or 0.0)
        rows.append([n, run.wall, run.wall / walls[min(walls)], len(labs), cpu, pct, rss, wcpu,
                     f"{counts.get('passed', 0)}/{sum(counts.values())} passed, exit {run.returncode}"])
    table(["labs", "wall s", "x one lab", "labsims seen", "CPU s/lab", "CPU %/lab", "peak RSS MB/lab",
           "CPU s/worker", "cases"], rows)
    say(f"  machine: {os.cpu_count()} CPUs, load average after P3: {load_average()}")
    out["p3_walls"] = walls
    out["p3_per_lab"] = {n: {"cpu_s": c, "cpu_pct": p, "rss_mb": r} for n, (c, p, r) in per_lab.items()}
    if 8 in walls and 1 in walls:
        out["p3_ratio_8_labs"] = walls[8] / walls[1]
    return out


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer cases and labs; still measures each figure")
    parser.add_argument("--json", metavar="FILE", help="also write every figure and detail as JSON to FILE")
    parser.add_argument("--only", default="p1,p2,p3,p4", help="comma-separated subset (p1 and p2 share one run)")
    parser.add_argument("--keep", metavar="DIR", help="keep the runs' folders here (default: a temp dir, removed)")
    parser.add_argument("--runs", type=int, default=3, help="stamina: how many whole-matrix runs in a row (default 3)")
    parser.add_argument("--no-kill", action="store_true", help="stamina: leave out the SIGKILLed run and its heal")
    args = parser.parse_args(argv)
    only = {part.strip().lower() for part in args.only.split(",") if part.strip()}
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="hacert-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"quick": args.quick, "started": time.time(), "cpus": os.cpu_count()}
    try:
        if "p4" in only:
            results.update(p4(work, args.quick))
            say()
        if only & {"p1", "p2"}:
            results.update(p1_p2(work, args.quick))
            say()
        if "p3" in only:
            results.update(p3(work, args.quick))
            say()
        if "stamina" in only:
            results.update(stamina.stamina(work, args.runs, say, kill=not args.no_kill))
            say()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    figures = {key: results.get(key) for key in TARGETS}
    say("Figures against their targets:")
    table(["figure", "value", "target", "met"],
          [[k, v, "-" if t is None else f"{op} {t}", None if v is None or t is None else ("yes" if _met(v, op, t) else "NO")]
           for k, (op, t) in TARGETS.items() for v in [figures[k]]])
    if args.json:
        Path(args.json).write_text(json.dumps({**results, **figures}, indent=2, default=str))
    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in figures.items()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
