"""The simulated cluster's fence configuration: its devices, their names, and what the nodes serve
of it (/etc/cluster/cluster.conf on a cman/rgmanager lab, `cibadmin --query` on a pacemaker lab).

Built from the inventory: each node's `fence` methods in order (after the seeded faults that take a
method away), one IPMI device per node (its BMC), one PDU device per PDU (cman: the outlet is the
device's `port` in the node's method) or per outlet (pacemaker: `plug`), one shared fence_scsi device.

Names: by default the tutorial's (cman `ipmi_an01`, `pdu2`; pacemaker `fence-NODE-ipmi`,
`fence-NODE-PDU-N`). With the adversity `neutral_fence_names` they say nothing of what the device
is: cman `dev-a1`, `dev-a2`, ... and methods `1`, `2`; pacemaker misleading on purpose (a node's
BMC is `fence-pilot-pduK`, its outlet `st-nodeK-bmc`): only the agent tells what a device drives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

if TYPE_CHECKING:  # pragma: no cover
    from hacert.labsim.cluster import ClusterModel

AGENTS = {"ipmi": "fence_ipmilan", "redfish": "fence_redfish", "pdu": "fence_apc_snmp", "scsi": "fence_scsi"}


@dataclass(frozen=True)
class SimDevice:
    name: str
    kind: str  # ipmi | pdu | scsi
    nodes: tuple[str, ...]  # inventory names
    pdu: str | None = None
    outlets: dict[str, int] = field(default_factory=dict)  # node -> outlet (cman: one device per PDU)

    @property
    def agent(self) -> str:
        return AGENTS[self.kind]


@dataclass(frozen=True)
class SimMethod:
    name: str
    kind: str
    devices: tuple[str, ...]


@dataclass
class SimFencing:
    devices: dict[str, SimDevice]
    methods: dict[str, list[SimMethod]]  # node -> its methods in order


def build(model: "ClusterModel") -> SimFencing:
    inv = model.inv
    neutral = inv.adversity("neutral_fence_names")
    pacemaker = model.manager == "pacemaker"
    devices: dict[str, SimDevice] = {}
    methods: dict[str, list[SimMethod]] = {}
    counter = iter(range(1, 10_000))
    given: dict[tuple, str] = {}

    def name_for(key: tuple, plain: str, misleading: str) -> str:
        if key not in given:
            given[key] = (misleading if pacemaker else f"dev-a{next(counter)}") if neutral else plain
        return given[key]

    def add(device: SimDevice) -> str:
        known = devices.get(device.name)
        if known is None:
            devices[device.name] = device
        else:  # a shared device (a PDU in cman, fence_scsi): one more node and outlet
            outlets = dict(known.outlets) | dict(device.outlets)
            nodes = known.nodes + tuple(n for n in device.nodes if n not in known.nodes)
            devices[device.name] = SimDevice(known.name, known.kind, nodes, known.pdu, outlets)
        return device.name

    for k, node in enumerate(inv.nodes, start=1):
        short = node.name
        found: list[SimMethod] = []
        for i, kind in enumerate(model.fence_methods(node.name), start=1):
            used: list[str] = []
            if kind in ("ipmi", "redfish"):
                used.append(add(SimDevice(name_for((kind, short), f"{kind}_{short}" if not pacemaker else f"fence-{short}-{kind}",
                                                   f"fence-pilot-pdu{k}"), kind, (short,))))
            elif kind == "pdu":
                for j, ref in enumerate(node.power, start=1):
                    if pacemaker:
                        name = name_for(("pdu", short, ref.pdu, ref.outlet), f"fence-{short}-{ref.pdu}-{ref.outlet}",
                                        f"st-node{k}-bmc" + (f"{j}" if len(node.power) > 1 else ""))
                    else:
                        name = name_for(("pdu", ref.pdu), ref.pdu, "")
                    used.append(add(SimDevice(name, "pdu", (short,), ref.pdu, {short: ref.outlet})))
            elif kind == "scsi":
                used.append(add(SimDevice(name_for(("scsi",), "scsi_fence" if not pacemaker else "fence-scsi", "st-ipmi-shared"),
                                          "scsi", (short,))))
            found.append(SimMethod((str(i) if neutral else kind), kind, tuple(used)))
        methods[node.name] = found
    return SimFencing(devices, methods)


# ---------------------------------------------------------------- cman: /etc/cluster/cluster.conf


def cluster_conf(model: "ClusterModel") -> str:
    """The lab's cluster.conf in the tutorial's layout (seed 002, ~line 3981)."""
    inv, setup = model.inv, model.fence_setup
    cman = '<cman expected_votes="1" two_node="1"/>' if model.two_node else f'<cman expected_votes="{model.expected_votes()}"/>'
    out = ['<?xml version="1.0"?>', f'<cluster config_version="{model.config_version}" name={quoteattr(model.name)}>',
           f"\t{cman}", "\t<clusternodes>"]
    for node in inv.nodes:
        rt = model.nodes[node.name]
        votes = f' votes="{node.votes}"' if node.votes != 1 else ""
        out.append(f'\t\t<clusternode name={quoteattr(rt.member_name)} nodeid="{rt.node_id}"{votes}>')
        out.append("\t\t\t<fence>")
        for method in setup.methods.get(node.name, []):
            out.append(f"\t\t\t\t<method name={quoteattr(method.name)}>")
            for name in method.devices:
                dev = setup.devices[name]
                port = f' port="{dev.outlets[node.name]}"' if dev.kind == "pdu" and node.name in dev.outlets else ""
                nodename = f" nodename={quoteattr(rt.member_name)}" if dev.kind == "scsi" else ""
                out.append(f'\t\t\t\t\t<device action="reboot" name={quoteattr(name)}{port}{nodename}/>')
            out.append("\t\t\t\t</method>")
        out.append("\t\t\t</fence>")
        if any(m.kind == "scsi" for m in setup.methods.get(node.name, [])):
            scsi = next(d for d in setup.devices.values() if d.kind == "scsi")
            out += ["\t\t\t<unfence>", f'\t\t\t\t<device action="on" name={quoteattr(scsi.name)} nodename={quoteattr(rt.member_name)}/>',
                    "\t\t\t</unfence>"]
        out.append("\t\t</clusternode>")
    out += ["\t</clusternodes>", "\t<fencedevices>"]
    for dev in setup.devices.values():
        if dev.kind == "ipmi":
            out.append(f'\t\t<fencedevice agent="fence_ipmilan" ipaddr={quoteattr(_bmc_host(model, dev.nodes[0]))} '
                       f'login="admin" name={quoteattr(dev.name)}/>')
        elif dev.kind == "redfish":
            out.append(f'\t\t<fencedevice agent="fence_redfish" ipaddr={quoteattr(_bmc_host(model, dev.nodes[0]))} ipport="443" '
                       f'login="admin" ssl_insecure="1" systems_uri={quoteattr(_systems_uri(model, dev.nodes[0]))} '
                       f'name={quoteattr(dev.name)}/>')
        elif dev.kind == "pdu":
            out.append(f'\t\t<fencedevice agent="fence_apc_snmp" ipaddr={quoteattr(f"{dev.pdu}.{_domain(model)}")} '
                       f'name={quoteattr(dev.name)}/>')
        else:
            out.append(f'\t\t<fencedevice agent="fence_scsi" name={quoteattr(dev.name)}/>')
    out += ["\t</fencedevices>", f'\t<fence_daemon post_join_delay="{int(inv.cluster.post_join_delay)}"/>',
            '\t<totem rrp_mode="none" secauth="off"/>', "</cluster>"]
    return "\n".join(out) + "\n"


def _domain(model: "ClusterModel") -> str:
    member = model.nodes[model.inv.nodes[0].name].member_name
    return member.split(".", 1)[1] if "." in member else "lab"


def _bmc_host(model: "ClusterModel", node: str) -> str:
    return f"{node}.ipmi"


def _systems_uri(model: "ClusterModel", node: str) -> str:
    bmc = model.inv.node(node).bmc
    return (bmc.systems_uri if bmc is not None else None) or "/redfish/v1/Systems/1"


# ---------------------------------------------------------------- pacemaker: the CIB


def _nvpairs(rid: str, pairs: dict[str, str], indent: str) -> list[str]:
    out = [f'{indent}<instance_attributes id="{rid}-instance_attributes">']
    for name, value in pairs.items():
        out.append(f'{indent}  <nvpair id="{rid}-instance_attributes-{name}" name="{name}" value={quoteattr(value)}/>')
    out.append(f"{indent}</instance_attributes>")
    return out


def cib_sections(model: "ClusterModel") -> dict[str, list[str]]:
    """The configuration's sections as `cibadmin --query --scope X` prints them (2-space indents)."""
    inv, setup = model.inv, model.fence_setup
    crm = ["<crm_config>", '  <cluster_property_set id="cib-bootstrap-options">']
    for name, value in (("have-watchdog", "false"), ("dc-version", "2.1.5-a3f44794f94"),
                        ("cluster-infrastructure", "corosync"), ("cluster-name", model.name),
                        ("stonith-enabled", "true"), ("stonith-timeout", "60s")):
        crm.append(f'    <nvpair id="cib-bootstrap-options-{name}" name="{name}" value={quoteattr(value)}/>')
    crm += ["  </cluster_property_set>", "</crm_config>"]
    nodes = ["<nodes>"] + [f'  <node id="{rt.node_id}" uname={quoteattr(rt.member_name)}/>' for rt in model.nodes.values()]
    nodes.append("</nodes>")
    resources = ["<resources>"]
    for dev in setup.devices.values():
        members = [model.nodes[n].member_name for n in dev.nodes]
        if dev.kind == "ipmi":
            pairs = {"ip": _bmc_host(model, dev.nodes[0]), "ipport": "623", "username": "admin", "lanplus": "1",
                     "pcmk_host_list": ",".join(members)}
        elif dev.kind == "redfish":
            pairs = {"ip": _bmc_host(model, dev.nodes[0]), "ipport": "443", "username": "admin", "ssl_insecure": "1",
                     "systems_uri": _systems_uri(model, dev.nodes[0]), "pcmk_host_list": ",".join(members)}
        elif dev.kind == "pdu":
            outlet = next(iter(dev.outlets.values()))
            pairs = {"ip": f"{dev.pdu}.{_domain(model)}", "plug": str(outlet), "pcmk_host_list": ",".join(members)}
        else:
            pairs = {"devices": "/dev/sdb", "pcmk_host_list": ",".join(members)}
        resources.append(f'  <primitive id={quoteattr(dev.name)} class="stonith" type="{dev.agent}">')
        resources += _nvpairs(dev.name, pairs, "    ")
        resources += ["    <operations>", f'      <op id="{dev.name}-monitor-interval-60s" name="monitor" interval="60s"/>',
                      "    </operations>", "  </primitive>"]
    from hacert.labsim.formats import _pcmk_agent

    for res in model.resources.values():
        cls, provider, kind = [part for part in _pcmk_agent(res).split(":") if part]
        resources.append(f'  <primitive id={quoteattr(res.name)} class="{cls}" provider="{provider}" type="{kind}"/>')
    resources.append("</resources>")
    topology = ["<fencing-topology>"]
    for node in inv.nodes:
        member = model.nodes[node.name].member_name
        for i, method in enumerate(setup.methods.get(node.name, []), start=1):
            topology.append(f'  <fencing-level id="fl-{member}-{i}" target={quoteattr(member)} index="{i}" '
                            f'devices={quoteattr(",".join(method.devices))}/>')
    topology.append("</fencing-topology>")
    return {"crm_config": crm, "nodes": nodes, "resources": resources, "constraints": ["<constraints/>"],
            "fencing-topology": topology}


def cibadmin_query(model: "ClusterModel", scope: str | None) -> str | None:
    """What `cibadmin --query [--scope SCOPE]` prints (None: no such section)."""
    sections = cib_sections(model)
    if scope in sections:
        return "\n".join(sections[scope]) + "\n"
    body = ["<configuration>"] + [f"  {line}" for part in sections.values() for line in part] + ["</configuration>"]
    if scope == "configuration":
        return "\n".join(body) + "\n"
    if scope not in (None, "cib"):
        return None
    dc = min((n for n in model.members()), key=lambda n: model.nodes[n].node_id, default=None)
    head = (f'<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="{model.config_version}" num_updates="0" '
            f'admin_epoch="0" have-quorum="{int(model.quorate())}"' + (f' dc-uuid="{model.nodes[dc].node_id}"' if dc else "") + ">")
    return "\n".join([head] + [f"  {line}" for line in body] + ["  <status/>", "</cib>"]) + "\n"
