"""Shell commands of the simulated cluster nodes (registered in hacert.labsim.core.COMMANDS).

Handlers run in the SSH worker's thread without the world lock: they take it
around every look at the model and wait for the model's timers outside it.
"""

from __future__ import annotations

import time
from typing import Callable

from hacert.labsim import formats
from hacert.labsim import cts_modes as cts
from hacert.labsim.cluster import ClusterError, ClusterModel, Resource
from hacert.labsim.core import COMMANDS, CommandContext

REQUEST_TIMEOUT = 60.0
RG_EINVAL_TEXT = "Invalid operation for resource"
RG_EINVAL_EXIT = 248
PCS_MOVE_REFUSED = ("Error: Unable to move resource '{rid}' using a location constraint. Current location of the "
                    "resource may be affected by some other constraint.")
"""pcs 0.11's refusal when its simulated move would leave the resource where it is."""


def _model(ctx: CommandContext) -> ClusterModel:
    return ctx.world.cluster


def _wait(ctx: CommandContext, cond: Callable[[], bool], timeout: float = REQUEST_TIMEOUT) -> bool:
    model = _model(ctx)
    with ctx.world.lock:
        event = model.waiter(cond)
    deadline = time.monotonic() + timeout
    while not event.is_set():
        left = deadline - time.monotonic()
        if left <= 0 or not ctx.io.wait(min(0.05, left)):
            return event.is_set()
    return True


def _err(ctx: CommandContext, text: str, code: int = 1) -> int:
    ctx.io.write_err(text if text.endswith("\n") else text + "\n")
    return code


def _member_report(ctx: CommandContext, render: Callable[[ClusterModel], str], not_running: str, code: int = 1) -> int:
    """Write what `render` makes of the cluster, as seen from this node; `not_running` when
    the node's cluster stack is down."""
    model = _model(ctx)
    with ctx.world.lock:
        if not model.nodes[ctx.node].cman:
            return _err(ctx, not_running, code)
        text = render(model)
    ctx.io.write(text)
    return 0


def _resolve_node(model: ClusterModel, name: str) -> str | None:
    try:
        return model.node_of(name)
    except KeyError:
        return None


# ------------------------------------------------------------ rgmanager / cman

@COMMANDS.register("clustat")
def clustat(ctx: CommandContext) -> int:
    render = formats.clustat_xml if "-x" in ctx.argv[1:] else formats.clustat_text
    return _member_report(ctx, lambda model: render(model, ctx.node), "Could not connect to CMAN: No such file or directory")


@COMMANDS.register("cman_tool")
def cman_tool(ctx: CommandContext) -> int:
    model = _model(ctx)
    sub = ctx.argv[1] if len(ctx.argv) > 1 else ""
    with ctx.world.lock:
        if not model.nodes[ctx.node].cman:
            return _err(ctx, "cman_tool: Cannot open connection to cman, is it running ?")
        if sub == "status":
            text = formats.cman_status(model, ctx.node)
        elif sub == "nodes":
            text = formats.cman_nodes(model, ctx.node)
        elif sub == "version":
            text = f"6.2.0 config {model.config_version}\n"
        else:
            return _err(ctx, f"cman_tool: unknown command {sub}" if sub else "Usage:\n\ncman_tool <join|leave|kill|expected|votes|version|wait|status|nodes|services|debug> [options]")
    ctx.io.write(text)
    return 0


def _clusvcadm_args(argv: list[str]) -> tuple[str | None, str | None, str | None]:
    op = service = member = None
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in ("-e", "-d", "-r", "-M", "-R", "-s", "-Z", "-U") and i + 1 < len(argv):
            op, service = arg, argv[i + 1]
            i += 2
        elif arg == "-m" and i + 1 < len(argv):
            member = argv[i + 1]
            i += 2
        else:
            i += 1
    return op, service, member


@COMMANDS.register("clusvcadm")
def clusvcadm(ctx: CommandContext) -> int:
    model = _model(ctx)
    op, name, member = _clusvcadm_args(ctx.argv)
    if op is None or name is None:
        return _err(ctx, "usage: clusvcadm [-e|-d|-r|-M|-R|-s|-Z|-U] <group> [-m <member>]")
    with ctx.world.lock:
        if not (model.nodes[ctx.node].rgmanager and model.nodes[ctx.node].member):
            return _err(ctx, "Could not connect to resource group manager")
        try:
            res = model.resource(name)
        except KeyError:
            return _err(ctx, f"Service {name} does not exist")
        target = None
        if member is not None:
            target = _resolve_node(model, member)
            if target is None:
                return _err(ctx, f"Member {member} not in membership list")
        member_label = model.nodes[target].member_name if target else None
    full = res.full_name
    if op in ("-Z", "-U"):
        return cts.clusvcadm_freeze(ctx, model, res, op)
    if op == "-d":
        ctx.io.write(f"Local machine disabling {full}...")
        with ctx.world.lock:
            model.disable(res)
        ctx.io.write("Success\n")
        return 0
    if op in ("-e", "-r", "-R"):
        if op == "-e":
            who = f"Member {member_label}" if member_label else "Local machine"
            ctx.io.write(f"{who} trying to enable {full}...")
        else:
            ctx.io.write(f"Trying to relocate {full} to {member_label}..." if member_label else f"Trying to relocate {full}...")
        try:
            with ctx.world.lock:
                node = model.enable(res, target, ctx.node) if op == "-e" else model.relocate(res, target)
        except ClusterError as exc:
            ctx.io.write(f"{exc}\n")
            return 1
        ok = _wait(ctx, lambda: res.state != "starting" or res.owner != node)
        with ctx.world.lock:
            ok = ok and res.state == "started" and res.owner == node
            running_on = model.nodes[node].member_name
        if not ok:
            ctx.io.write("Failure\n")
            return 1
        ctx.io.write(f"Success\n{full} is now running on {running_on}\n")
        return 0
    if op == "-M":
        if target is None:
            return _err(ctx, "clusvcadm: -M requires -m <member>")
        ctx.io.write(f"Trying to migrate {full} to {member_label}...")
        if res.kind == "vm" and model.inv.adversity("migration_refused", res.name):
            # rgmanager's svc_migrate() refuses a VM it may not migrate with RG_EINVAL; clusvcadm
            # prints rg_strerror() and exits with the (negative) code: 256 - 8
            ctx.io.write(f"{RG_EINVAL_TEXT}\n")
            return RG_EINVAL_EXIT
        try:
            with ctx.world.lock:
                model.migrate(res, target)
        except ClusterError as exc:
            ctx.io.write(f"{exc}\n")
            return 1
        ok = _wait(ctx, lambda: not res.busy)
        with ctx.world.lock:
            ok = ok and res.owner == target and res.state == "started"
        ctx.io.write("Success\n" if ok else "Failure\n")
        return 0 if ok else 1
    return _err(ctx, f"clusvcadm: {op} is not supported here")


# ------------------------------------------------------------ init scripts

def _init_cman(ctx: CommandContext, action: str) -> int:
    model = _model(ctx)
    if action == "start":
        with ctx.world.lock:
            running = model.nodes[ctx.node].cman
            if not running:
                model.start_cman(ctx.node)
        ctx.io.write(formats.cman_start_output())
        return 0
    if action == "stop":
        with ctx.world.lock:
            running = model.nodes[ctx.node].cman
            if running:
                model.stop_cman(ctx.node)
        ctx.io.write(formats.cman_stop_output())
        return 0
    if action == "restart":
        return _init_cman(ctx, "stop") or _init_cman(ctx, "start")
    if action == "status":
        with ctx.world.lock:
            running = model.nodes[ctx.node].cman
        ctx.io.write("cluster is running.\n" if running else "corosync is stopped\n")
        return 0 if running else 3
    return _err(ctx, "Usage: /etc/init.d/cman {start|stop|reload|restart|status}", 2)


def _init_rgmanager(ctx: CommandContext, action: str) -> int:
    model = _model(ctx)
    if action == "start":
        with ctx.world.lock:
            ok = model.start_rgmanager(ctx.node)
        ctx.io.write(formats.single_ok("Starting Cluster Service Manager:", ok))
        return 0 if ok else 1
    if action == "stop":
        with ctx.world.lock:
            model.stop_rgmanager(ctx.node)
        ctx.io.write(formats.single_ok("Stopping Cluster Service Manager:"))
        return 0
    if action == "restart":
        return _init_rgmanager(ctx, "stop") or _init_rgmanager(ctx, "start")
    if action == "status":
        with ctx.world.lock:
            rt = model.nodes[ctx.node]
            running, pid = rt.rgmanager, rt.pids.get("rgmanager", 2430)
        ctx.io.write(f"rgmanager (pid  {pid}) is running...\n" if running else "rgmanager is stopped\n")
        return 0 if running else 3
    return _err(ctx, "Usage: /etc/init.d/rgmanager {start|stop|status|restart|condrestart|reload}", 2)


def _init_drbd(ctx: CommandContext, action: str) -> int:
    model = _model(ctx)
    if action == "status":
        ctx.io.write(formats.drbd_init_status(model, ctx.node))
        return 0
    if action in ("start", "stop", "restart"):
        # DRBD is managed by the storage service (script ref="drbd"): report its state.
        word = {"start": "Starting", "stop": "Stopping", "restart": "Restarting"}[action]
        ctx.io.write(f"{word} DRBD resources: [ r0 r1 r2 ]\n")
        return 0
    return _err(ctx, "Usage: /etc/init.d/drbd {start|stop|status|reload|restart|force-reload}", 2)


INIT_SCRIPTS = {"cman": _init_cman, "rgmanager": _init_rgmanager, "drbd": _init_drbd}


@COMMANDS.register("/etc/init.d/cman", "/etc/init.d/rgmanager", "/etc/init.d/drbd")
def init_script(ctx: CommandContext) -> int:
    name = ctx.argv[0].rsplit("/", 1)[-1]
    return INIT_SCRIPTS[name](ctx, ctx.argv[1] if len(ctx.argv) > 1 else "")


@COMMANDS.register("service")
def service(ctx: CommandContext) -> int:
    if len(ctx.argv) < 2:
        return _err(ctx, "Usage: service < option > | --status-all | [ service_name [ command | --full-restart ] ]")
    name, action = ctx.argv[1], ctx.argv[2] if len(ctx.argv) > 2 else ""
    if name in INIT_SCRIPTS:
        return INIT_SCRIPTS[name](ctx, action)
    handler = COMMANDS.lookup(f"/etc/init.d/{name}")
    if handler is None:
        return _err(ctx, f"{name}: unrecognized service")
    sub = CommandContext(ctx.world, ctx.node, [f"/etc/init.d/{name}", *ctx.argv[2:]], ctx.line, ctx.io)
    return handler(sub)


@COMMANDS.register("chkconfig")
def chkconfig(ctx: CommandContext) -> int:
    model = _model(ctx)
    args = ctx.argv[1:]
    if len(args) == 2 and args[0] in ("cman", "rgmanager") and args[1] in ("on", "off"):
        with ctx.world.lock:
            model.nodes[ctx.node].autostart = args[1] == "on"
        return 0
    if args and args[0] == "--list":
        with ctx.world.lock:
            on = model.nodes[ctx.node].autostart
        levels = "0:off\t1:off\t2:on\t3:on\t4:on\t5:on\t6:off" if on else "0:off\t1:off\t2:off\t3:off\t4:off\t5:off\t6:off"
        ctx.io.write("".join(f"{svc:<15}\t{levels}\n" for svc in ("cman", "rgmanager")))
        return 0
    return _err(ctx, "chkconfig: only 'chkconfig cman|rgmanager on|off' and '--list' are simulated")


# ------------------------------------------------------------ virsh

@COMMANDS.register("virsh")
def virsh(ctx: CommandContext) -> int:
    model = _model(ctx)
    args = [a for a in ctx.argv[1:] if not a.startswith("--")]
    flags = [a for a in ctx.argv[1:] if a.startswith("--")]
    if not args:
        return _err(ctx, "error: no command given")
    sub = args[0]
    vm = args[1] if len(args) > 1 else None
    with ctx.world.lock:
        known = vm is not None and f"vm:{vm}" in model.resources
        if sub == "list":
            ctx.io.write(formats.virsh_list(model, ctx.node, "--all" in flags))
            return 0
        if vm is None:
            return _err(ctx, f"error: command '{sub}' requires <domain> option")
        if not known:
            return _err(ctx, f"error: failed to get domain '{vm}'\nerror: Domain not found: no domain with matching name '{vm}'")
        running = model.vm_running_on(vm) == ctx.node
        if sub == "destroy":
            if not running or not model.destroy_vm(ctx.node, vm):
                return _err(ctx, f"error: Failed to destroy domain {vm}\nerror: Requested operation is not valid: domain is not running")
            ctx.io.write(f"Domain {vm} destroyed\n\n")
            return 0
        if sub == "domstate":
            ctx.io.write(("running" if running else "shut off") + "\n\n")
            return 0
        if sub == "dominfo":
            ctx.io.write(formats.virsh_dominfo(model, ctx.node, vm))
            return 0
        if sub == "domjobinfo":
            ctx.io.write(formats.virsh_domjobinfo(model, ctx.node, vm))
            return 0
    return _err(ctx, f"error: unknown command: '{sub}'")


# ------------------------------------------------------------ sg_persist

@COMMANDS.register("sg_persist")
def sg_persist(ctx: CommandContext) -> int:
    model = _model(ctx)
    flags = set()
    for arg in ctx.argv[1:]:
        if arg.startswith("--"):
            flags.add({"--in": "i", "--read-keys": "k", "--read-reservation": "r"}.get(arg, ""))
        elif arg.startswith("-"):
            flags.update(arg[1:])
    with ctx.world.lock:
        if "scsi" not in model.inv.node(ctx.node).fence:
            return _err(ctx, "sg_persist: no shared SCSI device with persistent reservations on this node", 1)
        if "i" in flags and "k" in flags:
            text = formats.sg_read_keys(model)
        elif "i" in flags and "r" in flags:
            text = formats.sg_read_reservation(model)
        else:
            return _err(ctx, "sg_persist: only -i -k and -i -r are simulated")
    ctx.io.write(text)
    return 0


# ------------------------------------------------------------ pacemaker

@COMMANDS.register("crm_mon")
def crm_mon(ctx: CommandContext) -> int:
    args = ctx.argv[1:]
    xml = "--output-as=xml" in args or "--as-xml" in args or "-X" in args or ("--output-as" in args and "xml" in args)

    joined = " ".join(args)
    operations = not (("--exclude" in joined and "operations" in joined) or "--include=none" in joined)

    def render(model: ClusterModel) -> str:
        if xml:
            return formats.crm_mon_xml(model, ctx.node, operations=operations)
        return formats.pcs_status(model, ctx.node).split("\n", 1)[1]  # without pcs's first line

    return _member_report(ctx, render, "crm_mon: Error: cluster is not available on this node", 102)


@COMMANDS.register("cibadmin")
def cibadmin(ctx: CommandContext) -> int:
    """`cibadmin --query|-Q [--scope|-o SECTION]`: the simulated CIB (its fence devices and topology)."""
    from hacert.labsim import fencing

    model = _model(ctx)
    if model.manager != "pacemaker":
        return _err(ctx, "bash: cibadmin: command not found", 127)
    args = ctx.argv[1:]
    if not ({"-Q", "--query"} & set(args)):
        return _err(ctx, "cibadmin: only --query is simulated")
    scope = None
    for i, arg in enumerate(args):
        if arg in ("-o", "--scope", "--obj_type") and i + 1 < len(args):
            scope = args[i + 1]
        elif arg.startswith(("--scope=", "--obj_type=")):
            scope = arg.split("=", 1)[1]

    def render(model: ClusterModel) -> str:
        return fencing.cibadmin_query(model, scope) or ""

    with ctx.world.lock:
        known = fencing.cibadmin_query(model, scope) is not None
    if not known:
        return _err(ctx, "Call cib_query failed (-6): No such device or address", 105)
    return _member_report(ctx, render, "Could not connect to the CIB: Transport endpoint is not connected\n"
                                       "Init failed, could not perform requested operations", 107)


@COMMANDS.register("stonith_admin")
def stonith_admin(ctx: CommandContext) -> int:
    model = _model(ctx)
    args = ctx.argv[1:]
    target = None
    for i, arg in enumerate(args):
        if arg in ("--history", "-H") and i + 1 < len(args):
            target = args[i + 1]
        elif arg.startswith("--history="):
            target = arg.split("=", 1)[1]
    if target is None:
        return _err(ctx, "stonith_admin: only --history is simulated")
    with ctx.world.lock:
        text = formats.stonith_history(model, target)
    ctx.io.write(text)
    return 0


@COMMANDS.register("pcs")
def pcs(ctx: CommandContext) -> int:
    model = _model(ctx)
    args = ctx.argv[1:]
    if not args or args[0] == "status":
        return _member_report(ctx, lambda m: formats.pcs_status(m, ctx.node),
                              "Error: error running crm_mon, is pacemaker running?")
    if args[0] == "resource" and len(args) >= 3 and args[1] in ("move", "clear", "enable", "disable", "cleanup"):
        return _pcs_resource(ctx, model, args[1], args[2], args[3] if len(args) > 3 else None)
    if args[0] == "node" and len(args) >= 3 and args[1] in ("standby", "unstandby"):
        node = _resolve_node(model, args[2])
        if node is None:
            return _err(ctx, f"Error: Node '{args[2]}' does not appear to exist in configuration")
        with ctx.world.lock:
            model.set_standby(node, args[1] == "standby")
        return 0
    if args[0] == "property":
        return cts.pcs_property(ctx, model, args[1:])
    if args[0] == "cluster" and len(args) >= 2 and args[1] in ("start", "stop"):
        return _pcs_cluster(ctx, model, args[1], args[2:])
    return _err(ctx, f"Error: pcs {' '.join(args)} is not simulated")


def _pcs_resource(ctx: CommandContext, model: ClusterModel, action: str, rid: str, node_name: str | None) -> int:
    with ctx.world.lock:
        res: Resource | None = model.resources.get(f"vm:{rid}") or model.resources.get(f"service:{rid}")
        if res is None:
            return _err(ctx, f"Error: Resource '{rid}' does not exist.")
        if action == "clear":
            model.constraints.pop(res.full_name, None)
            return 0
        if action == "cleanup":
            model.cleanup(res)
            ctx.io.write(f"Cleaned up {rid} on every node\n")
            return 0
        if action == "disable":
            model.disable(res)
            return 0
        if action == "enable":
            try:
                preferred = model.constraints.get(res.full_name)
                if preferred is not None and not model._can_host(res, preferred):
                    preferred = None  # a location preference, not a requirement
                model.enable(res, preferred, ctx.node)
            except ClusterError:
                return _err(ctx, f"Error: unable to start resource '{rid}'")
        else:
            target = _resolve_node(model, node_name) if node_name else model._first_allowed(res, {res.owner} if res.owner else set())
            if target is None:
                return _err(ctx, "Error: You must specify a node when moving/banning a stopped resource")
            if res.kind == "vm" and res.state == "started" and res.owner != target \
                    and model.inv.adversity("migration_refused", res.name):
                return _err(ctx, PCS_MOVE_REFUSED.format(rid=rid))
            model.constraints[res.full_name] = target
            if res.state == "started" and res.owner != target:
                try:
                    if res.kind == "vm":
                        model.migrate(res, target)
                    else:
                        model.relocate(res, target)
                except ClusterError:
                    return _err(ctx, f"Error: Unable to move resource '{rid}'")
            ctx.io.write(f"Location constraint to move resource '{rid}' has been created\n")
    _wait(ctx, lambda: not res.busy)
    return 0


def _pcs_cluster(ctx: CommandContext, model: ClusterModel, action: str, rest: list[str]) -> int:
    force = "--force" in rest
    rest = [arg for arg in rest if arg != "--force"]
    with ctx.world.lock:
        if "--all" in rest:
            nodes = list(model.nodes)
        elif rest:
            node = _resolve_node(model, rest[0])
            if node is None:
                return _err(ctx, f"Error: node '{rest[0]}' does not appear to exist in configuration")
            nodes = [node]
        else:
            nodes = [ctx.node]
        for node in nodes:
            label = model.nodes[node].member_name
            if action == "stop":
                if not force and "--all" not in rest and _stop_loses_quorum(model, node):
                    return _err(ctx, "Error: Stopping the node will cause a loss of the quorum, use --force to override")
                ctx.io.write(f"{label}: Stopping Cluster (pacemaker)...\n{label}: Stopping Cluster (corosync)...\n")
                model.stop_cman(node)
            else:
                ctx.io.write(f"{label}: Starting Cluster...\n")
                if model.start_cman(node):
                    model.start_rgmanager(node)
    return 0


def _stop_loses_quorum(model: ClusterModel, node: str) -> bool:
    """pcs's check before `pcs cluster stop`: would the members left without `node` be inquorate?"""
    if not model.is_member(node):
        return False
    votes = sum(model.nodes[n].votes for n in model.members() if n != node)
    return votes < model.quorum() or votes == 0
