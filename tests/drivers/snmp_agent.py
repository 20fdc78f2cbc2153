"""A minimal SNMP v1/v2c agent for the PDU and switch driver tests, run as its own process:

    python -m tests.drivers.snmp_agent PORT KIND [--outlets N] [--log FILE]

KIND is a PDU table variant (`spdu`, `rpdu`, `rpdu2`) or `switch` (IF-MIB
ports). Communities: `public` reads, `private` reads and writes. Setting a
PDU control column changes the status column (a reboot goes off, then on
after 0.3 s), as a real PDU does. Every accepted SET is appended to --log as
``OID VALUE``. Prints READY once bound.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import cmdrsp, context
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.smi import error as smi_error
from pysnmp.smi.instrum import AbstractMibInstrumController

APC = (1, 3, 6, 1, 4, 1, 318)
SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_OBJECT_ID = (1, 3, 6, 1, 2, 1, 1, 2, 0)
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)

# variant -> (sysObjectID, status column, control column, name column, status value for on/off)
VARIANTS = {
    "spdu": (APC + (1, 3, 4, 2), APC + (1, 1, 4, 4, 2, 1, 3), APC + (1, 1, 4, 4, 2, 1, 3), APC + (1, 1, 4, 4, 2, 1, 4), (1, 2)),
    "rpdu": (APC + (1, 3, 4, 5), APC + (1, 1, 12, 3, 5, 1, 1, 4), APC + (1, 1, 12, 3, 3, 1, 1, 4), APC + (1, 1, 12, 3, 5, 1, 1, 2), (1, 2)),
    "rpdu2": (APC + (1, 3, 4, 9), APC + (1, 1, 26, 9, 2, 3, 1, 5), APC + (1, 1, 26, 9, 2, 4, 1, 5), APC + (1, 1, 26, 9, 2, 3, 1, 3), (2, 1)),
}
IF_DESCR = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
IF_ADMIN = (1, 3, 6, 1, 2, 1, 2, 2, 1, 7)
IF_OPER = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)
IF_NAME = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)


class DictMib(AbstractMibInstrumController):
    """Read, read-next and write over a sorted dict of OID -> value, with VACM checks."""

    def __init__(self, values: dict[tuple[int, ...], object], on_write, loop: asyncio.AbstractEventLoop):
        self.values = values
        self.on_write = on_write
        self.loop = loop

    def _check(self, view: str, name, val, context) -> bool:
        ac = context.get("acFun")
        return bool(ac and ac(view, (name, val), **context))

    def read_variables(self, *var_binds, **context):
        out = []
        for idx, (name, _) in enumerate(var_binds):
            key = tuple(name)
            if key not in self.values or self._check("read", name, None, context):
                out.append((name, rfc1905.NoSuchInstance() if key not in self.values else rfc1905.NoSuchObject()))
                continue
            out.append((name, self.values[key]))
        return out

    def read_next_variables(self, *var_binds, **context):
        out = []
        for name, _ in var_binds:
            key = tuple(name)
            following = [oid for oid in sorted(self.values) if oid > key and not self._check("read", oid, None, context)]
            if following:
                out.append((rfc1902.ObjectName(following[0]), self.values[following[0]]))
            else:
                out.append((name, rfc1905.EndOfMibView()))
        return out

    def write_variables(self, *var_binds, **context):
        for idx, (name, value) in enumerate(var_binds):
            key = tuple(name)
            if key not in self.values:
                raise smi_error.NoCreationError(name=name, idx=idx)
            if self._check("write", name, value, context):
                raise smi_error.NotWritableError(name=name, idx=idx)
            if not self.on_write(key, int(value)):
                raise smi_error.WrongValueError(name=name, idx=idx)
        return list(var_binds)


def build(kind: str, outlets: int, log: Path | None, loop: asyncio.AbstractEventLoop) -> DictMib:
    values: dict[tuple[int, ...], object] = {
        SYS_DESCR: rfc1902.OctetString(f"hacert test agent ({kind})"),
        SYS_NAME: rfc1902.OctetString(f"test-{kind}"),
    }
    handlers: dict[tuple[int, ...], object] = {}

    def record(key: tuple[int, ...], value: int) -> None:
        if log is not None:
            with log.open("a") as fh:
                fh.write(".".join(map(str, key)) + f" {value}\n")

    if kind == "switch":
        values[SYS_OBJECT_ID] = rfc1902.ObjectName((1, 3, 6, 1, 4, 1, 9, 1, 516))
        for i in range(1, 9):
            index = 10100 + i
            values[IF_DESCR + (index,)] = rfc1902.OctetString(f"GigabitEthernet0/{i}")
            values[IF_NAME + (index,)] = rfc1902.OctetString(f"Gi0/{i}")
            values[IF_ADMIN + (index,)] = rfc1902.Integer(1)
            values[IF_OPER + (index,)] = rfc1902.Integer(1)

            def set_admin(value: int, index: int = index) -> bool:
                if value not in (1, 2):
                    return False
                values[IF_ADMIN + (index,)] = rfc1902.Integer(value)
                values[IF_OPER + (index,)] = rfc1902.Integer(value)
                return True

            handlers[IF_ADMIN + (index,)] = set_admin
    else:
        sys_oid, status_col, control_col, name_col, (on_value, off_value) = VARIANTS[kind]
        values[SYS_OBJECT_ID] = rfc1902.ObjectName(sys_oid)
        for n in range(1, outlets + 1):
            values[status_col + (n,)] = rfc1902.Integer(on_value)
            values[control_col + (n,)] = rfc1902.Integer(on_value if control_col == status_col else 1)
            values[name_col + (n,)] = rfc1902.OctetString(f"outlet-{n}")

            def set_status(on: bool, n: int = n) -> None:
                values[status_col + (n,)] = rfc1902.Integer(on_value if on else off_value)

            def control(value: int, n: int = n, set_status=set_status) -> bool:
                if value not in (1, 2, 3):
                    return False
                set_status(value == 1)
                if value == 3:
                    loop.call_later(0.3, set_status, True)
                if control_col != status_col:
                    values[control_col + (n,)] = rfc1902.Integer(value)
                return True

            handlers[control_col + (n,)] = control

    def on_write(key: tuple[int, ...], value: int) -> bool:
        handler = handlers.get(key)
        if handler is None or not handler(value):  # type: ignore[operator]
            return False
        record(key, value)
        return True

    return DictMib(values, on_write, loop)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("kind", choices=[*VARIANTS, "switch"])
    parser.add_argument("--outlets", type=int, default=8)
    parser.add_argument("--log", type=Path)
    args = parser.parse_args()

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    snmp_engine = engine.SnmpEngine()
    config.add_transport(snmp_engine, udp.DOMAIN_NAME, udp.UdpTransport().open_server_mode(("127.0.0.1", args.port)))
    everything = (1, 3, 6)
    config.add_context(snmp_engine, b"")
    config.add_vacm_view(snmp_engine, "all", "included", everything, b"")
    # An empty write view still let SETs through (NOTES): the read-only view excludes everything explicitly.
    config.add_vacm_view(snmp_engine, "nothing", "excluded", everything, b"")
    for community, write_view in (("public", "nothing"), ("private", "all")):
        security_name = f"sec-{community}"
        config.add_v1_system(snmp_engine, f"idx-{community}", community, securityName=security_name)
        for model in (1, 2):
            group = f"grp-{community}-{model}"
            config.add_vacm_group(snmp_engine, group, model, security_name)
            config.add_vacm_access(snmp_engine, group, b"", model, "noAuthNoPriv", "exact", "all", write_view, "all")
    snmp_context = context.SnmpContext(snmp_engine)
    snmp_context.unregister_context_name(b"")
    snmp_context.register_context_name(b"", build(args.kind, args.outlets, args.log, loop))
    for responder in (cmdrsp.GetCommandResponder, cmdrsp.NextCommandResponder, cmdrsp.BulkCommandResponder, cmdrsp.SetCommandResponder):
        responder(snmp_engine, snmp_context)
    print("READY", flush=True)
    loop.run_forever()


if __name__ == "__main__":
    main()
