"""Stamina: the whole matrix on netlab N times in a row, then a run killed mid-case and its heal.

`python -m benchmarks --only stamina [--runs N]` (root and namespaces: netlab):

1. `python -m hacert.netlab up INVENTORY` once;
2. N runs of `pytest suites --inventory INVENTORY` one after the other on that same lab, each
   reported with its verdict counts, every lab or harness error with its cause (the case's
   diagnosis), the transport retries its cases recorded, and its wall time;
3. what the guard's survey finds on the lab after the last run (nothing, on a lab left as found);
4. a run SIGKILLed in the middle of a case (a bond's primary cable pulled: its switch port
   down), what that left on the lab, then a new run of the same case: its guard heals the lab at
   session start and the case passes;
5. `netlab down`, and what it left behind.

Every name (node, bond, switch, port) comes from the inventory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from benchmarks.runs import ROOT, SuiteRun

NETLAB_INVENTORY = ROOT / "inventories" / "netlab.yaml"
RUN_TIMEOUT = 3600.0
UP_TIMEOUT = 900.0
KILL_DEADLINE = 600.0
"""How long the killed run may take to reach the middle of its case."""

PROBLEMS = ("lab error", "harness error")


def _netlab(command: str, inventory: Path, say: Callable[[str], None]) -> tuple[int, str, float]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "hacert.netlab", command, str(inventory)], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                          timeout=UP_TIMEOUT)
    wall = time.monotonic() - started
    first = (proc.stdout.strip().splitlines() or [""])[0]
    say(f"  netlab {command}: exit {proc.returncode} in {wall:.0f} s: {first}")
    return proc.returncode, proc.stdout, wall


def run_report(run: SuiteRun) -> dict[str, Any]:
    """What one finished run shows: counts, problems with their causes, transport retries, wall."""
    out: dict[str, Any] = {"name": run.name, "exit": run.returncode, "wall_s": round(run.wall, 1)}
    try:
        cases = run.cases()
    except RuntimeError as exc:
        out.update({"broken": str(exc)[:2000], "counts": {}, "problems": [], "retries": []})
        return out
    counts: dict[str, int] = {}
    problems, retries, healed = [], [], []
    for case in cases:
        counts[case["verdict"]] = counts.get(case["verdict"], 0) + 1
        facts = case.get("facts") or {}
        if case["verdict"] in PROBLEMS:
            problems.append({"case": case["case"], "verdict": case["verdict"], "cause": case.get("diagnosis", "")})
        if "transport retries" in facts:
            retries.append({"case": case["case"], "retries": facts["transport retries"]})
        if "lab healed before the case" in facts:
            healed.append({"case": case["case"], "healed": facts["lab healed before the case"]})
    out.update({"counts": counts, "problems": problems, "retries": retries, "healed": healed,
                "not_passed": [{"case": c["case"], "verdict": c["verdict"], "cause": c.get("diagnosis", "")}
                               for c in cases if c["verdict"] not in ("passed", *PROBLEMS)]})
    return out


def survey(inventory: Path) -> list[str]:
    """The guard's read-only survey of the lab (attached to the running netlab): its findings."""
    from hacert.fixtures.guard import Guard
    from hacert.lab.build import open_lab
    from hacert.model.inventory import load_inventory

    lab = open_lab(load_inventory(inventory), ROOT / ".stamina-unused")
    try:
        findings, _ = Guard(lab).survey()
        return [f"{f.kind} {f.target}: {f.what}" for f in findings]
    finally:
        lab.close()


def _primary_cable(inventory: Path) -> tuple[str, str, str, str]:
    """(node, bond, switch, port) of the first node's first bond's primary link, from the inventory."""
    from hacert.model.inventory import load_inventory

    inv = load_inventory(inventory)
    for node in inv.nodes:
        for bond in node.bonds:
            return node.name, bond.name, bond.primary.switch, bond.primary.port
    raise RuntimeError(f"{inventory}: no node has a bond to pull a cable from")


def killed_and_healed(work: Path, inventory: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """A run SIGKILLed while its case holds a cable pulled, then a new run of that case."""
    from hacert.lab.build import open_lab
    from hacert.model.inventory import load_inventory

    node, bond, switch, port = _primary_cable(inventory)
    select = f"test_bond_cable_pull and {node}-{bond}-failover"
    out: dict[str, Any] = {"case": select, "cable": f"{switch}/{port}"}
    lab = open_lab(load_inventory(inventory), work / "unused")
    ports = lab.switch_ports(switch)
    try:
        killed = SuiteRun("killed", work / "killed", ["suites/test_network.py"], [inventory], select=select, probe=False)
        seen: dict[str, Any] = {}

        def kill_mid_case(r: SuiteRun) -> None:
            while r.process is None:
                time.sleep(0.05)
            deadline = time.monotonic() + KILL_DEADLINE
            while time.monotonic() < deadline and r.process.poll() is None:
                try:
                    up = ports.port_is_up(port)
                except Exception as exc:  # a read that failed is no pulled cable
                    seen.setdefault("read_errors", []).append(str(exc))
                    up = True
                if up is False:
                    seen["port_down_after_s"] = round(time.monotonic() - r._started, 1)
                    os.kill(r.process.pid, signal.SIGKILL)
                    seen["killed"] = True
                    return
                time.sleep(0.2)

        killed.run(RUN_TIMEOUT, during=kill_mid_case)
        out.update(seen)
        out["killed_exit"] = killed.returncode
        try:
            out["port_up_after_kill"] = ports.port_is_up(port)
        except Exception as exc:
            out["port_up_after_kill"] = f"unread: {exc}"
        say(f"  killed run: SIGKILL {'sent' if seen.get('killed') else 'NOT sent'} "
            f"{seen.get('port_down_after_s', '?')} s in, with {switch}/{port} down; exit {killed.returncode}; "
            f"port up after the kill: {out['port_up_after_kill']}")
        left = survey(inventory)
        out["left_by_kill"] = left
        say(f"  left on the lab by the kill: {'; '.join(left) or 'nothing'}")
        rerun = SuiteRun("after-kill", work / "after-kill", ["suites/test_network.py"], [inventory], select=select,
                         probe=False).run(RUN_TIMEOUT)
        report = run_report(rerun)
        out["rerun"] = report
        healed = "; ".join(h["healed"] for h in report.get("healed", []))
        out["healed"] = healed
        say(f"  new run: {_counts_text(report)}; exit {rerun.returncode}; {rerun.wall:.0f} s; "
            f"healed at session start: {healed or 'nothing'}")
        for p in report.get("problems", []) + report.get("not_passed", []):
            say(f"    {p['verdict']}: {p['case']}: {p['cause'][:400]}")
    finally:
        lab.close()
    return out


def _counts_text(report: dict[str, Any]) -> str:
    counts = report.get("counts") or {}
    return ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "no cases"


def stamina(work: Path, runs: int, say: Callable[[str], None], inventory: Path = NETLAB_INVENTORY,
            kill: bool = True) -> dict[str, Any]:
    say(f"Stamina: the whole matrix {runs} times in a row on {inventory.relative_to(ROOT)}, one `netlab up`")
    out: dict[str, Any] = {"stamina_runs": []}
    code, text, wall = _netlab("up", inventory, say)
    out["netlab_up_s"] = round(wall, 1)
    if code != 0:
        say(text[-3000:])
        out["stamina_broken"] = "netlab up failed"
        return out
    try:
        for n in range(1, runs + 1):
            run = SuiteRun(f"stamina-{n}", work / f"stamina-{n}", ["suites"], [inventory], probe=False).run(RUN_TIMEOUT)
            report = run_report(run)
            out["stamina_runs"].append(report)
            say(f"  run {n}: {_counts_text(report)}; exit {run.returncode}; wall {run.wall:.0f} s; "
                f"{len(report['retries'])} cases with transport retries")
            if "broken" in report:
                say(f"    broken: {report['broken'][-1500:]}")
            for p in report["problems"]:
                say(f"    {p['verdict']}: {p['case']}: {p['cause'][:600]}")
            for p in report.get("not_passed", []):
                say(f"    {p['verdict']}: {p['case']}: {p['cause'][:300]}")
            for r in report["retries"]:
                say(f"    retry: {r['case']}: {r['retries'][:400]}")
        left = survey(inventory)
        out["left_after_last_run"] = left
        say(f"  left on the lab after run {runs}: {'; '.join(left) or 'nothing'}")
        if kill:
            out["sigkill"] = killed_and_healed(work, inventory, say)
    finally:
        code, text, _ = _netlab("down", inventory, say)
        out["netlab_down_exit"] = code
        if code != 0:
            say(text[-1500:])
    reports = out["stamina_runs"]
    total: dict[str, int] = {}
    for r in reports:
        for verdict, n in (r.get("counts") or {}).items():
            total[verdict] = total.get(verdict, 0) + n
    out["stamina_counts"] = total
    out["stamina_lab_errors"] = sum(1 for r in reports for p in r["problems"] if p["verdict"] == "lab error")
    out["stamina_harness_errors"] = sum(1 for r in reports for p in r["problems"] if p["verdict"] == "harness error")
    out["stamina_wall_s"] = round(sum(r["wall_s"] for r in reports), 1)
    say(f"  overall: {', '.join(f'{n} {v}' for v, n in sorted(total.items()))}; "
        f"{out['stamina_lab_errors']} lab errors, {out['stamina_harness_errors']} harness errors; "
        f"{out['stamina_wall_s']:.0f} s of runs")
    return out
