"""One SSH server per simulated node (paramiko), on 127.0.0.1.

Password and public-key authentication; each exec request runs one command
line through the node's shell (hacert.labsim.shell) in its own thread. The node's
state decides what a client sees: up → normal service; hung → existing channels
go silent (no output, no exit status) and new connections get no banner; off or
booting → connections are reset and existing ones dropped.
"""

from __future__ import annotations

import io
import logging
import selectors
import socket
import struct
import threading
import time
from typing import Any

import paramiko

from hacert.drivers.kept_shell import COMMAND as KEPT_COMMAND
from hacert.drivers.kept_shell import unframe
from hacert.labsim.world import World

# Paramiko sends the reply to an exec request only after check_channel_exec_request
# returns; a command that finishes first would close the channel before the client
# saw "success". Mark each channel once its request has been answered.
_original_handle_request = paramiko.Channel._handle_request


def _handle_request(self: paramiko.Channel, m: paramiko.Message) -> None:
    _original_handle_request(self, m)
    replied = getattr(self, "_labsim_replied", None)
    if replied is not None:
        replied.set()


paramiko.Channel._handle_request = _handle_request  # type: ignore[method-assign]
# the transport dispatches through a table built at import time
paramiko.Transport._channel_handler_table[paramiko.common.MSG_CHANNEL_REQUEST] = _handle_request
# a probe that connects and leaves (readiness checks, port scans) is not an error worth a traceback
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


class ChannelIO:
    """ShellIO over one paramiko channel; silent while the node is not up."""

    def __init__(self, world: World, node: str, channel: paramiko.Channel, read_stdin: bool = True):
        self.world, self.node, self.channel = world, node, channel
        self._interrupted = threading.Event()
        self._closed = threading.Event()
        if read_stdin:  # a command shell's session reads its own stdin (see SshServers.run_session)
            threading.Thread(target=self._read_stdin, name=f"labsim-stdin-{node}", daemon=True).start()

    def _read_stdin(self) -> None:
        # Ctrl-C typed into a pty session stops a stream; channel close is seen in closed().
        while True:
            try:
                data = self.channel.recv(1024)
            except Exception:
                return
            if not data:
                return
            if b"\x03" in data:
                self._interrupted.set()
                return

    def _up(self) -> bool:
        return self.world.node_state(self.node) == "up"

    def write(self, text: str) -> None:
        if self._up() and not self.channel.closed:
            try:
                self.channel.sendall(text.encode("utf-8", "surrogateescape"))  # raw bytes of a file pass as they are
            except (OSError, EOFError, paramiko.SSHException):
                self._closed.set()

    def write_err(self, text: str) -> None:
        if self._up() and not self.channel.closed:
            try:
                self.channel.sendall_stderr(text.encode("utf-8", "surrogateescape"))
            except (OSError, EOFError, paramiko.SSHException):
                self._closed.set()

    def closed(self) -> bool:
        return self.channel.closed or self._closed.is_set() or self._interrupted.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early (False) when the channel closes or Ctrl-C arrives."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if self.closed() or self._interrupted.wait(min(0.05, remaining)):
                return False
        return not self.closed()


class SessionIO(ChannelIO):
    """A kept shell's ChannelIO: what a command prints is sent when it ends (or before it sleeps), as
    sshd sends what it found in the shell's pipe in one packet: a quick command's acknowledgement,
    output and end travel together."""

    def __init__(self, world: World, node: str, channel: paramiko.Channel):
        super().__init__(world, node, channel, read_stdin=False)  # the session reads its own stdin
        self._out: list[str] = []
        self._err: list[str] = []

    def write(self, text: str) -> None:
        self._out.append(text)

    def write_err(self, text: str) -> None:
        self._err.append(text)

    def flush(self) -> None:
        out, err = "".join(self._out), "".join(self._err)
        self._out, self._err = [], []
        if out:
            super().write(out)
        if err:
            super().write_err(err)

    def wait(self, seconds: float) -> bool:
        self.flush()
        return super().wait(seconds)


class _Server(paramiko.ServerInterface):
    def __init__(self, lab: "SshServers", node: str, transport: paramiko.Transport):
        self.lab, self.node, self.transport = lab, node, transport

    def _running(self) -> bool:
        """False when the node is not up. While it is hung this blocks the connection's
        thread, so the session goes silent like a crashed kernel's (keepalives included)."""
        pause = threading.Event()
        while self.lab.stalled(self.node) and self.transport.is_active():
            pause.wait(0.2)
        return self.lab.world.node_state(self.node) == "up" and self.transport.is_active()

    def get_allowed_auths(self, username: str) -> str:
        return "password,publickey"

    def check_auth_password(self, username: str, password: str) -> int:
        if username == self.lab.user and password == self.lab.password:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if username == self.lab.user and key.asbytes() in self.lab.authorized:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session" and self._running():
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_pty_request(self, *args: Any) -> bool:
        return True

    def check_channel_env_request(self, *args: Any) -> bool:
        return True

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        return False

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        if not self._running():
            return False
        channel._labsim_replied = threading.Event()  # type: ignore[attr-defined]
        line = command.decode(errors="replace")
        serve = self.lab.run_session if line.strip() == KEPT_COMMAND else self.lab.run_command
        threading.Thread(target=serve, args=(self.node, channel, line),
                         name=f"labsim-exec-{self.node}", daemon=True).start()
        return True


class SshServers:
    """The SSH endpoints of every node of one world."""

    def __init__(self, world: World, ports: dict[str, int], user: str, password: str,
                 authorized_keys: list[bytes], host_key: paramiko.PKey):
        self.world = world
        self.user, self.password = user, password
        self.authorized = set(authorized_keys)
        self.host_key = host_key
        self.listeners: dict[str, socket.socket] = {}
        self.ports: dict[str, int] = {}
        self._transports: dict[str, list[paramiko.Transport]] = {n: [] for n in ports}
        self._stalled: dict[str, list[socket.socket]] = {n: [] for n in ports}
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._stop = False
        for node, port in ports.items():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(64)
            sock.setblocking(False)
            self.listeners[node] = sock
            self.ports[node] = sock.getsockname()[1]
            self._selector.register(sock, selectors.EVENT_READ, node)
        self._thread = threading.Thread(target=self._serve, name="labsim-ssh", daemon=True)
        world.subscribe(self._on_event)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop = True
        self._wake_w.send(b"x")
        self._thread.join(timeout=2)
        for transports in self._transports.values():
            for t in list(transports):
                t.close()
        for socks in self._stalled.values():
            for s in socks:
                s.close()
        for sock in self.listeners.values():
            sock.close()

    # ------------------------------------------------------------ connections

    def _serve(self) -> None:
        while not self._stop:
            for key, _ in self._selector.select():
                if key.data is None:
                    return
                node = key.data
                try:
                    conn, _addr = key.fileobj.accept()  # type: ignore[union-attr]
                except OSError:
                    continue
                self._accepted(node, conn)

    def _accepted(self, node: str, conn: socket.socket) -> None:
        conn.setblocking(True)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        state = self.world.node_state(node)
        if state == "hung" or self.world.device_faults.active("ssh_hang_after_accept", node):
            with self.world.lock:
                self._stalled[node].append(conn)  # no banner, ever
            return
        if state != "up" or self.world.device_faults.active("ssh_drop", node):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # reset: nothing listens on a node that is not running
            return
        delay = self.world.timing.ssh_banner_delay
        if delay > 0:
            self.world.scheduler.after(delay, lambda: threading.Thread(
                target=self._start_transport, args=(node, conn), daemon=True).start(), f"ssh banner {node}")
        else:
            self._start_transport(node, conn)

    def _start_transport(self, node: str, conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        transport.add_server_key(self.host_key)
        transport.local_version = "SSH-2.0-OpenSSH_5.3"
        with self.world.lock:
            self._transports[node].append(transport)
        try:
            transport.start_server(server=_Server(self, node, transport))
        except (paramiko.SSHException, EOFError, OSError):
            transport.close()

    def _on_event(self, record: dict[str, Any]) -> None:
        for dropped in self.world.device_faults.dropped_nodes(record, list(self._transports)):
            self._on_event({"kind": "node_state", "node": dropped, "state": "off"})  # sessions drop as at power loss
        if record["kind"] != "node_state":
            return
        node, state = record["node"], record["state"]
        if node not in self._transports:
            return
        if state in ("off", "booting"):
            for transport in self._transports[node]:
                transport.close()
            self._transports[node] = []
            for sock in self._stalled[node]:
                sock.close()
            self._stalled[node] = []
        else:
            self._transports[node] = [t for t in self._transports[node] if t.is_active()]

    # ------------------------------------------------------------ commands

    def run_command(self, node: str, channel: paramiko.Channel, line: str) -> None:
        replied = getattr(channel, "_labsim_replied", None)
        if replied is not None:
            replied.wait(5.0)
        shell_io = ChannelIO(self.world, node, channel)
        status = self._execute(node, line, shell_io)
        self._exit(node, channel, status)

    def _exit(self, node: str, channel: paramiko.Channel, status: int) -> None:
        if self.world.node_state(node) != "up":
            return  # hung: silence; off: the transport is already gone
        try:
            channel.send_exit_status(status)
            channel.shutdown_write()
            channel.close()
        except (OSError, EOFError, paramiko.SSHException):
            pass

    def stalled(self, node: str) -> bool:
        """The node is hung, or its sshd answers nothing (the ssh_hang_after_accept fault)."""
        return self.world.node_state(node) == "hung" or self.world.device_faults.active("ssh_hang_after_accept", node)

    def run_session(self, node: str, channel: paramiko.Channel, line: str) -> None:
        """A shell reading command lines from the channel, one after another, as `bash -s` does.

        The harness's kept shells (hacert.drivers.kept_shell) send each command framed as
        `echo A; (CMD) </dev/null; echo "B $?"; echo B >&2`; labsim runs that frame's parts as
        a POSIX shell would. Any other line runs as it is.
        """
        replied = getattr(channel, "_labsim_replied", None)
        if replied is not None:
            replied.wait(5.0)
        shell_io = SessionIO(self.world, node, channel)
        pending = b""
        status = 0
        while self.world.node_state(node) in ("up", "hung"):
            try:
                data = channel.recv(65536)
            except (OSError, EOFError, paramiko.SSHException):
                return
            if not data:
                break
            pending += data
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                status = self._session_line(node, raw.decode(errors="replace"), shell_io, status)
        self._exit(node, channel, status)

    def _session_line(self, node: str, line: str, shell_io: SessionIO, status: int) -> int:
        try:
            return self._session_command(node, line, shell_io, status)
        finally:
            shell_io.flush()

    def _session_command(self, node: str, line: str, shell_io: SessionIO, status: int) -> int:
        pause = threading.Event()
        while self.stalled(node) and not shell_io.closed():
            pause.wait(0.2)  # a hung kernel (or sshd) runs nothing it is sent
        if self.world.node_state(node) != "up":
            return status
        framed = unframe(line)
        if framed is None:
            return self._execute(node, line, shell_io) if line.strip() else status
        ack, command, end = framed
        shell_io.write(ack + "\n")
        status = self._execute(node, command, shell_io)
        shell_io.write(f"{end} {status}\n")
        shell_io.write_err(end + "\n")
        return status

    def _execute(self, node: str, line: str, shell_io: ChannelIO) -> int:
        try:
            return self.world.execute(node, line, shell_io)
        except Exception as exc:  # a broken command must not kill the server
            shell_io.write_err(f"labsim: internal error in {line!r}: {exc!r}\n")
            return 1




def load_private_key(text: str) -> paramiko.PKey:
    return paramiko.Ed25519Key(file_obj=io.StringIO(text))
