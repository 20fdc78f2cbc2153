"""hacert.drivers.pdu against a simulated APC PDU in each outlet-table variant, checked
against what the agent recorded and against fence_apc_snmp."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from hacert.drivers.errors import CommandRefused, DeviceUnreachable
from hacert.drivers.pdu import RPDU, RPDU2, SPDU_OUTLET_CTL, ApcPdu, outlet_states

from tests.drivers.conftest import DeviceProcess, free_port, python_module

VARIANTS = {"spdu": SPDU_OUTLET_CTL, "rpdu": RPDU, "rpdu2": RPDU2}
# Generous limits: a live agent answers in milliseconds, but CI machines get loaded.
PATIENT = {"timeout": 2.0, "retries": 2, "settle_timeout": 5.0}


class Agents:
    """One agent process per table variant for the whole module (started on first use)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.running: dict[str, tuple[DeviceProcess, int, Path]] = {}

    def get(self, kind: str) -> tuple[str, int, Path]:
        if kind not in self.running:
            port = free_port()
            log = self.workdir / f"{kind}-sets.log"
            process = DeviceProcess(python_module("tests.drivers.snmp_agent", str(port), kind, "--outlets", "8", "--log", str(log)))
            self.running[kind] = (process, port, log)
        _, port, log = self.running[kind]
        log.write_text("")  # each test sees only its own SETs
        return kind, port, log

    def stop(self) -> None:
        for process, _, _ in self.running.values():
            process.stop()


@pytest.fixture(scope="module")
def agents(tmp_path_factory):
    running = Agents(tmp_path_factory.mktemp("snmp-agents"))
    yield running
    running.stop()


@pytest.fixture(params=sorted(VARIANTS))
def agent(request, agents: Agents):
    return agents.get(request.param)


@pytest.fixture
def rpdu_agent(agents: Agents):
    return agents.get("rpdu")


def _sets(log: Path) -> list[tuple[str, int]]:
    if not log.exists():
        return []
    return [(oid, int(value)) for oid, value in (line.split() for line in log.read_text().splitlines())]


@pytest.mark.parametrize("version", ["1", "2c"])
def test_outlet_control_in_each_table_variant(agent, version: str) -> None:
    kind, port, log = agent
    table = VARIANTS[kind]
    with ApcPdu("pdu-x", "127.0.0.1", port, "public", "private", version=version, **PATIENT) as pdu:
        assert pdu.variant == table.name
        assert pdu.outlet_status(2) == "on"
        assert pdu.outlet_name(2) == "outlet-2"
        pdu.outlet_off(2)
        assert pdu.outlet_status(2) == "off"
        assert pdu.outlet_status(1) == "on"  # only the outlet asked for
        pdu.outlet_on(2)
        assert pdu.outlet_status(2) == "on"
        pdu.outlet_reboot(5)
        assert pdu.outlet_status(5) == "on"
        pdu.outlet_reboot(6, native=True)
        assert pdu.outlet_status(6) == "on"
        outlets = pdu.outlets()
    assert sorted(outlets) == list(range(1, 9))
    assert outlets[3] == ("outlet-3", "on")
    control = ".".join(map(str, table.control_column))
    # The commands went to this variant's control column, with its command values.
    assert _sets(log) == [
        (f"{control}.2", 2),
        (f"{control}.2", 1),
        (f"{control}.5", 2),
        (f"{control}.5", 1),
        (f"{control}.6", 3),
    ]


def test_outlets_status_reads_several_outlets_in_one_get_in_each_table_variant(agent) -> None:
    """The guard's survey reads every outlet of a PDU at once: one GET, the same answers as one
    outlet at a time, rPDU2's inverted status values included."""
    kind, port, _ = agent
    with ApcPdu("pdu-x", "127.0.0.1", port, "public", "private", **PATIENT) as pdu:
        pdu.outlet_off(3)
        pdu.outlet_off(7)
        one_by_one = {n: pdu.outlet_status(n) for n in range(1, 9)}
        asked: list[int] = []
        real_get = pdu.snmp.get
        pdu.snmp.get = lambda *oids: asked.append(len(oids)) or real_get(*oids)  # type: ignore[method-assign]
        together = pdu.outlets_status(range(1, 9))
        pdu.snmp.get = real_get  # type: ignore[method-assign]
        pdu.outlet_on(3)
        pdu.outlet_on(7)
    assert together == one_by_one
    assert [n for n, state in together.items() if state == "off"] == [3, 7]
    assert asked == [8], f"{kind}: GETs of {asked} objects"


def test_outlet_states_asks_a_pdu_that_cannot_batch_outlet_by_outlet() -> None:
    class OneAtATime:
        def outlet_status(self, n: int) -> str:
            return "off" if n == 2 else "on"

    assert outlet_states(OneAtATime(), [1, 2, 3]) == {1: "on", 2: "off", 3: "on"}


def test_rpdu2_status_values_are_inverted(agents: Agents) -> None:
    _, port, _ = agents.get("rpdu2")
    with ApcPdu("pdu-x", "127.0.0.1", port, "public", "private", **PATIENT) as pdu:
        pdu.outlet_off(4)
        raw_off = int(pdu.snmp.get_one(RPDU2.status_column + (4,)))
        pdu.outlet_on(4)
        raw_on = int(pdu.snmp.get_one(RPDU2.status_column + (4,)))
    assert (raw_off, raw_on) == (1, 2)


def test_read_only_community_cannot_switch_outlets(rpdu_agent) -> None:
    _, port, log = rpdu_agent
    with ApcPdu("pdu-x", "127.0.0.1", port, "public", "public", **PATIENT) as pdu:
        with pytest.raises(CommandRefused):
            pdu.outlet_off(1)
        assert pdu.outlet_status(1) == "on"
    assert _sets(log) == []


def test_unknown_outlet_is_refused(rpdu_agent) -> None:
    _, port, _ = rpdu_agent
    with ApcPdu("pdu-x", "127.0.0.1", port, "public", "private", **PATIENT) as pdu:
        with pytest.raises(CommandRefused):
            pdu.outlet_status(42)


def _fence(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["fence_apc_snmp", "--ip=127.0.0.1", f"--ipport={port}", "--community=private", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


# fence_apc_snmp has no rPDU2 support (for an unknown model it uses sPDUOutletCtl).
@pytest.mark.skipif(shutil.which("fence_apc_snmp") is None, reason="fence_apc_snmp (Debian fence-agents) is not installed")
@pytest.mark.parametrize("kind", ["rpdu", "spdu"])
def test_driver_agrees_with_fence_apc_snmp(agents: Agents, kind: str) -> None:
    _, port, _ = agents.get(kind)
    with ApcPdu("pdu-x", "127.0.0.1", port, "private", "private", **PATIENT) as pdu:
        pdu.outlet_off(7)
        for outlet in (7, 8):
            fenced = _fence(port, "-n", str(outlet), "-o", "status")
            fence_says = {0: "on", 2: "off"}.get(fenced.returncode, f"rc {fenced.returncode}: {fenced.stderr}")
            assert fence_says == pdu.outlet_status(outlet), fenced.stdout
        if kind == "rpdu":  # the table fence_apc_snmp is really used with: both directions, and names
            assert _fence(port, "-n", "8", "-o", "off").returncode == 0
            assert pdu.outlet_status(8) == "off"
            listed = _fence(port, "-o", "list").stdout.split()
            assert listed == [f"{n},{name}" for n, (name, _) in pdu.outlets().items()]
            pdu.outlet_on(8)
        pdu.outlet_on(7)


def test_dead_pdu_raises_device_unreachable_within_timeout() -> None:
    port = free_port()  # nothing listens there
    pdu = ApcPdu("pdu-dead", "127.0.0.1", port, "public", "private", timeout=0.5, retries=1)
    bound = pdu.snmp.deadline
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable) as caught:
        pdu.outlet_status(1)
    elapsed = time.monotonic() - started
    pdu.close()
    print(f"\ndead PDU: {type(caught.value).__name__} after {elapsed:.2f} s (timeout 0.5 s x 2 tries, bound {bound:.1f} s): {caught.value}")
    assert 0.9 <= elapsed <= bound + 1.0  # + scheduling slack on a loaded machine


def test_a_client_resolves_its_agent_once_and_keeps_its_community(rpdu_agent, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads and writes after the first reuse the resolved target and community objects (pysnmp then
    configures its engine once): a target made afresh per request resolved the address in a worker
    thread every time, the largest CPU cost of an SNMP read. The answers do not change."""
    from hacert.drivers import snmp

    _, port, _ = rpdu_agent
    made: list[tuple[str, int]] = []
    real_create = snmp.UdpTransportTarget.create

    async def counting_create(address, *args, **kwargs):  # type: ignore[no-untyped-def]
        made.append(address)
        return await real_create(address, *args, **kwargs)

    monkeypatch.setattr(snmp.UdpTransportTarget, "create", counting_create)
    with ApcPdu("pdu-x", "127.0.0.1", port, "public", "private", **PATIENT) as pdu:
        states = [pdu.outlet_status(n) for n in range(1, 5)]
        pdu.outlet_off(2)
        assert pdu.outlet_status(2) == "off"
        pdu.outlet_on(2)
        assert pdu.outlet_status(2) == "on"
        read, written = pdu.snmp._auth(False), pdu.snmp._auth(True)
        assert read is pdu.snmp._auth(False) and written is not read
    assert states == ["on"] * 4
    assert made == [("127.0.0.1", port)], made


def test_a_client_resolves_each_name_through_the_mib_view_once(rpdu_agent, monkeypatch: pytest.MonkeyPatch) -> None:
    """pysnmp resolves a request's names through its MIB view; a client keeps each resolved name, so
    reading an outlet again resolves nothing (and still reads the outlet's state as it is now)."""
    from pysnmp.smi.rfc1902 import ObjectIdentity

    _, port, _ = rpdu_agent
    resolved: list[object] = []
    real = ObjectIdentity.resolve_with_mib

    def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        resolved.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ObjectIdentity, "resolve_with_mib", counting)
    with ApcPdu("pdu-x", "127.0.0.1", port, "public", "private", **PATIENT) as pdu:
        assert pdu.outlet_status(3) == "on"
        first = len(resolved)
        pdu.outlet_off(3)
        resolved.clear()
        assert [pdu.outlet_status(3) for _ in range(5)] == ["off"] * 5
        again = list(resolved)
        pdu.outlet_on(3)
        assert pdu.outlet_status(3) == "on"
    assert first >= 1 and again == [], f"{len(again)} names resolved again on repeated reads"
