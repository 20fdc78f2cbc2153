"""A cluster node over SSH: run commands, read files, stream output, watch syslog.

One fabric `Connection` per node, opened on first use and reused; if the
transport died (the node was fenced or crashed) the next call reconnects.
Every connection sets connect, banner, auth AND channel timeouts (paramiko's
channel_timeout defaults to an hour), and commands run on our own bounded
channel loop, so a hung node raises instead of hanging the harness.
"""

from __future__ import annotations

import logging
import select
import shlex
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import paramiko
import tenacity
from fabric import Connection

from .errors import AuthenticationRefused, CommandFailed, DeviceUnreachable, HacertError, LabError, TransportDropped
from .kept_shell import COMMAND as KEPT_COMMAND
from .kept_shell import KeptShell, KeptShellLost, KeptShellOverran, KeptShellSilent
from .redact import reveal
from .transport import GAVE_UP, JOURNAL, NOT_TAKEN, RERAN, TOOK_EFFECT, TransportEvent, TransportJournal

SYSLOG = "/var/log/messages"
KEPT_IDLE_MAX = 3
"""Kept shells (see kept_shell) a node's connection holds open between commands; more run at once when
threads need them, and close after."""
RETRY_PROBE_S = 2.0
"""Before a command is run again after its connection died: how long the node has to show an SSH banner."""

# paramiko logs every failed handshake with a traceback through logging's
# last-resort handler; the typed errors below already say what happened.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class CommandResult:
    stdout: str
    stderr: str
    exit_code: int
    duration: float
    assumed: bool = False
    """True when the command's connection died and a check showed it had taken effect: it was not
    repeated, and stdout/stderr are empty (see NodeShell.run)."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class SyslogMark:
    """How many lines a syslog file had at a moment (for `syslog_since`)."""

    path: str
    lines: int
    taken_at: float = field(default_factory=time.time)


class Stream:
    """A command running in the background (e.g. ping), its output collected as it arrives."""

    def __init__(self, node: str, command: str, channel: paramiko.Channel) -> None:
        self.node = node
        self.command = command
        self.started = time.monotonic()
        self._channel = channel
        self._buffer = ""
        self._lines: list[str] = []
        self._stderr = ""
        self._lock = threading.Lock()
        self._done = threading.Event()
        self.exit_code: int | None = None
        self._thread = threading.Thread(target=self._pump, name=f"stream-{node}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        channel = self._channel
        try:
            while True:
                readable, _, _ = select.select([channel], [], [], 0.2)
                if readable or channel.recv_ready() or channel.recv_stderr_ready():
                    got = False
                    while channel.recv_stderr_ready():
                        got = True
                        err = channel.recv_stderr(65536).decode(errors="replace")
                        with self._lock:
                            self._stderr += err
                    if channel.recv_ready():
                        data = channel.recv(65536)
                        got = True
                        if not data:
                            break
                        self._feed(data.decode(errors="replace"))
                    if not got and channel.exit_status_ready() and not channel.recv_ready():
                        break
                elif channel.closed or (channel.exit_status_ready() and not channel.recv_ready()):
                    break
        except (OSError, EOFError, paramiko.SSHException):
            pass
        finally:
            if channel.exit_status_ready():
                self.exit_code = channel.recv_exit_status()
            with self._lock:
                if self._buffer:
                    self._lines.append(self._buffer)
                    self._buffer = ""
            self._done.set()

    def _feed(self, text: str) -> None:
        with self._lock:
            self._buffer += text
            *complete, self._buffer = self._buffer.split("\n")
            self._lines.extend(line.rstrip("\r") for line in complete)

    @property
    def alive(self) -> bool:
        return not self._done.is_set()

    def lines(self) -> list[str]:
        """The complete lines received so far."""
        with self._lock:
            return list(self._lines)

    @property
    def stderr(self) -> str:
        with self._lock:
            return self._stderr

    def text(self) -> str:
        with self._lock:
            return "\n".join(self._lines + ([self._buffer] if self._buffer else [])) + ("\n" if self._lines else "")

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the command to end by itself; True if it did."""
        return self._done.wait(timeout)

    def stop(self, grace: float = 2.0) -> str:
        """Interrupt the command (Ctrl-C, then close) and return everything it printed.

        A ping interrupted this way prints its summary before it exits: the grace
        period lets that summary arrive.
        """
        if self.alive:
            try:
                self._channel.send(b"\x03")
            except (OSError, EOFError, paramiko.SSHException):
                pass
            self._done.wait(grace)
        if self.alive:
            _close_quietly(self._channel)
            self._done.wait(grace)
        return self.text()


class NodeShell:
    """SSH access to one node. Safe to share between threads (one command at a time per channel)."""

    retries_dropped_transport = True
    """`run` takes `idempotent=` and `took_effect=` (see `run_marked`)."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int = 22,
        user: str = "root",
        password: str | None = None,
        key_file: str | None = None,
        connect_timeout: float = 10.0,
        command_timeout: float = 60.0,
        syslog_path: str = SYSLOG,
        journal: TransportJournal | None = None,
        keep_shells: bool = True,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.key_file = key_file
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.syslog_path = syslog_path
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self.journal = JOURNAL if journal is None else journal
        self.keep_shells = keep_shells
        self._kept: list[tuple[paramiko.Transport, KeptShell]] = []

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"NodeShell({self.name!r}, {self.address})"

    # ------------------------------------------------------------ connection

    def _connect(self) -> Connection:
        kwargs: dict[str, Any] = {
            "banner_timeout": self.connect_timeout,
            "auth_timeout": self.connect_timeout,
            "channel_timeout": self.connect_timeout,
            "look_for_keys": False,
            "allow_agent": False,
        }
        if self._password is not None:
            kwargs["password"] = reveal(self._password)
        if self.key_file:
            kwargs["key_filename"] = self.key_file
        conn = Connection(
            self.host,
            user=self.user,
            port=self.port,
            connect_timeout=self.connect_timeout,
            connect_kwargs=kwargs,
        )
        # Unknown host keys are accepted: the lab's nodes are reinstalled and
        # re-keyed often, and the inventory names them explicitly.
        conn.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        started = time.monotonic()
        try:
            conn.open()
        except paramiko.AuthenticationException as exc:
            conn.close()
            raise AuthenticationRefused(self.name, self.address, "log in over SSH", str(exc) or type(exc).__name__) from exc
        except (OSError, EOFError, paramiko.SSHException) as exc:
            elapsed = time.monotonic() - started
            transport = conn.client.get_transport()
            if transport is not None and not transport.remote_version and not isinstance(exc, ConnectionRefusedError):
                detail = f"the server accepted TCP but sent no SSH banner (after {elapsed:.1f} s; hung node?)"
            else:
                detail = f"{_describe(exc, self.connect_timeout)} (after {elapsed:.1f} s)"
            conn.close()
            raise DeviceUnreachable(self.name, self.address, "connect over SSH", detail) from exc
        transport = conn.client.get_transport()
        if transport is not None:
            transport.set_keepalive(max(1, int(self.connect_timeout)))
            sock = transport.sock
            if isinstance(sock, socket.socket):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _transport(self) -> paramiko.Transport:
        with self._lock:
            conn = self._conn
            transport = conn.client.get_transport() if conn is not None else None
            if transport is None or not transport.is_active():
                if conn is not None:
                    conn.close()
                self._conn = conn = self._connect()
                transport = conn.client.get_transport()
            assert transport is not None
            return transport

    def _open_channel(self, what: str) -> paramiko.Channel:
        transport = self._transport()
        try:
            return transport.open_session(timeout=self.connect_timeout)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._drop()
            # the node answered the login (now or earlier) and the connection died under the request
            raise _fault(exc)(self.name, self.address, what, _describe(exc, self.connect_timeout)) from exc

    def _request(self, what: str, limit: float, request: Callable[[], None]) -> bool:
        """Send a channel request (exec, pty, shell) and wait at most `limit` s for its reply.

        paramiko waits for the reply without a timeout, and a node that hangs
        (or crashes on the command itself) never sends it. On time-out the
        connection is closed, which releases the waiting thread; returns False.
        """
        done = threading.Event()
        box: dict[str, BaseException] = {}

        def send() -> None:
            try:
                request()
            except BaseException as exc:  # carried to the caller
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=send, name=f"ssh-request-{self.name}", daemon=True).start()
        if not done.wait(limit):
            self._drop()
            return False
        if "error" in box:
            raise box["error"]
        return True

    def _drop(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            self._kept = []  # they close with the connection
        if conn is not None:
            conn.close()

    def close(self) -> None:
        self._drop()

    def __enter__(self) -> "NodeShell":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ commands

    def run(self, cmd: str, timeout: float | None = None, check: bool = True, *, idempotent: bool = False,
            took_effect: Callable[[], bool] | None = None) -> CommandResult:
        """Run `cmd`, wait for it (at most `timeout`, default command_timeout).

        Raises CommandFailed when it exits non-zero (with check) or overruns the
        timeout (exit_code None), DeviceUnreachable when the node does not answer.

        When the connection dies under the command (`TransportDropped`: EOF, reset, a dropped
        session) while the node still answers SSH, a command marked `idempotent` (a status read)
        is run once more on a fresh connection; for one that is not, `took_effect()` (asked on a
        fresh connection) says whether it had already done its work: then it is not repeated
        (the result is `CommandResult.assumed`), else it is run once more. Without either, or
        when the node no longer answers, the fault is raised as it was. Each decision is written
        to `hacert.drivers.transport.JOURNAL` (the case's evidence).
        """
        if not idempotent and took_effect is None:
            return self._run_once(cmd, timeout, check)
        first: TransportDropped | None = None

        def worth_retrying(exc: BaseException) -> bool:  # only the first attempt's drop is retried
            return exc is first and self._worth_retrying(exc)

        for attempt in tenacity.Retrying(stop=tenacity.stop_after_attempt(2), reraise=True,
                                         retry=tenacity.retry_if_exception(worth_retrying)):
            with attempt:
                if first is None:
                    try:
                        return self._run_once(cmd, timeout, check)
                    except TransportDropped as exc:
                        first = exc
                        raise
                return self._after_drop(cmd, timeout, check, first, took_effect)
        raise AssertionError("unreachable")  # pragma: no cover (tenacity returns or reraises)

    def _worth_retrying(self, exc: BaseException) -> bool:
        """A dropped transport under a node that still answers SSH; a dark node is reported as it is."""
        if not isinstance(exc, TransportDropped):
            return False
        return self.reachable(min(RETRY_PROBE_S, self.connect_timeout))

    def _after_drop(self, cmd: str, timeout: float | None, check: bool, first: TransportDropped,
                    took_effect: Callable[[], bool] | None) -> CommandResult:
        """The second attempt, on a fresh connection: check first whether a non-idempotent command took effect."""
        started = time.monotonic()
        if took_effect is not None:
            try:
                done = took_effect()
            except HacertError as exc:
                self.journal.add(TransportEvent(self.name, self.address, cmd, first.detail, GAVE_UP,
                                                f"could not tell whether it took effect: {exc}"))
                raise first from exc
            if done:
                self.journal.add(TransportEvent(self.name, self.address, cmd, first.detail, TOOK_EFFECT))
                return CommandResult("", "", 0, time.monotonic() - started, assumed=True)
            action = NOT_TAKEN
        else:
            action = RERAN
        try:
            result = self._run_once(cmd, timeout, check)
        except LabError as exc:
            self.journal.add(TransportEvent(self.name, self.address, cmd, first.detail, action, f"failed again: {exc}"))
            raise
        self.journal.add(TransportEvent(self.name, self.address, cmd, first.detail, action, f"exit code {result.exit_code}"))
        return result

    def _run_once(self, cmd: str, timeout: float | None, check: bool) -> CommandResult:
        limit = self.command_timeout if timeout is None else timeout
        if self.keep_shells and KeptShell.carries(cmd):
            result = self._run_kept(cmd, limit)
        else:
            result = self._run_exec(cmd, limit)
        if check and result.exit_code != 0:
            raise CommandFailed(self.name, self.address, f"run {cmd!r}", result.exit_code, result.stdout, result.stderr)
        return result

    def _run_kept(self, cmd: str, limit: float) -> CommandResult:
        started = time.monotonic()
        transport, shell = self._take_kept(cmd, limit)
        what = f"run {cmd!r}"
        reply_limit = min(limit, self.connect_timeout)
        try:
            reply = shell.run(cmd, limit, reply_limit)
        except KeptShellSilent:
            shell.close()
            self._drop()
            raise DeviceUnreachable(self.name, self.address, what, f"the shell did not take the command within {reply_limit:.1f} s (hung node?)") from None
        except KeptShellOverran as exc:
            shell.close()
            raise CommandFailed(self.name, self.address, what, None, exc.stdout.decode(errors="replace"),
                                exc.stderr.decode(errors="replace"), detail=f"no exit within {limit:.1f} s") from None
        except KeptShellLost as exc:
            shell.close()
            if not transport.is_active():
                self._drop()
            raise TransportDropped(self.name, self.address, what, str(exc)) from exc
        except BaseException:  # Ctrl-C mid-command: that shell's answer is still coming, so it is never reused
            shell.close()
            raise
        self._give_back(transport, shell)
        return CommandResult(reply.stdout.decode(errors="replace"), reply.stderr.decode(errors="replace"),
                             reply.exit_code, time.monotonic() - started)

    def _take_kept(self, cmd: str, limit: float) -> tuple[paramiko.Transport, KeptShell]:
        """An idle kept shell of the current connection, or a new one."""
        transport = self._transport()
        with self._lock:
            while self._kept:
                owner, shell = self._kept.pop()
                if owner is transport and shell.open:
                    return owner, shell
                shell.close()
        what = f"run {cmd!r}"
        channel = self._open_channel(what)
        reply_limit = min(limit, self.connect_timeout)
        try:
            if not self._request(what, reply_limit, lambda: channel.exec_command(KEPT_COMMAND)):
                raise DeviceUnreachable(self.name, self.address, what, f"no reply to the exec request within {reply_limit:.1f} s (hung node?)")
        except (OSError, EOFError, paramiko.SSHException) as exc:
            _close_quietly(channel)
            self._drop()
            raise _fault(exc)(self.name, self.address, what, _describe(exc, reply_limit)) from exc
        owner = channel.get_transport()
        assert owner is not None
        return owner, KeptShell(channel)

    def _give_back(self, transport: paramiko.Transport, shell: KeptShell) -> None:
        with self._lock:
            current = self._conn.client.get_transport() if self._conn is not None else None
            if transport is current and shell.open and len(self._kept) < KEPT_IDLE_MAX:
                self._kept.append((transport, shell))
                return
        shell.close()

    def _run_exec(self, cmd: str, limit: float) -> CommandResult:
        started = time.monotonic()
        channel = self._open_channel(f"run {cmd!r}")
        out: list[bytes] = []
        err: list[bytes] = []
        try:
            channel.settimeout(limit)
            if not self._request(f"run {cmd!r}", min(limit, self.connect_timeout), lambda: channel.exec_command(cmd)):
                raise DeviceUnreachable(self.name, self.address, f"run {cmd!r}", f"no reply to the exec request within {min(limit, self.connect_timeout):.1f} s (hung node?)")
            deadline = started + limit
            while True:
                while channel.recv_ready():
                    out.append(channel.recv(65536))
                while channel.recv_stderr_ready():
                    err.append(channel.recv_stderr(65536))
                # the exit status may overtake the last output: done once the output has ended too
                ended = channel.eof_received or channel.closed
                if channel.exit_status_ready() and ended and not channel.recv_ready() and not channel.recv_stderr_ready():
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CommandFailed(
                        self.name,
                        self.address,
                        f"run {cmd!r}",
                        None,
                        _text(out),
                        _text(err),
                        detail=f"no exit within {limit:.1f} s",
                    )
                select.select([channel], [], [], min(remaining, 0.5))
            code = channel.recv_exit_status()
            if code == -1 and not _transport_alive(channel):
                # paramiko ends a channel whose connection died with exit status -1 (no real command
                # exits so): a drop, not the command's answer (pcs "refusing" with -1 was a dead session)
                self._drop()
                raise TransportDropped(self.name, self.address, f"run {cmd!r}",
                                       "the connection closed before the command's exit status")
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._drop()
            raise _fault(exc)(self.name, self.address, f"run {cmd!r}", _describe(exc, limit)) from exc
        finally:
            _close_quietly(channel)
        return CommandResult(_text(out), _text(err), code, time.monotonic() - started)

    def fire_and_forget(self, cmd: str, grace: float = 0.5) -> int | None:
        """Start `cmd` and return within about `grace` s whatever it does.

        For commands that never answer (`echo c > /proc/sysrq-trigger`): the exit
        code if it finished within `grace`, else None. The connection is
        dropped afterwards, since the node it led to may be gone.
        """
        channel = self._open_channel(f"start {cmd!r}")
        code: int | None = None
        started = time.monotonic()
        try:
            # A crashing kernel may never even acknowledge the exec request.
            if not self._request(f"start {cmd!r}", grace, lambda: channel.exec_command(cmd)):
                return None
            deadline = started + grace
            while time.monotonic() < deadline:
                if channel.exit_status_ready():
                    code = channel.recv_exit_status()
                    break
                select.select([channel], [], [], max(0.0, min(0.05, deadline - time.monotonic())))
                while channel.recv_ready():
                    channel.recv(65536)
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the node going away mid-command is the expected outcome
        finally:
            _close_quietly(channel)
        if code is None:
            self._drop()
        return code

    def start_stream(self, cmd: str) -> Stream:
        """Start `cmd` in the background; read its lines with `.lines()`, end it with `.stop()`."""
        channel = self._open_channel(f"start {cmd!r}")
        try:
            if not self._request(f"start {cmd!r}", self.connect_timeout, lambda: channel.exec_command(cmd)):
                raise DeviceUnreachable(self.name, self.address, f"start {cmd!r}", f"no reply to the exec request within {self.connect_timeout:.1f} s (hung node?)")
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._drop()
            raise DeviceUnreachable(self.name, self.address, f"start {cmd!r}", _describe(exc, self.connect_timeout)) from exc
        return Stream(self.name, cmd, channel)

    def run_interactive(self, lines: list[str] | tuple[str, ...], timeout: float | None = None, exit_line: str = "exit") -> str:
        """Type `lines` into an interactive shell (a switch CLI), then `exit_line`;
        return everything it printed once it closes (bounded by `timeout`)."""
        limit = self.command_timeout if timeout is None else timeout
        what = f"type {len(lines)} lines into the shell"
        channel = self._open_channel(what)
        out: list[bytes] = []
        try:
            if not self._request(what, self.connect_timeout, lambda: (channel.get_pty(width=200), channel.invoke_shell())):
                raise DeviceUnreachable(self.name, self.address, what, f"no shell within {self.connect_timeout:.1f} s")
            for line in [*lines, exit_line]:
                channel.sendall((line + "\n").encode())
            deadline = time.monotonic() + limit
            while not (channel.closed or channel.eof_received) or channel.recv_ready():
                while channel.recv_ready():
                    out.append(channel.recv(65536))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CommandFailed(self.name, self.address, what, None, _text(out), detail=f"the shell did not close within {limit:.1f} s")
                select.select([channel], [], [], min(remaining, 0.5))
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._drop()
            raise DeviceUnreachable(self.name, self.address, what, _describe(exc, limit)) from exc
        finally:
            _close_quietly(channel)
        return _text(out)

    def read_file(self, path: str, timeout: float | None = None) -> str:
        return self.run(f"cat {_quote(path)}", timeout=timeout, idempotent=True).stdout

    # ------------------------------------------------------------ syslog

    def syslog_mark(self, path: str | None = None) -> SyslogMark:
        """Remember how far the syslog is now."""
        target = path or self.syslog_path
        return SyslogMark(target, self._line_count(target))

    def syslog_since(self, mark: SyslogMark) -> list[str]:
        """Syslog lines written after `mark` (all lines when the file was rotated since): the count and
        the lines after the mark in one command, the whole file in a second only after a rotation."""
        path = _quote(mark.path)
        text = self.run(f"wc -l {path}; tail -n +{mark.lines + 1} {path}", idempotent=True).stdout
        counted, _, after = text.partition("\n")
        if self._count_of(mark.path, counted) < mark.lines:
            after = self.run(f"cat {path}", idempotent=True).stdout
        return [line for line in after.splitlines() if line]

    def _line_count(self, path: str) -> int:
        # `wc -l FILE` prints "N FILE" (no redirection: simple node shells lack it).
        return self._count_of(path, self.run(f"wc -l {_quote(path)}", idempotent=True).stdout)

    def _count_of(self, path: str, wc_line: str) -> int:
        text = wc_line.strip()
        try:
            return int(text.split()[0])
        except (ValueError, IndexError):
            raise CommandFailed(self.name, self.address, f"count lines of {path}", 0, text, detail=f"unexpected wc output {text!r}") from None

    # ------------------------------------------------------------ probes

    def reachable(self, timeout: float = 2.0) -> bool:
        """Does an SSH server answer with a banner within `timeout` s?"""
        deadline = time.monotonic() + timeout
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
                data = b""
                while b"\n" not in data:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    sock.settimeout(remaining)
                    chunk = sock.recv(256)
                    if not chunk:
                        return False
                    data += chunk
                return data.startswith(b"SSH-")
        except OSError:
            return False


def run_marked(shell: Any, cmd: str, timeout: float | None = None, check: bool = True, *, idempotent: bool = False,
               took_effect: Callable[[], bool] | None = None) -> Any:
    """`shell.run(cmd, ...)` with the command's retry marks (see `NodeShell.run`) when the shell takes
    them; a shell that does not (a test's fake, a wrapper) runs the command plainly."""
    if getattr(shell, "retries_dropped_transport", False) and (idempotent or took_effect is not None):
        return shell.run(cmd, timeout=timeout, check=check, idempotent=idempotent, took_effect=took_effect)
    return shell.run(cmd, timeout=timeout, check=check)


def _close_quietly(channel: paramiko.Channel) -> None:
    """Close a channel whose connection may already be gone (closing writes to the socket, and a
    reset one raises EOFError): what the command returned stands, and the next call reconnects."""
    try:
        channel.close()
    except (OSError, EOFError, paramiko.SSHException):
        pass


def _text(chunks: list[bytes]) -> str:
    return b"".join(chunks).decode(errors="replace")


def _quote(path: str) -> str:
    return shlex.quote(path)  # leaves plain paths unquoted, as a person would type them


def _transport_alive(channel: paramiko.Channel) -> bool:
    transport = channel.get_transport()
    return transport is not None and transport.is_active()


def _fault(exc: BaseException) -> type[DeviceUnreachable]:
    """A time-out is a node that stopped answering (hung); anything else under an open connection
    (EOF, reset, a closed session) is the transport dropping (`TransportDropped`)."""
    return DeviceUnreachable if isinstance(exc, (socket.timeout, TimeoutError)) else TransportDropped


def _describe(exc: BaseException, limit: float) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"timed out after {limit:.1f} s"
    return text


__all__ = ["CommandResult", "NodeShell", "Stream", "SyslogMark", "run_marked"]
