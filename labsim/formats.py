"""What the real cluster tools print, rendered from the ClusterModel.

Layouts follow the outputs quoted in ../shared/seeds (seed 002's RHEL 6
clustat, cman_tool, /proc/drbd, virsh; seed 001's sg_persist) and the
verbatim samples in ../shared/corpus (clustat -x, crm_mon XML).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import quoteattr

if TYPE_CHECKING:
    from hacert.labsim.cluster import ClusterModel, Resource

from hacert.labsim.cluster import STATE_CODES, DRBD_MINORS
from hacert.labsim import cts_modes as cts
from hacert.labsim.core import node_localtime


def _ctime(t: float | None = None) -> str:
    """A time (default: now) as the node printing it reads it (its clock offset, hacert.labsim.core.node_clock)."""
    return time.strftime("%a %b %e %H:%M:%S %Y", node_localtime(t))


def _owner_name(model: "ClusterModel", node: str | None) -> str | None:
    return model.nodes[node].member_name if node else None


# ------------------------------------------------------------ clustat

def member_status(model: "ClusterModel", node: str, local: str) -> str:
    rt = model.nodes[node]
    if not rt.member:
        return "Offline"
    words = ["Online"]
    if node == local:
        words.append("Local")
    if rt.rgmanager:
        words.append("rgmanager")
    return ", ".join(words)


def clustat_text(model: "ClusterModel", local: str) -> str:
    lines = [f"Cluster Status for {model.name} @ {_ctime()}",
             f"Member Status: {'Quorate' if model.quorate() else 'Inquorate'}", ""]
    width = max([40] + [len(rt.member_name) + 1 for rt in model.nodes.values()])
    lines.append(" " + "Member Name".ljust(width) + "ID   Status")
    lines.append(" " + "------ ----".ljust(width) + "---- ------")
    for node, rt in model.nodes.items():
        lines.append(" " + rt.member_name.ljust(width) + f"{rt.node_id:4d} " + member_status(model, node, local))
    if model.nodes[local].rgmanager:
        lines.append("")
        lines.append(" " + "Service Name".ljust(30) + " " + "Owner (Last)".ljust(31) + "State".ljust(14))
        lines.append(" " + "------- ----".ljust(30) + " " + "----- ------".ljust(31) + "-----".ljust(14))
        for res in model.resources.values():
            flags = "frozen" if cts.frozen(model, res) else ""
            lines.append((" " + res.full_name.ljust(30) + " " + _owner_column(model, res) + res.state.ljust(14) + flags).rstrip())
    return "\n".join(lines) + "\n"


def _owner_column(model: "ClusterModel", res: "Resource") -> str:
    if res.owner and res.state not in ("stopped", "disabled", "failed"):
        return _owner_name(model, res.owner).ljust(30)  # type: ignore[union-attr]
    if res.last_owner:
        return f"({_owner_name(model, res.last_owner)})".ljust(30)
    return "(none)".ljust(31)


def clustat_xml(model: "ClusterModel", local: str) -> str:
    out = ['<?xml version="1.0"?>', '<clustat version="4.1.1">',
           f'  <cluster name={quoteattr(model.name)} id="{model.cluster_id}" generation="{model.generation}"/>',
           f'  <quorum quorate="{int(model.quorate())}" groupmember="{int(model.nodes[local].member)}"/>',
           "  <nodes>"]
    for node, rt in model.nodes.items():
        out.append(f'    <node name={quoteattr(rt.member_name)} state="{int(rt.member)}" local="{int(node == local)}" '
                   f'estranged="0" rgmanager="{int(rt.member and rt.rgmanager)}" rgmanager_master="0" qdisk="0" '
                   f'nodeid="0x{rt.node_id:08x}"/>')
    out.append("  </nodes>")
    if model.nodes[local].rgmanager:
        out.append("  <groups>")
        for res in model.resources.values():
            running = res.owner and res.state not in ("stopped", "disabled", "failed")
            owner = _owner_name(model, res.owner) if running else "none"
            last = _owner_name(model, res.last_owner) or "none"
            flags = ' flags="1" flags_str="frozen" ' if cts.frozen(model, res) else "  "
            out.append(f'    <group name={quoteattr(res.full_name)} state="{STATE_CODES[res.state]}" '
                       f'state_str="{res.state}"{flags}owner={quoteattr(owner or "none")} last_owner={quoteattr(last)} '
                       f'restarts="{res.restart_total}" last_transition="{int(res.last_transition)}" '
                       f'last_transition_str="{_ctime(res.last_transition)}"/>')
        out.append("  </groups>")
    out.append("</clustat>")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------ cman_tool

def cman_status(model: "ClusterModel", node: str) -> str:
    rt = model.nodes[node]
    members = model.members() if rt.member else []
    total = sum(model.nodes[m].votes for m in members)
    quorum = f"{model.quorum()}  " if total >= model.quorum() else f"{model.quorum()} Activity blocked"
    flags = "2node " if model.two_node else ""
    ports = "0 11 177  " if rt.rgmanager else "0  "
    lines = [
        "Version: 6.2.0",
        f"Config Version: {model.config_version}",
        f"Cluster Name: {model.name}",
        f"Cluster Id: {model.cluster_id}",
        f"Cluster Member: {'Yes' if rt.member else 'No'}",
        f"Cluster Generation: {model.generation}",
        f"Membership state: {'Cluster-Member' if rt.member else 'Joining'}",
        f"Nodes: {len(members)}",
        f"Expected votes: {model.expected_votes()}",
        f"Total votes: {total}",
        f"Node votes: {rt.votes}",
        f"Quorum: {quorum}",
        f"Active subsystems: {8 if rt.rgmanager else 7}",
        f"Flags: {flags}",
        f"Ports Bound: {ports}",
        f"Node name: {rt.member_name}",
        f"Node ID: {rt.node_id}",
        f"Multicast addresses: 239.192.{model.cluster_id >> 8 & 0xFF}.{model.cluster_id & 0xFF} ",
        f"Node addresses: {model._hb_address(node) or '127.0.0.1'}",
    ]
    return "\n".join(lines) + "\n"


def cman_nodes(model: "ClusterModel", node: str) -> str:
    lines = ["Node  Sts   Inc   Joined               Name"]
    for rt in model.nodes.values():
        sts = "M" if rt.member else "X"
        joined = time.strftime("%Y-%m-%d %H:%M:%S", node_localtime(rt.joined_at)) if rt.member and rt.joined_at else " " * 19
        lines.append(f"{rt.node_id:4d}   {sts}  {rt.incarnation:5d}   {joined}  {rt.member_name}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------ DRBD

DRBD_HEADER = ("version: 8.3.12 (api:88/proto:86-96)\n"
               "GIT-hash: e2a8ef4656be026bbae540305fcb998a5991090f build by dag@Build64R6, 2011-11-20 10:57:03\n")


def proc_drbd(model: "ClusterModel", node: str) -> str | None:
    with model.world.lock:
        view = model.drbd_view(node)
    if view is None:
        return None
    out = [DRBD_HEADER.rstrip("\n")]
    size_kib = 1048508
    for minor in range(DRBD_MINORS):
        out.append(f" {minor}: cs:{view['cs']} ro:{view['ro']} ds:{view['ds']} C r-----")
        progress = view["progress"]
        oos = 0 if progress is None else int(size_kib * (1 - progress))
        out.append(f"    ns:0 nr:0 dw:0 dr:{8712 + minor * 40} al:0 bm:{minor} lo:0 pe:0 ua:0 ap:0 ep:1 "
                   f"wo:{'b' if minor == 0 else 'f'} oos:{oos}")
        if progress is not None:
            bar = int(progress * 20)
            out.append(f"\t[{'=' * bar}>{'.' * (19 - bar)}] sync'ed: {progress * 100:4.1f}% ({oos}/{size_kib})K")
            out.append(f"\tfinish: 0:00:{max(1, int((1 - progress) * 10)):02d} speed: 26,252 (26,252) K/sec")
    return "\n".join(out) + "\n"


def drbd_init_status(model: "ClusterModel", node: str) -> str:
    with model.world.lock:
        view = model.drbd_view(node)
    if view is None:
        return "drbd not loaded\n"
    lines = [DRBD_HEADER.rstrip("\n"), "m:res  cs         ro               ds                 p  mounted  fstype"]
    for minor in range(DRBD_MINORS):
        lines.append(f"{minor}:r{minor}   {view['cs']:<10} {view['ro']:<16} {view['ds']:<18} C")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------ virsh

def virsh_list(model: "ClusterModel", node: str, all_domains: bool) -> str:
    rt = model.nodes[node]
    running, stopped = [], []
    for res in model.resources.values():
        if res.kind != "vm":
            continue
        if model.vm_running_on(res.name) == node:
            running.append((rt.domids.get(res.name, 0), res.name))
        else:
            stopped.append(res.name)
    lines = [" Id Name                 State", "----------------------------------"]
    for domid, name in sorted(running):
        lines.append(f"{domid:3d} {name:<20} running")
    if all_domains:
        for name in stopped:
            lines.append(f"  - {name:<20} shut off")
    return "\n".join(lines) + "\n\n"


def virsh_dominfo(model: "ClusterModel", node: str, vm: str) -> str:
    running = model.vm_running_on(vm) == node
    domid = model.nodes[node].domids.get(vm, 0) if running else None
    uuid = f"{abs(hash(vm)) & 0xFFFFFFFF:08x}-6f1b-4d26-a9a6-{abs(hash(model.name + vm)) & 0xFFFFFFFFFFFF:012x}"
    rows = [
        ("Id", str(domid) if domid is not None else "-"),
        ("Name", vm),
        ("UUID", uuid),
        ("OS Type", "hvm"),
        ("State", "running" if running else "shut off"),
        ("CPU(s)", "1"),
    ]
    if running:
        rows.append(("CPU time", "12.3s"))
    rows += [("Max memory", "1048576 KiB"), ("Used memory", "1048576 KiB"), ("Persistent", "yes"),
             ("Autostart", "disable"), ("Managed save", "no"), ("Security model", "selinux"), ("Security DOI", "0")]
    return "\n".join(f"{k + ':':<16}{v}" for k, v in rows) + "\n\n"


def virsh_domjobinfo(model: "ClusterModel", node: str, vm: str) -> str:
    job = model.nodes[node].jobs.get(vm)
    if job is None:
        return "Job type:         None        \n\n"
    rows = [
        ("Job type", "Completed"),
        ("Operation", "Outgoing migration" if job.source == node else "Incoming migration"),
        ("Time elapsed", f"{job.elapsed_ms:<12} ms"),
        ("Data processed", "1.143 GiB"),
        ("Data remaining", "0.000 B"),
        ("Data total", "1.008 GiB"),
        ("Memory processed", "1.143 GiB"),
        ("Memory remaining", "0.000 B"),
        ("Memory total", "1.008 GiB"),
        ("Total downtime", f"{job.downtime_ms:<12} ms"),
    ]
    return "\n".join(f"{k + ':':<18}{v}" for k, v in rows) + "\n\n"


# ------------------------------------------------------------ sg_persist

SG_DEVICE_LINES = ["  Msft      Virtual Disk      1.0", "  Peripheral device type: disk"]


def sg_read_keys(model: "ClusterModel") -> str:
    keys = model.scsi_keys()
    lines = list(SG_DEVICE_LINES)
    generation = f"0x{0x150 + model.generation:x}"
    if not keys:
        lines.append(f"  PR generation={generation}, there are NO registered reservation keys")
    else:
        noun = "key follows" if len(keys) == 1 else "keys follow"
        lines.append(f"  PR generation={generation}, {len(keys)} registered reservation {noun}:")
        lines += [f"    {k}" for k in keys]
    return "\n".join(lines) + "\n"


def sg_read_reservation(model: "ClusterModel") -> str:
    holder = model.scsi_holder()
    lines = list(SG_DEVICE_LINES)
    generation = f"0x{0x150 + model.generation:x}"
    if holder is None:
        lines.append(f"  PR generation={generation}, there is NO reservation held")
    else:
        lines.append(f"  PR generation={generation}, Reservation follows:")
        lines.append(f"    Key={holder}")
        lines.append("    scope: LU_SCOPE,  type: Write Exclusive, registrants only")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------ pacemaker

def _pcmk_agent(res: "Resource") -> str:
    return "ocf::heartbeat:VirtualDomain" if res.kind == "vm" else "ocf::heartbeat:Filesystem" if res.storage else "ocf::heartbeat:IPaddr2"


def _pcmk_running(model: "ClusterModel", res: "Resource") -> str | None:
    if res.state in ("started", "migrating", "recovering") and res.owner:
        return res.owner
    return None


def _dc(model: "ClusterModel") -> str | None:
    members = model.members()
    return min(members, key=lambda n: model.nodes[n].node_id) if members else None


def crm_mon_xml(model: "ClusterModel", node: str, with_history: bool = True, operations: bool = True) -> str:
    dc = _dc(model)
    q = "true" if model.quorate() else "false"
    fence_devices = list(model.fence_setup.devices.values())
    out = ['<?xml version="1.0"?>',
           '<pacemaker-result api-version="2.2" request="crm_mon --output-as=xml">',
           "  <summary>", '    <stack type="corosync"/>']
    if dc:
        out.append(f'    <current_dc present="true" version="2.0.4-6.el8-2deceaa3ae" '
                   f'name={quoteattr(model.nodes[dc].member_name)} id="{model.nodes[dc].node_id}" with_quorum="{q}"/>')
    else:
        out.append('    <current_dc present="false"/>')
    out += [f'    <last_update time="{_ctime()}"/>',
            f'    <last_change time="{_ctime()}" user="root" client="crm_resource" origin={quoteattr(model.nodes[node].member_name)}/>',
            f'    <nodes_configured number="{len(model.nodes)}"/>',
            f'    <resources_configured number="{len(model.resources) + len(fence_devices)}" disabled="0" blocked="0"/>',
            '    <cluster_options stonith-enabled="true" symmetric-cluster="true" no-quorum-policy="stop" '
            f'maintenance-mode="{str(cts.maintenance_mode(model)).lower()}"/>',
            "  </summary>", "  <nodes>"]
    for name, rt in model.nodes.items():
        running = sum(1 for r in model.resources.values() if _pcmk_running(model, r) == name)
        out.append(f'    <node name={quoteattr(rt.member_name)} id="{rt.node_id}" online="{str(rt.member).lower()}" '
                   f'standby="{str(rt.standby).lower()}" standby_onfail="false" maintenance="false" pending="false" '
                   f'unclean="{str(name in model.fencing).lower()}" shutdown="false" expected_up="{str(rt.cman).lower()}" '
                   f'is_dc="{str(name == dc).lower()}" resources_running="{running}" type="member"/>')
    out += ["  </nodes>", "  <resources>"]
    members = model.members()
    for dev in fence_devices:
        runner = _stonith_runner(model, dev, members)
        out.append(_pcmk_resource(dev.name, f"stonith:{dev.agent}", runner, model, "Started" if runner else "Stopped",
                                  managed=not cts.maintenance_mode(model)))
    for res in model.resources.values():
        host = _pcmk_running(model, res)
        role = "Started" if host else "Stopped"
        target = ' target_role="Stopped"' if res.state == "disabled" else ""
        out.append(_pcmk_resource(res.name, _pcmk_agent(res), host, model, role, target,
                                  failed=res.state == "failed", managed=cts.managed(model, res)))
    out.append("  </resources>")
    out += _pcmk_failure_record(model, operations)
    if with_history:
        out.append("  <fence_history>")
        for rec in reversed(model.fence_history):
            delegate = f" delegate={quoteattr(model.nodes[rec.by].member_name)}" if rec.ok else ""
            out.append(f'    <fence_event target={quoteattr(model.nodes[rec.target].member_name)} action="{rec.action}" '
                       f'state="{"success" if rec.ok else "failed"}" origin={quoteattr(model.nodes[rec.by].member_name)} '
                       f'client="pacemaker-controld.{1000 + model.nodes[rec.by].node_id}"{delegate} '
                       f'completed="{time.strftime("%Y-%m-%d %H:%M:%S", node_localtime(rec.completed))}"/>')
        out.append("  </fence_history>")
    out += ['  <status code="0" message="OK"/>', "</pacemaker-result>"]
    return "\n".join(out) + "\n"


def _stonith_runner(model: "ClusterModel", dev: Any, members: list[str]) -> str | None:
    """The member a stonith device runs on: not in standby, and not its own target when there is another."""
    active = [m for m in members if not model.nodes[m].standby]
    return next((m for m in active if m not in dev.nodes), active[0] if active else None)


def _pcmk_failure_record(model: "ClusterModel", operations: bool) -> list[str]:
    """<node_history> (each resource's fail count per node; with `operations`, its failed
    operations) and <failures>, as pacemaker 2.0's crm_mon prints them while failures are recorded."""
    if not model.fail_counts and not model.failures:
        return []
    threshold = model.max_restarts + 1  # labsim relocates at the failure after max_restarts restarts
    out = ["  <node_history>"]
    for name, rt in model.nodes.items():
        counted = [(rsc, count, last) for (node, rsc), (count, last) in model.fail_counts.items() if node == name]
        if not counted:
            continue
        out.append(f"    <node name={quoteattr(rt.member_name)}>")
        for rsc, count, last in counted:
            head = (f'      <resource_history id={quoteattr(rsc)} orphan="false" migration-threshold="{threshold}" '
                    f'fail-count="{count}" last-failure="{_ctime(last)}"')
            ops = [f for f in model.failures if f.node == name and f.resource == rsc] if operations else []
            if not ops:
                out.append(head + "/>")
                continue
            out.append(head + ">")
            out += [f'        <operation_history call="{f.call}" task="{f.task}" interval="{f.interval_ms}ms" '
                    f'last-rc-change="{_ctime(f.when)}" exec-time="0ms" queue-time="0ms" rc="{f.rc}" rc_text="{f.rc_text}"/>'
                    for f in ops]
            out.append("      </resource_history>")
        out.append("    </node>")
    out.append("  </node_history>")
    if model.failures:
        out.append("  <failures>")
        out += [f'    <failure op_key={quoteattr(f"{f.resource}_{f.task}_{f.interval_ms}")} '
                f'node={quoteattr(model.nodes[f.node].member_name)} exitstatus="{f.rc_text}" exitreason="" exitcode="{f.rc}" '
                f'call="{f.call}" status="complete" last-rc-change="{_ctime(f.when)}" queued="0" exec="0" '
                f'interval="{f.interval_ms}" task="{f.task}"/>'
                for f in model.failures]
        out.append("  </failures>")
    return out


def _pcmk_resource(rid: str, agent: str, host: str | None, model: "ClusterModel", role: str,
                   extra: str = "", failed: bool = False, managed: bool = True) -> str:
    head = (f'    <resource id={quoteattr(rid)} resource_agent="{agent}" role="{role}"{extra} '
            f'active="{str(host is not None).lower()}" orphaned="false" blocked="false" managed="{str(managed).lower()}" '
            f'failed="{str(failed).lower()}" failure_ignored="false" nodes_running_on="{1 if host else 0}"')
    if host is None:
        return head + "/>"
    rt = model.nodes[host]
    return head + f'>\n      <node name={quoteattr(rt.member_name)} id="{rt.node_id}" cached="true"/>\n    </resource>'


def pcs_status(model: "ClusterModel", node: str, one_shot_header: bool = True) -> str:
    dc = _dc(model)
    lines = [f"Cluster name: {model.name}", "Cluster Summary:", "  * Stack: corosync"]
    if dc:
        q = "with" if model.quorate() else "WITHOUT"
        lines.append(f"  * Current DC: {model.nodes[dc].member_name} (version 2.0.4-6.el8-2deceaa3ae) - partition {q} quorum")
    else:
        lines.append("  * Current DC: NONE")
    lines += [f"  * Last updated: {_ctime()}",
              f"  * {len(model.nodes)} nodes configured",
              f"  * {len(model.resources) + len(model.fence_setup.devices)} resource instances configured", ""]
    if cts.maintenance_mode(model):
        lines += ["              *** Resource management is DISABLED ***",
                  "  The cluster will not attempt to start, stop or recover services", ""]
    lines.append("Node List:")
    online = [rt.member_name for n, rt in model.nodes.items() if rt.member and not rt.standby]
    standby = [rt.member_name for n, rt in model.nodes.items() if rt.member and rt.standby]
    offline = [rt.member_name for n, rt in model.nodes.items() if not rt.member]
    if online:
        lines.append(f"  * Online: [ {' '.join(online)} ]")
    for name in standby:
        lines.append(f"  * Node {name}: standby")
    if offline:
        lines.append(f"  * OFFLINE: [ {' '.join(offline)} ]")
    lines += ["", "Full List of Resources:"]
    members = model.members()
    for dev in model.fence_setup.devices.values():
        runner = _stonith_runner(model, dev, members)
        state = f"Started {model.nodes[runner].member_name}" if runner else "Stopped"
        unmanaged = " (unmanaged)" if cts.maintenance_mode(model) else ""
        lines.append(f"  * {dev.name}\t(stonith:{dev.agent}):\t {state}{unmanaged}")
    for res in model.resources.values():
        host = _pcmk_running(model, res)
        if host:
            state = f"Started {model.nodes[host].member_name}"
        elif res.state == "disabled":
            state = "Stopped (disabled)"
        else:
            state = "Stopped"
        if not cts.managed(model, res):
            state += " (unmanaged)"
        lines.append(f"  * {res.name}\t({_pcmk_agent(res)}):\t {state}")
    return "\n".join(lines) + "\n"


def stonith_history(model: "ClusterModel", target: str | None = None) -> str:
    records = [r for r in reversed(model.fence_history) if target in (None, "*", r.target, model.nodes[r.target].member_name)]
    if not records:
        return "0 events found\n"
    lines = []
    for rec in records:
        state = "successful" if rec.ok else "failed"
        who = model.nodes[rec.by].member_name
        delegate = who if rec.ok else ""
        lines.append(f"{rec.action} of {model.nodes[rec.target].member_name} {state}: delegate={delegate}, "
                     f"client=pacemaker-controld.{1000 + model.nodes[rec.by].node_id}, origin={who}, "
                     f"completed='{time.strftime('%Y-%m-%d %H:%M:%S %z', node_localtime(rec.completed))}'")
    lines.append(f"{len(records)} event{'s' if len(records) != 1 else ''} found")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------ init scripts

def ok_line(text: str, ok: bool = True, indent: str = "   ") -> str:
    status = "[  OK  ]" if ok else "[FAILED]"
    return f"{indent}{text}".ljust(59) + status


CMAN_START_STEPS = ["Checking if cluster has been disabled at boot...", "Checking Network Manager...",
                    "Global setup...", "Loading kernel modules...", "Mounting configfs...", "Starting cman...",
                    "Waiting for quorum...", "Starting fenced...", "Starting dlm_controld...",
                    "Starting gfs_controld...", "Unfencing self...", "Joining fence domain..."]
CMAN_STOP_STEPS = ["Leaving fence domain...", "Stopping gfs_controld...", "Stopping dlm_controld...",
                   "Stopping fenced...", "Stopping cman...", "Waiting for corosync to shutdown:",
                   "Unloading kernel modules...", "Unmounting configfs..."]


def cman_start_output() -> str:
    return "Starting cluster: \n" + "\n".join(ok_line(s) for s in CMAN_START_STEPS) + "\n"


def cman_stop_output() -> str:
    return "Stopping cluster: \n" + "\n".join(ok_line(s) for s in CMAN_STOP_STEPS) + "\n"


def single_ok(text: str, ok: bool = True) -> str:
    return ok_line(text, ok, indent="") + "\n"
