"""A kind of device is one module that registers its builder; `Lab` builds every device through the
registry of its kind (hacert.drivers.registry)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from hacert.drivers import registry
from hacert.drivers.registry import BMCS, CLUSTER_MANAGERS, PDUS, SWITCH_PORTS, SWITCH_POWER, LabConfigError, Registry
from hacert.lab.build import Lab
from hacert.model.inventory import load_inventory
from tests.plugin.runner import SIM_INVENTORY
from tests.plugin.test_lab import ENDPOINTS, FakeRunning


def test_the_shipped_kinds_are_registered_by_their_own_modules() -> None:
    assert BMCS.kinds() == ["ipmi", "redfish"]
    assert PDUS.kinds() == ["apc_snmp"]
    assert SWITCH_PORTS.kinds() == ["manual", "node", "snmp", "ssh"]
    assert SWITCH_POWER.kinds() == ["manual", "pdu"]
    assert CLUSTER_MANAGERS.kinds() == ["pacemaker", "rgmanager"]
    assert BMCS.get("ipmi").__module__ == "hacert.drivers.ipmi"
    assert CLUSTER_MANAGERS.get("pacemaker").__module__ == "hacert.drivers.cluster.pacemaker"


def test_an_unknown_kind_is_a_lab_configuration_error_naming_the_known_ones() -> None:
    with pytest.raises(LabConfigError, match=r"no driver knows BMC kind 'telepathy' \(known: ipmi"):
        BMCS.get("telepathy")


def test_a_kind_registered_twice_is_refused() -> None:
    kinds: Registry[Any] = Registry("test device")
    kinds.register("one")(len)
    kinds.register("one")(len)  # the same builder again (a module imported twice) is harmless
    with pytest.raises(ValueError, match="registered twice"):
        kinds.register("one")(repr)


def test_a_new_bmc_kind_is_one_module_the_lab_finds_and_builds_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A module that registers a BMC kind, in a package of drivers: nothing else names it, and the lab
    builds a node's BMC through it once the node's BMC is of that kind."""
    package = tmp_path / "site_drivers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "pigeon.py").write_text(textwrap.dedent('''
        from hacert.drivers.registry import BMCS

        class PigeonBmc:
            def __init__(self, node, endpoint):
                self.node, self.endpoint = node, endpoint

            def power_status(self):
                return "on"

        @BMCS.register("carrier_pigeon")
        def build(lab, node, spec):
            return PigeonBmc(node, lab.endpoint("nodes", node)["bmc"])
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "PACKAGES", [*registry.PACKAGES, "site_drivers"])
    monkeypatch.setattr(sys.modules["hacert.lab.build"], "bmc_kind", lambda spec: "carrier_pigeon")
    try:
        lab = Lab(load_inventory(SIM_INVENTORY), ENDPOINTS, running=FakeRunning())
        bmc = lab.bmc("an-node01")
        assert type(bmc.unwrapped).__name__ == "PigeonBmc"  # behind the lab's device lock, like every BMC
        assert bmc.node == "an-node01" and bmc.endpoint["port"] == 6230 and bmc.power_status() == "on"
        assert "carrier_pigeon" in BMCS.kinds()
    finally:
        BMCS._builders.pop("carrier_pigeon", None)
        registry._DISCOVERED.discard("site_drivers")
        for name in ("site_drivers.pigeon", "site_drivers"):
            sys.modules.pop(name, None)
