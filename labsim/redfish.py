"""A Redfish BMC (DMTF DSP0266, HTTPS + JSON) per simulated node whose inventory says
`bmc: {protocol: redfish}`, on 127.0.0.1, acting on the same simulated power as the IPMI BMC.

Resources: the service root (unauthenticated, as the standard says), Systems/1 (PowerState, the
`#ComputerSystem.Reset` action with the reset types it accepts, its LogServices), Chassis/1,
Managers/1 and the SessionService (POST Sessions -> X-Auth-Token + Location; DELETE ends it).
Every other request needs HTTP basic auth or a session token: without it, 401 and nothing happens.
Reset types and what the node does:

- On, ForceOn: the chassis powers on (nothing if it is on); ForceOff: it powers off at once;
- ForceRestart: a hard reset (the chassis stays on, the node reboots); PowerCycle: off, then on
  (refused with 409 while the chassis is off, as an IPMI cycle is);
- GracefulShutdown, GracefulRestart: the OS shuts down / reboots, if it runs (a hung OS ignores them);
- PushPowerButton: a short press (off -> on; on -> the OS shuts down).

Each accepted reset is an entry of the system's log service (its SEL: id, time, who, what), kept
across the BMC's power losses like a real SEL, and an event `redfish_reset` in the lab's log.

Dark (the node's outlet cut, or device fault `bmc_dark`): a connection is accepted by the kernel but
never answered (no TLS handshake, no HTTP), so clients time out as with a BMC that lost its power;
a request on a connection opened before the BMC went dark gets no answer either (the connection drops).

TLS: a self-signed certificate for 127.0.0.1 made when the lab starts (clients: --ssl-insecure,
curl -k, or the certificate file as their CA bundle: endpoints' bmc.ca_file).
"""

from __future__ import annotations

import base64
import datetime
import http.server
import ipaddress
import json
import secrets
import socket
import ssl
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hacert.labsim.world import World

HOST = "127.0.0.1"
ROOT = "/redfish/v1"
DEFAULT_SYSTEM = f"{ROOT}/Systems/1"
CHASSIS = f"{ROOT}/Chassis/1"
MANAGER = f"{ROOT}/Managers/1"
SESSIONS = f"{ROOT}/SessionService/Sessions"
RESET_TYPES = ("On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "ForceOn", "PushPowerButton",
               "PowerCycle")
DARK_HOLD_S = 120.0
"""How long a connection to a dark BMC is held unanswered at most (clients give up long before)."""


def self_signed(workdir: Path, addresses: list[str] | None = None) -> tuple[Path, Path]:
    """A fresh EC key and a self-signed certificate for 127.0.0.1 / localhost (and `addresses`): (cert file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "labsim redfish bmc"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hacert labsim")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")] + [
                x509.IPAddress(ipaddress.ip_address(a)) for a in dict.fromkeys([HOST, *(addresses or [])])]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = workdir / "redfish-cert.pem", workdir / "redfish-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file


class RedfishBmcModel:
    """What one node's Redfish service knows: its users' sessions, its log; the power is the World's."""

    def __init__(self, world: World, node: str, user: str, password: str, system: str | None,
                 emit: Any = None) -> None:
        """`world`: labsim's World, or any power model with its BMC calls (bmc_answers, chassis_on,
        chassis_control, device_faults; node_state, power_off_os and reboot_os where it has an OS to
        ask: netlab's Power has none, so there a graceful reset acts as its forced one)."""
        self.world = world
        self.emit = emit or world.emit
        self.node = node
        self.user = user
        self.password = password
        self.system = (system or DEFAULT_SYSTEM).rstrip("/")
        self.sessions: dict[str, str] = {}  # token -> session id
        self.log: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.uuid = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{node}.labsim"))

    def dark(self) -> bool:
        return not self.world.bmc_answers(self.node) or self.world.device_faults.active("bmc_dark", self.node)

    def forget_sessions(self) -> None:
        with self.lock:
            self.sessions.clear()

    # ------------------------------------------------------------ resources

    def power_state(self) -> str:
        return "On" if self.world.chassis_on(self.node) else "Off"

    def resource(self, path: str) -> dict[str, Any] | None:
        sys_ = self.system
        ref = _ref
        docs: dict[str, Any] = {
            ROOT: lambda: {
                "@odata.type": "#ServiceRoot.v1_11_0.ServiceRoot", "@odata.id": ROOT, "Id": "RootService",
                "Name": "Root Service", "RedfishVersion": "1.11.0", "UUID": self.uuid,
                "Systems": ref(f"{ROOT}/Systems"), "Chassis": ref(f"{ROOT}/Chassis"), "Managers": ref(f"{ROOT}/Managers"),
                "SessionService": ref(f"{ROOT}/SessionService"), "Links": {"Sessions": ref(SESSIONS)}},
            f"{ROOT}/Systems": lambda: _collection(f"{ROOT}/Systems", "ComputerSystemCollection", "Computer System Collection", [sys_]),
            sys_: lambda: {
                "@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem", "@odata.id": sys_, "Id": sys_.rsplit("/", 1)[-1],
                "Name": "System", "SystemType": "Physical", "Manufacturer": "hacert labsim", "Model": "Simulated node",
                "HostName": self.node, "UUID": self.uuid, "PowerState": self.power_state(),
                "Status": {"State": "Enabled", "Health": "OK"},
                "LogServices": ref(f"{sys_}/LogServices"),
                "Links": {"Chassis": [ref(CHASSIS)], "ManagedBy": [ref(MANAGER)]},
                "Actions": {"#ComputerSystem.Reset": {"target": f"{sys_}/Actions/ComputerSystem.Reset",
                                                      "ResetType@Redfish.AllowableValues": list(RESET_TYPES)}}},
            f"{sys_}/LogServices": lambda: _collection(f"{sys_}/LogServices", "LogServiceCollection", "Log Service Collection",
                                                       [f"{sys_}/LogServices/SEL"]),
            f"{sys_}/LogServices/SEL": lambda: {
                "@odata.type": "#LogService.v1_2_0.LogService", "@odata.id": f"{sys_}/LogServices/SEL", "Id": "SEL",
                "Name": "System Event Log", "OverWritePolicy": "WrapsWhenFull", "ServiceEnabled": True,
                "Entries": ref(f"{sys_}/LogServices/SEL/Entries")},
            f"{sys_}/LogServices/SEL/Entries": lambda: {
                "@odata.type": "#LogEntryCollection.LogEntryCollection", "@odata.id": f"{sys_}/LogServices/SEL/Entries",
                "Name": "Log Entries", "Members@odata.count": len(self.log), "Members": list(self.log)},
            f"{ROOT}/Chassis": lambda: _collection(f"{ROOT}/Chassis", "ChassisCollection", "Chassis Collection", [CHASSIS]),
            CHASSIS: lambda: {
                "@odata.type": "#Chassis.v1_14_0.Chassis", "@odata.id": CHASSIS, "Id": "1", "Name": "Chassis",
                "ChassisType": "RackMount", "PowerState": self.power_state(), "Status": {"State": "Enabled", "Health": "OK"},
                "Links": {"ComputerSystems": [ref(sys_)], "ManagedBy": [ref(MANAGER)]}},
            f"{ROOT}/Managers": lambda: _collection(f"{ROOT}/Managers", "ManagerCollection", "Manager Collection", [MANAGER]),
            MANAGER: lambda: {
                "@odata.type": "#Manager.v1_10_0.Manager", "@odata.id": MANAGER, "Id": "1", "Name": "Manager",
                "ManagerType": "BMC", "FirmwareVersion": "labsim-1.0", "Status": {"State": "Enabled", "Health": "OK"},
                "Links": {"ManagerForServers": [ref(sys_)], "ManagerForChassis": [ref(CHASSIS)]}},
            f"{ROOT}/SessionService": lambda: {
                "@odata.type": "#SessionService.v1_1_8.SessionService", "@odata.id": f"{ROOT}/SessionService",
                "Id": "SessionService", "Name": "Session Service", "ServiceEnabled": True, "SessionTimeout": 600,
                "Sessions": ref(SESSIONS)},
            SESSIONS: lambda: _collection(SESSIONS, "SessionCollection", "Session Collection",
                                          [f"{SESSIONS}/{sid}" for sid in sorted(self.sessions.values())]),
        }
        make = docs.get(path)
        if make is not None:
            return make()
        for entry in self.log:
            if entry["@odata.id"] == path:
                return dict(entry)
        for sid in self.sessions.values():
            if path == f"{SESSIONS}/{sid}":
                return {"@odata.type": "#Session.v1_3_0.Session", "@odata.id": path, "Id": sid, "Name": "User Session",
                        "UserName": self.user}
        return None

    # ------------------------------------------------------------ power

    def reset(self, reset_type: str, user: str) -> tuple[int, str]:
        """Do a ComputerSystem.Reset: (HTTP status, error message or '')."""
        world, node = self.world, self.node
        on = world.chassis_on(node)
        graceful = hasattr(world, "power_off_os") and hasattr(world, "reboot_os")
        running = world.node_state(node) == "up" if hasattr(world, "node_state") else on
        if reset_type == "PowerCycle" and not on:
            return 409, "PowerCycle needs the system on"
        try:
            if reset_type in ("On", "ForceOn") or (reset_type == "PushPowerButton" and not on):
                world.chassis_control(node, "on")  # asked even when it reads on: a power-off may still be under way
            elif reset_type == "ForceOff":
                world.chassis_control(node, "off")
            elif reset_type == "ForceRestart":
                world.chassis_control(node, "reset")
            elif reset_type == "PowerCycle":
                world.chassis_control(node, "cycle")
            elif reset_type in ("GracefulShutdown", "PushPowerButton"):
                if running:
                    world.power_off_os(node) if graceful else world.chassis_control(node, "off")
            elif reset_type == "GracefulRestart":
                if running:
                    world.reboot_os(node) if graceful else world.chassis_control(node, "reset")
        except RuntimeError as exc:  # the BMC lost its power meanwhile
            return 503, str(exc)
        self._record(reset_type, user, was="On" if on else "Off")
        self.emit("redfish_reset", node=node, reset_type=reset_type, user=user)
        return 204, ""

    def _record(self, reset_type: str, user: str, was: str) -> None:
        # The state before the action: after it, a power model that acts asynchronously (netlab's) may
        # not have moved yet, and "now On" after a ForceOff would be false evidence in a case's report.
        with self.lock:
            n = len(self.log) + 1
            stamp = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
            self.log.append({
                "@odata.type": "#LogEntry.v1_9_0.LogEntry", "@odata.id": f"{self.system}/LogServices/SEL/Entries/{n}",
                "Id": str(n), "Name": f"Log Entry {n}", "EntryType": "SEL", "Severity": "OK", "Created": stamp,
                "MessageId": "Base.1.8.Success",
                "Message": f"ComputerSystem.Reset {reset_type} requested by {user} (the system was {was})",
                "SensorType": "System Event", "EntryCode": "Assert"})


def _ref(path: str) -> dict[str, str]:
    return {"@odata.id": path}


def _collection(path: str, kind: str, name: str, members: list[str]) -> dict[str, Any]:
    return {"@odata.type": f"#{kind}.{kind}", "@odata.id": path, "Name": name,
            "Members@odata.count": len(members), "Members": [_ref(m) for m in members]}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": f"Base.1.8.{code}", "message": message,
                      "@Message.ExtendedInfo": [{"MessageId": f"Base.1.8.{code}", "Message": message, "Severity": "Critical"}]}}


class _Handler(http.server.BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"
    server_version = "labsim-redfish/1.0"
    timeout = 30

    def setup(self) -> None:
        raw: socket.socket = self.request
        bmc = self.server.bmc
        held = time.monotonic()
        while bmc.dark():  # a BMC without power: the connection hangs unanswered
            if time.monotonic() - held > DARK_HOLD_S or _peer_closed(raw):
                raise ConnectionAbortedError("dark BMC")
            time.sleep(0.1)
        raw.settimeout(10)
        self.request = self.server.context.wrap_socket(raw, server_side=True)
        super().setup()

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    # ------------------------------------------------------------ plumbing

    def _send(self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, indent=2).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("OData-Version", "4.0")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            # Said, not only done: a client pools a connection whose answer does not announce the close, and
            # reuses it if the FIN is still on its way (behind netlab's relay it was, now and then).
            self.send_header("Connection", "close")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        return json.loads(raw)

    def _path(self) -> str:
        path = self.path.split("?", 1)[0].rstrip("/")
        return ROOT if path in ("/redfish/v1", "") else path

    def _user(self) -> str | None:
        """The authenticated user (basic auth or a session token), or None."""
        bmc = self.server.bmc
        token = self.headers.get("X-Auth-Token")
        if token:
            with bmc.lock:
                return bmc.user if token in bmc.sessions else None
        header = self.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            if secrets.compare_digest(user, bmc.user) and secrets.compare_digest(password, bmc.password):
                return user
        return None

    def _refuse(self) -> None:
        self._send(401, _error("NoValidSession", "There is no valid session established with the implementation."),
                   {"WWW-Authenticate": 'Basic realm="labsim Redfish"'})

    def _lit(self) -> bool:
        if self.server.bmc.dark():  # lost its power with this connection open: it drops
            self.close_connection = True
            return False
        return True

    # ------------------------------------------------------------ methods

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self._lit():
            return
        path = self._path()
        if path == "/redfish":
            self._send(200, {"v1": f"{ROOT}/"})
            return
        if path != ROOT and self._user() is None:
            self._refuse()
            return
        doc = self.server.bmc.resource(path)
        if doc is None:
            self._send(404, _error("ResourceMissingAtURI", f"The resource at the URI {path} was not found."))
        else:
            self._send(200, doc)

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        if not self._lit():
            return
        bmc, path = self.server.bmc, self._path()
        try:
            body = self._body()
        except (ValueError, UnicodeDecodeError):
            self._send(400, _error("MalformedJSON", "The request body submitted was malformed JSON."))
            return
        if path == SESSIONS:
            user, password = str(body.get("UserName", "")), str(body.get("Password", ""))
            if not (secrets.compare_digest(user, bmc.user) and secrets.compare_digest(password, bmc.password)):
                self._send(401, _error("NoValidSession", "The user name or password is not valid."))
                return
            token, sid = secrets.token_hex(16), secrets.token_hex(4)
            with bmc.lock:
                bmc.sessions[token] = sid
            self._send(201, {"@odata.id": f"{SESSIONS}/{sid}", "Id": sid, "UserName": user},
                       {"X-Auth-Token": token, "Location": f"{SESSIONS}/{sid}"})
            return
        user = self._user()
        if user is None:
            self._refuse()
            return
        if path != f"{bmc.system}/Actions/ComputerSystem.Reset":
            exists = bmc.resource(path) is not None
            self._send(405 if exists else 404, _error("ActionNotSupported" if exists else "ResourceMissingAtURI",
                                                      f"{path} accepts no POST."))
            return
        reset_type = body.get("ResetType") if isinstance(body, dict) else None
        if reset_type is None:
            self._send(400, _error("ActionParameterMissing", "The action ComputerSystem.Reset requires the parameter ResetType."))
            return
        if reset_type not in RESET_TYPES:
            self._send(400, _error("ActionParameterValueNotInList",
                                   f"The value {reset_type} for the parameter ResetType is not in the list of acceptable values."))
            return
        status, message = bmc.reset(str(reset_type), user)
        if status == 204:
            self._send(204)
        else:
            self._send(status, _error("ActionNotSupported" if status == 409 else "InternalError", message))

    def do_DELETE(self) -> None:  # noqa: N802
        if not self._lit():
            return
        bmc, path = self.server.bmc, self._path()
        if self._user() is None:
            self._refuse()
            return
        with bmc.lock:
            token = next((t for t, sid in bmc.sessions.items() if path == f"{SESSIONS}/{sid}"), None)
            if token is not None:
                del bmc.sessions[token]
        if token is None:
            self._send(404, _error("ResourceMissingAtURI", f"The resource at the URI {path} was not found."))
        else:
            self._send(204)

    def do_PATCH(self) -> None:  # noqa: N802
        if not self._lit():
            return
        if self._user() is None:
            self._refuse()
            return
        self._send(405, _error("ActionNotSupported", "This simulated BMC changes nothing by PATCH."))


def _peer_closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, port: int, bmc: RedfishBmcModel, context: ssl.SSLContext, sock: socket.socket | None = None) -> None:
        """Listens on HOST:port, or on `sock` when given (a socket made in another network namespace)."""
        self.bmc = bmc
        self.context = context
        if sock is None:
            super().__init__((HOST, port), _Handler)
            return
        super().__init__(sock.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.server_address = sock.getsockname()[:2]
        sock.listen(self.request_queue_size)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away, a dark BMC's dropped connection: nothing to report


class RedfishServers:
    """The Redfish BMCs of one world (nodes whose inventory's bmc.protocol is redfish), one HTTPS server each."""

    def __init__(self, world: World, ports: dict[str, int], user: str, password: str, workdir: Path, *,
                 sockets: dict[str, socket.socket] | None = None, addresses: dict[str, str] | None = None,
                 emit: Any = None) -> None:
        """One BMC per node of `ports` (0: any free port), on 127.0.0.1; or, with `sockets`, on those bound
        sockets (netlab: in its management namespace, on the addresses `addresses` names for the certificate)."""
        self.world = world
        self.models: dict[str, RedfishBmcModel] = {}
        self.servers: dict[str, _Server] = {}
        self.ports: dict[str, int] = {}
        self._threads: list[threading.Thread] = []
        if not ports:  # no Redfish node: no certificate, no server
            return
        self.cert_file, self.key_file = self_signed(Path(workdir), list((addresses or {}).values()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        for node, port in ports.items():
            spec = world.inventory.node(node).bmc
            model = RedfishBmcModel(world, node, user, password, spec.systems_uri if spec else None, emit=emit)
            self.models[node] = model
            self.servers[node] = _Server(port, model, context, (sockets or {}).get(node))
        self.ports = {node: server.server_address[1] for node, server in self.servers.items()}
        world.redfish_bmcs = self.models  # the simulated cluster's fence_redfish acts through them
        if hasattr(world, "subscribe"):
            world.subscribe(self._on_event)

    def _on_event(self, record: dict) -> None:
        if record["kind"] == "bmc" and not record["answers"] and record["node"] in self.models:
            self.models[record["node"]].forget_sessions()  # a BMC that lost its power forgets its sessions

    def systems_uri(self, node: str) -> str:
        return self.models[node].system

    def start(self) -> None:
        for node, server in self.servers.items():
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=f"labsim-redfish-{node}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()

    def endpoint(self, node: str) -> dict[str, Any]:
        """The node's BMC in the endpoints JSON (docs/CONTRACTS.md, "Simulated lab")."""
        return {"protocol": "redfish", "host": HOST, "port": self.ports[node], "user": self.models[node].user,
                "password": self.models[node].password, "systems_uri": self.models[node].system,
                "verify": False, "ca_file": str(self.cert_file)}
