"""SNMP agents (pysnmp 7) for the simulated APC PDUs and switches, on 127.0.0.1.

PDU (APC, SNMP v1/v2c): system group with an APC sysObjectID (by default
.1.3.6.1.4.1.318.1.3.4.5, an rPDU, the table fence_apc_snmp then uses), and the
outlets in three tables at once, each consistent with the others:
sPDUOutletCtl (.318.1.1.4.4.2.1: 3 control/status 1 on 2 off 3 reboot, 4 name),
rPDUOutletControl (.318.1.1.12.3.3.1.1: 4 command 1 on 2 off 3 reboot, 2 name),
rPDUOutletStatus (.318.1.1.12.3.5.1.1: 4 state 1 on 2 off, 2 name) and
rPDU2OutletSwitched (.318.1.1.26.9.2.4.1.5 command 1 on 2 off 3 reboot;
.318.1.1.26.9.2.3.1.5 status **1 off 2 on**), and rPDU2OutletMeteredStatus (.318.1.1.26.9.4.3.1:
3 name, 6 current in tenths of amps, 7 power in watts) with the load the outlet really carries.

Switch: IF-MIB ifNumber, ifIndex, ifDescr, ifType, ifSpeed, ifAdminStatus
(settable: 1 up, 2 down), ifOperStatus, ifName (= the port name of the
inventory), ifAlias. A switch without power does not answer at all.

Each device has a read-only and a read-write community; the read-only one has a
write view that excludes everything (an empty write view let SETs through).
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import marshal
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.smi import builder as mib_builder
from pysnmp.carrier.asyncio.dispatch import AsyncioDispatcher
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import cmdrsp, context
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.smi import error as smi_error
from pysnmp.smi.instrum import AbstractMibInstrumController

from hacert.labsim.devices.contracts import DeviceHost, PduHost, SwitchHost

_original_read = mib_builder.DirMibSource.read
_MIB_CACHE = Path(os.environ.get("PYTHONPYCACHEPREFIX") or tempfile.gettempdir()) / "labsim-mib-cache"


def _compiled(source: str) -> Any:
    """The code object of one MIB module, from a marshal cache keyed by path and mtime."""
    stat = os.stat(source)
    key = hashlib.sha1(f"{sys.version}|{source}|{stat.st_mtime_ns}|{stat.st_size}".encode()).hexdigest()
    cached = _MIB_CACHE / f"{key}.marshal"
    try:
        return marshal.loads(cached.read_bytes())
    except (OSError, ValueError, EOFError):
        pass
    code = compile(Path(source).read_text(), source, "exec")
    try:
        _MIB_CACHE.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(marshal.dumps(code))
        tmp.replace(cached)
    except OSError:
        pass  # a cache is only a cache
    return code


def _cached_read(self: Any, f: str) -> tuple[Any, str]:
    source = os.path.join(self._srcName, f + ".py")
    if not os.path.isfile(source):
        return _original_read(self, f)
    return _compiled(source), ".py"


class _CachedRunpy:
    """pysnmp compiles every MIB module from source twice per engine (read(), then
    runpy.run_path): ~0.3 s of the lab's start-up. Both now use `_compiled`."""

    @staticmethod
    def run_path(path: str, init_globals: dict[str, Any] | None = None) -> dict[str, Any]:
        namespace = {"__name__": "<run_path>", "__file__": path, **(init_globals or {})}
        exec(_compiled(path), namespace)
        return namespace


mib_builder.DirMibSource.read = _cached_read  # type: ignore[method-assign]
mib_builder.runpy = _CachedRunpy  # type: ignore[attr-defined]

OID = tuple[int, ...]
APC = (1, 3, 6, 1, 4, 1, 318)
SYS = (1, 3, 6, 1, 2, 1, 1)
IF_TABLE = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IF_X_TABLE = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
PDU_SYSOBJECTIDS = {
    "rpdu": APC + (1, 3, 4, 5),
    "ms6": APC + (1, 3, 4, 6),
}
S_PDU_CTL = APC + (1, 1, 4, 4, 2, 1)
R_PDU_CONTROL = APC + (1, 1, 12, 3, 3, 1, 1)
R_PDU_STATUS = APC + (1, 1, 12, 3, 5, 1, 1)
R_PDU2_STATUS = APC + (1, 1, 26, 9, 2, 3, 1)
R_PDU2_CONTROL = APC + (1, 1, 26, 9, 2, 4, 1)
R_PDU2_METERED = APC + (1, 1, 26, 9, 4, 3, 1)  # rPDU2OutletMeteredStatusEntry: 3 name, 6 current (0.1 A), 7 power (W)

Getter = Callable[[], Any]
Setter = Callable[[Any], None]


class BadValue(Exception):
    pass


class Device:
    """An OID table: oid → (getter, setter or None); rebuilt never, read live."""

    def __init__(self, world: DeviceHost, name: str):
        self.world = world
        self.name = name
        self.objects: dict[OID, tuple[Getter, Setter | None]] = {}
        self._sorted: list[OID] = []

    def add(self, oid: OID, getter: Getter, setter: Setter | None = None) -> None:
        self.objects[oid] = (getter, setter)

    def seal(self) -> None:
        self._sorted = sorted(self.objects)

    def answers(self) -> bool:
        return not self.world.device_faults.active("pdu_silent", self.name)

    def next_oid(self, oid: OID) -> OID | None:
        i = bisect.bisect_right(self._sorted, oid)
        return self._sorted[i] if i < len(self._sorted) else None

    def system(self, descr: str, object_id: OID) -> None:
        started = self.world.started

        self.add(SYS + (1, 0), lambda: rfc1902.OctetString(descr))
        self.add(SYS + (2, 0), lambda: rfc1902.ObjectIdentifier(object_id))
        self.add(SYS + (3, 0), lambda: rfc1902.TimeTicks(int((time.time() - started) * 100)))
        self.add(SYS + (4, 0), lambda: rfc1902.OctetString("labsim"))
        self.add(SYS + (5, 0), lambda: rfc1902.OctetString(self.name))
        self.add(SYS + (6, 0), lambda: rfc1902.OctetString("simulated lab"))


def pdu_device(world: PduHost, pdu: str, variant: str = "rpdu") -> Device:
    dev = Device(world, pdu)
    dev.system("APC Web/SNMP Management Card (MB:v3.9.2 PF:v3.7.3 PN:apc_hw02_aos_373.bin AF1:v3.7.3 "
               "AN1:apc_hw02_rpdu_373.bin MN:AP7900 HR:B2 SN: ZA0000000000 MD:01/01/2010)",
               PDU_SYSOBJECTIDS.get(variant, PDU_SYSOBJECTIDS["rpdu"]))
    outlets = world.outlets(pdu)
    Int, Str = rfc1902.Integer, rfc1902.OctetString
    dev.add(APC + (1, 1, 12, 1, 8, 0), lambda: Int(len(outlets)))  # rPDUIdentDeviceNumOutlets
    dev.add(APC + (1, 1, 4, 4, 1, 0), lambda: Int(len(outlets)))  # sPDUOutletCtlTableSize

    def state(n: int, on: int, off: int) -> Getter:
        return lambda: Int(on if world.outlet_on(pdu, n) else off)

    def control(n: int) -> Setter:
        def set_(value: Any) -> None:
            action = {1: "on", 2: "off", 3: "reboot"}.get(int(value))
            if action is None:
                raise BadValue(value)
            world.set_outlet(pdu, n, action)

        return set_

    for n in outlets:
        name = (lambda n=n: Str(world.outlet_name(pdu, n)))
        dev.add(S_PDU_CTL + (1, n), lambda n=n: Int(n))
        dev.add(S_PDU_CTL + (2, n), lambda: Int(2))  # no command pending
        dev.add(S_PDU_CTL + (3, n), state(n, 1, 2), control(n))
        dev.add(S_PDU_CTL + (4, n), name)
        dev.add(R_PDU_CONTROL + (1, n), lambda n=n: Int(n))
        dev.add(R_PDU_CONTROL + (2, n), name)
        dev.add(R_PDU_CONTROL + (4, n), state(n, 1, 2), control(n))
        dev.add(R_PDU_STATUS + (1, n), lambda n=n: Int(n))
        dev.add(R_PDU_STATUS + (2, n), name)
        dev.add(R_PDU_STATUS + (3, n), lambda: Int(1))  # phase 1
        dev.add(R_PDU_STATUS + (4, n), state(n, 1, 2))
        dev.add(R_PDU_STATUS + (5, n), lambda: Int(2))  # no command pending
        dev.add(R_PDU2_STATUS + (1, n), lambda: Int(1))
        dev.add(R_PDU2_STATUS + (3, n), name)
        dev.add(R_PDU2_STATUS + (4, n), lambda n=n: Int(n))
        dev.add(R_PDU2_STATUS + (5, n), state(n, 2, 1))  # rPDU2: 1 off, 2 on
        dev.add(R_PDU2_CONTROL + (1, n), lambda: Int(1))
        dev.add(R_PDU2_CONTROL + (3, n), name)
        dev.add(R_PDU2_CONTROL + (4, n), lambda n=n: Int(n))
        dev.add(R_PDU2_CONTROL + (5, n), state(n, 1, 2), control(n))
        load = world.outlet_load  # rPDU2OutletMeteredStatusTable: a metered-by-outlet PDU (AP88xx)
        dev.add(R_PDU2_METERED + (1, n), lambda n=n: Int(n))
        dev.add(R_PDU2_METERED + (2, n), lambda: Int(1))
        dev.add(R_PDU2_METERED + (3, n), name)
        dev.add(R_PDU2_METERED + (4, n), lambda n=n: Int(n))
        dev.add(R_PDU2_METERED + (5, n), lambda: Int(2))  # normal
        dev.add(R_PDU2_METERED + (6, n), lambda n=n: Int(int(round(load(pdu, n) * 10))))  # tenths of amps
        dev.add(R_PDU2_METERED + (7, n), lambda n=n: Int(int(round(load(pdu, n) * 230))))  # watts
    dev.seal()
    return dev


class SwitchDevice(Device):
    world: SwitchHost

    def answers(self) -> bool:
        return self.world.switch_state(self.name) != "off" and not self.world.device_faults.active("switch_silent", self.name)


def switch_device(world: SwitchHost, sw: str) -> Device:
    dev = SwitchDevice(world, sw)
    dev.system("Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 12.2(55)SE5, RELEASE SOFTWARE (fc1)",
               (1, 3, 6, 1, 4, 1, 9, 1, 1208))
    ports = world.ports(sw)
    Int, Str = rfc1902.Integer, rfc1902.OctetString
    dev.add((1, 3, 6, 1, 2, 1, 2, 1, 0), lambda: Int(len(ports)))

    def admin_setter(index: int) -> Setter:
        def set_(value: Any) -> None:
            if int(value) not in (1, 2):
                raise BadValue(value)
            if int(value) == 2 and world.device_faults.active("switch_ignores_shutdown", sw):
                return  # answers OK, changes nothing
            world.set_port_admin(sw, index, int(value) == 1)

        return set_

    for index, port in ports.items():
        descr = f"GigabitEthernet0/{port.name}" if port.name.isdigit() else port.name
        dev.add(IF_TABLE + (1, index), lambda index=index: Int(index))
        dev.add(IF_TABLE + (2, index), lambda descr=descr: Str(descr))
        dev.add(IF_TABLE + (3, index), lambda: Int(6))
        dev.add(IF_TABLE + (4, index), lambda: Int(1500))
        dev.add(IF_TABLE + (5, index), lambda: rfc1902.Gauge32(1000000000))
        dev.add(IF_TABLE + (7, index), lambda index=index: Int(1 if world.ports(sw)[index].admin_up else 2),
                admin_setter(index))
        dev.add(IF_TABLE + (8, index), lambda index=index: Int(1 if world.ports(sw)[index].oper_up else 2))
        dev.add(IF_X_TABLE + (1, index), lambda name=port.name: Str(name))
        dev.add(IF_X_TABLE + (18, index), lambda index=index: Str(_alias(world, sw, index)))
    dev.seal()
    return dev


def _alias(world: SwitchHost, sw: str, index: int) -> str:
    cable = world.ports(sw)[index].cable
    return f"{cable[0]} {cable[1]}" if cable else ""


class _Instrumentation(AbstractMibInstrumController):
    """Reads, walks and sets the OIDs of the device whose port the request came to,
    with the engine's access control (VACM)."""

    def __init__(self, devices: dict[OID, Device]):
        self.devices = devices  # transport domain → device

    def _device(self, context: dict[str, Any]) -> Device:
        engine_ = context["snmpEngine"]
        request = engine_.observer.get_execution_context("rfc3412.receiveMessage:request")
        return self.devices[tuple(request["transportDomain"])]

    @staticmethod
    def _allowed(view: str, oid: OID, value: Any, idx: int, context: dict[str, Any]) -> bool:
        """False when the OID is outside the view (skipped by walks); raises when access is refused."""
        ac = context.get("acFun")
        if ac is None:
            return True
        rest = {k: v for k, v in context.items() if k != "idx"}
        return not ac(view, (rfc1902.ObjectName(oid), value), idx=idx, **rest)

    def read_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        device = self._device(context)
        out = []
        with device.world.lock:
            for i, (name, _) in enumerate(var_binds):
                oid = tuple(name)
                entry = device.objects.get(oid)
                if entry is None or not self._allowed("read", oid, None, i, context):
                    out.append((name, rfc1905.noSuchObject))
                else:
                    out.append((name, entry[0]()))
        return out

    def read_next_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        device = self._device(context)
        out = []
        with device.world.lock:
            for i, (name, _) in enumerate(var_binds):
                oid = device.next_oid(tuple(name))
                while oid is not None and not self._allowed("read", oid, None, i, context):
                    oid = device.next_oid(oid)
                if oid is None:
                    out.append((name, rfc1905.endOfMibView))
                else:
                    out.append((rfc1902.ObjectName(oid), device.objects[oid][0]()))
        return out

    def write_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        device = self._device(context)
        with device.world.lock:
            for i, (name, value) in enumerate(var_binds):
                oid = tuple(name)
                entry = device.objects.get(oid)
                if not self._allowed("write", oid, value, i, context):
                    raise smi_error.NoAccessError(name=name, idx=i)
                if entry is None:
                    raise smi_error.NoCreationError(name=name, idx=i)
                if entry[1] is None:
                    raise smi_error.NotWritableError(name=name, idx=i)
                try:
                    int(value)
                except (TypeError, ValueError):
                    raise smi_error.WrongTypeError(name=name, idx=i) from None
            for i, (name, value) in enumerate(var_binds):
                try:
                    device.objects[tuple(name)][1](value)  # type: ignore[misc]
                except BadValue:
                    raise smi_error.WrongValueError(name=name, idx=i) from None
            return [(name, device.objects[tuple(name)][0]()) for name, _ in var_binds]


class _GatedUdp(udp.UdpAsyncioTransport):
    """A UDP transport that drops every datagram while its device is dark."""

    gate: Callable[[], bool] = staticmethod(lambda: True)  # type: ignore[assignment]

    def datagram_received(self, datagram: bytes, transportAddress: Any) -> None:
        if self.gate():
            super().datagram_received(datagram, transportAddress)


class SnmpAgents:
    """Every device's SNMP agent: one engine (building one costs ~0.25 s), one UDP
    port per device, requests routed to the device by the port they came to."""

    def __init__(self, world: DeviceHost, devices: dict[str, tuple[Device, int | socket.socket]], community_ro: str,
                 community_rw: str):
        """devices: name → (Device, port on 127.0.0.1 (0: any free port), or a bound UDP socket)."""
        self.world = world
        self.loop = asyncio.new_event_loop()
        # pysnmp schedules the endpoint creation on the *current* loop of this thread
        asyncio.set_event_loop(self.loop)
        self.ports: dict[str, int] = {}
        self.engine = engine.SnmpEngine()
        dispatcher = AsyncioDispatcher(loop=self.loop)
        dispatcher.set_timer_resolution(5.0)  # an agent has no retries to run
        self.engine.register_transport_dispatcher(dispatcher)
        routes: dict[OID, Device] = {}
        for k, (name, (device, port)) in enumerate(devices.items(), start=1):
            if isinstance(port, socket.socket):
                sock = port
            else:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.bind(("127.0.0.1", port))
            self.ports[name] = sock.getsockname()[1]
            transport = _GatedUdp(loop=self.loop)
            transport.gate = device.answers  # type: ignore[assignment]
            domain = udp.DOMAIN_NAME + (k,)
            config.add_transport(self.engine, domain, transport.open_server_mode(sock=sock))
            routes[domain] = device
        config.add_v1_system(self.engine, "ro-area", community_ro)
        config.add_v1_system(self.engine, "rw-area", community_rw)
        nothing = (1, 3, 6, 1, 6, 3, 255, 255)  # a subtree no device has: the read-only write view
        for model in (1, 2):
            config.add_vacm_user(self.engine, model, "ro-area", "noAuthNoPriv", readSubTree=(1, 3, 6), writeSubTree=nothing)
            config.add_vacm_user(self.engine, model, "rw-area", "noAuthNoPriv", readSubTree=(1, 3, 6), writeSubTree=(1, 3, 6))
        snmp_context = context.SnmpContext(self.engine)
        snmp_context.unregister_context_name(b"")
        snmp_context.register_context_name(b"", _Instrumentation(routes))
        cmdrsp.GetCommandResponder(self.engine, snmp_context)
        cmdrsp.NextCommandResponder(self.engine, snmp_context)
        cmdrsp.BulkCommandResponder(self.engine, snmp_context)
        cmdrsp.SetCommandResponder(self.engine, snmp_context)
        self._thread = threading.Thread(target=self.loop.run_forever, name="labsim-snmp", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=2)
