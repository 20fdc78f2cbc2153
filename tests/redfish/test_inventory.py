"""The inventory's Redfish BMC: what a real lab writes, what the Lab builds from it, and what a
simulated lab publishes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hacert.drivers.redfish import RedfishBmc
from hacert.lab.build import Lab
from hacert.model.inventory import InventoryError, load_inventory
from tests.redfish.conftest import REDFISH_SIM

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "inventories" / "anvil-example.yaml"
ENV = {name: "x" for name in ("ANVIL_NODE_PASSWORD", "ANVIL_IPMI_PASSWORD", "ANVIL_PDU_COMMUNITY",
                              "ANVIL_PDU_WRITE_COMMUNITY", "ANVIL_SWITCH_COMMUNITY", "ANVIL_SWITCH_WRITE_COMMUNITY")}


def real_lab(tmp_path: Path, bmc: dict, fence: list[str] | None = None) -> Path:
    """The real-lab example with its first node's BMC replaced."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["nodes"][0]["bmc"] = bmc
    if fence is not None:
        data["nodes"][0]["fence"] = fence
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_a_real_lab_redfish_bmc_builds_the_redfish_driver(tmp_path: Path) -> None:
    (tmp_path / "bmc-ca.pem").write_text("a CA bundle\n")
    path = real_lab(tmp_path, {"protocol": "redfish", "host": "bmc1.example", "user": "root", "password_env": "ANVIL_IPMI_PASSWORD",
                               "systems_uri": "/redfish/v1/Systems/System.Embedded.1", "ca_bundle": "bmc-ca.pem",
                               "auth": "basic", "timeout": 3}, fence=["redfish", "pdu"])
    inv = load_inventory(path, environ=ENV)
    node = inv.nodes[0]
    assert node.bmc is not None and node.bmc.port == 443 and inv.nodes[1].bmc.port == 623  # type: ignore[union-attr]
    lab = Lab(inv, environ=ENV)
    bmc = getattr(lab.bmc(node.name), "unwrapped", None)
    assert isinstance(bmc, RedfishBmc)
    assert (bmc.host, bmc.port, bmc.user, bmc.timeout, bmc.auth) == ("bmc1.example", 443, "root", 3, "basic")
    assert bmc.systems_uri == "/redfish/v1/Systems/System.Embedded.1"
    assert bmc.verify == str(tmp_path / "bmc-ca.pem")  # relative to the inventory
    assert type(getattr(lab.bmc(inv.nodes[1].name), "unwrapped", None)).__name__ == "IpmiBmc"


def test_verify_false_is_an_explicit_choice(tmp_path: Path) -> None:
    path = real_lab(tmp_path, {"protocol": "redfish", "host": "bmc1.example", "password_env": "ANVIL_IPMI_PASSWORD",
                               "verify": False}, fence=["redfish", "pdu"])
    inv = load_inventory(path, environ=ENV)
    bmc = Lab(inv, environ=ENV).bmc(inv.nodes[0].name).unwrapped
    assert bmc.verify is False and bmc.systems_uri is None and bmc.auth == "session"


def test_a_real_lab_redfish_bmc_needs_its_host(tmp_path: Path) -> None:
    path = real_lab(tmp_path, {"protocol": "redfish", "password_env": "ANVIL_IPMI_PASSWORD"}, fence=["redfish", "pdu"])
    with pytest.raises(InventoryError) as caught:
        load_inventory(path, environ=ENV)
    assert [p.key for p in caught.value.problems] == ["nodes[0].bmc.host"], str(caught.value)


def test_ca_bundle_and_verify_false_exclude_each_other(tmp_path: Path) -> None:
    path = real_lab(tmp_path, {"protocol": "redfish", "host": "b", "password_env": "ANVIL_IPMI_PASSWORD", "verify": False,
                               "ca_bundle": "x.pem"}, fence=["redfish", "pdu"])
    with pytest.raises(InventoryError) as caught:
        load_inventory(path, environ=ENV)
    assert "not both" in str(caught.value) and "nodes[0].bmc" in str(caught.value)


def test_the_simulated_lab_needs_only_the_protocol() -> None:
    inv = load_inventory(REDFISH_SIM)
    kinds = {n.name: (n.bmc.protocol if n.bmc else "ipmi", tuple(n.fence)) for n in inv.nodes}
    assert sorted(kinds.values()) == [("ipmi", ("ipmi", "pdu")), ("redfish", ("redfish", "pdu"))]
