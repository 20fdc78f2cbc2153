"""A small paramiko SSH server for the node driver tests (in-process threads).

Commands run under /bin/sh in a scratch directory, except anything naming
sysrq: that "crashes" the node instead — the exec request is never even
acknowledged (or, typed into a shell reading stdin, never reaches it) and the
server stops serving (new connections are accepted and then left silent), like
a crashed kernel. FREEZE does the same to its own channel only. Lines typed into
a kept shell (hacert.drivers.kept_shell) are read the same way, command by command. Nothing ever touches the real /proc/sysrq-trigger.
Ctrl-C (0x03) on a channel's stdin sends SIGINT to the command.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from pathlib import Path

import paramiko

from hacert.drivers.kept_shell import COMMAND as KEPT_COMMAND
from hacert.drivers.kept_shell import unframe
from hacert.suite_runs import default_sigint

USER, PASSWORD = "tester", "test-password"
FREEZE = "freeze-the-node"  # an exec request the server never answers


class _Server(paramiko.ServerInterface):
    def __init__(self, owner: "FakeSshd") -> None:
        self.owner = owner

    def check_auth_password(self, username: str, password: str) -> int:
        ok = username == USER and password == PASSWORD
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_pty_request(self, *args) -> bool:
        return True

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        self.owner.commands.append("<shell>")
        threading.Thread(target=self.owner.execute, args=(channel, None), daemon=True).start()
        return True

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        text = command.decode()
        self.owner.execs.append(text)
        if text != KEPT_COMMAND:  # the kept shell's commands are recorded as they are typed into it
            self.owner.commands.append(text)
        if text == FREEZE:
            self.owner.wait_closed()  # the node hangs mid-conversation
            return False
        if "sysrq" in text:
            # The kernel dies before it can even acknowledge the request.
            self.owner.crash()
            self.owner.wait_closed()
            return False
        threading.Thread(target=self.owner.execute, args=(channel, text), daemon=True).start()
        return True


class FakeSshd:
    """Listens on 127.0.0.1:<port>; `crash()` makes it go silent for good."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.commands: list[str] = []
        """Every command the node was asked to run: exec'd, or typed into a kept shell."""
        self.execs: list[str] = []
        """The exec requests (a kept shell's is one)."""
        self.crashed = threading.Event()
        self.host_key = paramiko.RSAKey.generate(2048)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self._transports: list[paramiko.Transport] = []
        self._silent: list[socket.socket] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            if self.crashed.is_set():
                self._silent.append(sock)  # accepted, never answered
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            transport = paramiko.Transport(sock)
            transport.add_server_key(self.host_key)
            self._transports.append(transport)
            try:
                transport.start_server(server=_Server(self))
            except (OSError, EOFError, paramiko.SSHException):
                continue  # a client that hung up early (e.g. a reachability probe)

    def execute(self, channel: paramiko.Channel, command: str | None) -> None:
        """Run `command` (None: an interactive /bin/sh fed from the channel)."""
        proc = subprocess.Popen(
            ["/bin/sh"] if command is None else ["/bin/sh", "-c", command],
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.PIPE,  # as sshd does: the channel is the command's stdin
            start_new_session=True,
            preexec_fn=default_sigint,
        )
        self._procs.append(proc)

        def interrupts() -> None:
            pending = b""  # stdin up to its last newline: a kept shell's command lines are read whole
            while proc.poll() is None:
                try:
                    data = channel.recv(4096) if channel.recv_ready() else b""
                except OSError:
                    return
                if b"\x03" in data:
                    os.killpg(proc.pid, signal.SIGINT)
                    data = b""
                *lines, pending = (pending + data).split(b"\n")
                for line in lines:
                    if not self._typed(channel, line.decode(errors="replace")):
                        return
                    if proc.stdin is not None:
                        try:
                            proc.stdin.write(line + b"\n")
                            proc.stdin.flush()
                        except OSError:
                            return
                if channel.closed:
                    os.killpg(proc.pid, signal.SIGKILL)
                    return
                if self.crashed.wait(0.02):
                    return

        def pump(stream, send) -> None:
            for chunk in iter(lambda: stream.read1(4096), b""):
                try:
                    send(chunk)
                except OSError:
                    return

        threading.Thread(target=interrupts, daemon=True).start()
        err = threading.Thread(target=pump, args=(proc.stderr, channel.sendall_stderr), daemon=True)
        err.start()
        pump(proc.stdout, channel.sendall)
        err.join()
        code = proc.wait()
        if code < 0:
            code = 128 - code  # killed by a signal, as a shell reports it
        if self.crashed.is_set():
            return
        try:
            channel.send_exit_status(code)
            channel.shutdown_write()
        except (OSError, EOFError):  # the client has gone; paramiko says so with either
            return
        # Closing before paramiko has sent the exec reply makes the client see
        # "Channel closed": let the client close first (it does on exit status).
        for _ in range(100):
            if channel.closed:
                break
            if self._stop.wait(0.02):
                break
        channel.close()

    def _typed(self, channel: paramiko.Channel, line: str) -> bool:
        """A line typed into a running command's stdin; False: it never reaches the shell. A kept shell's
        framed command (hacert.drivers.kept_shell) is recorded in `commands` like an exec'd one, and one
        that hangs or crashes the node does so here."""
        framed = unframe(line)
        if framed is None:
            return True
        command = framed[1]
        self.commands.append(command)
        if command == FREEZE:
            return False  # this channel's shell never answers again
        if "sysrq" in command:
            self.crash()
            return False
        return self.typed(channel, command)

    def typed(self, channel: paramiko.Channel, command: str) -> bool:
        """For servers that act on a kept shell's command (tests/drivers/test_transport_retry.py); False swallows it."""
        return True

    def wait_closed(self) -> None:
        self._stop.wait()

    def crash(self) -> None:
        """Stop answering anything: open channels and connections stay silent."""
        self.crashed.set()

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        for proc in self._procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for transport in self._transports:
            transport.close()
        for sock in self._silent:
            sock.close()


class SilentServer:
    """Accepts TCP connections and never says a word (a hung SSH server)."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self._held.append(sock)

    def close(self) -> None:
        self.listener.close()
        for sock in self._held:
            sock.close()
