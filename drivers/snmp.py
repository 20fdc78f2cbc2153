"""A small synchronous SNMP v1/v2c client over pysnmp 7's asyncio hlapi.

Each `SnmpClient` owns a private event loop and SNMP engine, so callers
(pytest, a Python prompt, a thread of the harness) never see asyncio. Every
request is bounded twice: by pysnmp's own timeout x (retries + 1), and by an
outer deadline in case the engine itself stalls.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any, Callable, Iterator, TypeVar

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    get_cmd,
    next_cmd,
    set_cmd,
)
from pysnmp.proto import rfc1902, rfc1905

from .errors import CommandIgnored, CommandRefused, DeviceUnreachable, WaitTimeout
from .redact import reveal

Oid = tuple[int, ...]
T = TypeVar("T")

_NO_SUCH_NAME = 2


GET_BATCH = 16
"""Objects asked in one GET by the drivers' batched reads: well inside what any agent answers in
one message (484 octets at the least)."""

def oid(text: str | Oid) -> Oid:
    """'.1.3.6.1' or '1.3.6.1' or a tuple -> tuple of ints."""
    if isinstance(text, tuple):
        return text
    return tuple(int(part) for part in text.strip(".").split("."))


def oid_str(value: Oid) -> str:
    return "." + ".".join(str(x) for x in value)


class SnmpClient:
    """GET / GETNEXT-walk / SET against one agent.

    `community_ro` reads, `community_rw` writes (falls back to the read one).
    `version` is "1" or "2c".
    """

    def __init__(
        self,
        device: str,
        host: str,
        port: int = 161,
        community_ro: str = "public",
        community_rw: str | None = None,
        version: str = "1",
        timeout: float = 2.0,
        retries: int = 1,
    ) -> None:
        if version not in ("1", "2c"):
            raise ValueError(f"SNMP version must be '1' or '2c' (got {version!r})")
        self.device = device
        self.host = host
        self.port = port
        self.version = version
        self.timeout = timeout
        self.retries = retries
        self._ro = community_ro
        self._rw = community_rw if community_rw is not None else community_ro
        self._loop = asyncio.new_event_loop()
        self._engine: SnmpEngine | None = None
        self._resolved: UdpTransportTarget | None = None
        self._communities: dict[bool, CommunityData] = {}
        self._binds: dict[Oid, ObjectType] = {}
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def deadline(self) -> float:
        """The longest one request may take, in seconds."""
        return self.timeout * (self.retries + 1) + 1.0

    def __repr__(self) -> str:
        return f"SnmpClient({self.device!r}, {self.address}, v{self.version})"

    # ------------------------------------------------------------ requests

    def get(self, *oids: str | Oid) -> list[Any]:
        """Values of `oids`, in order (pysnmp values: int() / str() / tuple() them)."""
        names = [oid(o) for o in oids]
        binds = self._run(f"get {', '.join(map(oid_str, names))}", self._get(names))
        values = []
        for name, (_, value) in zip(names, binds):
            if _missing(value):
                raise CommandRefused(self.device, self.address, f"get {oid_str(name)}", "no such object on the device")
            values.append(value)
        return values

    def get_one(self, name: str | Oid) -> Any:
        return self.get(name)[0]

    def walk(self, root: str | Oid, limit: int = 10000) -> Iterator[tuple[Oid, Any]]:
        """(oid, value) for every object under `root`, in order."""
        base = oid(root)
        current = base
        for _ in range(limit):
            binds = self._run(f"walk {oid_str(base)}", self._next(current), end_of_view_ok=True)
            if not binds:
                return
            name, value = tuple(binds[0][0]), binds[0][1]
            if name[: len(base)] != base or _missing(value) or name <= current:
                return
            yield name, value
            current = name

    def set(self, name: str | Oid, value: int | str) -> None:
        """SET one object (an int is sent as INTEGER, a str as OCTET STRING)."""
        target = oid(name)
        self._run(f"set {oid_str(target)} = {value}", self._set(target, value))

    def close(self) -> None:
        with self._lock:
            if self._loop.is_closed():
                return
            if self._engine is not None:
                try:
                    self._engine.close_dispatcher()
                except Exception:  # noqa: BLE001 - closing what is being thrown away
                    pass
                self._engine = None
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            if pending:
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

    def _abandon_loop(self) -> None:
        old, engine = self._loop, self._engine
        self._loop, self._engine = asyncio.new_event_loop(), None
        with contextlib.suppress(BaseException):
            if engine is not None:
                engine.close_dispatcher()
        with contextlib.suppress(BaseException):
            old.close()

    def __enter__(self) -> "SnmpClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ plumbing

    def _run(self, what: str, coro: Any, end_of_view_ok: bool = False) -> list[tuple[Any, Any]]:
        with self._lock:
            if self._loop.is_closed():
                coro.close()
                raise RuntimeError(f"{self!r} is closed")
            try:
                error_indication, error_status, error_index, binds = self._loop.run_until_complete(
                    asyncio.wait_for(coro, self.deadline)
                )
            except (asyncio.TimeoutError, TimeoutError):
                raise DeviceUnreachable(self.device, self.address, what, f"no answer within {self.deadline:.1f} s") from None
            except OSError as exc:
                raise DeviceUnreachable(self.device, self.address, what, str(exc)) from exc
            except BaseException:
                # Ctrl-C (or SystemExit) inside the loop leaves a half-finished task holding the
                # KeyboardInterrupt, which fires again at the next request on this loop - e.g. while
                # the guard restores the lab after the interrupt. The next request gets a fresh loop.
                self._abandon_loop()
                raise
        if error_indication:
            raise DeviceUnreachable(
                self.device,
                self.address,
                what,
                f"{error_indication} (after {self.timeout:.1f} s x {self.retries + 1}; a wrong community also looks like this)",
            )
        if error_status and int(error_status) == _NO_SUCH_NAME and end_of_view_ok:
            return []  # SNMPv1 ends a GETNEXT walk with noSuchName
        if error_status and int(error_status):
            status = error_status.prettyPrint() if hasattr(error_status, "prettyPrint") else str(error_status)
            culprit = ""
            if error_index and int(error_index) and binds:
                culprit = f" at {binds[int(error_index) - 1][0]}"
            raise CommandRefused(self.device, self.address, what, f"agent answered {status}{culprit}")
        return [(b[0], b[1]) for b in binds]

    async def _target(self) -> tuple[SnmpEngine, UdpTransportTarget]:
        # One engine, one resolved target and one community object per client, kept with the engine:
        # pysnmp configures its engine once per (community, target) pair it is shown, and a target made
        # afresh per request also resolved the address in a worker thread each time (the largest CPU
        # cost of an SNMP read).
        if self._engine is None:
            self._engine = SnmpEngine()
            self._resolved = None
            self._communities = {}
        if self._resolved is None:
            self._resolved = await UdpTransportTarget.create((self.host, self.port), timeout=self.timeout, retries=self.retries)
        return self._engine, self._resolved

    def _auth(self, write: bool) -> CommunityData:
        if write not in self._communities:
            community = reveal(self._rw if write else self._ro) or ""
            self._communities[write] = CommunityData(community, mpModel=0 if self.version == "1" else 1)
        return self._communities[write]

    def _bind(self, name: Oid) -> ObjectType:
        # pysnmp resolves every request's names through its MIB view (the largest CPU cost of a GET after
        # the target's); a resolved ObjectType is marked clean and is not resolved again, so keep it per OID
        bind = self._binds.get(name)
        if bind is None:
            bind = self._binds[name] = ObjectType(ObjectIdentity(name))
        return bind

    async def _get(self, names: list[Oid]) -> Any:
        engine, target = await self._target()
        return await get_cmd(engine, self._auth(False), target, ContextData(), *(self._bind(n) for n in names), lookupMib=False)

    async def _next(self, name: Oid) -> Any:
        engine, target = await self._target()
        return await next_cmd(engine, self._auth(False), target, ContextData(), self._bind(name), lookupMib=False)

    async def _set(self, name: Oid, value: int | str) -> Any:
        engine, target = await self._target()
        typed = rfc1902.Integer(value) if isinstance(value, int) else rfc1902.OctetString(value)
        return await set_cmd(engine, self._auth(True), target, ContextData(), ObjectType(ObjectIdentity(name), typed), lookupMib=False)


def _missing(value: Any) -> bool:
    return isinstance(value, (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, rfc1905.EndOfMibView))


def wait_until_reads(read: Callable[[], T], want: T, awaited: str, timeout: float, interval: float,
                     client: "SnmpClient | None" = None) -> None:
    """Poll `read()` (an object read back after a SET) until it returns `want`.

    A device that took the SET but never shows its effect is misbehaving: with the
    `client` known that is a CommandIgnored (a lab error naming the device), else a
    WaitTimeout with the last value seen, once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        seen = read()
        if seen == want:
            return
        if time.monotonic() >= deadline:
            if client is not None:
                raise CommandIgnored(client.device, client.address, f"waiting for {awaited}",
                                     f"the device accepted the SET but still reads {seen!r} after {timeout:.1f} s")
            raise WaitTimeout(awaited, timeout, seen)
        time.sleep(interval)
