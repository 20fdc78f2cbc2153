"""Device locks: two processes (pytest-xdist workers, two runs) never act on one device at once.

Labs run side by side, one pytest-xdist worker each. A device two labs share
(one PDU feeding both racks, one switch) must still see one actor at a time:
every action on a device is wrapped in `device_lock(key, what)`, a file lock
(filelock) per device in a lock folder all workers and runs on this machine
share. The key is the device's real identity, not its name in an inventory:
`pdu:10.0.0.5:161` is the same PDU whether one lab calls it pdu1 and another
pdu-a. Simulated labs key by their endpoint (127.0.0.1 and the lab's own port),
so two simulated labs never wait on each other.

    from hacert.lab.locks import device_lock, lab_device_key
    with device_lock(lab_device_key(lab, "pdu", "pdu1"), "reboot outlet 2 for an-node02"):
        lab.pdu("pdu1").outlet_reboot(2)

The lock is re-entrant within one thread (a switch power-off through a PDU
outlet may lock the switch, then the PDU, then the PDU again) and exclusive
between threads and processes. Whoever holds a lock is written next to it
(`<key>.holder`: pid, xdist worker, what, since), so a waiter can say whom it
waits for. Registered as a pytest plugin (`-p hacert.lab.locks`) it adds
`--lock-dir DIR`; the folder is also taken from env `HACERT_LOCK_DIR`, else
`<system temp>/hacert-locks`.
"""

from __future__ import annotations

import copy

import contextlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from hacert.drivers.errors import LabError

ENV_LOCK_DIR = "HACERT_LOCK_DIR"
DEFAULT_TIMEOUT = 900.0
"""How long an action waits for a device another worker holds (s): longer than any one case's action."""
NOTICE_AFTER = 2.0
"""A wait longer than this says on stderr which device it waits for and who holds it."""

_configured_dir: Path | None = None
_registry_lock = threading.Lock()
_locks: dict[Path, FileLock] = {}


class DeviceBusy(LabError):
    """Another worker held the device for longer than the lock timeout."""


@dataclass(frozen=True)
class Holder:
    """Who holds a device lock (as written in its `.holder` file)."""

    pid: int
    worker: str
    what: str
    since: float

    def describe(self) -> str:
        age = time.time() - self.since
        return f"pid {self.pid} ({self.worker}) for {age:.0f} s: {self.what}"


# ---------------------------------------------------------------- where the locks live


def set_lock_dir(path: str | os.PathLike[str] | None) -> None:
    """Use `path` for every later lock of this process (None: back to env/default)."""
    global _configured_dir
    _configured_dir = Path(path).expanduser().resolve() if path else None


def lock_dir() -> Path:
    """The shared lock folder: `set_lock_dir`/--lock-dir, else env HACERT_LOCK_DIR, else <tmp>/hacert-locks."""
    if _configured_dir is not None:
        return _configured_dir
    env = os.environ.get(ENV_LOCK_DIR)
    if env:
        return Path(env).expanduser().resolve()
    return Path(tempfile.gettempdir()) / "hacert-locks"


# ---------------------------------------------------------------- keys


def device_key(kind: str, host: str, port: int | str | None = None) -> str:
    """The identity of a device: `kind:host:port` (host lower-cased; `localhost` is 127.0.0.1)."""
    host = host.strip().lower().rstrip(".")
    if host in ("localhost", "localhost.localdomain", "::1"):
        host = "127.0.0.1"
    return f"{kind}:{host}" if port in (None, "") else f"{kind}:{host}:{port}"


def _file_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", key)


def lab_device_key(lab: Any, kind: str, name: str) -> str:
    """The key of device `name` of `kind` (node|ssh, bmc, pdu, switch, switch_power) in a `hacert.lab.build.Lab`.

    Simulated labs: the endpoint the lab published. Real labs: the inventory's
    address. `switch_power` is the PDU feeding the switch (that is the device
    acted on); a switch whose ports are switched from the nodes (method node)
    or by a person (manual) is keyed by lab and name, the only identity it has.
    """
    inv = lab.inventory
    endpoints: Mapping[str, Any] = getattr(lab, "endpoints", {}) or {}
    simulated = bool(getattr(lab, "simulated", False))
    if kind in ("node", "ssh"):
        if simulated:
            ep = endpoints["nodes"][name]["ssh"]
            return device_key("ssh", ep["host"], ep["port"])
        spec = inv.node(name)
        if spec.ssh is None:
            return f"ssh:{inv.lab}/{name}"
        return device_key("ssh", spec.ssh.host, spec.ssh.port)
    if kind == "bmc":
        if simulated:
            ep = endpoints["nodes"][name]["bmc"]
            return device_key("bmc", ep["host"], ep["port"])
        spec = inv.node(name)
        if spec.bmc is None:
            return f"bmc:{inv.lab}/{name}"
        return device_key("bmc", spec.bmc.host, spec.bmc.port)
    if kind == "pdu":
        if simulated:
            ep = endpoints["pdus"][name]
            return device_key("pdu", ep["host"], ep["port"])
        spec = inv.pdu(name)
        return device_key("pdu", spec.host, spec.port) if spec.host else f"pdu:{inv.lab}/{name}"
    if kind == "switch":
        spec = inv.switch(name)
        if spec.ports.method == "snmp":
            if simulated:
                ep = endpoints["switches"][name]
                return device_key("switch", ep["host"], ep["port"])
            if spec.ports.host:
                return device_key("switch", spec.ports.host, spec.ports.port)
        if spec.ports.method == "ssh" and spec.ports.ssh is not None:
            return device_key("switch", spec.ports.ssh.host, spec.ports.ssh.port)
        return f"switch:{inv.lab}/{name}"
    if kind == "switch_power":
        power = inv.switch(name).power
        if power.method == "pdu" and power.pdu:
            return lab_device_key(lab, "pdu", power.pdu)
        return f"switch_power:{inv.lab}/{name}"
    raise ValueError(f"unknown device kind {kind!r} (node, ssh, bmc, pdu, switch, switch_power)")


# ---------------------------------------------------------------- the lock


def _file_lock(path: Path) -> FileLock:
    # One FileLock object per file in this process: its per-thread counter makes
    # nested acquisitions in one thread re-entrant, while two threads each take
    # their own flock and exclude each other.
    with _registry_lock:
        lock = _locks.get(path)
        if lock is None:
            lock = _locks[path] = FileLock(str(path), thread_local=True)
        return lock


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def holder_of(device_key_: str, folder: Path | None = None) -> Holder | None:
    """Who holds (or last held) the device's lock, as written in its `.holder` file."""
    path = (folder or lock_dir()) / f"{_file_name(device_key_)}.holder"
    try:
        data = json.loads(path.read_text())
        return Holder(int(data["pid"]), str(data["worker"]), str(data["what"]), float(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def device_lock(device_key: str, what: str, *, timeout: float = DEFAULT_TIMEOUT,
                folder: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """Hold the device's lock while acting on it; yields the lock file.

    Waits at most `timeout` s for another holder (saying on stderr after
    NOTICE_AFTER s whom it waits for), then raises `DeviceBusy`.
    """
    base = Path(folder) if folder is not None else lock_dir()
    base.mkdir(parents=True, exist_ok=True)
    name = _file_name(device_key)
    path = base / f"{name}.lock"
    lock = _file_lock(path)
    started = time.monotonic()
    try:
        lock.acquire(timeout=min(NOTICE_AFTER, timeout))
    except Timeout:
        holder = holder_of(device_key, base)
        sys.stderr.write(f"hacert: waiting for {device_key} ({what}): held by "
                         f"{holder.describe() if holder else 'another process'}\n")
        try:
            lock.acquire(timeout=max(0.0, timeout - (time.monotonic() - started)))
        except Timeout:
            holder = holder_of(device_key, base)
            raise DeviceBusy(device_key, str(path), what,
                             f"the device stayed locked for {timeout:.0f} s by "
                             f"{holder.describe() if holder else 'another process'}") from None
    outermost = lock.lock_counter == 1
    holder_file = base / f"{name}.holder"
    if outermost:
        holder_file.write_text(json.dumps({"pid": os.getpid(), "worker": _worker(), "what": what,
                                           "since": time.time(), "key": device_key}))
    try:
        yield path
    finally:
        lock.release()


@contextlib.contextmanager
def device_locks(keys: list[str] | tuple[str, ...], what: str, *, timeout: float = DEFAULT_TIMEOUT,
                 folder: str | os.PathLike[str] | None = None) -> Iterator[None]:
    """Hold several devices at once, taken in sorted order (two workers can never deadlock)."""
    with contextlib.ExitStack() as stack:
        for key in sorted(set(keys)):
            stack.enter_context(device_lock(key, what, timeout=timeout, folder=folder))
        yield


class LockedDriver:
    """A driver whose acting methods hold the device's lock; everything else passes through.

        pdu = LockedDriver(ApcPdu(...), "pdu:10.0.0.5:161", ("outlet_on", "outlet_off", "outlet_reboot"))
    """

    def __init__(self, driver: Any, key: str, methods: tuple[str, ...] | list[str]) -> None:
        self._driver = driver
        self._key = key
        self._methods = frozenset(methods)

    @property
    def device_key(self) -> str:
        return self._key

    @property
    def unwrapped(self) -> Any:
        """The driver itself, for read-only work on a copy of it (no lock needed)."""
        return self._driver

    def __copy__(self) -> "LockedDriver":
        return LockedDriver(copy.copy(self._driver), self._key, self._methods)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or "_driver" not in self.__dict__:
            raise AttributeError(name)  # half-built (copy, pickle): never recurse into ourselves
        value = getattr(self._driver, name)
        if name not in self._methods or not callable(value):
            return value

        def locked(*args: Any, **kwargs: Any) -> Any:
            shown = ", ".join([*(repr(a) for a in args), *(f"{k}={v!r}" for k, v in kwargs.items())])
            with device_lock(self._key, f"{name}({shown})"):
                return value(*args, **kwargs)

        return locked

    def __repr__(self) -> str:
        return f"LockedDriver({self._driver!r}, {self._key!r})"


ACTING_METHODS: dict[str, tuple[str, ...]] = {
    "bmc": ("power_on", "power_off", "power_cycle", "power_reset"),
    "pdu": ("outlet_on", "outlet_off", "outlet_reboot"),
    "switch": ("port_down", "port_up"),
    "switch_power": ("power_off", "power_on"),
}
"""The methods of each driver kind that change a device (what `LockedDriver` wraps)."""


__all__ = [
    "ACTING_METHODS", "DeviceBusy", "Holder", "LockedDriver", "device_key", "device_lock", "device_locks",
    "holder_of", "lab_device_key", "lock_dir", "set_lock_dir",
]
