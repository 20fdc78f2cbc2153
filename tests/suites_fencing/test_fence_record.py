"""Which method fenced, read from the cluster's own record and configuration, never from names.

cman: fenced names only the method index of each failure ("dev M.D") and says "fence X success" for
the one that worked; the configured methods (cluster.conf) say what each index is. pacemaker: the
fencer names the device that returned 0; the CIB says its agent. The lines below have the seed's
(cman) and netlab's real pacemaker 2.1.5 (tests/parsers/captured) wording.
"""

from __future__ import annotations

import pytest

from hacert.drivers.parsers import parse_cib_fencing, parse_cluster_conf
from hacert.model.inventory import load_inventory
from hacert.observe.fence_record import FenceConfig, fence_method, fence_rounds, method_of_agent

from tests.suites_fencing.harness import ANVIL, REPO

INV = load_inventory(ANVIL)
NETLAB = load_inventory(REPO / "inventories" / "netlab.yaml")
SAMPLES = REPO / "tests" / "parsers" / "samples"
CAPTURED = REPO / "tests" / "parsers" / "captured"
SEED_CONF = (SAMPLES / "clusterconf_002_l3981_final.txt").read_text()
N1, N2 = "an-node01", "an-node02"


def cman(*messages: str) -> list[str]:
    """fenced lines as an-node02 logged them in seed 002 (line ~1779), one per message."""
    return [f"Dec 13 12:46:08 an-node02 fenced[2817]: {m}" for m in messages]


def neutral(conf: str) -> str:
    """The seed's cluster.conf with names that say nothing: devices dev-a1.., methods 1, 2."""
    for old, new in (('"ipmi_an01"', '"dev-a1"'), ('"ipmi_an02"', '"dev-a2"'), ('"pdu2"', '"dev-a3"'),
                     ('method name="ipmi"', 'method name="1"'), ('method name="pdu"', 'method name="2"')):
        conf = conf.replace(old, new)
    return conf


SEED_CONFIG = FenceConfig.of(INV, parse_cluster_conf(SEED_CONF))
NEUTRAL_CONFIG = FenceConfig.of(INV, parse_cluster_conf(neutral(SEED_CONF)))

DUAL_FEED_CONF = """<?xml version="1.0"?>
<cluster config_version="3" name="an-cluster-A">
	<clusternodes>
		<clusternode name="an-node01.alteeve.ca" nodeid="1">
			<fence>
				<method name="1">
					<device action="reboot" name="dev-a1"/>
				</method>
				<method name="2">
					<device action="off" name="dev-a2" port="1"/>
					<device action="off" name="dev-a3" port="1"/>
					<device action="on" name="dev-a2" port="1"/>
					<device action="on" name="dev-a3" port="1"/>
				</method>
			</fence>
		</clusternode>
		<clusternode name="an-node02.alteeve.ca" nodeid="2"/>
	</clusternodes>
	<fencedevices>
		<fencedevice agent="fence_ipmilan" ipaddr="an-node01.ipmi" login="root" name="dev-a1"/>
		<fencedevice agent="fence_apc_snmp" ipaddr="pdu1.alteeve.ca" name="dev-a2"/>
		<fencedevice agent="fence_apc_snmp" ipaddr="pdu2.alteeve.ca" name="dev-a3"/>
	</fencedevices>
</cluster>
"""
"""A node on two PSUs (the RHEL 6 way): method 2 switches both outlets off, then both on."""


def test_the_seeds_cluster_conf_gives_each_nodes_methods_from_the_agents() -> None:
    for config in (SEED_CONFIG, NEUTRAL_CONFIG):
        assert config.kinds(N1) == ["ipmi", "pdu"] and config.kinds(N2) == ["ipmi", "pdu"]
        pdu = config.devices[config.methods(N1)[1][0]]
        assert (pdu.agent, pdu.method, pdu.ports) == ("fence_apc_snmp", "pdu", {N1: "1", N2: "2"})
    assert NEUTRAL_CONFIG.describe(N2) == "1: ipmi (dev-a2: fence_ipmilan); 2: pdu (dev-a3: fence_apc_snmp port 2)"


@pytest.mark.parametrize("config", [SEED_CONFIG, NEUTRAL_CONFIG], ids=["seed names", "neutral names"])
def test_cman_success_after_an_ipmi_failure_is_the_pdu_method(config: FenceConfig) -> None:
    lines = cman("fencing node an-node01.alteeve.ca",
                 "fence an-node01.alteeve.ca dev 0.0 agent fence_ipmilan result: error from agent",
                 "fence an-node01.alteeve.ca success")
    (rnd,) = fence_rounds(INV, {N2: lines}, config)
    assert (rnd.victim, rnd.fencer, rnd.method, rnd.method_index, rnd.method_source) == (N1, N2, "pdu", 1, "method index")
    assert [(f.method, f.method_index) for f in rnd.failures] == [("ipmi", 0)]


def test_cman_success_without_a_failure_is_the_first_method() -> None:
    lines = cman("fencing node an-node01.alteeve.ca", "fence an-node01.alteeve.ca success")
    (rnd,) = fence_rounds(INV, {N2: lines}, NEUTRAL_CONFIG)
    assert (fence_method(INV, rnd), rnd.method_index) == ("ipmi", 0)


def test_cman_method_of_two_devices_and_fenced_starting_over() -> None:
    config = FenceConfig.of(INV, parse_cluster_conf(DUAL_FEED_CONF))
    assert config.kinds(N1) == ["ipmi", "pdu"] and config.methods(N1)[1] == ("dev-a2", "dev-a3", "dev-a2", "dev-a3")
    # IPMI fails, the second device of the PDU method fails, fenced starts over: IPMI fails again, the PDU works
    lines = cman("fencing node an-node01.alteeve.ca",
                 "fence an-node01.alteeve.ca dev 0.0 agent fence_ipmilan result: error from agent",
                 "fence an-node01.alteeve.ca dev 1.1 agent fence_apc_snmp result: error from agent",
                 "fence an-node01.alteeve.ca dev 0.0 agent fence_ipmilan result: error from agent",
                 "fence an-node01.alteeve.ca success")
    (rnd,) = fence_rounds(INV, {N2: lines}, config)
    assert (rnd.method, rnd.method_index) == ("pdu", 1)
    assert [(f.method, f.device) for f in rnd.failures] == [("ipmi", "0.0"), ("pdu", "1.1"), ("ipmi", "0.0")]
    # every method failed once ("fence X failed"), fenced starts over and the first one works: IPMI, not
    # the second method a count of failures would give
    lines = cman("fencing node an-node01.alteeve.ca",
                 "fence an-node01.alteeve.ca dev 0.0 agent fence_ipmilan result: error from agent",
                 "fence an-node01.alteeve.ca dev 1.0 agent fence_apc_snmp result: error from agent",
                 "fence an-node01.alteeve.ca failed",
                 "fence an-node01.alteeve.ca success")
    (rnd,) = fence_rounds(INV, {N2: lines}, config)
    assert (rnd.method, rnd.method_index, len(rnd.failures)) == ("ipmi", 0, 2)


def test_without_a_configuration_cman_falls_back_to_the_inventory_and_says_so() -> None:
    lines = cman("fencing node an-node01.alteeve.ca",
                 "fence an-node01.alteeve.ca dev 0.0 agent fence_ipmilan result: error from agent",
                 "fence an-node01.alteeve.ca success")
    (rnd,) = fence_rounds(INV, {N2: lines})
    assert (rnd.method, rnd.method_source) == ("pdu", "inventory")


def _netlab(text: str, renames: dict[str, str]) -> str:
    for old, new in renames.items():
        text = text.replace(old, new)
    return text


# the same devices, named so that a name would lie: the BMC's device reads like a PDU and the reverse
MISLEADING = {"fence-an-node02-ipmi": "fence-pilot-pdu", "fence-an-node02-pdu2-2": "st-node1-bmc",
              "fence-an-node01-ipmi": "fence-pilot-pdu1", "fence-an-node01-pdu2-1": "st-node2-bmc"}


@pytest.mark.parametrize("renames", [{}, MISLEADING], ids=["netlab's names", "misleading names"])
def test_pacemaker_method_is_the_named_devices_agent(renames: dict[str, str]) -> None:
    cib = _netlab((CAPTURED / "netlab_pcmk2.1.5_cib_configuration.xml").read_text(), renames)
    config = FenceConfig.of(NETLAB, parse_cib_fencing(cib))
    assert config.kinds(N2) == ["ipmi", "pdu"]
    hang = _netlab((CAPTURED / "netlab_pcmk2.1.5_syslog_hang_fenced_by_ipmi.txt").read_text(), renames).splitlines()
    cut = _netlab((CAPTURED / "netlab_pcmk2.1.5_syslog_power_cut_fenced_by_pdu.txt").read_text(), renames).splitlines()
    (rnd,) = fence_rounds(NETLAB, {N1: hang}, config)
    assert (rnd.victim, rnd.method, rnd.device, rnd.failures) == (N2, "ipmi", renames.get("fence-an-node02-ipmi", "fence-an-node02-ipmi"), [])
    (rnd,) = fence_rounds(NETLAB, {N1: cut}, config)
    pdu = renames.get("fence-an-node02-pdu2-2", "fence-an-node02-pdu2-2")
    assert (rnd.method, rnd.device, rnd.method_source) == ("pdu", pdu, "device")
    assert [(f.method, f.result) for f in rnd.failures] == [("ipmi", "error")]
    assert config.devices[pdu].ports == {N2: "2"} and config.devices[pdu].nodes == (N2,)


def test_a_devices_name_says_nothing_only_its_agent_does() -> None:
    assert [method_of_agent(a) for a in ("fence_ipmilan", "stonith:fence_apc_snmp", "fence_scsi", "fence_xvm")] == \
        ["ipmi", "pdu", "scsi", None]
    assert [method_of_agent(name) for name in ("fence-pilot-pdu", "st-node1-bmc", "ipmi_an01", "pdu2")] == [None] * 4
    # without the configuration a pacemaker device's kind is unknown, not guessed
    cut = (CAPTURED / "netlab_pcmk2.1.5_syslog_power_cut_fenced_by_pdu.txt").read_text().splitlines()
    (rnd,) = fence_rounds(NETLAB, {N1: cut})
    assert (rnd.device, rnd.method) == ("fence-an-node02-pdu2-2", None)


def test_the_cib_without_a_topology_gives_one_unordered_method_per_device() -> None:
    cib = (CAPTURED / "netlab_pcmk2.1.5_cib_configuration.xml").read_text()
    start, end = cib.index("<fencing-topology>"), cib.index("</fencing-topology>") + len("</fencing-topology>")
    setup = parse_cib_fencing(cib[:start] + cib[end:])
    assert not setup.ordered
    config = FenceConfig.of(NETLAB, setup)
    assert sorted(config.kinds(N1)) == ["ipmi", "pdu"]


def test_parsers_refuse_what_is_not_a_configuration() -> None:
    from hacert.drivers.parsers import ParseError

    for parse, text in ((parse_cluster_conf, ""), (parse_cluster_conf, "<cib/>"), (parse_cib_fencing, "Call failed"),
                        (parse_cib_fencing, "<configuration><resources>")):
        with pytest.raises(ParseError):
            parse(text)



# pacemaker 2.0's wording (a SUSE HANA cluster's public troubleshooting notes, as in tests/parsers/test_pacemaker.py):
# the device is called 'killer', which says nothing; its agent in the CIB does.
PCMK20 = [
    "2022-04-21T13:21:38.867641+02:00 oldhanad1 pacemaker-controld[26190]:  notice: Requesting fencing (reboot) of node oldhanad2",
    "2022-04-21T13:21:51.257505+02:00 oldhanad1 pacemaker-fenced[26186]:  notice: Operation 'reboot' [1951] (call 2 from "
    "pacemaker-controld.26190) for host 'oldhanad2' with device 'killer' returned: 0 (OK)",
    "2022-04-21T13:21:51.257803+02:00 oldhanad1 pacemaker-fenced[26186]:  notice: Operation 'reboot' targeting oldhanad2 on "
    "oldhanad1 for pacemaker-controld.26190@oldhanad1.a127b270: OK",
    "2022-04-21T13:21:51.259400+02:00 oldhanad1 pacemaker-controld[26190]:  notice: Peer oldhanad2 was terminated (reboot) "
    "by oldhanad1 on behalf of pacemaker-controld.26190: OK",
]
KILLER_CIB = """<configuration><resources>
  <primitive id="killer" class="stonith" type="{agent}">
    <instance_attributes id="killer-ia">
      <nvpair id="killer-hosts" name="pcmk_host_list" value="oldhanad1 oldhanad2"/>
      <nvpair id="killer-pw" name="password" value="not read"/>
    </instance_attributes>
  </primitive>
</resources></configuration>"""


@pytest.mark.parametrize("agent, method", [("fence_ipmilan", "ipmi"), ("fence_redfish", "redfish"), ("fence_apc_snmp", "pdu"),
                                           ("external/sbd", None)])
def test_pacemaker_2_0_device_result_and_the_agent_of_a_device_named_killer(agent: str, method: str | None) -> None:
    inv = INV.model_copy(update={"nodes": [n.model_copy(update={"name": name, "cluster_name": None})
                                           for n, name in zip(INV.nodes, ("oldhanad1", "oldhanad2"))]})
    setup = parse_cib_fencing(KILLER_CIB.format(agent=agent))
    assert "password" not in setup.devices["killer"].params
    config = FenceConfig.of(inv, setup)
    assert config.devices["killer"].nodes == ("oldhanad1", "oldhanad2") and not setup.ordered
    (rnd,) = fence_rounds(inv, {"oldhanad1": PCMK20}, config)
    assert (rnd.victim, rnd.device, rnd.method, rnd.succeeded is not None) == ("oldhanad2", "killer", method, True)
