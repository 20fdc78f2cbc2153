"""PID 1 of one netlab node (stdlib only; run by the supervisor inside the node's namespaces).

Order matters and is the safety argument of netlab: the node's /proc/sysrq-trigger
is masked by the FIFO netlab watches and checked BEFORE anything else runs in the
node; the supervisor checks it again from outside (through /proc/PID/root) and
only then answers "GO". Without GO this process exits and the node stays off.

Then: a private /dev (own devpts, /dev/shm, /dev/log served by this process as the
node's syslog), the node's private folders bind-mounted over the system ones,
the hostname, sshd, and (unless told not to) corosync + pacemaker through the
node's `systemctl` shim. Afterwards it reaps orphans until the node is killed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time

SYSRQ = "/proc/sysrq-trigger"
NODE_CODE = "/run/netlab-code"
"""Where the node sees this repository (hacert.netlab.nodes binds it there)."""
NETLAB_SYSRQ = "/run/netlab-sysrq"


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)


def mask_sysrq(fifo: str, kernel_has_sysrq: bool) -> str:
    """MASKED: the node's /proc/sysrq-trigger is netlab's FIFO; ABSENT: this kernel has no
    magic sysrq at all (procfs cannot grow the file, so nothing can reach the kernel)."""
    if not kernel_has_sysrq:
        if os.path.lexists(SYSRQ):
            raise SystemExit(f"netlab node: {SYSRQ} exists although the host had none: refusing to start")
        return "ABSENT"
    sh("mount", "--bind", fifo, SYSRQ)
    masked, owned = os.stat(SYSRQ), os.stat(fifo)
    if not stat.S_ISFIFO(masked.st_mode) or (masked.st_dev, masked.st_ino) != (owned.st_dev, owned.st_ino):
        raise SystemExit(f"netlab node: {SYSRQ} is not netlab's FIFO after the bind mount: refusing to start")
    return "MASKED"


def private_dev() -> None:
    sh("mount", "-t", "tmpfs", "-o", "mode=755,size=4m", "netlab-dev", "/dev")
    for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
                               ("urandom", 1, 9), ("tty", 5, 0)):
        os.mknod(f"/dev/{name}", 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(f"/dev/{name}", 0o666)
    os.mkdir("/dev/net")  # qemu's tap devices (guests, netlab part 2)
    os.mknod("/dev/net/tun", 0o666 | stat.S_IFCHR, os.makedev(10, 200))
    os.chmod("/dev/net/tun", 0o666)
    os.mkdir("/dev/pts")
    sh("mount", "-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=620,gid=5", "devpts", "/dev/pts")
    os.symlink("pts/ptmx", "/dev/ptmx")
    os.mkdir("/dev/shm")
    sh("mount", "-t", "tmpfs", "-o", "mode=1777,size=256m", "netlab-shm", "/dev/shm")
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"/dev/{name}")
    os.symlink("/proc/self/fd", "/dev/fd")


PYTHON_WRAPPER = """#!/bin/sh
# netlab: this node's clock is libfaketime's, but Python 3.11's time.sleep fails under libfaketime
# 0.9.10 with FAKETIME_DONT_FAKE_MONOTONIC (upstream issue #426): Python runs on the host's clock
unset LD_PRELOAD FAKETIME FAKETIME_DONT_FAKE_MONOTONIC FAKETIME_SHARED
exec {real} "$@"
"""


def python_on_the_hosts_clock() -> str:
    """Cover the system's Python interpreter, in this node only, with a wrapper that drops
    libfaketime (the node's fence agents, pcs and bondd sleep); returns the interpreter itself
    (at a path of its own), for the one Python program that must keep the node's clock: the
    syslog writer, which never sleeps."""
    real = os.path.realpath("/usr/bin/python3")
    kept = "/run/netlab-python3"
    open(kept, "w").close()
    sh("mount", "--bind", real, kept)
    wrapper = "/run/netlab-python3-wrapper"
    with open(wrapper, "w") as out:
        out.write(PYTHON_WRAPPER.format(real=kept))
    os.chmod(wrapper, 0o755)
    sh("mount", "--bind", wrapper, real)
    return kept


def serve_syslog(hostname: str, path: str, python: str = "/usr/bin/python3") -> None:
    """/dev/log → `Mon DD HH:MM:SS host tag[pid]: msg` lines in `path`, stamped on the node's clock:
    a process of its own (`node_init.py --syslog`), so a node on its own clock (libfaketime in its
    environment) writes its syslog on that clock, as its rsyslogd would."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("/dev/log")
    os.chmod("/dev/log", 0o666)
    with open("/var/log/netlab-syslog.err", "ab") as errors:
        # the system's python and the repository where the node sees them (its /root and /tmp are its own)
        subprocess.Popen([python, f"{NODE_CODE}/netlab/node_init.py", "--syslog", hostname, path],
                         stdin=sock.fileno(), stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True)
    sock.close()


def syslog_writer(hostname: str, path: str) -> None:
    """The syslog process: reads /dev/log's datagrams from its stdin (the bound socket)."""
    sock = socket.socket(fileno=os.dup(0))
    with open(path, "a", buffering=1) as out:
        while True:
            data = sock.recv(65536).decode(errors="replace").rstrip("\n\x00")
            if data.startswith("<") and ">" in data[:5]:
                data = data[data.index(">") + 1:]
            if len(data) > 16 and data[3] == " " and data[15] == " ":
                data = data[16:]  # glibc's own stamp: use the receive time, same format
            now = time.localtime()
            stamp = time.strftime("%b ", now) + f"{now.tm_mday:2d}" + time.strftime(" %H:%M:%S", now)
            out.write(f"{stamp} {hostname} {data}\n")


def main() -> None:
    config = json.loads(open(sys.argv[1]).read())
    print(mask_sysrq(config["sysrq_fifo"], config["kernel_has_sysrq"]), flush=True)
    if sys.stdin.readline().strip() != "GO":
        raise SystemExit("netlab node: the supervisor did not confirm the sysrq mask: refusing to start")
    devnull = os.open("/dev/null", os.O_RDWR)
    private_dev()
    # netlab's files may live under /tmp: every bind is made before /tmp turns private
    sh("mount", "-t", "tmpfs", "-o", "mode=755", "netlab-run", "/run")
    open(NETLAB_SYSRQ, "w").close()
    sh("mount", "--bind", config["sysrq_fifo"], NETLAB_SYSRQ)  # always there, for poweroff/reboot
    for source, target in config["binds"]:
        if not os.path.lexists(target):  # a mount point of netlab's own (e.g. for guests)
            if os.path.isdir(source):
                os.makedirs(target)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                open(target, "w").close()
        sh("mount", "--bind", source, target)
    sh("mount", "-t", "tmpfs", "-o", "mode=1777", "netlab-tmp", "/tmp")
    for folder, owner, mode in config["run_dirs"]:
        os.makedirs(folder, exist_ok=True)
        uid, gid = owner
        os.chown(folder, uid, gid)
        os.chmod(folder, mode)
    sh("hostname", config["hostname"])
    python = "/usr/bin/python3"
    if config.get("clock_env"):
        # from here on, whatever the node runs is on its own clock (netlab.clock_offsets: libfaketime);
        # its private /dev/shm, where libfaketime keeps its state, exists since private_dev()
        python = python_on_the_hosts_clock()
        os.environ.update(config["clock_env"])
    serve_syslog(config["hostname"], "/var/log/messages", python)
    os.dup2(devnull, 0)
    log = os.open("/var/log/netlab-init.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.update(config["env"])
    os.chdir("/")
    for argv in config["boot"]:
        subprocess.Popen(argv, start_new_session=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        try:
            os.wait()
        except ChildProcessError:
            time.sleep(1.0)  # nothing to reap right now; orphans arrive later


if __name__ == "__main__":
    if sys.argv[1:2] == ["--syslog"]:
        syslog_writer(sys.argv[2], sys.argv[3])
    else:
        main()
