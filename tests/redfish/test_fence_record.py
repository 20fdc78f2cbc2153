"""The cluster's record of a Redfish fence: fence_redfish is its own method kind ('redfish'), which
dies with the node's power like IPMI; read from the agent, never from a device's name."""

from __future__ import annotations

from hacert.drivers.parsers import parse_cluster_conf
from hacert.model.inventory import load_inventory
from hacert.model.scope import POWER_DEPENDENT_METHODS
from hacert.observe.fence_record import REBOOTING_METHODS, FenceConfig, fence_method, fence_rounds, method_of_agent
from tests.redfish.conftest import REDFISH_SIM

INV = load_inventory(REDFISH_SIM)
RF, IPMI = (next(n for n in INV.nodes if (n.bmc is not None) == redfish) for redfish in (True, False))

# cluster.conf as the simulated lab serves it for this inventory (fence_redfish's cluster.conf attributes)
CONF = f"""<?xml version="1.0"?>
<cluster config_version="7" name="an-cluster-A">
\t<cman expected_votes="1" two_node="1"/>
\t<clusternodes>
\t\t<clusternode name="{RF.member_name}" nodeid="1">
\t\t\t<fence>
\t\t\t\t<method name="1"><device action="reboot" name="dev-a1"/></method>
\t\t\t\t<method name="2"><device action="reboot" name="dev-a2" port="1"/></method>
\t\t\t</fence>
\t\t</clusternode>
\t\t<clusternode name="{IPMI.member_name}" nodeid="2">
\t\t\t<fence>
\t\t\t\t<method name="1"><device action="reboot" name="dev-a3"/></method>
\t\t\t\t<method name="2"><device action="reboot" name="dev-a2" port="2"/></method>
\t\t\t</fence>
\t\t</clusternode>
\t</clusternodes>
\t<fencedevices>
\t\t<fencedevice agent="fence_redfish" ipaddr="{RF.name}.ipmi" ipport="443" login="admin" ssl_insecure="1" systems_uri="/redfish/v1/Systems/1" name="dev-a1"/>
\t\t<fencedevice agent="fence_apc_snmp" ipaddr="pdu2.alteeve.ca" name="dev-a2"/>
\t\t<fencedevice agent="fence_ipmilan" ipaddr="{IPMI.name}.ipmi" login="admin" name="dev-a3"/>
\t</fencedevices>
</cluster>
"""


def fenced(*messages: str) -> list[str]:
    return [f"Dec 13 12:46:08 {IPMI.name} fenced[2817]: {m}" for m in messages]


def test_fence_redfish_is_the_redfish_method_and_dies_with_the_power() -> None:
    assert method_of_agent("fence_redfish") == "redfish" and method_of_agent("stonith:fence_redfish") == "redfish"
    assert "redfish" in POWER_DEPENDENT_METHODS and "redfish" in REBOOTING_METHODS


def test_cman_success_after_a_redfish_failure_is_the_pdu() -> None:
    config = FenceConfig.of(INV, parse_cluster_conf(CONF))
    assert config.kind("dev-a1") == "redfish" and config.kind("dev-a3") == "ipmi"
    lines = fenced(f"fencing node {RF.member_name}",
                   f"fence {RF.member_name} dev 0.0 agent fence_redfish result: error from agent",
                   f"fence {RF.member_name} success")
    (rnd,) = fence_rounds(INV, {IPMI.name: lines}, config)
    assert [f.method for f in rnd.failures] == ["redfish"]
    assert fence_method(INV, rnd) == "pdu"
    (first,) = fence_rounds(INV, {IPMI.name: fenced(f"fencing node {RF.member_name}", f"fence {RF.member_name} success")}, config)
    assert fence_method(INV, first) == "redfish"
