"""hacert.drivers.node against a paramiko SSH server of our own (tests/drivers/sshd.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paramiko
import pytest

from hacert.drivers.errors import AuthenticationRefused, CommandFailed, DeviceUnreachable, TransportDropped
from hacert.drivers.kept_shell import COMMAND as KEPT_COMMAND
from hacert.drivers.node import KEPT_IDLE_MAX, NodeShell

from tests.drivers.sshd import FREEZE, PASSWORD, USER, FakeSshd, SilentServer

# Prints one line every 50 ms until interrupted, then a summary (like ping).
STREAMER = 'trap "echo 3 lines, summary; exit 0" INT; i=0; while true; do i=$((i+1)); echo "reply $i"; sleep 0.05; done'


@pytest.fixture
def sshd(tmp_path: Path):
    server = FakeSshd(tmp_path)
    yield server
    server.close()


@pytest.fixture
def node(sshd: FakeSshd, tmp_path: Path):
    (tmp_path / "messages").write_text("Jan  1 00:00:01 node-a kernel: one\nJan  1 00:00:02 node-a kernel: two\n")
    shell = NodeShell(
        "node-a", "127.0.0.1", sshd.port, USER, password=PASSWORD, connect_timeout=2, command_timeout=5, syslog_path=str(tmp_path / "messages")
    )
    yield shell
    shell.close()


def test_run_returns_output_and_exit_code_on_one_reused_connection(node: NodeShell) -> None:
    result = node.run("echo out; echo err >&2")
    assert (result.stdout, result.stderr, result.exit_code) == ("out\n", "err\n", 0)
    transport = node._transport()
    for i in range(5):
        assert node.run(f"echo {i}").stdout == f"{i}\n"
    assert node._transport() is transport  # one connection, reused
    assert node.run("exit 3", check=False).exit_code == 3
    with pytest.raises(CommandFailed) as caught:
        node.run("echo oops >&2; exit 4")
    assert caught.value.exit_code == 4 and "oops" in str(caught.value)


def test_command_timeout_is_enforced(node: NodeShell, sshd: FakeSshd) -> None:
    started = time.monotonic()
    with pytest.raises(CommandFailed) as caught:
        node.run("sleep 30", timeout=0.5)
    elapsed = time.monotonic() - started
    assert caught.value.exit_code is None
    assert 0.5 <= elapsed < 1.5
    assert node.run("echo still usable").stdout == "still usable\n"
    assert sshd.execs.count(KEPT_COMMAND) == 2  # the overrun shell was closed, not reused mid-command


def test_read_file_and_syslog_since_mark(node: NodeShell, tmp_path: Path) -> None:
    assert node.read_file(str(tmp_path / "messages")).count("\n") == 2
    mark = node.syslog_mark()
    assert mark.lines == 2
    assert node.syslog_since(mark) == []
    node.run("echo 'Jan  1 00:00:03 node-a fenced[1]: fencing node node-b' >> messages")
    asked: list[str] = []
    real_run = node.run
    node.run = lambda cmd, *a, **k: asked.append(cmd) or real_run(cmd, *a, **k)  # type: ignore[method-assign]
    assert node.syslog_since(mark) == ["Jan  1 00:00:03 node-a fenced[1]: fencing node node-b"]
    assert len(asked) == 1, asked  # the count and the new lines in one command (the guard reads syslogs every case)
    del node.run
    # After a rotation (the file is shorter than the mark), everything counts as new.
    node.run("echo 'Jan  1 00:00:09 node-a rotated: fresh' > messages")
    assert node.syslog_since(mark) == ["Jan  1 00:00:09 node-a rotated: fresh"]


def test_stream_collects_lines_while_running_and_summary_on_stop(node: NodeShell) -> None:
    stream = node.start_stream(STREAMER)
    deadline = time.monotonic() + 5
    while len(stream.lines()) < 3:
        assert time.monotonic() < deadline, "no streamed lines within 5 s"
        time.sleep(0.02)
    assert stream.alive
    assert stream.lines()[:3] == ["reply 1", "reply 2", "reply 3"]
    assert node.run("echo concurrent").stdout == "concurrent\n"  # the stream does not block the shell
    text = stream.stop()
    assert not stream.alive
    assert text.splitlines()[-1] == "3 lines, summary"
    assert stream.exit_code == 0


def test_stream_that_ends_by_itself(node: NodeShell) -> None:
    stream = node.start_stream("echo a; echo b")
    assert stream.wait(5)
    assert stream.lines() == ["a", "b"] and stream.exit_code == 0


def test_fire_and_forget_on_a_command_that_never_returns(node: NodeShell, sshd: FakeSshd) -> None:
    assert node.reachable()
    started = time.monotonic()
    assert node.fire_and_forget("echo c > /proc/sysrq-trigger", grace=0.5) is None  # the server only pretends
    elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"fire_and_forget took {elapsed:.2f} s"
    assert sshd.commands[-1] == "echo c > /proc/sysrq-trigger"
    # The node is now hung: the probe says so quickly, and commands raise instead of hanging.
    assert not node.reachable(timeout=0.5)
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable):
        node.run("true")
    assert time.monotonic() - started < node.connect_timeout + 1


@pytest.mark.parametrize("kept", [True, False], ids=["kept-shell", "exec-channel"])
def test_node_hanging_mid_conversation_raises_within_connect_timeout(node: NodeShell, kept: bool) -> None:
    node.keep_shells = kept
    node.run("true")  # connected
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable) as caught:
        node.run(FREEZE, timeout=30)
    elapsed = time.monotonic() - started
    print(f"\nnode hung after login: {type(caught.value).__name__} after {elapsed:.2f} s (connect_timeout {node.connect_timeout} s): {caught.value}")
    assert elapsed < node.connect_timeout + 0.5


def test_fire_and_forget_reports_a_quick_exit(node: NodeShell) -> None:
    assert node.fire_and_forget("exit 7", grace=2) == 7


def test_wrong_password_is_authentication_refused(sshd: FakeSshd) -> None:
    shell = NodeShell("node-a", "127.0.0.1", sshd.port, USER, password="wrong", connect_timeout=2)
    with pytest.raises(AuthenticationRefused):
        shell.run("true")
    assert "wrong" not in repr(shell)


def test_interactive_shell_session(node: NodeShell, tmp_path: Path) -> None:
    out = node.run_interactive(["echo first > typed.txt", "echo second >> typed.txt"], timeout=5)
    assert (tmp_path / "typed.txt").read_text() == "first\nsecond\n", out


def test_hung_ssh_server_raises_within_connect_timeout() -> None:
    silent = SilentServer()
    try:
        shell = NodeShell("node-hung", "127.0.0.1", silent.port, USER, password=PASSWORD, connect_timeout=1.5, command_timeout=5)
        started = time.monotonic()
        with pytest.raises(DeviceUnreachable) as caught:
            shell.run("true")
        elapsed = time.monotonic() - started
        print(f"\nhung SSH server: {type(caught.value).__name__} after {elapsed:.2f} s (connect/banner timeout 1.5 s): {caught.value}")
        assert elapsed < 1.5 + 0.5
        assert "no SSH banner" in str(caught.value)
        assert not shell.reachable(timeout=0.5)
    finally:
        silent.close()


def test_nothing_listening_is_unreachable_fast() -> None:
    shell = NodeShell("node-off", "127.0.0.1", 1, USER, password=PASSWORD, connect_timeout=2)
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable):
        shell.run("true")
    assert time.monotonic() - started < 2


def test_a_connection_reset_while_closing_the_channel_leaves_the_result(node: NodeShell, monkeypatch: pytest.MonkeyPatch) -> None:
    def reset(channel: paramiko.Channel) -> None:
        raise EOFError()

    monkeypatch.setattr(paramiko.Channel, "close", reset)
    assert node.run("echo done").stdout == "done\n"


def test_commands_share_one_kept_shell_and_each_stands_alone(node: NodeShell, sshd: FakeSshd, tmp_path: Path) -> None:
    for i in range(5):
        assert node.run(f"echo {i}").stdout == f"{i}\n"
    assert node.run("cd /; exit 3", check=False).exit_code == 3
    assert node.run("pwd").stdout == f"{tmp_path}\n"  # the `cd` and the `exit` stayed in their subshell
    assert node.run("cat", timeout=3).stdout == ""  # a command reading stdin does not eat the next command
    assert node.run("printf abc").stdout == "abc"  # output without a last newline
    forged = "hacert00000000s9b 0"
    assert node.run(f"echo '{forged}'; echo after").stdout == f"{forged}\nafter\n"
    noisy = node.run('i=0; while [ $i -lt 3000 ]; do echo "e$i" >&2; i=$((i+1)); done; echo done')
    assert noisy.stdout == "done\n" and noisy.stderr.splitlines() == [f"e{i}" for i in range(3000)]
    assert sshd.execs == [KEPT_COMMAND]  # eleven commands, one channel


def test_a_command_the_kept_shell_cannot_carry_runs_on_its_own_channel(node: NodeShell, sshd: FakeSshd) -> None:
    assert node.run("echo kept").stdout == "kept\n"
    assert node.run("echo a # a comment").stdout == "a\n"
    assert node.run("echo one\necho two").stdout == "one\ntwo\n"
    unbalanced = node.run("echo 'open", check=False)
    assert unbalanced.exit_code != 0 and unbalanced.stderr  # the shell's own complaint, on its own channel
    assert sshd.execs == [KEPT_COMMAND, "echo a # a comment", "echo one\necho two", "echo 'open"]
    assert node.run("echo still kept").stdout == "still kept\n"
    assert sshd.execs.count(KEPT_COMMAND) == 1


def test_a_kept_shell_that_dies_under_a_command_is_a_dropped_transport(node: NodeShell, sshd: FakeSshd) -> None:
    assert node.run("echo up").stdout == "up\n"
    with pytest.raises(TransportDropped):
        node.run("kill -9 $$")  # the shell itself, not the command's subshell
    assert node.run("echo back").stdout == "back\n"  # on a new kept shell of the same connection
    assert sshd.execs.count(KEPT_COMMAND) == 2


def test_commands_from_several_threads_each_get_their_own_answer(node: NodeShell, sshd: FakeSshd) -> None:
    wrong: list[str] = []

    def worker(n: int) -> None:
        for i in range(15):
            got = node.run(f"echo {n}-{i}; echo {n}-{i}-err >&2")
            if (got.stdout, got.stderr) != (f"{n}-{i}\n", f"{n}-{i}-err\n"):
                wrong.append(f"{n}-{i}: {got!r}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(KEPT_IDLE_MAX)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not wrong
    # a shell is opened only when every other is busy, and each goes back to the pool: one per thread at most
    assert 1 <= sshd.execs.count(KEPT_COMMAND) <= KEPT_IDLE_MAX and set(sshd.execs) == {KEPT_COMMAND}


def test_a_kept_shell_s_greeting_is_no_command_s_output(node: NodeShell, sshd: FakeSshd, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A login shell that prints on starting (a motd in a profile) must not leak into the first command's answer."""
    chatty = tmp_path / "chatty-shell"
    chatty.write_text('#!/bin/sh\necho "Welcome to node-a"\necho "last login: never" >&2\nexec /bin/sh "$@"\n')
    chatty.chmod(0o755)
    monkeypatch.setenv("SHELL", str(chatty))  # the login shell the kept shell starts (sshd sets it from passwd)
    first = node.run("echo first; echo first-err >&2")
    assert (first.stdout, first.stderr) == ("first\n", "first-err\n")
    assert node.run("echo second").stdout == "second\n"
    assert sshd.execs == [KEPT_COMMAND]


def test_a_kept_shell_interrupted_mid_command_is_never_reused(node: NodeShell, sshd: FakeSshd,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while a command's answer is still coming: that shell would hand its late answer to the
    next command, so it is closed and the next command gets a new one."""
    from hacert.drivers.kept_shell import KeptShell

    assert node.run("echo before").stdout == "before\n"
    real_reply = KeptShell._reply
    cut: list[KeptShell] = []

    def interrupted(self: KeptShell, *args: object) -> object:
        monkeypatch.setattr(KeptShell, "_reply", real_reply)
        cut.append(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(KeptShell, "_reply", interrupted)
    with pytest.raises(KeyboardInterrupt):
        node.run("sleep 0.3; echo late")
    assert cut and cut[0].channel.closed, "the interrupted shell is closed, not left open beside the pool"
    assert node.run("echo after").stdout == "after\n"
    assert sshd.execs.count(KEPT_COMMAND) == 2
