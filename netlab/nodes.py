"""Nodes: their private files, their namespaces, their power (= their PID namespace).

A node's network namespace lives as long as the lab (cables stay plugged in while
the node is off). Its other namespaces (mount, UTS, IPC, PID) are made at each
boot by `unshare` and die with its init: power off = SIGKILL to that init.
"""

from __future__ import annotations

import json
import os
import queue
import pwd
import grp
import select
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from .config import NetlabError, Plan
from . import events, ns, virt

HERE = Path(__file__).resolve().parent
SYSRQ = "/proc/sysrq-trigger"
NODE_CODE = "/run/netlab-code"  # where a node sees this repository

# node folder → the system folder it replaces inside the node
PRIVATE_DIRS = {
    "etc-corosync": "/etc/corosync",
    "var-lib-pacemaker": "/var/lib/pacemaker",
    "var-lib-corosync": "/var/lib/corosync",
    "var-log": "/var/log",
    "var-lib-pcsd": "/var/lib/pcsd",
    "root": "/root",
    "etc-ssh": "/etc/ssh",
}
PRIVATE_FILES = {"hosts": "/etc/hosts", "hostname": "/etc/hostname", "shadow": "/etc/shadow"}


def _ids(user: str, group: str) -> tuple[int, int]:
    return pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid


def kernel_has_sysrq() -> bool:
    """Does this kernel have magic sysrq (a path check: netlab never writes the host's file)?"""
    return os.path.lexists(SYSRQ)


def sysrq_mask_ok(init_pid: int, fifo: Path) -> bool:
    """From outside: is the node's /proc/sysrq-trigger netlab's FIFO (same device and inode)?
    On a kernel without magic sysrq: is it absent in the node too?"""
    if not kernel_has_sysrq():
        return not os.path.lexists(f"/proc/{init_pid}/root{SYSRQ}") and os.path.exists(f"/proc/{init_pid}/root/proc/1/stat")
    try:
        seen = os.stat(f"/proc/{init_pid}/root{SYSRQ}")
        owned = os.stat(fifo)
    except OSError:
        return False
    return stat.S_ISFIFO(seen.st_mode) and (seen.st_dev, seen.st_ino) == (owned.st_dev, owned.st_ino)


class NodeFiles:
    """The per-node folder: configs written once per `up`, logs kept across reboots."""

    def __init__(self, plan: Plan, node: str, root_hash: str, corosync_conf: str, authkey: bytes) -> None:
        self.plan, self.node = plan, node
        self.dir = plan.node_dir(node)
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        for name in PRIVATE_DIRS:
            (self.dir / name).mkdir()
        hacluster = _ids("hacluster", "haclient")
        for sub in ("cib", "pengine", "blackbox", "cores"):
            path = self.dir / "var-lib-pacemaker" / sub
            path.mkdir()
            os.chown(path, *hacluster)
            path.chmod(0o750)
        logs = self.dir / "var-log"
        for sub in ("pacemaker", "cluster", "corosync"):
            (logs / sub).mkdir()
        os.chown(logs / "pacemaker", *hacluster)
        (logs / "pacemaker").chmod(0o770)
        (logs / "messages").touch()
        (self.dir / "root").chmod(0o700)
        (self.dir / "var-lib-pcsd").chmod(0o700)
        member = plan.inventory.node(node).member_name
        (self.dir / "hostname").write_text(member + "\n")
        hosts = ["127.0.0.1 localhost"]
        for n in plan.inventory.nodes:
            short = n.member_name.split(".")[0]
            names = " ".join(dict.fromkeys([n.member_name, short, n.name]))
            hosts.append(f"{plan.node_ip(n.name)} {names}")
        (self.dir / "hosts").write_text("\n".join(hosts) + "\n")
        shadow = []
        for line in Path("/etc/shadow").read_text().splitlines():
            fields = line.split(":")
            fields[1] = root_hash if fields[0] == "root" else "*"  # no host password hash is copied
            shadow.append(":".join(fields))
        (self.dir / "shadow").write_text("\n".join(shadow) + "\n")
        (self.dir / "shadow").chmod(0o640)
        (self.dir / "etc-corosync" / "corosync.conf").write_text(corosync_conf)
        key = self.dir / "etc-corosync" / "authkey"
        key.write_bytes(authkey)
        key.chmod(0o400)
        self.sysrq = self.dir / "sysrq-trigger"
        os.mkfifo(self.sysrq, 0o200)
        self.shim = self.dir / "systemctl"
        shutil.copy(HERE / "systemctl.sh", self.shim)
        self.shim.chmod(0o755)
        ssh = self.dir / "etc-ssh"
        for name in ("moduli", "ssh_config"):
            if Path("/etc/ssh", name).exists():
                shutil.copy(Path("/etc/ssh", name), ssh / name)
        ns.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh / "ssh_host_ed25519_key"))
        (ssh / "sshd_config").write_text(
            "Port 22\nListenAddress 0.0.0.0\nHostKey /etc/ssh/ssh_host_ed25519_key\n"
            "PermitRootLogin yes\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\n"
            "UsePAM no\nUseDNS no\nPidFile /run/sshd.pid\nMaxStartups 50:30:100\nMaxSessions 50\n"
            "AcceptEnv LANG LC_*\nSubsystem sftp /usr/lib/openssh/sftp-server\n"
            # a node on its own clock: its SSH sessions (date, ping -D, pcs ...) too, not only its daemons
            # (one SetEnv line: sshd keeps the first of a repeated keyword)
            + (("SetEnv " + " ".join(f"{k}={v}" for k, v in plan.clock_env(node).items()) + "\n")
               if plan.clock_env(node) else "")
        )

    def bond_boot(self) -> list[list[str]]:
        """The node's user-space bonding 'driver' (netlab/bondd.py), when it has bonds."""
        settings = self.plan.settings
        bonds = [{"name": b.name, "network": b.network, "address": b.address, "primary": b.primary.nic,
                  "slaves": [link.nic for link in b.slaves]} for b in self.plan.inventory.node(self.node).bonds]
        if not bonds:
            return []
        config = {"node": self.node, "status_dir": settings.bond_status_dir, "miimon_ms": settings.bond_miimon_ms,
                  "updelay_ms": settings.bond_updelay_ms, "downdelay_ms": settings.bond_downdelay_ms, "bonds": bonds}
        # /usr/bin/python3 (fence-agents needs it): a python under /root is hidden by the node's own /root
        return [["/usr/bin/python3", f"{NODE_CODE}/netlab/bondd.py", json.dumps(config)]]

    def init_config(self, stack_at_boot: bool) -> Path:
        member = self.plan.inventory.node(self.node).member_name
        binds = [[str(self.dir / name), target] for name, target in PRIVATE_DIRS.items()]
        binds += [[str(self.dir / name), target] for name, target in PRIVATE_FILES.items()]
        binds.append([str(self.shim), "/usr/bin/systemctl"])
        # the repository, wherever it is (a clone under /tmp is hidden once the node's /tmp is private)
        binds.append([str(HERE.parent), NODE_CODE])
        binds += [[source, target] for source, target in virt.node_binds(self.plan, self.node, self.dir)]
        hacluster = list(_ids("hacluster", "haclient"))
        boot = self.bond_boot() + [["/usr/sbin/sshd"]] + virt.boot_commands(self.plan, self.node)
        if stack_at_boot:
            boot.append(["/bin/sh", "-c", "systemctl start corosync && systemctl start pacemaker"])
        config = {
            "sysrq_fifo": str(self.sysrq),
            "kernel_has_sysrq": kernel_has_sysrq(),
            "hostname": member,
            "binds": binds,
            "run_dirs": [["/run/sshd", [0, 0], 0o755], ["/run/systemd/system", [0, 0], 0o755],
                         ["/run/pacemaker", hacluster, 0o770], ["/run/corosync", [0, 0], 0o755]],
            "env": {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                    "PCMK_logfacility": "daemon", "PCMK_logfile": "/var/log/pacemaker/pacemaker.log"},
            # the node's own clock (netlab.clock_offsets): libfaketime for its syslog writer and
            # everything it starts, set once the node's private /dev/shm exists (libfaketime keeps
            # its state there: on the host's it would outlive the node and collide with the next boot)
            "clock_env": self.plan.clock_env(self.node),
            "boot": boot,
        }
        path = self.dir / "init.json"
        path.write_text(json.dumps(config, indent=1))
        return path


class NodePower:
    """One node's power: off | booting | up | hung. Thread-safe; `on_change(node, state)` is told."""

    def __init__(self, plan: Plan, node: str, files: NodeFiles, on_change: Callable[[str, str], None]) -> None:
        self.plan, self.node, self.files = plan, node, files
        self.on_change = on_change
        self.lock = threading.RLock()
        self.state = "off"
        self.proc: subprocess.Popen[bytes] | None = None
        self.init_pid: int | None = None
        self._generation = 0
        self._stop = threading.Event()
        self.stack_at_boot = plan.settings.stack_at_boot and node not in plan.settings.no_stack_at_boot
        self.last_error = ""
        self._start_worker()
        threading.Thread(target=self._watch_sysrq, name=f"sysrq-{node}", daemon=True).start()

    # ------------------------------------------------------------ power

    ACTIONS = ("on", "off", "reset")

    def request(self, action: str) -> None:
        """Queue a power action for this node's power worker, which runs them in order. The BMC's,
        the PDU's and the sysrq threads that ask return at once: a power-on waiting for the last
        power-off's teardown must not keep a BMC from answering anyone else meanwhile."""
        if action not in self.ACTIONS:
            raise ValueError(f"unknown power action {action!r}")
        self._requests.put(action)

    def _start_worker(self) -> None:
        self._requests: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._work, name=f"power-{self.node}", daemon=True).start()

    def _work(self) -> None:
        run = {"on": self.power_on, "off": self.power_off, "reset": self.reset}
        while (action := self._requests.get()) is not None:
            try:
                run[action]()
            except Exception as exc:  # the worker must outlive one failed action
                self.last_error = f"power {action} failed: {exc!r}"
                print(f"netlab: {self.node}: {self.last_error}", file=sys.stderr, flush=True)

    def _set(self, state: str) -> None:
        self.state = state
        self.on_change(self.node, state)

    def power_on(self, delay: float | None = None) -> None:
        with self.lock:
            if self.state != "off":
                return
            self._generation += 1
            generation = self._generation
            self._set("booting")
        wait = self.plan.settings.boot_delay if delay is None else delay
        threading.Thread(target=self._boot, args=(generation, wait), name=f"boot-{self.node}", daemon=True).start()

    def power_off(self) -> None:
        with self.lock:
            self._generation += 1
            pid, proc = self.init_pid, self.proc
            self.init_pid, self.proc = None, None
            if pid:
                ns.kill_all([pid], signal.SIGKILL)  # the kernel then kills the whole PID namespace
            # The chassis is off the moment its power is cut, as a BMC asked right now must say;
            # the lock stays held until the node's processes are gone, so a power-on waits for that.
            if self.state != "off":
                self._set("off")
            if proc is not None:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            if pid:
                deadline = time.monotonic() + 10
                while ns.pidns_members(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)

    def reset(self) -> None:
        self.power_off()
        self.power_on()

    def hang(self) -> None:
        """Every process of the node stopped (SIGSTOP), as a kernel that crashed stops everything."""
        with self.lock:
            if self.state != "up" or not self.init_pid:
                return
            for _ in range(20):
                members = ns.pidns_members(self.init_pid)
                ns.kill_all(members, signal.SIGSTOP)
                if all(_stopped(pid) for pid in members) and set(ns.pidns_members(self.init_pid)) == set(members):
                    break
                time.sleep(0.02)
            self._set("hung")

    def shutdown(self) -> None:
        self._stop.set()
        self._requests.put(None)
        self.power_off()

    # ------------------------------------------------------------ boot

    def _boot(self, generation: int, delay: float) -> None:
        if self._stop.wait(delay):
            return
        with self.lock:
            if generation != self._generation:
                return
            config = self.files.init_config(self.stack_at_boot and not self._no_stack_marker())
            argv = ["ip", "netns", "exec", self.plan.node_ns(self.node),
                    "unshare", "--pid", "--fork", "--mount", "--uts", "--ipc", "--mount-proc", "--propagation", "private",
                    # a time namespace whose boot time is now: the node's /proc/uptime starts at 0
                    "--time", f"--boottime={-int(_host_uptime()) + 1}",
                    sys.executable, str(HERE / "node_init.py"), str(config)]
            log = open(self.files.dir / "init.out", "ab")
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                         start_new_session=True)
            log.close()
            try:
                self._handshake()
            except NetlabError as exc:
                self.last_error = str(exc)
                print(f"netlab: {self.node}: {exc}", file=sys.stderr, flush=True)
                pid = self.init_pid or self.proc.pid
                ns.kill_all([pid], signal.SIGKILL)
                self.proc.kill()
                self.proc.wait()
                self.proc, self.init_pid = None, None
                self._set("off")
                return
            self._set("up")
            threading.Thread(target=self._watch_init, args=(self.proc, generation), daemon=True).start()

    def _watch_init(self, proc: subprocess.Popen[bytes], generation: int) -> None:
        """A node whose init dies by itself is off (netlab's own power-offs change the generation)."""
        proc.wait()
        with self.lock:
            if generation == self._generation and self.state != "off":
                self.last_error = f"its init exited ({proc.returncode}); see {self.files.dir / 'init.out'}"
                print(f"netlab: {self.node}: {self.last_error}", file=sys.stderr, flush=True)
                self.init_pid, self.proc = None, None
                self._set("off")

    def _handshake(self) -> None:
        """The node says its sysrq is masked; check it from outside; only then say GO."""
        assert self.proc is not None and self.proc.stdout is not None and self.proc.stdin is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline().decode().strip() if ready else ""
        if line != ("MASKED" if kernel_has_sysrq() else "ABSENT"):
            raise NetlabError(f"the node did not report its sysrq mask (got {line!r}): not started")
        self.init_pid = _only_child(self.proc.pid)
        if self.init_pid is None or not sysrq_mask_ok(self.init_pid, self.files.sysrq):
            raise NetlabError("the node's /proc/sysrq-trigger is NOT netlab's FIFO (nor absent on a kernel without sysrq): refusing to start it")
        self.proc.stdin.write(b"GO\n")
        self.proc.stdin.flush()

    def _no_stack_marker(self) -> bool:
        return (self.files.dir / "var-lib-corosync" / "netlab-no-stack-at-boot").exists()

    # ------------------------------------------------------------ sysrq

    def _watch_sysrq(self) -> None:
        fd = os.open(self.files.sysrq, os.O_RDONLY | os.O_NONBLOCK)
        keep = os.open(self.files.sysrq, os.O_WRONLY | os.O_NONBLOCK)  # no EOF when writers close
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([fd], [], [], 0.5)
                if not ready:
                    continue
                try:
                    data = os.read(fd, 64).decode(errors="replace")
                except BlockingIOError:
                    continue
                for letter in data.strip():
                    self.sysrq(letter)
        finally:
            os.close(fd)
            os.close(keep)

    def sysrq(self, letter: str) -> None:
        events.emit("sysrq", node=self.node, letter=letter)
        if letter == "c":
            self.hang()
        elif letter == "b":
            self.request("reset")
        elif letter == "o":
            self.request("off")


def _host_uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def _stopped(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return True
    return fields[0] in ("T", "t", "Z", "X")


def _only_child(pid: int) -> int | None:
    """The host pid of unshare's forked child (the node's init)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        if children:
            return int(children[0])
        time.sleep(0.02)
    return None
