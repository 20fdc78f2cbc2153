"""Start a simulated lab as a subprocess and know when it is ready.

    lab = start_lab("inventories/anvil-sim.yaml", tmp_path)
    lab.endpoints["nodes"]["an-node01"]["ssh"]["port"]
    lab.stop()

Readiness is probed, not slept on: the lab writes its endpoints file once
everything is bound, then every SSH port must send its banner, every BMC answer
a sessionless IPMI request and every powered device answer an SNMP GET.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


class LabStartError(RuntimeError):
    """The simulated lab did not start; the message carries the end of its log."""


@dataclass
class RunningLab:
    """A labsim started by `start_lab` (a hacert.labsim.backend.RunningBackend, as netlab's
    RunningNetlab is), with the device faults only labsim can inject."""

    process: subprocess.Popen
    endpoints: dict[str, Any]
    workdir: Path
    startup_seconds: float
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def event_log(self) -> Path:
        return Path(self.endpoints["event_log"])

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> int:
        """Ctrl-C the lab, wait for a clean exit (kill after `timeout`); the exit code."""
        if self._stopped:
            return self.process.returncode
        self._stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode

    def inject(self, fault: str, target: str | None = None, **when: Any) -> list[dict[str, Any]]:
        """Make a device misbehave now (labsim/device_faults.py; `after`, `duration`, `when` as there)."""
        from hacert.labsim.device_faults import FaultControl

        return FaultControl(self.workdir).inject(fault, target, **when)

    def clear_fault(self, fault: str | None = None, target: str | None = None) -> int:
        """Make matching device faults (None: all) stop; how many were active."""
        from hacert.labsim.device_faults import FaultControl

        return FaultControl(self.workdir).clear(fault, target)

    def __enter__(self) -> "RunningLab":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _ssh_banner(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def ipmi_probe_packet() -> bytes:
    """An IPMI 1.5 'Get Channel Authentication Capabilities' request (sessionless, no login)."""
    body = bytes([0x81, 0x00, 0x38, 0x8E, 0x04])
    header = bytes([0x20, 0x18, (-(0x20 + 0x18)) & 0xFF])
    message = header + body + bytes([(-sum(body)) & 0xFF])
    return bytes([0x06, 0x00, 0xFF, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, len(message)]) + message


def bmc_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """Does a BMC answer at host:port? One sessionless request, bounded wait."""
    return _udp_answers(host, port, ipmi_probe_packet(), timeout)


def https_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """A TLS server completes a handshake (a Redfish BMC; its certificate is not checked)."""
    import socket
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, context.wrap_socket(raw):
            return True
    except OSError:
        return False


def snmp_get_packet(community: str, oid: tuple[int, ...] = (1, 3, 6, 1, 2, 1, 1, 1, 0)) -> bytes:
    """A minimal SNMPv2c GET request, BER-encoded by hand (probes need no SNMP library)."""

    def tlv(tag: int, body: bytes) -> bytes:
        n = len(body)
        length = bytes([n]) if n < 128 else bytes([0x81, n]) if n < 256 else bytes([0x82, n >> 8, n & 0xFF])
        return bytes([tag]) + length + body

    encoded = bytearray([40 * oid[0] + oid[1]])
    for part in oid[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.insert(0, 0x80 | (part & 0x7F))
            part >>= 7
        encoded += bytes(chunk)
    varbind = tlv(0x30, tlv(0x06, bytes(encoded)) + b"\x05\x00")
    pdu = tlv(0xA0, tlv(0x02, b"\x01") + tlv(0x02, b"\x00") + tlv(0x02, b"\x00") + tlv(0x30, varbind))
    return tlv(0x30, tlv(0x02, b"\x01") + tlv(0x04, community.encode()) + pdu)


def snmp_answers(host: str, port: int, community: str, timeout: float = 0.5) -> bool:
    """Does an SNMP agent answer a GET of sysDescr.0 with this community?"""
    return _udp_answers(host, port, snmp_get_packet(community), timeout)


def _udp_answers(host: str, port: int, packet: bytes, timeout: float) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(packet, (host, port))
            return len(sock.recv(2048)) > 0
        except OSError:
            return False


def probe(endpoints: dict[str, Any], timeout: float = 0.5) -> list[str]:
    """The endpoints that do not answer yet (empty: all ready)."""
    missing: list[str] = []
    lock = threading.Lock()

    def check(name: str, fn: Any, *args: Any) -> None:
        if not fn(*args):
            with lock:
                missing.append(name)

    checks: list[tuple[str, Any, tuple[Any, ...]]] = []
    for node, ep in endpoints["nodes"].items():
        checks.append((f"{node} ssh", _ssh_banner, (ep["ssh"]["host"], ep["ssh"]["port"], timeout)))
        answers = https_answers if ep["bmc"].get("protocol") == "redfish" else bmc_answers
        checks.append((f"{node} bmc", answers, (ep["bmc"]["host"], ep["bmc"]["port"], timeout)))
    for kind in ("pdus", "switches"):
        for name, ep in endpoints[kind].items():
            checks.append((f"{kind[:-1]} {name} snmp", snmp_answers, (ep["host"], ep["port"], ep["community_ro"], timeout)))
    threads = [threading.Thread(target=check, args=(n, f, *a), daemon=True) for n, f, a in checks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 1)
    return sorted(missing)


def start_lab(inventory_path: str | os.PathLike[str], workdir: str | os.PathLike[str],
              base_port: int | str | None = None, timeout: float = 20.0, cluster: bool = True,
              outlive_caller: bool = False) -> RunningLab:
    """Start `python -m hacert.labsim INVENTORY` and return once every endpoint answers.

    `cluster=False` serves the devices only (no membership, fencing, services).
    The lab stops itself if this process ends without stopping it (labsim/owner.py),
    unless `outlive_caller`.
    A lab whose inventory powers devices off at start would not answer; the
    simulated labs start with everything powered, as the certification expects.
    """
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    endpoints_file = work / "endpoints.json"
    endpoints_file.unlink(missing_ok=True)
    log_path = work / "labsim.log"
    cmd = [sys.executable, "-m", "hacert.labsim", str(inventory_path), "--endpoints-json", str(endpoints_file),
           "--workdir", str(work), "--quiet"]
    if base_port is not None:
        cmd += ["--base-port", str(base_port)]
    if not cluster:
        cmd.append("--no-cluster")
    if not outlive_caller:
        cmd += ["--owner", str(os.getpid())]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    if env.pop("PYTHONDONTWRITEBYTECODE", None):
        # compiled modules are cached outside the source tree, not recompiled at every start
        env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "labsim-pycache"))
    started = time.monotonic()
    log = log_path.open("w")
    process = subprocess.Popen(cmd, cwd=str(REPO), stdout=log, stderr=subprocess.STDOUT, env=env,
                               stdin=subprocess.DEVNULL)
    log.close()
    deadline = started + timeout
    try:
        endpoints = None
        nap = threading.Event()
        while endpoints is None:
            if process.poll() is not None:
                raise LabStartError(f"labsim exited with {process.returncode} while starting:\n{_tail(log_path)}")
            if endpoints_file.exists():
                endpoints = json.loads(endpoints_file.read_text())
                break
            if time.monotonic() > deadline:
                raise LabStartError(f"labsim wrote no endpoints within {timeout:.0f} s:\n{_tail(log_path)}")
            nap.wait(0.01)
        missing = probe(endpoints)
        while missing:
            if time.monotonic() > deadline:
                raise LabStartError(f"labsim endpoints not answering after {timeout:.0f} s: {', '.join(missing)}\n"
                                    f"{_tail(log_path)}")
            if process.poll() is not None:
                raise LabStartError(f"labsim exited with {process.returncode}:\n{_tail(log_path)}")
            missing = probe(endpoints)
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        raise
    return RunningLab(process, endpoints, work, time.monotonic() - started, log_path)
