"""Namespaces: requirements check, sockets inside a netns, and the sweep of `netlab down`."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

from .config import FAKETIME_LIBRARY, NetlabError

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

# binary -> Debian package that ships it
REQUIRED = {
    "ip": "iproute2", "unshare": "util-linux", "nsenter": "util-linux", "mount": "mount",
    "corosync": "corosync", "corosync-cfgtool": "corosync", "pacemakerd": "pacemaker",
    "crm_mon": "pacemaker-cli-utils", "cibadmin": "pacemaker-cli-utils", "sshd": "openssh-server",
    "fence_ipmilan": "fence-agents", "fence_apc_snmp": "fence-agents", "snmpget": "snmp",
    "openssl": "openssl", "logger": "bsdutils", "ping": "iputils-ping", "faketime": "faketime",
}
DEBIAN_PACKAGES = ("corosync", "pacemaker", "pacemaker-cli-utils", "pcs", "fence-agents", "openssh-server", "snmp",
                   "iputils-ping", "faketime")


def missing_requirements() -> list[str]:
    """What this machine lacks to run netlab, each naming the fix; empty when all is there."""
    problems = []
    if os.geteuid() != 0:
        problems.append("netlab must run as root (it creates network, mount and PID namespaces)")
    missing = sorted({pkg for binary, pkg in REQUIRED.items()
                      if not shutil.which(binary, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")})
    if missing:
        problems.append("missing Debian packages: " + " ".join(missing) + " (apt-get install " + " ".join(missing) + ")")
    if not Path("/usr/lib/pacemaker/pacemaker-fenced").exists() and "pacemaker" not in missing:
        problems.append("missing Debian package: pacemaker (/usr/lib/pacemaker/pacemaker-fenced)")
    if not Path(FAKETIME_LIBRARY).exists() and "faketime" not in missing:
        problems.append(f"missing Debian package: libfaketime ({FAKETIME_LIBRARY}, for netlab.clock_offsets)")
    if not problems:
        probe = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount", "--uts", "--ipc", "true"],
                               capture_output=True, text=True, timeout=10)
        if probe.returncode != 0:
            problems.append(f"namespaces are not permitted here (unshare: {probe.stderr.strip() or probe.returncode})")
    return problems


def require() -> None:
    problems = missing_requirements()
    if problems:
        raise NetlabError("netlab cannot run on this machine: " + "; ".join(problems))


def run(*argv: str, check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise NetlabError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr.strip()}")
    return result


def run_input(text: str, *argv: str, timeout: float = 30.0) -> None:
    """`argv` reading `text` on stdin (e.g. `ip -batch -`); raises NetlabError on failure."""
    result = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise NetlabError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr.strip()}")


@contextlib.contextmanager
def in_netns(name: str) -> Iterator[None]:
    """The calling thread enters netns `name` for the block (sockets made there stay there)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise NetlabError(f"setns into {name}: {os.strerror(ctypes.get_errno())}")
        try:
            yield
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:  # never leave this thread elsewhere
                os._exit(70)
    finally:
        os.close(own)
        os.close(target)


def netns_socket(name: str, family: int, kind: int) -> socket.socket:
    with in_netns(name):
        return socket.socket(family, kind)


def netns_list(prefix: str) -> list[str]:
    out = run("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


def netns_pids(name: str) -> list[int]:
    out = run("ip", "netns", "pids", name, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def host_links(prefix: str) -> list[str]:
    out = run("ip", "-o", "link", "show", check=False).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]
    return [n for n in names if n.startswith(prefix)]


def pidns_members(init_pid: int) -> list[int]:
    """Every process in the PID namespace whose init has host pid `init_pid`."""
    try:
        target = os.readlink(f"/proc/{init_pid}/ns/pid")
    except OSError:
        return []
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == target:
                    out.append(int(entry))
            except OSError:
                pass
    return out


def kill_all(pids: list[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def sweep(prefix: str, supervisor_pid: int | None = None, timeout: float = 15.0) -> list[str]:
    """Remove everything named with `prefix`: processes in those netns, the netns, host links.
    Returns what is left (empty = clean)."""
    if supervisor_pid and _is_netlab_supervisor(supervisor_pid):
        kill_all([supervisor_pid], signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while True:
        names = netns_list(prefix)
        pids = [pid for name in names for pid in netns_pids(name) if pid != os.getpid()]
        if not pids:
            break
        kill_all(pids)
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for name in netns_list(prefix):
        run("ip", "netns", "delete", name, check=False)
    for link in host_links(prefix):
        run("ip", "link", "delete", link, check=False)
    left = [f"netns {n}" for n in netns_list(prefix)] + [f"link {link}" for link in host_links(prefix)]
    left += [f"pid {p} in {n}" for n in netns_list(prefix) for p in netns_pids(n)]
    return left


def _is_netlab_supervisor(pid: int) -> bool:
    """Is `pid` (e.g. from a stale state.json) still a netlab supervisor, not a reused pid?"""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(arg in (b"netlab", b"hacert.netlab") for arg in argv) and b"_serve" in argv  # -m hacert.netlab _serve
