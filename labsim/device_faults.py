"""Lab devices that misbehave: the harness's own faults, not the cluster's.

The seeded faults of `simulation.faults` make the *cluster* misbehave (the
harness must call that a failure). These make a *device* misbehave (the harness
must call that a lab error, with a diagnosis naming the device):

- `bmc_dark` (node): the node keeps running but its BMC stops answering.
- `pdu_silent` (PDU) / `switch_silent` (switch): the SNMP agent answers nothing.
- `ssh_hang_after_accept` (node): TCP is accepted, then silence (no banner, no
  channel on an existing connection).
- `ssh_drop` (node): SSH sessions are dropped and new connections reset while
  the node runs.
- `switch_ignores_shutdown` (switch): an SNMP SET of ifAdminStatus down answers
  OK and changes nothing.
- `syslog_unreadable` (node): cat/tail/head/grep/wc of /var/log/messages says
  "Permission denied" and exits 1.
- `clock_step` (node): the node's clock is stepped `CLOCK_STEP` seconds ahead (an NTP
  step, a clock that runs away) while the fault is active: its offset drifts within a case.

A fault is armed from the inventory (`simulation.device_faults`: name, target,
`after` seconds, `duration`, `when` = the fields of an event that triggers it)
or at run time through the control channel: a loopback TCP socket whose
address the lab writes to `<workdir>/device-faults.json`; one JSON request per
line (`{"op": "inject"|"clear"|"list", ...}`), one JSON reply per line.
`FaultControl(workdir)` is the client (`RunningLab.inject` uses it). Every
change is logged as an event `device_fault {fault, target, active}`.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any

from hacert.model.inventory import DEVICE_FAULT_NAMES

CONTROL_FILE = "device-faults.json"
SYSLOG_PATH = "/var/log/messages"
SYSLOG_READERS = ("cat", "tail", "head", "grep", "egrep", "wc")
NODE_FAULTS = ("bmc_dark", "ssh_hang_after_accept", "ssh_drop", "syslog_unreadable", "clock_step")
CLOCK_STEP = 1.0
"""Seconds a node's clock jumps ahead while `clock_step` is active on it."""


class DeviceFaultError(ValueError):
    """A fault request the lab cannot honour (unknown name or target)."""


class DeviceFaults:
    """The device faults of one World: what is active, what is armed, the control server."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self._lock = threading.Lock()
        self._active: set[tuple[str, str | None]] = set()
        self._waiting: list[dict[str, Any]] = []  # armed on an event: {"when": {...}, "spec": {...}}
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ queries (any thread)

    def active(self, name: str, target: str | None) -> bool:
        """Is fault `name` active for device `target` (a fault without target hits every device)?"""
        with self._lock:
            return (name, target) in self._active or (name, None) in self._active

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"fault": n, "target": t} for n, t in sorted(self._active, key=lambda x: (x[0], x[1] or ""))]

    def refusal(self, node: str, argv: list[str]) -> str | None:
        """What a shell command prints on stderr when the fault forbids it (None: allowed)."""
        if argv and argv[0] in SYSLOG_READERS and SYSLOG_PATH in argv[1:] and self.active("syslog_unreadable", node):
            return f"{argv[0]}: {SYSLOG_PATH}: Permission denied\n"
        return None

    def dropped_nodes(self, record: dict[str, Any], nodes: list[str]) -> list[str]:
        """The nodes whose SSH sessions an event `device_fault` (ssh_drop, now active) drops."""
        if record.get("kind") != "device_fault" or record.get("fault") != "ssh_drop" or not record.get("active"):
            return []
        target = record.get("target")
        return [n for n in nodes if target is None or n == target]

    # ------------------------------------------------------------ changes

    def arm(self, name: str, target: str | None = None, *, after: float = 0.0, duration: float | None = None,
            when: dict[str, Any] | None = None) -> None:
        """Activate `name` on `target` after `after` seconds (counted from the first event matching
        `when`, if given) for `duration` seconds (None: until cleared)."""
        self._check(name, target)
        spec = {"name": name, "target": target, "after": float(after or 0.0), "duration": duration}
        if when:
            with self._lock:
                self._waiting.append({"when": dict(when), "spec": spec})
            return
        self._schedule(spec)

    def clear(self, name: str | None = None, target: str | None = None) -> int:
        """Deactivate matching faults (None: any) and forget armed ones; how many were active."""
        with self._lock:
            gone = [(n, t) for n, t in self._active if name in (None, n) and target in (None, t)]
            self._active -= set(gone)
            self._waiting = [w for w in self._waiting
                             if not (name in (None, w["spec"]["name"]) and target in (None, w["spec"]["target"]))]
        for n, t in gone:
            self.world.emit("device_fault", fault=n, target=t, active=False)
        return len(gone)

    def _check(self, name: str, target: str | None) -> None:
        if name not in DEVICE_FAULT_NAMES:
            raise DeviceFaultError(f"unknown device fault {name!r} (known: {', '.join(DEVICE_FAULT_NAMES)})")
        if target is None:
            return
        inv = self.world.inventory
        if name in NODE_FAULTS:
            known = [n.name for n in inv.nodes]
        elif name == "pdu_silent":
            known = [p.name for p in inv.pdus]
        else:
            known = [s.name for s in inv.switches]
        if target not in known:
            raise DeviceFaultError(f"{name}: no such device {target!r} (known: {', '.join(known)})")

    def _schedule(self, spec: dict[str, Any]) -> None:
        def on() -> None:
            key = (spec["name"], spec["target"])
            with self._lock:
                fresh = key not in self._active
                self._active.add(key)
            if fresh:
                self.world.emit("device_fault", fault=key[0], target=key[1], active=True)
            if spec["duration"] is not None:
                self.world.scheduler.after(float(spec["duration"]), lambda: self.clear(*key), f"clear {key[0]}")

        if spec["after"] <= 0:
            with self.world.lock:
                on()
        else:
            self.world.scheduler.after(spec["after"], on, f"device fault {spec['name']}")

    def _on_event(self, record: dict[str, Any]) -> None:
        if record.get("kind") == "device_fault":
            return
        with self._lock:
            if not self._waiting:
                return
            fired = [w for w in self._waiting if all(record.get(k) == v for k, v in w["when"].items())]
            self._waiting = [w for w in self._waiting if w not in fired]
        for w in fired:
            spec = w["spec"]
            if spec["after"] <= 0:
                # not inside another event's delivery: the scheduler activates it right away
                spec = {**spec, "after": 1e-6}
            self._schedule(spec)

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Arm the inventory's faults, subscribe to events, serve the control channel."""
        self.world.subscribe(self._on_event)
        sim = self.world.inventory.simulation
        for fault in getattr(sim, "device_faults", None) or []:
            self.arm(fault.name, fault.target, after=fault.after, duration=fault.duration, when=fault.when)
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        self._server = server
        host, port = server.getsockname()
        target = Path(self.world.workdir) / CONTROL_FILE
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps({"host": host, "port": port}))
        tmp.replace(target)
        self._thread = threading.Thread(target=self._serve, name="labsim-device-faults", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            try:
                server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            server.close()

    def _serve(self) -> None:
        while self._server is not None:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self._handle, args=(conn,), name="labsim-device-fault-request", daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5.0)
            try:
                with conn.makefile("rwb") as stream:
                    line = stream.readline(65536)
                    reply = self._answer(line)
                    stream.write((json.dumps(reply) + "\n").encode())
                    stream.flush()
            except OSError:
                return

    def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line or b"{}")
            op = request.get("op")
            if op == "inject":
                self.arm(request["fault"], request.get("target"), after=float(request.get("after") or 0.0),
                         duration=request.get("duration"), when=request.get("when"))
            elif op == "clear":
                cleared = self.clear(request.get("fault"), request.get("target"))
                return {"ok": True, "cleared": cleared, "active": self.listing()}
            elif op != "list":
                return {"ok": False, "error": f"unknown op {op!r} (inject, clear, list)"}
            return {"ok": True, "active": self.listing()}
        except (DeviceFaultError, KeyError, TypeError, ValueError) as exc:
            return {"ok": False, "error": str(exc)}


# ---------------------------------------------------------------- the client side


class FaultControl:
    """Talk to a running simulated lab's device faults (its workdir holds the control address)."""

    def __init__(self, workdir: str | Path, timeout: float = 5.0) -> None:
        self.workdir = Path(workdir)
        self.timeout = timeout

    def request(self, **request: Any) -> dict[str, Any]:
        address = json.loads((self.workdir / CONTROL_FILE).read_text())
        with socket.create_connection((address["host"], address["port"]), timeout=self.timeout) as sock:
            sock.settimeout(self.timeout)
            with sock.makefile("rwb") as stream:
                stream.write((json.dumps(request) + "\n").encode())
                stream.flush()
                line = stream.readline(65536)
        reply = json.loads(line or b"{}")
        if not reply.get("ok"):
            raise DeviceFaultError(reply.get("error") or f"no answer to {request}")
        return reply

    def inject(self, fault: str, target: str | None = None, *, after: float = 0.0, duration: float | None = None,
               when: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Arm a device fault; the faults active right after."""
        return self.request(op="inject", fault=fault, target=target, after=after, duration=duration, when=when)["active"]

    def clear(self, fault: str | None = None, target: str | None = None) -> int:
        """Clear matching faults (None: all); how many were active."""
        return int(self.request(op="clear", fault=fault, target=target)["cleared"])

    def active(self) -> list[dict[str, Any]]:
        return self.request(op="list")["active"]
