"""Starting and stopping labs: the anvil-sim lab is up in well under 2 s of its
own time, two labs never share a port, the endpoints file follows the contract,
and `python -m hacert.labsim` serves until Ctrl-C and leaves without a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from hacert.labsim.runner import probe, start_lab

from tests.labsim.conftest import ANVIL, REPO, _running
from hacert.suite_runs import default_sigint


def test_anvil_sim_starts_fast_and_endpoints_follow_the_contract(tmp_path: Path) -> None:
    running = start_lab(ANVIL, tmp_path / "a")
    for _ in _running(running):
        ep = running.endpoints
        print(f"\nanvil-sim start-up: {ep['startup_seconds']:.2f} s inside the lab process, "
              f"{running.startup_seconds:.2f} s from spawn to every endpoint answering")
        # Other labs and suites share this machine in CI: the 2 s budget is judged when it is not overloaded.
        overloaded = os.getloadavg()[0] > (os.cpu_count() or 1)
        assert ep["startup_seconds"] < (10.0 if overloaded else 2.0)
        assert running.startup_seconds < (20.0 if overloaded else 4.0), "interpreter + imports + probes took far too long"
        assert set(ep) >= {"lab", "pid", "event_log", "nodes", "pdus", "switches"}
        assert ep["lab"] == "anvil-sim" and ep["pid"] == running.pid
        assert set(ep["nodes"]) == {"an-node01", "an-node02"}
        for node in ep["nodes"].values():
            assert set(node["ssh"]) >= {"host", "port", "user", "password"}
            assert set(node["bmc"]) >= {"host", "port", "user", "password"}
            assert node["ssh"]["host"] == node["bmc"]["host"] == "127.0.0.1"
            assert Path(node["ssh"]["key_file"]).stat().st_mode & 0o077 == 0
        assert ep["pdus"]["pdu2"]["outlets"]["1"] == "an-node01" and ep["pdus"]["pdu1"]["outlets"]["2"] == "sw2"
        for dev in [*ep["pdus"].values(), *ep["switches"].values()]:
            assert set(dev) >= {"host", "port", "community_ro", "community_rw"}
            assert dev["community_ro"] != dev["community_rw"]
        assert Path(ep["event_log"]).exists()


def test_two_labs_never_collide(tmp_path: Path) -> None:
    first = start_lab(ANVIL, tmp_path / "one", cluster=False)
    second = start_lab(ANVIL, tmp_path / "two", cluster=False)
    try:
        def ports(ep: dict) -> set[tuple[str, int]]:
            out = set()
            for node in ep["nodes"].values():
                out |= {("tcp", node["ssh"]["port"]), ("udp", node["bmc"]["port"])}
            out |= {("udp", d["port"]) for d in [*ep["pdus"].values(), *ep["switches"].values()]}
            return out

        a, b = ports(first.endpoints), ports(second.endpoints)
        assert len(a) == len(b) == 8 and not a & b
        assert probe(first.endpoints) == [] and probe(second.endpoints) == []
        assert first.endpoints["nodes"]["an-node01"]["ssh"]["password"] != second.endpoints["nodes"]["an-node01"]["ssh"]["password"]
    finally:
        assert first.stop() == 0 and second.stop() == 0


def test_python_m_labsim_prints_its_endpoints_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "hacert.labsim", str(ANVIL), "--workdir", str(tmp_path)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint)
    lines = []
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "Ctrl-C stops it" in line:
                break
        table = "".join(lines)
        for name in ("an-node01", "an-node02", "pdu1", "pdu2", "sw1", "sw2"):
            assert name in table
        assert "node ssh" in table and "node bmc" in table and "127.0.0.1:" in table
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest
    assert rest.strip().endswith("labsim: stopped")


def test_a_real_lab_inventory_is_refused(tmp_path: Path) -> None:
    text = ANVIL.read_text().split("\nsimulation:")[0]
    real = tmp_path / "real.yaml"
    real.write_text(text.replace("lab: anvil-sim", "lab: real"))
    result = subprocess.run([sys.executable, "-m", "hacert.labsim", str(real)], cwd=REPO, capture_output=True, text=True, timeout=30,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert result.returncode == 2
    assert "labsim:" in result.stderr and "Traceback" not in result.stderr
