"""A shell kept open on a node for short status reads: one `sh -s` per SSH channel, fed framed commands.

A command on its own exec channel costs about nine SSH packets (open, exec request, its reply,
output, exit status, EOF, close both ways), each handled in Python by paramiko; on a kept shell it
is one packet out and, for a quick command, one per stream back (sshd sends what it finds in the
shell's pipes together): a third of the CPU (0.95-1.24 ms → 0.34-0.39 ms per command against
labsim). The harness polls bond files, cluster status and clocks many times a second, so this was
most of its SSH cost.

Each command is written as one line:

    echo A; (CMD) </dev/null; echo "B $?"; echo B >&2

`A` (on stdout at once) says the shell took the line: a node that does not echo it within the
reply limit is treated like one that does not answer an exec request (hung). `B` plus the exit
code ends stdout, `B` alone ends stderr (the two streams reach the client independently, so both
need their own end). The subshell keeps `cd`, `exit` and variables from leaking into the next
command, and `</dev/null` keeps a command that reads stdin from eating the next frame. A command
the frame cannot carry safely (a newline, a comment, unbalanced quotes, a heredoc) is refused
here (`KeptShell.carries`) and runs on its own channel.
"""

from __future__ import annotations

import functools
import re
import secrets
import shlex
import socket
import time
from dataclasses import dataclass
from itertools import count

import paramiko

COMMAND = 'exec "${SHELL:-/bin/sh}" -s'
"""What the kept channel runs: the login shell (the one an exec request's command runs in, so a command
means the same on either path) reading commands from stdin; not interactive: no prompt, no banner."""

WAIT_SLICE_S = 0.25
"""The longest one wait on a stream lasts before the other stream and the deadlines are looked at again."""

_UNSAFE = re.compile(r"[\n\r#]|<<")


@dataclass(frozen=True)
class KeptReply:
    stdout: bytes
    stderr: bytes
    exit_code: int


class KeptShellLost(Exception):
    """The kept shell's channel closed or broke under a command (the node went away, or the shell exited)."""


class KeptShellSilent(Exception):
    """The shell did not take the command line within the reply limit (a hung node)."""


class KeptShellOverran(Exception):
    """The command did not end within its time limit; what it printed so far is kept."""

    def __init__(self, stdout: bytes, stderr: bytes) -> None:
        super().__init__("no end within the limit")
        self.stdout, self.stderr = stdout, stderr


class KeptShell:
    """One shell reading commands from one SSH channel; one command at a time (the owner serialises)."""

    def __init__(self, channel: paramiko.Channel) -> None:
        self.channel = channel
        self._token = secrets.token_hex(4)
        self._serial = count(1)
        self._fresh = True
        self._out, self._err = bytearray(), bytearray()

    @staticmethod
    def carries(cmd: str) -> bool:
        return _carries(cmd)

    @property
    def open(self) -> bool:
        return not (self.channel.closed or self.channel.eof_received)

    def close(self) -> None:
        try:
            self.channel.close()
        except (OSError, EOFError, paramiko.SSHException):
            pass

    def run(self, cmd: str, limit: float, reply_limit: float) -> KeptReply:
        started = time.monotonic()
        reply_deadline, deadline = started + min(limit, reply_limit), started + limit
        try:
            if self._fresh:
                # A first `true` whose answer is thrown away, sent in the same packet: it carries off
                # whatever the shell printed on starting (a login script's greeting, on either stream).
                self._fresh = False
                hello, command = self._marks(), self._marks()
                self.channel.sendall((frame("true", *hello) + frame(cmd, *command)).encode())
                self._reply(*hello, reply_deadline, deadline)
            else:
                command = self._marks()
                self.channel.sendall(frame(cmd, *command).encode())
            return self._reply(*command, reply_deadline, deadline)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise KeptShellLost(str(exc) or type(exc).__name__) from exc

    def _marks(self) -> tuple[str, str]:
        serial = next(self._serial)
        return f"hacert{self._token}s{serial}a", f"hacert{self._token}s{serial}b"

    def _reply(self, ack_mark: str, end_mark: str, reply_deadline: float, deadline: float) -> KeptReply:
        """Read one command's answer off the channel; what follows it stays buffered for the next."""
        channel = self.channel
        out, err = self._out, self._err
        ack = ack_mark.encode() + b"\n"
        ended = re.compile(re.escape(end_mark.encode()) + rb" (\d+)\n")
        err_end = end_mark.encode() + b"\n"
        acknowledged = False
        while True:
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
            if not acknowledged and (at := out.find(ack)) >= 0:
                del out[:at + len(ack)]  # and whatever the shell said before it
                acknowledged = True
            code = ended.search(out) if acknowledged else None
            if code and (cut := err.find(err_end)) >= 0:
                reply = KeptReply(bytes(out[:code.start()]), bytes(err[:cut]), int(code[1]))
                del out[:code.end()]
                del err[:cut + len(err_end)]
                return reply
            if channel.closed or channel.eof_received:
                if channel.recv_ready() or channel.recv_stderr_ready():
                    out += channel.recv(65536) if channel.recv_ready() else b""
                    continue
                said = "the command ended" if acknowledged else "it took the command"
                raise KeptShellLost(f"the shell's channel closed before {said}")
            now = time.monotonic()
            if not acknowledged and now >= reply_deadline:
                raise KeptShellSilent()
            if now >= deadline:
                raise KeptShellOverran(bytes(out), bytes(err))
            # Wait on the stream whose end is still to come, in paramiko's own buffer (no select, no pipe):
            # stdout first, then stderr, whose end the shell writes last. Slices keep stderr drained
            # (both streams share the channel's window) and the deadlines checked.
            channel.settimeout(min((deadline if acknowledged else reply_deadline) - now, WAIT_SLICE_S))
            try:
                if code is None:
                    out += channel.recv(65536)
                else:
                    err += channel.recv_stderr(65536)
            except socket.timeout:
                continue


@functools.lru_cache(maxsize=1024)  # the harness asks the same few commands again and again
def _carries(cmd: str) -> bool:
    if _UNSAFE.search(cmd):
        return False
    try:
        shlex.split(cmd)
    except ValueError:
        return False
    return True


def frame(cmd: str, ack: str, end: str) -> str:
    """The line a kept shell is sent for `cmd` (see the module's docstring)."""
    return f'echo {ack}; ({cmd}) </dev/null; echo "{end} $?"; echo {end} >&2\n'


_FRAMED = re.compile(r'echo (?P<ack>\S+); \((?P<command>.*)\) </dev/null; echo "(?P<end>\S+) \$\?"; echo (?P=end) >&2')


def unframe(line: str) -> tuple[str, str, str] | None:
    """(ack, command, end) of a line `frame` made (without its newline), else None: for servers that
    stand in for a node's shell (labsim, the tests' own SSH server)."""
    found = _FRAMED.fullmatch(line)
    return (found["ack"], found["command"], found["end"]) if found else None


__all__ = ["COMMAND", "frame", "unframe", "KeptReply", "KeptShell", "KeptShellLost", "KeptShellOverran", "KeptShellSilent"]
