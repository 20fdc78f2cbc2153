"""Redfish (DMTF, HTTPS + JSON) power control of one node's BMC, with sushy.

The same power interface as `hacert.drivers.ipmi.IpmiBmc` (power_status, power_on, power_off,
power_cycle, power_reset, sel, close), so the suites, the guard and the samplers use either BMC
without knowing which protocol it speaks.

Why sushy: it is the Redfish client OpenStack Ironic drives real fleets with (iDRAC, iLO, XCC,
OpenBMC), it finds the ComputerSystem the standard way (the service root's Systems collection),
checks a reset type against the BMC's own ``ResetType@Redfish.AllowableValues`` before posting
it, speaks Redfish sessions (X-Auth-Token) with a fall-back to basic auth, and maps HTTP answers
to typed exceptions (AccessError, BadRequestError, ServerSideError, ConnectionError) that map
one-to-one onto hacert's lab errors. The DMTF `redfish` library is a thinner REST wrapper: every
answer is a status code to interpret by hand.

Each action opens a fresh connection (a new session, deleted again afterwards): a BMC that lost
its power forgets its sessions, exactly as an IPMI BMC does. Every action runs in a worker thread
joined with a deadline (`timeout`), so no caller waits longer, whatever the BMC does (sushy's own
read timeout bounds each request, not a whole login + GET + POST).

TLS: ``verify=True`` checks the BMC's certificate against the system's CAs, a path checks it against
that CA bundle, ``False`` accepts a self-signed BMC (an explicit inventory choice: `verify: false`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Literal, TypeVar

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_incrementing
import sushy
from sushy import auth as sushy_auth
from sushy import exceptions as sushy_exc
from sushy.resources import constants as res_cons

from .errors import AuthenticationRefused, CommandRefused, DeviceUnreachable, LabError
import os
from pathlib import Path

from .redact import Secret, reveal
from .registry import BMCS, BuildContext, LabConfigError

T = TypeVar("T")
PowerState = Literal["on", "off"]

# sushy logs every failed request at ERROR/WARNING; the harness reports them as typed errors instead
logging.getLogger("sushy").setLevel(logging.CRITICAL)

# Redfish ResetType values (DSP0268 Resource.ResetType) for each power directive, best first:
# a BMC lists what it accepts in the action's AllowableValues; the first one it accepts is used.
RESET_TYPES: dict[str, tuple[str, ...]] = {
    "power on": ("On", "ForceOn"),
    "power off": ("ForceOff",),
    "power cycle": ("PowerCycle", "ForceRestart"),
    "power reset": ("ForceRestart", "PowerCycle"),
}


READ_RETRY_WAIT = 1.0
"""Seconds before a read whose connection was dropped at once is asked again; each later wait one more of these."""
READ_ATTEMPTS = 5
"""Reads of the BMC's log, at most (over 10 s with the waits): CI saw two drops 0.5 s apart right after a
fence, and once three over 2 s (netlab's BMC behind its relay), the BMC fine otherwise."""

class RedfishBmc:
    """One Redfish BMC at https://host:port.

    `systems_uri` names the ComputerSystem (e.g. /redfish/v1/Systems/System.Embedded.1); None finds
    the only member of the service root's Systems collection. `verify`: True, False or a CA bundle path.
    `auth`: 'session' (an X-Auth-Token session, basic auth if the BMC has no session service) or 'basic'.
    `timeout` bounds every action (connect, log in, ask, log out) in seconds.
    """

    protocol = "redfish"

    def __init__(
        self,
        name: str,
        host: str,
        port: int = 443,
        user: str = "admin",
        password: str = "",
        timeout: float = 5.0,
        systems_uri: str | None = None,
        verify: bool | str = True,
        auth: Literal["session", "basic"] = "session",
    ) -> None:
        if auth not in ("session", "basic"):
            raise ValueError(f"auth must be 'session' or 'basic' (got {auth!r})")
        self.name = name
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.timeout = timeout
        self.systems_uri = systems_uri
        self.verify = verify
        self.auth = auth
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"https://{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"RedfishBmc({self.name!r}, {self.address}, user={self.user!r})"

    # ------------------------------------------------------------ actions

    def power_status(self) -> PowerState:
        """'on' or 'off', from the ComputerSystem's PowerState (PoweringOn counts as on, as fence_redfish reads it)."""

        def read(root: Any) -> PowerState:
            system = root.get_system(self.systems_uri)
            state = system.json.get("PowerState")
            if not isinstance(state, str):
                raise CommandRefused(self.name, self.address, "power status", f"{system.path} has no PowerState")
            return "off" if state.strip() == "Off" else "on"

        return self._call("power status", read)

    def power_on(self) -> None:
        self._reset("power on")

    def power_off(self) -> None:
        self._reset("power off")

    def power_cycle(self) -> None:
        self._reset("power cycle")

    def power_reset(self) -> None:
        self._reset("power reset")

    def allowed_resets(self) -> list[str]:
        """The ResetType values the BMC says it accepts (sorted)."""
        return self._call("read reset types", lambda root: sorted(_allowed(root.get_system(self.systems_uri))))

    def sel(self) -> list[str]:
        """The BMC's own record of what happened, oldest first: the entries of the system's log services
        (the SEL where the BMC keeps one), one line per entry: ``ID | CREATED | SEVERITY | MESSAGE``."""

        def read(root: Any) -> list[str]:
            system = root.get_system(self.systems_uri)
            services = system.json.get("LogServices", {}).get("@odata.id")
            if not services:
                return []
            lines: list[tuple[str, str]] = []
            for member in _get(root, services).get("Members", []):
                entries = _get(root, member["@odata.id"]).get("Entries", {}).get("@odata.id")
                for entry in _get(root, entries).get("Members", []) if entries else []:
                    if "Message" not in entry and "@odata.id" in entry:
                        entry = _get(root, entry["@odata.id"])
                    created = str(entry.get("Created", ""))
                    lines.append((created, f"{entry.get('Id', '?')} | {created} | {entry.get('Severity', '')} | "
                                           f"{entry.get('Message', '')}"))
            return [line for _, line in sorted(lines, key=lambda pair: pair[0])]

        # a read: a connection the BMC (or a relay in front of it) dropped at once is asked again
        for attempt in Retrying(stop=stop_after_attempt(READ_ATTEMPTS),
                                wait=wait_incrementing(start=READ_RETRY_WAIT, increment=READ_RETRY_WAIT),
                                retry=retry_if_exception_type(DeviceUnreachable), reraise=True):
            with attempt:
                return self._call("read log service", read)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def close(self) -> None:
        """Nothing stays open between actions (each one logs in and out)."""

    def __enter__(self) -> "RedfishBmc":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ plumbing

    def _reset(self, what: str) -> None:
        def post(root: Any) -> None:
            system = root.get_system(self.systems_uri)
            allowed = _allowed(system)
            chosen = next((value for value in RESET_TYPES[what] if not allowed or value in allowed), None)
            if chosen is None:
                raise CommandRefused(self.name, self.address, what,
                                     f"the BMC accepts none of {', '.join(RESET_TYPES[what])} (it allows {', '.join(sorted(allowed))})")
            system.reset_system(res_cons.ResetType(chosen))

        self._call(what, post)

    def _connect(self) -> Any:
        password = reveal(self._password) or ""
        how = sushy_auth.SessionOrBasicAuth if self.auth == "session" else sushy_auth.BasicAuth
        return sushy.Sushy(
            self.address,
            auth=how(username=self.user, password=password),
            verify=self.verify,
            # one attempt (sushy's 0 means its default of 3, 2 s apart): a retry is the caller's choice, inside
            # its own deadline, and a closed port must fail at once
            server_side_retries=1,
            server_side_retries_delay=0,
            read_timeout=self.timeout,
            connect_timeout=self.timeout,
        )

    def _call(self, what: str, action: Callable[[Any], T]) -> T:
        """Run `action(root)` on a fresh, logged-in connection, bounded by `timeout`."""
        box: dict[str, Any] = {}
        abandoned = threading.Event()

        def worker() -> None:
            root = None
            try:
                root = self._connect()
                box["logged_in"] = True
                if abandoned.is_set():  # the caller gave up (a BMC that came back late): nothing is sent after it
                    return
                box["value"] = action(root)
            except BaseException as exc:  # carried to the caller's thread
                box["error"] = exc
            finally:
                if root is not None:
                    _logout_quietly(root)

        started = time.monotonic()
        with self._lock:
            thread = threading.Thread(target=worker, name=f"redfish-{self.name}", daemon=True)
            thread.start()
            thread.join(self.timeout)
        elapsed = time.monotonic() - started
        if thread.is_alive():
            abandoned.set()
            raise DeviceUnreachable(self.name, self.address, what, f"no answer within {self.timeout:.1f} s")
        if "error" in box:
            error = box["error"]
            if isinstance(error, LabError):
                raise error
            raise self._classify(what, error, elapsed) from error
        return box["value"]

    def _classify(self, what: str, exc: BaseException, elapsed: float) -> LabError:
        text = str(exc) or type(exc).__name__
        if isinstance(exc, sushy_exc.ConnectionError):
            cause = exc.__cause__ or exc.__context__  # sushy raises it while handling the requests error
            if isinstance(cause, requests.exceptions.SSLError):
                return AuthenticationRefused(self.name, self.address, what,
                                             f"the BMC's TLS certificate is not trusted ({cause}); give the inventory's "
                                             "bmc.ca_bundle, or 'verify: false' for a self-signed BMC")
            return DeviceUnreachable(self.name, self.address, what, f"{cause or text} (after {elapsed:.1f} s)")
        if isinstance(exc, sushy_exc.AccessError):
            status = getattr(exc, "status_code", None)
            if status == 401:
                return AuthenticationRefused(self.name, self.address, what, f"HTTP 401 (user {self.user!r}): {exc.detail}")
            return CommandRefused(self.name, self.address, what, f"HTTP {status}: {exc.detail}")
        if isinstance(exc, sushy_exc.HTTPError):
            return CommandRefused(self.name, self.address, what, f"HTTP {exc.status_code}: {exc.detail}")
        if isinstance(exc, sushy_exc.SushyError):
            return CommandRefused(self.name, self.address, what, text)
        if isinstance(exc, (OSError, requests.exceptions.RequestException)):
            return DeviceUnreachable(self.name, self.address, what, f"{text} (after {elapsed:.1f} s)")
        return CommandRefused(self.name, self.address, what, f"{type(exc).__name__}: {text}")


def _allowed(system: Any) -> set[str]:
    reset = system.json.get("Actions", {}).get("#ComputerSystem.Reset", {})
    return set(reset.get("ResetType@Redfish.AllowableValues", []))


def _get(root: Any, path: str) -> dict[str, Any]:
    return root._conn.get(path=path).json()


def _logout_quietly(root: Any) -> None:
    auth = getattr(root, "_auth", None)
    if auth is None:
        return
    for _ in range(2):  # a DELETE lost to a dropped keep-alive connection is sent once more
        try:
            auth.close()
            break
        except Exception:  # noqa: BLE001 - the session is being thrown away anyway
            continue
    root._auth = None


def manual_command(host: str | None, port: int, user: str, systems_uri: str | None, action: str) -> str:
    """The command a person runs for `chassis power ACTION` on a Redfish BMC (fence_redfish, as the cluster would)."""
    verb = {"on": "on", "off": "off", "cycle": "reboot", "reset": "reboot", "status": "status"}.get(action, action)
    uri = f" --systems-uri={systems_uri}" if systems_uri else ""
    return (f"fence_redfish --ip={host or 'BMC-ADDRESS'} --ipport={port} --username={user} --password=\"$REDFISH_PASSWORD\""
            f" --ssl-insecure{uri} --action={verb}")


@BMCS.register("redfish")
def build_redfish(lab: BuildContext, node: str, spec: Any) -> "RedfishBmc":
    """The Redfish BMC of `node` from a running lab's endpoint (host, port, user, password[,
    systems_uri, verify, ca_file]) or from the inventory's `bmc` section, the inventory's word
    winning where it speaks (its timeout, systems_uri, TLS choice, auth)."""
    if lab.from_endpoints:
        ep = dict(lab.endpoint("nodes", node)["bmc"])
    elif spec is None:
        raise LabConfigError(f"node {node} has no 'bmc' section in {lab.inventory.source}")
    else:
        password = lab.secret(f"nodes.{node}.bmc", spec.password_env, spec.password_file)
        ep = {"host": spec.host, "port": spec.port, "user": spec.user, "password": password or ""}
    redfish_spec = spec if spec is not None and getattr(spec, "protocol", None) == "redfish" else None
    # a simulated lab or netlab publishes its self-signed certificate: the BMC is checked against it
    verify: bool | str = str(ep["ca_file"]) if ep.get("ca_file") else bool(ep.get("verify", True))
    if redfish_spec is not None and "ca_file" not in ep:
        verify = redfish_spec.verify
        if redfish_spec.ca_bundle:
            bundle = Path(os.path.expanduser(redfish_spec.ca_bundle))
            base = lab.inventory.source
            verify = str(bundle if bundle.is_absolute() or base is None else Path(base).parent / bundle)
    systems_uri = (redfish_spec.systems_uri if redfish_spec is not None else None) or ep.get("systems_uri")
    return RedfishBmc(node, ep["host"], int(ep["port"]), ep["user"], Secret(str(reveal(ep["password"]))),
                      timeout=spec.timeout if spec is not None else 5.0, systems_uri=systems_uri, verify=verify,
                      auth=redfish_spec.auth if redfish_spec is not None else "session")
