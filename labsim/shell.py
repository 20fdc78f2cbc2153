"""The simulated nodes' shell: a command line parsed like bash does (enough of it),
and the device commands, each printing what the real tool prints.

Supported syntax: `a; b`, `$?`, `a && b`, `a || b`, `a &` (runs detached, output
dropped), `a | tail -n N | grep X | head | wc -l` (filters over the first
command's whole output), `> FILE` / `>> FILE` (only /dev/null and
/proc/sysrq-trigger mean something), `2>&1`, `2>/dev/null`, `VAR=value cmd`.
Every command lives in `hacert.labsim.core.COMMANDS`; the cluster model adds its own
(hacert.labsim.cluster_commands) to the same table.
"""

from __future__ import annotations

import random
import re
import shlex
import statistics
import threading
import time
from typing import Callable

from hacert.labsim.core import COMMANDS, CommandContext, ShellIO, node_clock, node_localtime, node_now

try:  # the cluster model's commands (clustat, virsh, ...), when present
    import hacert.labsim.cluster_commands  # noqa: F401
except ImportError:
    pass

_OPERATORS = {";", "&&", "||", "&", "|"}
_SYSTEM_DIRS = ("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/")


class ShellSyntaxError(Exception):
    pass


# ---------------------------------------------------------------- IO helpers


class CaptureIO:
    """Collects a command's stdout (for a pipe or a redirection); the rest passes through."""

    def __init__(self, parent: ShellIO, merge_stderr: bool = False, drop_stderr: bool = False):
        self.parent = parent
        self.buffer: list[str] = []
        self.merge_stderr = merge_stderr
        self.drop_stderr = drop_stderr

    def write(self, text: str) -> None:
        self.buffer.append(text)

    def write_err(self, text: str) -> None:
        if self.merge_stderr:
            self.buffer.append(text)
        elif not self.drop_stderr:
            self.parent.write_err(text)

    def closed(self) -> bool:
        return self.parent.closed()

    def wait(self, seconds: float) -> bool:
        return self.parent.wait(seconds)

    @property
    def text(self) -> str:
        return "".join(self.buffer)


class StderrIO:
    """Passes stdout through; sends stderr to stdout (2>&1) or nowhere (2>/dev/null)."""

    def __init__(self, parent: ShellIO, merge: bool, drop: bool):
        self.parent, self.merge, self.drop = parent, merge, drop

    def write(self, text: str) -> None:
        self.parent.write(text)

    def write_err(self, text: str) -> None:
        if self.merge:
            self.parent.write(text)
        elif not self.drop:
            self.parent.write_err(text)

    def closed(self) -> bool:
        return self.parent.closed()

    def wait(self, seconds: float) -> bool:
        return self.parent.wait(seconds)


class NullIO:
    """Output of a detached (`&`) command."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def write(self, text: str) -> None:
        pass

    def write_err(self, text: str) -> None:
        pass

    def closed(self) -> bool:
        return False

    def wait(self, seconds: float) -> bool:
        self._event.wait(max(0.0, seconds))
        return True


# ---------------------------------------------------------------- parsing


class Simple:
    def __init__(self, argv: list[str], stdout_to: str | None, append: bool, stdin_from: str | None = None):
        self.argv, self.stdout_to, self.append, self.stdin_from = argv, stdout_to, append, stdin_from


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError as exc:
        raise ShellSyntaxError(str(exc)) from None


def parse(line: str) -> list[tuple[str, list[Simple]]]:
    """`line` → [(operator before it, pipeline)], operator '' for the first."""
    tokens = _tokens(line)
    out: list[tuple[str, list[Simple]]] = []
    op = ""
    pipeline: list[Simple] = []
    words: list[str] = []
    redirect: tuple[str | None, bool] = (None, False)
    stdin_from: str | None = None
    i = 0

    def close_simple() -> None:
        nonlocal words, redirect, stdin_from
        if not words:
            raise ShellSyntaxError("syntax error near unexpected token")
        pipeline.append(Simple(words, redirect[0], redirect[1], stdin_from))
        words, redirect, stdin_from = [], (None, False), None

    while i < len(tokens):
        tok = tokens[i]
        if tok in (">", ">>", "<"):
            if i + 1 >= len(tokens) or tokens[i + 1] in _OPERATORS:
                raise ShellSyntaxError("syntax error near unexpected token `newline'")
            if tok == "<":
                stdin_from = tokens[i + 1]
            else:
                redirect = (tokens[i + 1], tok == ">>")
            i += 2
            continue
        if tok in _OPERATORS:
            close_simple()
            if tok != "|":
                out.append((op, pipeline))
                pipeline, op = [], tok
            i += 1
            continue
        words.append(tok)
        i += 1
    if words:
        close_simple()
    elif pipeline:
        raise ShellSyntaxError("syntax error: unexpected end of file")
    if pipeline:
        out.append((op, pipeline))
    return out


_MERGE = re.compile(r"(?<!\S)2>&1(?![^\s;&|])")
_DROP_ERR = re.compile(r"(?<!\S)2>\s*/dev/null(?![^\s;&|])")


# ---------------------------------------------------------------- running


def run_line(world, node: str, line: str, io: ShellIO) -> int:
    merge = bool(_MERGE.search(line))
    drop = bool(_DROP_ERR.search(line))
    line = _DROP_ERR.sub(" ", _MERGE.sub(" ", line))
    try:
        sequence = parse(line)
    except ShellSyntaxError as exc:
        io.write_err(f"bash: {exc}\n")
        return 2
    out: ShellIO = StderrIO(io, merge, drop) if (merge or drop) else io
    status = 0
    for index, (op, pipeline) in enumerate(sequence):
        following = sequence[index + 1][0] if index + 1 < len(sequence) else ""
        if op == "&&" and status != 0:
            continue
        if op == "||" and status == 0:
            continue
        if following == "&":
            threading.Thread(target=_run_pipeline, args=(world, node, pipeline, NullIO()),
                             name=f"labsim-bg-{node}", daemon=True).start()
            status = 0
            continue
        for simple in pipeline:
            simple.argv = [word.replace("$?", str(status)) for word in simple.argv]
        status = _run_pipeline(world, node, pipeline, out)
        if world.node_state(node) != "up":
            break
    return status


def _run_pipeline(world, node: str, pipeline: list[Simple], io: ShellIO) -> int:
    if len(pipeline) == 1:
        return _run_simple(world, node, pipeline[0], io, None)
    capture = CaptureIO(io)
    status = _run_simple(world, node, pipeline[0], capture, None)
    text = capture.text
    for simple in pipeline[1:]:
        last = simple is pipeline[-1]
        sink: ShellIO = io if last else CaptureIO(io)
        status = _run_simple(world, node, simple, sink, text)
        if not last:
            text = sink.text  # type: ignore[attr-defined]
    return status


def _run_simple(world, node: str, simple: Simple, io: ShellIO, stdin: str | None) -> int:
    argv = list(simple.argv)
    while argv and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", argv[0]):
        argv.pop(0)
    if argv and argv[0] == "sudo":
        argv.pop(0)
    if not argv:
        return 0
    if simple.stdin_from is not None:
        stdin = read_file(world, node, simple.stdin_from)
        if stdin is None:
            io.write_err(f"bash: {simple.stdin_from}: No such file or directory\n")
            return 1
    target = simple.stdout_to
    sink: ShellIO = io
    capture: CaptureIO | None = None
    if target is not None:
        capture = CaptureIO(io)
        sink = capture
    handler = _lookup(argv[0])
    if handler is None:
        if argv[0].startswith("/") or argv[0].startswith("./"):
            io.write_err(f"bash: {argv[0]}: No such file or directory\n")
        else:
            io.write_err(f"bash: {argv[0]}: command not found\n")
        return 127
    refusal = world.device_faults.refusal(node, argv)
    if refusal:
        io.write_err(refusal)
        return 1
    ctx = CommandContext(world=world, node=node, argv=argv, line=" ".join(simple.argv), io=sink)
    ctx.stdin = stdin  # type: ignore[attr-defined]
    with node_clock(world.clock_offset(node)):  # what it prints as a time is on its node's clock
        status = handler(ctx)
    if capture is not None and target is not None:
        status = _redirect(world, node, target, capture.text, io, status)
    return status


def _lookup(name: str) -> Callable[[CommandContext], int] | None:
    handler = COMMANDS.lookup(name)
    if handler is None and name.startswith(_SYSTEM_DIRS):
        handler = COMMANDS.lookup(name.rsplit("/", 1)[1])
    return handler


def _redirect(world, node: str, target: str, text: str, io: ShellIO, status: int) -> int:
    if target == "/proc/sysrq-trigger":
        key = text.strip()[:1]
        if key == "c":
            if world.inventory.adversity("hang_does_not_take", node):
                return status  # the write returns and the node keeps running (a kernel that ignores it)
            world.syslog(node, "kernel", "SysRq : Trigger a crash")
            world.hang(node)
        elif key == "b":
            world.reboot_os(node)
        elif key == "o":
            world.power_off_os(node)
        return status
    if target.startswith("/proc/") or target.startswith("/sys/"):
        io.write_err(f"bash: {target}: Permission denied\n")
        return 1
    return status  # other files: written nowhere


# ---------------------------------------------------------------- files


def read_file(world, node: str, path: str) -> str | None:
    """The content of `path` on `node`, or None when there is no such file."""
    match = re.fullmatch(r"/proc/net/bonding/(\S+)", path)
    if match:
        with world.lock:
            bonds = world.nodes[node].bonds
            return bonds[match.group(1)].proc_text() if match.group(1) in bonds else None
    if path == "/var/log/messages":
        lines = world.messages(node)
        return "".join(line + "\n" for line in lines)
    if path == "/etc/hostname":
        return world.inventory.node(node).member_name + "\n"
    if path == "/proc/uptime":
        up = world.uptime(node)
        return f"{up:.2f} {up * 0.9:.2f}\n"
    provider = world.file_provider(path)
    if provider is not None:
        return provider(node)
    return None


def _stdin(ctx: CommandContext) -> str | None:
    return getattr(ctx, "stdin", None)


# ---------------------------------------------------------------- simple commands


@COMMANDS.register("true", ":", "sync")
def _true(ctx: CommandContext) -> int:
    return 0


@COMMANDS.register("false")
def _false(ctx: CommandContext) -> int:
    return 1


@COMMANDS.register("echo")
def _echo(ctx: CommandContext) -> int:
    args = ctx.argv[1:]
    newline = True
    while args and args[0] in ("-n", "-e", "-ne", "-en"):
        newline = newline and "n" not in args[0]
        args = args[1:]
    ctx.io.write(" ".join(args) + ("\n" if newline else ""))
    return 0


@COMMANDS.register("hostname")
def _hostname(ctx: CommandContext) -> int:
    spec = ctx.world.inventory.node(ctx.node)
    short = "-s" in ctx.argv[1:]
    ctx.io.write((ctx.node if short else spec.member_name) + "\n")
    return 0


@COMMANDS.register("date")
def _date(ctx: CommandContext) -> int:
    now = node_now()
    fmt = next((a for a in ctx.argv[1:] if a.startswith("+")), None)
    if fmt is None:
        ctx.io.write(time.strftime("%a %b %e %H:%M:%S %Z %Y", time.localtime(now)) + "\n")
        return 0
    nanos = f"{int((now % 1) * 1e9):09d}"
    out = time.strftime(fmt[1:].replace("%N", nanos).replace("%s", str(int(now))), time.localtime(now))
    ctx.io.write(out + "\n")
    return 0


@COMMANDS.register("sleep")
def _sleep(ctx: CommandContext) -> int:
    try:
        seconds = sum(float(a.rstrip("s")) for a in ctx.argv[1:])
    except ValueError:
        ctx.io.write_err(f"sleep: invalid time interval '{ctx.argv[1]}'\n")
        return 1
    return 0 if ctx.io.wait(seconds) else 130


@COMMANDS.register("uptime")
def _uptime(ctx: CommandContext) -> int:
    up = int(ctx.world.uptime(ctx.node))
    hours, minutes = divmod(up // 60, 60)
    span = f"{hours}:{minutes:02d}" if hours else f"{minutes} min"
    ctx.io.write(f" {time.strftime('%H:%M:%S', node_localtime())} up {span},  1 user,  load average: 0.00, 0.01, 0.05\n")
    return 0


@COMMANDS.register("poweroff", "halt")
def _poweroff(ctx: CommandContext) -> int:
    ctx.world.scheduler.after(0.05, lambda: ctx.world.power_off_os(ctx.node), f"poweroff {ctx.node}")
    return 0


@COMMANDS.register("reboot")
def _reboot(ctx: CommandContext) -> int:
    ctx.world.scheduler.after(0.05, lambda: ctx.world.reboot_os(ctx.node), f"reboot {ctx.node}")
    return 0


@COMMANDS.register("shutdown")
def _shutdown(ctx: CommandContext) -> int:
    return _reboot(ctx) if "-r" in ctx.argv else _poweroff(ctx)


# ---------------------------------------------------------------- files and filters


@COMMANDS.register("cat")
def _cat(ctx: CommandContext) -> int:
    files = [a for a in ctx.argv[1:] if not a.startswith("-") or a == "-"]
    if not files:
        ctx.io.write(_stdin(ctx) or "")
        return 0
    status = 0
    for path in files:
        text = read_file(ctx.world, ctx.node, path)
        if text is None:
            ctx.io.write_err(f"cat: {path}: No such file or directory\n")
            status = 1
        else:
            ctx.io.write(text)
    return status


def _count_option(argv: list[str], default: int = 10) -> tuple[int | str, bool, list[str]]:
    """(-n value, follow, files) for head/tail."""
    count: int | str = default
    follow = False
    files: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-f", "-F", "--follow"):
            follow = True
        elif arg == "-n" and i + 1 < len(argv):
            count = argv[i + 1]
            i += 1
        elif arg.startswith("-n"):
            count = arg[2:]
        elif re.fullmatch(r"-\d+", arg):
            count = arg[1:]
        elif arg.startswith("-") and len(arg) > 1 and set(arg[1:]) <= {"f", "F", "q"}:
            follow = "f" in arg or "F" in arg
        else:
            files.append(arg)
        i += 1
    return count, follow, files


@COMMANDS.register("tail")
def _tail(ctx: CommandContext) -> int:
    count, follow, files = _count_option(ctx.argv[1:])
    text = _stdin(ctx) if not files else read_file(ctx.world, ctx.node, files[0])
    if text is None:
        ctx.io.write_err(f"tail: cannot open `{files[0]}' for reading: No such file or directory\n")
        return 1
    lines = text.splitlines(keepends=True)
    spec = str(count)
    try:
        if spec.startswith("+"):
            shown = lines[max(0, int(spec[1:]) - 1):]
        else:
            n = int(spec)
            shown = lines[-n:] if n else []
    except ValueError:
        ctx.io.write_err(f"tail: {spec}: invalid number of lines\n")
        return 1
    ctx.io.write("".join(shown))
    if follow and files == ["/var/log/messages"]:
        return _follow_messages(ctx, len(ctx.world.messages(ctx.node)) if lines else 0)
    return 0


def _follow_messages(ctx: CommandContext, seen: int) -> int:
    world = ctx.world
    seen = max(seen, 0)
    with world.lock:
        seen = len(world.nodes[ctx.node].messages)
    while not ctx.io.closed():
        with world.lock:
            messages = world.nodes[ctx.node].messages
            if len(messages) <= seen:
                world.log_changed.wait(0.5)
            fresh = messages[seen:]
            seen = len(messages)
        if fresh and world.node_state(ctx.node) == "up":
            ctx.io.write("".join(line + "\n" for line in fresh))
    return 130


@COMMANDS.register("head")
def _head(ctx: CommandContext) -> int:
    count, _, files = _count_option(ctx.argv[1:])
    text = _stdin(ctx) if not files else read_file(ctx.world, ctx.node, files[0])
    if text is None:
        ctx.io.write_err(f"head: cannot open `{files[0]}' for reading: No such file or directory\n")
        return 1
    ctx.io.write("".join(text.splitlines(keepends=True)[: int(count)]))
    return 0


@COMMANDS.register("grep", "egrep")
def _grep(ctx: CommandContext) -> int:
    flags = set()
    args: list[str] = []
    for arg in ctx.argv[1:]:
        if arg.startswith("-") and len(arg) > 1 and not args:
            flags |= set(arg[1:])
        else:
            args.append(arg)
    if not args:
        ctx.io.write_err("Usage: grep [OPTION]... PATTERN [FILE]...\n")
        return 2
    pattern, files = args[0], args[1:]
    text = _stdin(ctx) if not files else read_file(ctx.world, ctx.node, files[0])
    if text is None:
        ctx.io.write_err(f"grep: {files[0]}: No such file or directory\n")
        return 2
    try:
        regex = re.compile(re.escape(pattern) if "F" in flags else pattern, re.IGNORECASE if "i" in flags else 0)
    except re.error:
        regex = re.compile(re.escape(pattern), re.IGNORECASE if "i" in flags else 0)
    hits = [line for line in text.splitlines(keepends=True) if bool(regex.search(line)) != ("v" in flags)]
    if "c" in flags:
        ctx.io.write(f"{len(hits)}\n")
    elif "q" not in flags:
        ctx.io.write("".join(h if h.endswith("\n") else h + "\n" for h in hits))
    return 0 if hits else 1


@COMMANDS.register("wc")
def _wc(ctx: CommandContext) -> int:
    files = [a for a in ctx.argv[1:] if not a.startswith("-")]
    text = _stdin(ctx) if not files else read_file(ctx.world, ctx.node, files[0])
    if text is None:
        ctx.io.write_err(f"wc: {files[0]}: No such file or directory\n")
        return 1
    count = text.count("\n")
    ctx.io.write(f"{count} {files[0]}\n" if files else f"{count}\n")
    return 0


# ---------------------------------------------------------------- ip


def _ip_link_lines(world, node: str) -> list[str]:
    with world.lock:
        model = world.nodes[node]
        lines = ["1: lo: <LOOPBACK,UP,LOWER_UP> mtu 16436 qdisc noqueue state UNKNOWN \\"
                 "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00"]
        masters = {nic: bond.name for bond in model.bonds.values() for nic in bond.slaves}
        index = 2
        for nic in model.nics.values():
            flags = ["BROADCAST", "MULTICAST"]
            if nic.name in masters:
                flags.append("SLAVE")
            if nic.admin_up:
                flags.append("UP")
                flags.append("LOWER_UP" if nic.carrier else "")
                if not nic.carrier:
                    flags.insert(0, "NO-CARRIER")
            state = "UP" if nic.admin_up and nic.carrier else "DOWN"
            master = f" master {masters[nic.name]}" if nic.name in masters else ""
            lines.append(f"{index}: {nic.name}: <{','.join(f for f in flags if f)}> mtu 1500 qdisc pfifo_fast{master} "
                         f"state {state} qlen 1000\\    link/ether {nic.mac} brd ff:ff:ff:ff:ff:ff")
            index += 1
        for bond in model.bonds.values():
            up = bond.active is not None
            flags = "BROADCAST,MULTICAST,MASTER,UP" + (",LOWER_UP" if up else "")
            if not up:
                flags = "NO-CARRIER," + flags
            mac = model.nics[bond.primary].mac
            lines.append(f"{index}: {bond.name}: <{flags}> mtu 1500 qdisc noqueue state {'UP' if up else 'DOWN'} \\"
                         f"    link/ether {mac} brd ff:ff:ff:ff:ff:ff")
            index += 1
    return lines


@COMMANDS.register("ip")
def _ip(ctx: CommandContext) -> int:
    args = [a for a in ctx.argv[1:] if a not in ("-o", "-oneline")]
    oneline = len(args) != len(ctx.argv) - 1
    if args[:1] in (["link"], ["l"]) and (len(args) == 1 or args[1] in ("show", "list", "ls")):
        lines = _ip_link_lines(ctx.world, ctx.node)
        if len(args) > 2:
            wanted = [a for a in args[2:] if a != "dev"]
            lines = [line for line in lines if line.split(": ")[1] in wanted]
            if not lines:
                ctx.io.write_err(f'Device "{wanted[0]}" does not exist.\n')
                return 1
        if not oneline:
            lines = [line.replace("\\    ", "\n    ") for line in lines]
        ctx.io.write("".join(line + "\n" for line in lines))
        return 0
    if args[:2] == ["link", "set"]:
        rest = [a for a in args[2:] if a != "dev"]
        if len(rest) < 2 or rest[1] not in ("up", "down"):
            ctx.io.write_err('Usage: ip link set DEVICE { up | down }\n')
            return 1
        nic, action = rest[0], rest[1]
        try:
            ctx.world.set_link_admin(ctx.node, nic, action == "up")
        except KeyError:
            ctx.io.write_err(f'Cannot find device "{nic}"\n')
            return 1
        return 0
    ctx.io.write_err('Object "{}" is unknown, try "ip help".\n'.format(args[0] if args else ""))
    return 255


# ---------------------------------------------------------------- ping


@COMMANDS.register("ping")
def _ping(ctx: CommandContext) -> int:
    io, world = ctx.io, ctx.world
    count: int | None = None
    interval, deadline = 1.0, None
    stamps = report_missing = quiet = flood = False
    target = None
    argv = ctx.argv[1:]
    i = 0
    try:
        while i < len(argv):
            arg = argv[i]
            if arg in ("-c", "-i", "-w", "-W", "-s", "-t", "-I") and i + 1 < len(argv):
                value = argv[i + 1]
                i += 1
                if arg == "-c":
                    count = int(value)
                elif arg == "-i":
                    interval = float(value)
                elif arg == "-w":
                    deadline = float(value)
            elif re.fullmatch(r"-[cwiWst]\S+", arg):
                opt, value = arg[1], arg[2:]
                if opt == "c":
                    count = int(value)
                elif opt == "i":
                    interval = float(value)
                elif opt == "w":
                    deadline = float(value)
            elif arg.startswith("-") and len(arg) > 1:
                for flag in arg[1:]:
                    if flag not in "DOqfnv":
                        io.write_err(f"ping: invalid option -- '{flag}'\n")
                        return 2
                stamps |= "D" in arg
                report_missing |= "O" in arg
                quiet |= "q" in arg
                flood |= "f" in arg
            else:
                target = arg
            i += 1
    except ValueError:
        io.write_err("ping: bad number\n")
        return 2
    if target is None:
        io.write_err("Usage: ping [-DOqf] [-c count] [-i interval] [-w deadline] destination\n")
        return 2
    address = world.resolve(target)
    if address is None:
        io.write_err(f"ping: unknown host {target}\n")
        return 2
    if flood and "-i" not in ctx.argv:
        interval = 0.01
    interval = max(interval, 0.001)
    shown = target if target == address else f"{target} ({address})"

    def out(text: str) -> None:
        if world.node_state(ctx.node) == "up":
            io.write(text)

    def prefix() -> str:
        return f"[{node_now():.6f}] " if stamps else ""

    out(f"PING {target} ({address}) 56(84) bytes of data.\n")
    start = time.monotonic()
    first_t = time.time()
    transmitted = received = 0
    lost: list[int] = []
    rtts: list[float] = []
    pending_lost: int | None = None
    while True:
        if world.node_state(ctx.node) != "up":
            break  # the pinging node hung or lost power: nothing more is printed
        if pending_lost is not None and report_missing and not quiet and not flood:
            out(f"{prefix()}no answer yet for icmp_seq={pending_lost}\n")
        transmitted += 1
        seq = transmitted
        if world.reachable(ctx.node, address):
            received += 1
            rtt = random.uniform(0.03, 0.12)
            rtts.append(rtt)
            pending_lost = None
            if not quiet and not flood:
                out(f"{prefix()}64 bytes from {address if target == address else shown}: icmp_seq={seq} ttl=64 time={rtt:.3f} ms\n")
        else:
            lost.append(seq)
            pending_lost = seq
            if flood and not quiet:
                out(".")
        if count is not None and transmitted >= count:
            if pending_lost is not None:
                io.wait(min(interval, 1.0))
            break
        elapsed = time.monotonic() - start
        if deadline is not None and elapsed >= deadline:
            break
        wake = start + transmitted * interval - time.monotonic()
        if deadline is not None:
            wake = min(wake, start + deadline - time.monotonic())
        if not io.wait(max(0.0, wake)):
            break
        if deadline is not None and time.monotonic() - start >= deadline:
            break
    elapsed_ms = int(round((time.monotonic() - start) * 1000))
    world.emit("ping_done", node=ctx.node, target=address, transmitted=transmitted, received=received,
               lost_seqs=lost, first_t=round(first_t, 6), last_t=round(time.time(), 6))
    loss = 100.0 * (transmitted - received) / transmitted if transmitted else 0.0
    summary = (f"\n--- {target} ping statistics ---\n"
               f"{transmitted} packets transmitted, {received} received, {loss:g}% packet loss, time {elapsed_ms}ms\n")
    if rtts:
        mean = sum(rtts) / len(rtts)
        mdev = statistics.pstdev(rtts) if len(rtts) > 1 else 0.0
        summary += f"rtt min/avg/max/mdev = {min(rtts):.3f}/{mean:.3f}/{max(rtts):.3f}/{mdev:.3f} ms\n"
    if flood and not quiet:
        summary = "\n" + summary
    out(summary)
    return 0 if received else 1
