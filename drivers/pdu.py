"""APC switched PDU outlets over SNMP v1/v2c.

The outlet table depends on the model, read from sysObjectID (the same
choice `fence_apc_snmp` makes, plus the newer rPDU2 tables):

* `.318.1.3.4.5` (rPDU): status `rPDUOutletStatusOutletState`, control
  `rPDUOutletControlOutletCommand` (1 on, 2 off, 3 reboot).
* `.318.1.3.4.6` (MasterSwitch MS6): status from sPDUOutletCtl, control through rPDU.
* any other APC id: rPDU2 when the agent has the rPDU2 outlet status
  column — whose status reads **1 off, 2 on**, the opposite of its command
  values — otherwise the classic sPDUOutletCtl column (read and set: 1 on,
  2 off, 3 reboot).

Every switching action reads the status back until it really changed,
bounded by `settle_timeout`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal, Sequence

from .errors import CommandRefused
from .redact import Secret
from .registry import PDUS, BuildContext, LabConfigError
from .snmp import GET_BATCH, Oid, SnmpClient, oid, oid_str, wait_until_reads

OutletState = Literal["on", "off"]

SYS_OBJECT_ID = oid("1.3.6.1.2.1.1.2.0")
SYS_NAME = oid("1.3.6.1.2.1.1.5.0")
_APC = oid("1.3.6.1.4.1.318")


def outlet_states(pdu: Any, outlets: Sequence[int]) -> dict[int, OutletState]:
    """`outlet_status` of every outlet in `outlets`, in one request where the PDU can batch them."""
    batched = getattr(pdu, "outlets_status", None)
    if callable(batched):
        return dict(batched(outlets))
    return {n: pdu.outlet_status(n) for n in outlets}


@dataclass(frozen=True)
class TableVariant:
    """Where one PDU family keeps its outlet columns (column OIDs, outlet number appended)."""

    name: str
    status_column: Oid
    control_column: Oid
    name_column: Oid
    status_on: int
    status_off: int
    command_on: int = 1
    command_off: int = 2
    command_reboot: int = 3

    def status_value(self, raw: int) -> OutletState | None:
        if raw == self.status_on:
            return "on"
        if raw == self.status_off:
            return "off"
        return None


SPDU_OUTLET_CTL = TableVariant(
    name="sPDUOutletCtl",
    status_column=_APC + (1, 1, 4, 4, 2, 1, 3),
    control_column=_APC + (1, 1, 4, 4, 2, 1, 3),
    name_column=_APC + (1, 1, 4, 4, 2, 1, 4),
    status_on=1,
    status_off=2,
)
RPDU = TableVariant(
    name="rPDU",
    status_column=_APC + (1, 1, 12, 3, 5, 1, 1, 4),
    control_column=_APC + (1, 1, 12, 3, 3, 1, 1, 4),
    name_column=_APC + (1, 1, 12, 3, 5, 1, 1, 2),
    status_on=1,
    status_off=2,
)
MS6 = TableVariant(
    name="MS6",
    status_column=SPDU_OUTLET_CTL.status_column,
    control_column=RPDU.control_column,
    name_column=SPDU_OUTLET_CTL.name_column,
    status_on=1,
    status_off=2,
)
RPDU2 = TableVariant(
    name="rPDU2",
    status_column=_APC + (1, 1, 26, 9, 2, 3, 1, 5),
    control_column=_APC + (1, 1, 26, 9, 2, 4, 1, 5),
    name_column=_APC + (1, 1, 26, 9, 2, 3, 1, 3),
    status_on=2,  # rPDU2OutletSwitchedStatusState: 1 off, 2 on
    status_off=1,
)
VARIANTS = {v.name: v for v in (SPDU_OUTLET_CTL, RPDU, MS6, RPDU2)}
RPDU2_METERED_CURRENT = _APC + (1, 1, 26, 9, 4, 3, 1, 6)
"""rPDU2OutletMeteredStatusCurrent: the load on an outlet in tenths of amps (metered-by-outlet PDUs)."""
_BY_SYS_OBJECT_ID = {_APC + (1, 3, 4, 5): RPDU, _APC + (1, 3, 4, 6): MS6}


class ApcPdu:
    """One APC PDU. `variant` is detected on first use unless given by name."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int = 161,
        community_ro: str = "public",
        community_rw: str | None = "private",
        version: str = "1",
        timeout: float = 2.0,
        retries: int = 1,
        settle_timeout: float = 20.0,
        poll_interval: float = 0.2,
        variant: str | None = None,
    ) -> None:
        self.name = name
        self.settle_timeout = settle_timeout
        self.poll_interval = poll_interval
        self.snmp = SnmpClient(name, host, port, community_ro, community_rw, version, timeout, retries)
        self._variant: TableVariant | None = VARIANTS[variant] if variant else None
        self.sys_object_id: Oid | None = None

    def __repr__(self) -> str:
        return f"ApcPdu({self.name!r}, {self.snmp.address})"

    @property
    def address(self) -> str:
        return self.snmp.address

    @property
    def variant(self) -> str:
        """'sPDUOutletCtl', 'rPDU', 'MS6' or 'rPDU2'."""
        return self.table.name

    @property
    def table(self) -> TableVariant:
        if self._variant is None:
            self._variant = self._detect()
        return self._variant

    def _detect(self) -> TableVariant:
        self.sys_object_id = tuple(self.snmp.get_one(SYS_OBJECT_ID))
        if self.sys_object_id[: len(_APC)] != _APC:
            raise CommandRefused(self.name, self.address, "detect the outlet table", f"sysObjectID {oid_str(self.sys_object_id)} is not an APC device")
        known = _BY_SYS_OBJECT_ID.get(self.sys_object_id)
        if known is not None:
            return known
        if next(self.snmp.walk(RPDU2.status_column, limit=1), None) is not None:
            return RPDU2
        return SPDU_OUTLET_CTL

    # ------------------------------------------------------------ reading

    def outlet_status(self, n: int) -> OutletState:
        raw = int(self.snmp.get_one(self.table.status_column + (n,)))
        state = self.table.status_value(raw)
        if state is None:
            raise CommandRefused(self.name, self.address, f"status of outlet {n}", f"unexpected {self.variant} status value {raw}")
        return state

    def outlets_status(self, outlets: Sequence[int]) -> dict[int, OutletState]:
        """The status of several outlets, one GET per `GET_BATCH` of them."""
        found: dict[int, OutletState] = {}
        wanted = list(outlets)
        for first in range(0, len(wanted), GET_BATCH):
            chunk = wanted[first:first + GET_BATCH]
            for n, value in zip(chunk, self.snmp.get(*(self.table.status_column + (n,) for n in chunk))):
                state = self.table.status_value(int(value))
                if state is None:
                    raise CommandRefused(self.name, self.address, f"status of outlet {n}", f"unexpected {self.variant} status value {int(value)}")
                found[n] = state
        return found

    def outlet_name(self, n: int) -> str:
        return str(self.snmp.get_one(self.table.name_column + (n,)))

    def outlets(self) -> dict[int, tuple[str, OutletState | None]]:
        """{outlet number: (name, 'on'|'off'|None)} for every outlet the PDU lists."""
        names = {name[-1]: str(value) for name, value in self.snmp.walk(self.table.name_column)}
        states = {name[-1]: self.table.status_value(int(value)) for name, value in self.snmp.walk(self.table.status_column)}
        return {n: (names.get(n, ""), states.get(n)) for n in sorted(set(names) | set(states))}

    def outlet_load(self, n: int) -> float | None:
        """Amps the outlet carries (rPDU2OutletMeteredStatusCurrent, tenths of amps), or None when the
        PDU does not meter its outlets (no such object: an AP79xx meters only its inputs)."""
        try:
            raw = self.snmp.get_one(RPDU2_METERED_CURRENT + (n,))
        except CommandRefused:
            return None
        return int(raw) / 10.0

    # ------------------------------------------------------------ switching

    def outlet_on(self, n: int) -> None:
        self._switch(n, self.table.command_on, "on")

    def outlet_off(self, n: int) -> None:
        self._switch(n, self.table.command_off, "off")

    def outlet_reboot(self, n: int, native: bool = False, off_time: float = 0.0) -> None:
        """Power-cycle outlet `n`.

        By default off, read back off, (wait `off_time`), on, read back on — each
        step verified, like `fence_apc_snmp -o reboot`. `native=True` sends the
        PDU's own reboot command instead and waits until the outlet reads on again.
        """
        if not native:
            self.outlet_off(n)
            if off_time > 0:
                time.sleep(off_time)  # the caller asked for the outlet to stay dark this long
            self.outlet_on(n)
            return
        self.snmp.set(self.table.control_column + (n,), self.table.command_reboot)
        self._wait_for(n, "on")

    def close(self) -> None:
        self.snmp.close()

    def __enter__(self) -> "ApcPdu":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _switch(self, n: int, command: int, want: OutletState) -> None:
        self.snmp.set(self.table.control_column + (n,), command)
        self._wait_for(n, want)

    def _wait_for(self, n: int, want: OutletState) -> None:
        wait_until_reads(lambda: self.outlet_status(n), want, f"{self.name} outlet {n} to read {want!r}",
                         self.settle_timeout, self.poll_interval, client=self.snmp)


@PDUS.register("apc_snmp")
def build_apc_snmp(lab: BuildContext, name: str, spec: Any) -> ApcPdu:
    """The APC PDU `name` over SNMP (`spec`: its inventory section)."""
    if lab.from_endpoints:
        ep = lab.endpoint("pdus", name)
        return ApcPdu(name, ep["host"], int(ep["port"]), Secret(ep["community_ro"]), Secret(ep["community_rw"]),
                      version=spec.snmp_version, timeout=spec.timeout, retries=spec.retries)
    if not spec.host:
        raise LabConfigError(f"PDU {name} has no 'host' in {lab.inventory.source}")
    owner = f"pdus.{name}"
    ro = lab.secret(owner, spec.community_env, spec.community_file)
    rw = lab.secret(owner, spec.write_community_env, spec.write_community_file) or ro
    return ApcPdu(name, spec.host, spec.port, ro or Secret("public"), rw or Secret("private"),
                  version=spec.snmp_version, timeout=spec.timeout, retries=spec.retries)
