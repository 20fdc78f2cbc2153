"""CPU and memory of the processes of a run, sampled from /proc (psutil when installed).

`ProcessSampler(root_pid)` polls the run's process tree every `interval` s
and keeps, per process, its command kind (a simulated lab, a pytest worker,
the controller), its last CPU time and its peak RSS. Processes that exit
between two samples keep what was last seen (a short lab start is missed:
the sampler's resolution is its interval).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class ProcStat:
    pid: int
    kind: str
    label: str
    first_seen: float
    last_seen: float
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0

    @property
    def lifetime(self) -> float:
        return max(self.last_seen - self.first_seen, 1e-6)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _descendants(root: int) -> list[int]:
    tree = _children()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, []))
    return out


def _read(pid: int) -> tuple[str, float, float] | None:
    """(cmdline, cpu seconds, rss MB) of a live process."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        statm = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:
        return None
    utime, stime = int(fields[11]), int(fields[12])
    return cmd, (utime + stime) / CLK_TCK, int(statm[1]) * PAGE / 2**20


def _kind(cmd: str) -> tuple[str, str]:
    if " -m hacert.labsim " in f" {cmd} ":
        parts = cmd.split()
        inv = next((Path(p).stem for p in parts if p.endswith((".yaml", ".yml"))), "?")
        return "lab", inv
    if "xdist" in cmd or "execnet" in cmd or "exec(eval(sys.stdin" in cmd:
        return "worker", "xdist worker"
    if "pytest" in cmd:
        return "controller", "pytest"
    return "other", cmd[:40]


@dataclass
class ProcessSampler:
    root: int
    interval: float = 0.5
    procs: dict[int, ProcStat] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        now = time.monotonic()
        for pid in _descendants(self.root):
            got = _read(pid)
            if got is None:
                continue
            cmd, cpu, rss = got
            stat = self.procs.get(pid)
            if stat is None:
                kind, label = _kind(cmd)
                stat = self.procs[pid] = ProcStat(pid, kind, label, now, now)
            stat.last_seen, stat.cpu_s = now, cpu
            stat.peak_rss_mb = max(stat.peak_rss_mb, rss)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def start(self) -> "ProcessSampler":
        self._thread = threading.Thread(target=self._loop, name="proc-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def of(self, kind: str) -> list[ProcStat]:
        return [p for p in self.procs.values() if p.kind == kind]
