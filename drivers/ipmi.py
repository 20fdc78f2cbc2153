"""IPMI (RMCP+ / lanplus) power control of one node's BMC, with pyghmi.

Each action logs in with a fresh session and logs out again (pyghmi caches
sessions per process; a cached session to a BMC that died takes ~30 s to
fail, a fresh one a few seconds). Credentials go to pyghmi as bytes: str
credentials can pick up a stale cached session and hang. Every action runs
in a worker thread joined with a deadline, so no caller waits longer than
the configured timeout. Caveat: when that deadline passes, pyghmi's own
retransmissions may still deliver the command afterwards — after a
DeviceUnreachable from a power action, read the power state again before
concluding anything.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Literal, TypeVar

from pyghmi.exceptions import IpmiException
from pyghmi.ipmi import command as ipmi_command
from pyghmi.ipmi.private import session as ipmi_session

from . import pyghmi_io  # noqa: F401  (installs the race-free socket I/O)
from .errors import AuthenticationRefused, CommandRefused, DeviceUnreachable, LabError
from .redact import Secret, reveal
from .registry import BMCS, BuildContext, LabConfigError

T = TypeVar("T")

PowerState = Literal["on", "off"]

# IPMI chassis control (netfn 0x00, cmd 0x02) directives.
_CHASSIS_OFF, _CHASSIS_ON, _CHASSIS_CYCLE, _CHASSIS_RESET = 0, 1, 2, 3

# pyghmi reports login failures as text; these words mean "the BMC answered and said no".
_REFUSED_BEFORE_SENDING_S = 0.5
"""A pyghmi 'Session no longer connected' this soon after asking was never sent."""
_AUTH_WORDS = (
    "password",
    "unauthorized",
    "invalid name",
    "user",
    "privilege level",
    "integrity check",
    "rakp",
    "insufficient resources",
)
# ... and these mean nothing (useful) came back.
_UNREACHABLE_WORDS = ("timeout", "timed out", "no longer connected", "unable to", "connection", "no response")


# BMCs that must be asked for cipher suite 3 (HMAC-SHA1) straight away. pyghmi
# always opens with suite 17 (SHA-256) and falls back only when the BMC answers
# with an error; some BMCs (OpenIPMI's ipmi_sim) stall instead.
_SUITE3_ONLY: set[tuple[str, int]] = set()
_original_open_request = ipmi_session.Session._open_rmcpplus_request


def _open_request_with_suite_choice(session: Any) -> Any:
    if (session.bmc, session.port) in _SUITE3_ONLY and session.attemptedhash == 256:
        session.attemptedhash = 1  # pyghmi 1.6: 1 = the SHA-1 algorithms of suite 3
    return _original_open_request(session)


ipmi_session.Session._open_rmcpplus_request = _open_request_with_suite_choice


class IpmiBmc:
    """One BMC, addressed by host/port, with a user and password.

    `timeout` bounds every action (login + command + logout) in seconds.
    Pass `keep_session=True` to reuse one logged-in session across actions
    (then call `close()`); the default is a fresh session per action.
    `cipher_suite=3` skips pyghmi's suite-17 attempt (needed by BMCs that
    stall on it); None lets pyghmi negotiate.
    """

    def __init__(
        self,
        name: str,
        host: str,
        port: int = 623,
        user: str = "admin",
        password: str = "",
        timeout: float = 5.0,
        keep_session: bool = False,
        privilege: int | None = None,
        cipher_suite: int | None = None,
    ) -> None:
        if cipher_suite not in (None, 3, 17):
            raise ValueError(f"cipher_suite must be 3, 17 or None (got {cipher_suite})")
        self.name = name
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.timeout = timeout
        self.keep_session = keep_session
        self.privilege = privilege
        self._cmd: Any = None
        self._lock = threading.Lock()
        if cipher_suite == 3:
            _SUITE3_ONLY.add((host, port))

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"IpmiBmc({self.name!r}, {self.address}, user={self.user!r})"

    # ------------------------------------------------------------ actions

    def power_status(self) -> PowerState:
        """'on' or 'off', from Get Chassis Status."""
        data = self._raw("power status", netfn=0x00, command=0x01)
        if not data:
            raise CommandRefused(self.name, self.address, "power status", "empty Get Chassis Status response")
        return "on" if data[0] & 0x01 else "off"

    def power_on(self) -> None:
        self._raw("power on", netfn=0x00, command=0x02, data=[_CHASSIS_ON])

    def power_off(self) -> None:
        self._raw("power off", netfn=0x00, command=0x02, data=[_CHASSIS_OFF])

    def power_cycle(self) -> None:
        self._raw("power cycle", netfn=0x00, command=0x02, data=[_CHASSIS_CYCLE])

    def power_reset(self) -> None:
        self._raw("power reset", netfn=0x00, command=0x02, data=[_CHASSIS_RESET])

    def sel(self) -> list[str]:
        """The System Event Log, one line per entry, oldest first (raw SEL reads, no SDR needed):
        ``RECORD_ID | TIMESTAMP | sensor type 0xTT #0xNN | event 0xEE data 0xD1 0xD2 0xD3``."""

        def read(cmd: Any) -> list[str]:
            info = _raw_data(cmd, netfn=0x0A, command=0x40)
            if len(info) < 3 or (info[1] | info[2] << 8) == 0:
                return []
            lines: list[str] = []
            record_id = 0x0000
            for _ in range(info[1] | info[2] << 8):
                data = _raw_data(cmd, netfn=0x0A, command=0x43, data=[0, 0, record_id & 0xFF, record_id >> 8, 0, 0xFF])
                next_id, entry = data[0] | data[1] << 8, data[2:]
                lines.append(_sel_line(entry))
                if next_id == 0xFFFF:
                    break
                record_id = next_id
            return lines

        return self._call("read SEL", read)

    def close(self) -> None:
        """Log out of a kept session (no-op with fresh sessions)."""
        with self._lock:
            cmd, self._cmd = self._cmd, None
        if cmd is not None:
            _logout_quietly(cmd)

    def __enter__(self) -> "IpmiBmc":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ plumbing

    def _raw(self, what: str, netfn: int, command: int, data: list[int] | None = None) -> list[int]:
        return self._call(what, lambda cmd: _raw_data(cmd, netfn, command, data))

    def _login(self) -> Any:
        kwargs: dict[str, Any] = {}
        if self.privilege is not None:
            kwargs["privlevel"] = self.privilege
        return ipmi_command.Command(
            bmc=self.host,
            userid=self.user.encode(),
            password=(reveal(self._password) or "").encode(),
            port=self.port,
            keepalive=self.keep_session,
            **kwargs,
        )

    def _login_retrying(self) -> Any:
        # pyghmi can trip over its own session cache right after a failed login
        # (AttributeError on a half-built session); a second, clean attempt works.
        # The one such race CI has shown (a refusal's reason read before it was
        # stored) is closed in pyghmi_io; this stays for any other.
        try:
            return self._login()
        except AttributeError:
            self._forget_half_built_session()
            return self._login()
        except IpmiException:
            self._forget_half_built_session()
            raise

    def _forget_half_built_session(self) -> None:
        """Drop pyghmi's cached in-progress login for these credentials, so a
        failed login cannot be handed to the next caller (pyghmi 1.6 internals)."""
        pending = getattr(ipmi_session.Session, "initting_sessions", None)
        if isinstance(pending, dict):
            key = (self.host, self.user.encode(), (reveal(self._password) or "").encode(), self.port, None)
            pending.pop(key, None)

    def _forget_cached_sessions(self) -> None:
        """After an action outlived its deadline: break and drop every session pyghmi keeps for
        this BMC and these credentials (pyghmi 1.6 internals). A login abandoned half-way stays
        in pyghmi's cache, and every later login to the same BMC waits on it for good: one
        BMC of a lab then answers no one in this process, while the BMC itself is fine."""
        user = self.user.encode()
        password = (reveal(self._password) or "").encode()
        stale: list[Any] = []
        pending = getattr(ipmi_session.Session, "initting_sessions", None)
        if isinstance(pending, dict):
            found = pending.pop((self.host, user, password, self.port, None), None)
            if found is not None:
                stale.append(found)
        handlers = getattr(ipmi_session.Session, "bmc_handlers", None)
        if isinstance(handlers, dict):
            for peer, sessions in list(handlers.items()):
                if not isinstance(peer, tuple) or not isinstance(sessions, dict):
                    continue
                for key, session in list(sessions.items()):
                    if (not getattr(session, "servermode", True) and getattr(session, "bmc", None) == self.host
                            and getattr(session, "port", None) == self.port and getattr(session, "userid", None) == user):
                        stale.append(session)
                        del sessions[key]
                if not sessions:
                    handlers.pop(peer, None)
        for session in stale:
            session.broken = True  # releases any thread still waiting on its login
            session.logging = False

    def _session_call(self, action: Callable[[Any], T], progress: dict[str, Any]) -> T:
        if not self.keep_session:
            # pyghmi shares one session per (host, user, password) in a process: another
            # thread's logout can end it between our login and our command. pyghmi then
            # refuses at once, before sending; a refusal that quick is safe to try again.
            for attempt in (1, 2):
                cmd = self._login_retrying()
                progress["logged_in"] = True
                asked = time.monotonic()
                try:
                    return action(cmd)
                except IpmiException as exc:
                    quick = time.monotonic() - asked < _REFUSED_BEFORE_SENDING_S
                    if attempt == 2 or not quick or "no longer connected" not in str(exc).lower():
                        raise
                finally:
                    _logout_quietly(cmd)
        # A kept session can be broken behind our back: pyghmi shares one session
        # per (host, user, password) in a process, and another user may log it out.
        for attempt in (1, 2):
            fresh = self._cmd is None
            if fresh:
                self._cmd = self._login_retrying()
            progress["logged_in"] = True
            try:
                return action(self._cmd)
            except IpmiException as exc:
                self._cmd = None
                if fresh or attempt == 2 or "no longer connected" not in str(exc).lower():
                    raise
        raise AssertionError("unreachable")

    def _call(self, what: str, action: Callable[[Any], T]) -> T:
        """Run `action(cmd)` on a logged-in session, bounded by `timeout`."""
        box: dict[str, Any] = {}

        def worker() -> None:
            try:
                box["value"] = self._session_call(action, box)
            except BaseException as exc:  # carried to the caller's thread
                box["error"] = exc

        started = time.monotonic()
        with self._lock:
            thread = threading.Thread(target=worker, name=f"ipmi-{self.name}", daemon=True)
            thread.start()
            thread.join(self.timeout)
        elapsed = time.monotonic() - started
        if thread.is_alive():
            self._cmd = None  # a kept session that outlived a deadline is not trusted again
            self._forget_cached_sessions()
            raise DeviceUnreachable(self.name, self.address, what, f"no answer within {self.timeout:.1f} s")
        if "error" in box:
            raise self._classify(what, box["error"], elapsed, box.get("logged_in", False)) from box["error"]
        return box["value"]

    def _classify(self, what: str, exc: BaseException, elapsed: float, logged_in: bool) -> LabError:
        text = str(exc) or type(exc).__name__
        lower = text.lower()
        code = getattr(exc, "ipmicode", 0) or 0
        lost = any(word in lower for word in _UNREACHABLE_WORDS)
        if logged_in and not lost:
            detail = f"{text} (completion code 0x{code:02x})" if code else text
            return CommandRefused(self.name, self.address, what, detail)
        if not logged_in and not lost and any(word in lower for word in _AUTH_WORDS):
            return AuthenticationRefused(self.name, self.address, what, f"{text} (user {self.user!r})")
        if isinstance(exc, (IpmiException, OSError)):
            return DeviceUnreachable(self.name, self.address, what, f"{text} (after {elapsed:.1f} s)")
        return CommandRefused(self.name, self.address, what, f"{type(exc).__name__}: {text}")


def _raw_data(cmd: Any, netfn: int, command: int, data: list[int] | None = None) -> list[int]:
    rsp = cmd.raw_command(netfn=netfn, command=command, data=data or [])
    if "error" in rsp:
        raise IpmiException(rsp["error"], rsp.get("code", 0))
    if rsp.get("code"):
        raise IpmiException(f"completion code 0x{rsp['code']:02x}", rsp["code"])
    return list(rsp.get("data", []))


def _sel_line(entry: list[int]) -> str:
    if len(entry) < 16:
        return " ".join(f"{b:02x}" for b in entry)
    record_id = entry[0] | entry[1] << 8
    stamp = entry[3] | entry[4] << 8 | entry[5] << 16 | entry[6] << 24
    if entry[2] != 0x02:  # OEM record: no sensor fields
        return f"{record_id:04x} | {stamp} | OEM record type 0x{entry[2]:02x} | " + " ".join(f"{b:02x}" for b in entry[7:])
    return (
        f"{record_id:04x} | {stamp} | sensor type 0x{entry[10]:02x} #0x{entry[11]:02x} | "
        f"event 0x{entry[12]:02x} data 0x{entry[13]:02x} 0x{entry[14]:02x} 0x{entry[15]:02x}"
    )


def _logout_quietly(cmd: Any) -> None:
    try:
        cmd.ipmi_session.logout()
    except Exception:  # noqa: BLE001 - the session is being thrown away anyway
        pass


@BMCS.register("ipmi")
def build_ipmi(lab: BuildContext, node: str, spec: Any) -> IpmiBmc:
    """The IPMI BMC of `node` (`spec`: its inventory `bmc` section, None when it has none)."""
    if lab.from_endpoints:
        ep = lab.endpoint("nodes", node)["bmc"]
        return IpmiBmc(node, ep["host"], int(ep["port"]), ep["user"], Secret(ep["password"]))
    if spec is None:
        raise LabConfigError(f"node {node} has no 'bmc' section in {lab.inventory.source}")
    password = lab.secret(f"nodes.{node}.bmc", spec.password_env, spec.password_file)
    return IpmiBmc(node, spec.host, spec.port, spec.user, password or Secret(""), timeout=spec.timeout)
