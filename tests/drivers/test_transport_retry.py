"""The SSH driver's transport retries (hacert.drivers.node.NodeShell.run), against the tests' own
SSH server (tests/drivers/sshd.py) whose connection is cut under a chosen command.

- an idempotent command survives its connection killed mid-command: re-run once, on a fresh
  connection, the decision journaled; the same command unmarked raises the drop (not a
  CommandFailed, not an exit code -1 passed off as the command's answer);
- a non-idempotent command whose connection died after it took effect is not repeated; one
  whose connection died before it ran is run once more;
- a node that goes dark with the connection is a lab error (DeviceUnreachable) within its deadline,
  the command never run twice.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paramiko
import pytest

from hacert.drivers.errors import CommandFailed, DeviceUnreachable, LabError, TransportDropped
from hacert.drivers.node import RETRY_PROBE_S, NodeShell, run_marked
from hacert.drivers.transport import NOT_TAKEN, RERAN, TOOK_EFFECT, TransportJournal

from tests.drivers.sshd import PASSWORD, USER, FakeSshd

SLOW_STATUS = "sleep 0.4; echo status-ok"
APPEND = "echo moved >> effects"


class CuttingSshd(FakeSshd):
    """FakeSshd that kills the whole connection under chosen commands, once each.

    `cut_during[cmd] = seconds`: the command starts, the connection dies `seconds` later (mid-command);
    `cut_after`: the command runs to its end (its effect made), the connection dies before its exit status;
    `cut_before`: the connection dies as the command is asked for, before it runs;
    `go_dark`: with the cut, the server stops answering (new connections get no banner)."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.cut_during: dict[str, float] = {}
        self.cut_after: set[str] = set()
        self.cut_before: set[str] = set()
        self.go_dark = False
        self.cuts = 0

    def _cut(self, channel: paramiko.Channel) -> None:
        self.cuts += 1
        if self.go_dark:
            self.crash()
        channel.get_transport().close()

    def typed(self, channel: paramiko.Channel, command: str) -> bool:
        """The same cuts for a command typed into a kept shell (False: the shell never gets it)."""
        if command in self.cut_before:
            self.cut_before.discard(command)
            self._cut(channel)
            return False
        if command in self.cut_after:
            self.cut_after.discard(command)
            import subprocess
            subprocess.run(["/bin/sh", "-c", command], cwd=self.workdir, check=False)
            self._cut(channel)
            return False
        if command in self.cut_during:
            threading.Timer(self.cut_during.pop(command), self._cut, args=(channel,)).start()
        return True

    def execute(self, channel: paramiko.Channel, command: str | None) -> None:
        if command in self.cut_before:
            self.cut_before.discard(command)
            self._cut(channel)
            return
        if command in self.cut_after:
            self.cut_after.discard(command)
            import subprocess
            subprocess.run(["/bin/sh", "-c", command], cwd=self.workdir, check=False)
            self._cut(channel)
            return
        if command in self.cut_during:
            delay = self.cut_during.pop(command)
            threading.Timer(delay, self._cut, args=(channel,)).start()
        super().execute(channel, command)


@pytest.fixture
def sshd(tmp_path: Path):
    server = CuttingSshd(tmp_path)
    yield server
    server.close()


@pytest.fixture
def journal() -> TransportJournal:
    return TransportJournal()


@pytest.fixture(params=[True, False], ids=["kept-shell", "exec-channel"])
def node(sshd: CuttingSshd, journal: TransportJournal, request: pytest.FixtureRequest):
    """Each test runs both ways a command reaches the node: typed into a kept shell, or on its own channel."""
    shell = NodeShell("node-a", "127.0.0.1", sshd.port, USER, password=PASSWORD, connect_timeout=2,
                      command_timeout=10, journal=journal, keep_shells=request.param)
    yield shell
    shell.close()


def test_an_unmarked_command_cut_mid_command_is_a_transport_drop(node: NodeShell, sshd: CuttingSshd) -> None:
    """Without a mark nothing is retried, and the drop is told as a drop (it was once an exit code -1,
    which `pcs` callers read as the cluster refusing)."""
    node.run("true")
    sshd.cut_during[SLOW_STATUS] = 0.1
    started = time.monotonic()
    with pytest.raises(TransportDropped) as caught:
        node.run(SLOW_STATUS, check=False)
    assert time.monotonic() - started < 2, "a dropped connection is seen at once, not at the command's time-out"
    assert isinstance(caught.value, DeviceUnreachable) and not isinstance(caught.value, CommandFailed)
    assert sshd.commands.count(SLOW_STATUS) == 1
    assert node.run("echo again").stdout == "again\n"  # the next command reconnects


def test_an_idempotent_command_survives_its_connection_killed_mid_command(node: NodeShell, sshd: CuttingSshd,
                                                                          journal: TransportJournal) -> None:
    node.run("true")
    first = node._transport()
    sshd.cut_during[SLOW_STATUS] = 0.1
    mark = journal.mark()
    result = node.run(SLOW_STATUS, idempotent=True)
    assert (result.stdout, result.exit_code, result.assumed) == ("status-ok\n", 0, False)
    assert sshd.cuts == 1 and sshd.commands.count(SLOW_STATUS) == 2
    assert node._transport() is not first, "the second run is on a fresh connection"
    events = journal.since(mark)
    assert [(e.command, e.action, e.outcome) for e in events] == [(SLOW_STATUS, RERAN, "exit code 0")]
    assert "lost its connection" in events[0].text()


def test_the_cluster_driver_reads_status_through_a_cut(node: NodeShell, sshd: CuttingSshd, journal: TransportJournal) -> None:
    """Call sites mark their reads: the cluster manager's status read is idempotent."""
    from hacert.drivers.cluster.pacemaker import PacemakerCluster

    sshd.cut_before.add("crm_mon --one-shot --inactive --output-as=xml")
    cluster = PacemakerCluster({"node-a": node})
    # the fake node has no crm_mon: what matters is that the command ran again and answered
    raw = cluster._crm_mon("node-a", "crm_mon --one-shot --inactive --output-as=xml")
    assert isinstance(raw, str)
    assert sshd.commands.count("crm_mon --one-shot --inactive --output-as=xml") == 2
    assert [e.action for e in journal.since(0)] == [RERAN]


def test_a_non_idempotent_command_that_took_effect_is_not_repeated(node: NodeShell, sshd: CuttingSshd,
                                                                   tmp_path: Path, journal: TransportJournal) -> None:
    node.run("true")
    sshd.cut_after.add(APPEND)
    checks: list[str] = []

    def moved() -> bool:
        checks.append("asked")
        return node.run("cat effects", idempotent=True).stdout.count("moved") >= 1

    result = node.run(APPEND, took_effect=moved)
    assert result.assumed and result.exit_code == 0
    assert (tmp_path / "effects").read_text() == "moved\n", "run once, not twice"
    assert sshd.commands.count(APPEND) == 1 and checks == ["asked"]
    assert [e.action for e in journal.since(0)] == [TOOK_EFFECT]


def test_a_non_idempotent_command_cut_before_it_ran_is_run_once_more(node: NodeShell, sshd: CuttingSshd,
                                                                    tmp_path: Path, journal: TransportJournal) -> None:
    node.run("true")
    sshd.cut_before.add(APPEND)
    result = node.run(APPEND, took_effect=lambda: (tmp_path / "effects").exists())
    assert not result.assumed and result.exit_code == 0
    assert (tmp_path / "effects").read_text() == "moved\n"
    assert sshd.commands.count(APPEND) == 2
    assert [e.action for e in journal.since(0)] == [NOT_TAKEN]


def test_a_non_idempotent_command_without_a_check_is_never_repeated(node: NodeShell, sshd: CuttingSshd,
                                                                   tmp_path: Path) -> None:
    node.run("true")
    sshd.cut_after.add(APPEND)
    with pytest.raises(TransportDropped):
        node.run(APPEND)
    assert (tmp_path / "effects").read_text() == "moved\n"
    assert sshd.commands.count(APPEND) == 1


def test_a_node_that_goes_dark_with_its_connection_is_a_lab_error_within_its_deadline(
        node: NodeShell, sshd: CuttingSshd, journal: TransportJournal) -> None:
    node.run("true")
    sshd.cut_during[SLOW_STATUS] = 0.1
    sshd.go_dark = True
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable) as caught:
        node.run(SLOW_STATUS, idempotent=True)
    elapsed = time.monotonic() - started
    assert isinstance(caught.value, LabError)
    # the drop is seen at once, the banner probe gives up within RETRY_PROBE_S (capped by connect_timeout)
    assert elapsed < 0.1 + min(RETRY_PROBE_S, node.connect_timeout) + 1.0, elapsed
    assert sshd.commands.count(SLOW_STATUS) == 1, "nothing is re-run on a dark node"
    assert journal.since(0) == []
    with pytest.raises(DeviceUnreachable):  # and it stays a lab error, each time within the connect timeout
        started = time.monotonic()
        node.run(SLOW_STATUS, idempotent=True)
    assert time.monotonic() - started < node.connect_timeout + 1.0


def test_a_failed_took_effect_check_raises_the_drop(node: NodeShell, sshd: CuttingSshd, journal: TransportJournal) -> None:
    node.run("true")
    sshd.cut_after.add(APPEND)

    def cannot_tell() -> bool:
        raise DeviceUnreachable("node-a", "here", "read the effects", "gone")

    with pytest.raises(TransportDropped):
        node.run(APPEND, took_effect=cannot_tell)
    assert sshd.commands.count(APPEND) == 1
    assert "could not tell" in journal.since(0)[0].outcome


def test_run_marked_leaves_shells_without_marks_alone() -> None:
    class Plain:
        def run(self, cmd: str, timeout: float | None = None, check: bool = True) -> str:
            return f"{cmd} {timeout} {check}"

    assert run_marked(Plain(), "x", timeout=3, check=False, idempotent=True) == "x 3 False"


def test_the_pacemaker_move_checks_where_the_resource_is() -> None:
    from hacert.drivers.cluster.pacemaker import _prefers

    xml = ('<constraints><rsc_location id="cli-prefer-vm0001-dev" rsc="vm0001-dev" role="Started" node="node1" '
           'score="INFINITY"/><rsc_location id="loc-home" rsc="vm0002" node="node2" score="100"/></constraints>')
    assert _prefers(xml, "vm0001-dev", "node1")
    assert not _prefers(xml, "vm0001-dev", "node2")
    assert not _prefers(xml, "vm0002", "node2"), "a home preference is no move"
    assert not _prefers("not xml", "vm0001-dev", "node1")


def test_pacemaker_marks_its_commands() -> None:
    """What each pcs request may do after a drop: enable/disable/clear/cleanup are idempotent, a move
    is checked (its check reads the cluster on the node the move was sent to), status reads idempotent."""
    from types import SimpleNamespace

    from hacert.drivers.cluster.pacemaker import PacemakerCluster

    class Marked:
        name = "node-a"
        retries_dropped_transport = True

        def __init__(self) -> None:
            self.calls: list[tuple[str, bool, bool]] = []
            self.checks: list[bool] = []

        def run(self, cmd: str, timeout: float | None = None, check: bool = True, *, idempotent: bool = False,
                took_effect=None):
            self.calls.append((cmd, idempotent, took_effect is not None))
            if took_effect is not None:
                self.checks.append(took_effect())
            if cmd.startswith("cibadmin"):
                return SimpleNamespace(stdout='<constraints><rsc_location id="cli-prefer-vm1" rsc="vm1" node="node-b" '
                                              'score="INFINITY"/></constraints>', exit_code=0)
            return SimpleNamespace(stdout="", exit_code=0, stderr="")

    shell = Marked()
    cluster = PacemakerCluster({"node-a": shell})
    cluster.relocate("vm1", "node-b")
    cluster.enable("vm1")
    cluster.clear("vm1")
    cluster.reset_failures("vm1")
    cluster.disable("vm1")
    marks = {cmd.split(" vm1")[0]: (idem, checked) for cmd, idem, checked in shell.calls}
    assert marks["pcs resource move"] == (False, True)
    assert shell.checks == [True], "the move's check found its cli-prefer constraint"
    for verb in ("enable", "clear", "cleanup", "disable"):
        assert marks[f"pcs resource {verb}"] == (True, False), verb
    assert marks["crm_mon --one-shot --inactive --output-as=xml"] == (True, False)
