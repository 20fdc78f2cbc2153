"""The restarts rgmanager still counts from before a case, read from syslog (hacert.observe.restarts):
the lines that count, the ones that must not (expired, emptied by a threshold relocation or by the
cluster forming again, another service's), each node's clock corrected. The nodes' grep is the real
GNU grep, run on files written here."""

from __future__ import annotations

import shlex
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from hacert.drivers.errors import HacertError
from hacert.observe.clocks import ClockReading
from hacert.observe.restarts import restarts_still_counted

SERVICE = "vm0001-dev"
EXPIRE = 600.0


@dataclass
class Result:
    stdout: str
    stderr: str
    exit_code: int


class FileShell:
    """A node whose /var/log/messages is a file here; commands run on this machine."""

    def __init__(self, folder: Path, dead: bool = False) -> None:
        self.folder = folder
        self.dead = dead

    def run(self, cmd: str, check: bool = True, timeout: float | None = None) -> Result:
        if self.dead:
            raise HacertError("ssh: connect to host: Connection refused")
        argv = [str(self.folder / "messages") if a == "/var/log/messages" else a for a in shlex.split(cmd)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return Result(done.stdout, done.stderr, done.returncode)


class Clocks:
    def __init__(self, offsets: dict[str, float]) -> None:
        self.offsets = offsets

    def reading(self, node: str) -> ClockReading:
        return ClockReading(node, self.offsets.get(node, 0.0), 0.002, time.time(), utc_offset=0)


def stamp(moment: float) -> str:
    """A classic syslog stamp ('Dec  7 08:10:01'; the node's local time is UTC here)."""
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%b %e %H:%M:%S")


def rgm(moment: float, node: str, text: str) -> str:
    return f"{stamp(moment)} {node} rgmanager[2931]: {text}"


def lab_of(tmp_path: Path, logs: dict[str, list[str]], offsets: dict[str, float] | None = None,
           dead: tuple[str, ...] = ()) -> SimpleNamespace:
    shells = {}
    for node, lines in logs.items():
        folder = tmp_path / node
        folder.mkdir()
        (folder / "messages").write_text("".join(line + "\n" for line in lines))
        shells[node] = FileShell(folder, dead=node in dead)
    inventory = SimpleNamespace(nodes=[SimpleNamespace(name=n) for n in logs])
    return SimpleNamespace(inventory=inventory, node=shells.__getitem__, clocks=Clocks(offsets or {}))


def test_a_recent_restart_counts_and_an_expired_one_does_not(tmp_path: Path) -> None:
    now = time.time()
    lab = lab_of(tmp_path, {
        "an-node01": [rgm(now - 700, "an-node01", f"Recovering failed service vm:{SERVICE}"),
                      rgm(now - 120, "an-node01", f"Recovering failed service vm:{SERVICE}"),
                      rgm(now - 119, "an-node01", f"Service vm:{SERVICE} started")],
        "an-node02": [],
    })
    history = restarts_still_counted(lab, SERVICE, EXPIRE, now)
    assert [r.node for r in history.restarts] == ["an-node01"] and not history.unreadable
    assert abs(history.restarts[0].earliest - (now - 120)) <= 1.1
    assert history.counted_between(now, now + 60) == (1, 1)
    # its expiry falls inside a failure judged 470-490 s from now: it may or may not count then
    assert history.counted_between(now + 470, now + 490) == (0, 1)


def test_the_threshold_relocation_and_a_cluster_formed_again_empty_the_count(tmp_path: Path) -> None:
    now = time.time()
    lab = lab_of(tmp_path, {
        "an-node01": [rgm(now - 300, "an-node01", f"Recovering failed service vm:{SERVICE}"),
                      rgm(now - 250, "an-node01", f"Recovering failed service vm:{SERVICE}"),
                      rgm(now - 200, "an-node01", f"Restart threshold for vm:{SERVICE} exceeded; attempting to relocate")],
        "an-node02": [rgm(now - 100, "an-node02", f"Recovering failed service vm:{SERVICE}")],
    })
    history = restarts_still_counted(lab, SERVICE, EXPIRE, now)
    assert [r.node for r in history.restarts] == ["an-node02"]
    assert 100 <= now - history.restarts[0].earliest <= 101.1

    (tmp_path / "formed").mkdir()
    formed = lab_of(tmp_path / "formed", {
        "an-node01": [rgm(now - 90, "an-node01", f"Recovering failed service vm:{SERVICE}")],
        "an-node02": [f"{stamp(now - 30)} an-node02 corosync[1821]:   [CMAN  ] quorum regained, resuming activity"],
    })
    assert restarts_still_counted(formed, SERVICE, EXPIRE, now).restarts == []


def test_another_service_whose_name_starts_alike_is_not_counted(tmp_path: Path) -> None:
    now = time.time()
    lab = lab_of(tmp_path, {"an-node01": [
        rgm(now - 60, "an-node01", f"Recovering failed service vm:{SERVICE}2"),
        rgm(now - 50, "an-node01", f"Recovering failed service vm:x{SERVICE}"),
        rgm(now - 40, "an-node01", f"Recovering failed service service:{SERVICE}.bak"),
    ]})
    assert restarts_still_counted(lab, SERVICE, EXPIRE, now).restarts == []


@pytest.mark.parametrize("offset, truly_ago, counted", [
    (300.0, 700.0, 0),   # node 5 min ahead: an expired restart reads as 400 s old; corrected, it is not counted
    (-300.0, 400.0, 1),  # node 5 min behind: a live restart reads as 700 s old; corrected, it is counted
])
def test_each_nodes_clock_is_corrected_before_judging_the_window(tmp_path: Path, offset: float, truly_ago: float,
                                                                 counted: int) -> None:
    now = time.time()
    node_time = now - truly_ago + offset
    lab = lab_of(tmp_path, {"an-node01": [rgm(node_time, "an-node01", f"Recovering failed service vm:{SERVICE}")]},
                 offsets={"an-node01": offset})
    history = restarts_still_counted(lab, SERVICE, EXPIRE, now)
    assert len(history.restarts) == counted
    if counted:
        assert abs(history.restarts[0].earliest - (now - truly_ago)) <= 1.1


def test_a_node_whose_syslog_cannot_be_read_is_named_not_taken_for_none(tmp_path: Path) -> None:
    now = time.time()
    lab = lab_of(tmp_path, {"an-node01": [], "an-node02": []}, dead=("an-node02",))
    (tmp_path / "an-node01" / "messages").unlink()
    history = restarts_still_counted(lab, SERVICE, EXPIRE, now)
    assert set(history.unreadable) == {"an-node01", "an-node02"}
    assert "No such file" in history.unreadable["an-node01"] and "refused" in history.unreadable["an-node02"]


def test_grep_saying_no_match_with_an_error_is_unreadable_not_none(tmp_path: Path) -> None:
    """labsim's syslog_unreadable fault (and some busybox greps) answer exit 1, the code of 'no line
    matched', with the error on stderr: that is a syslog nobody read, not a syslog without restarts."""
    now = time.time()
    lab = lab_of(tmp_path, {"an-node01": []})

    class Denied:
        def run(self, cmd: str, check: bool = True, timeout: float | None = None) -> Result:
            return Result("", "grep: /var/log/messages: Permission denied\n", 1)

    lab.node = {"an-node01": Denied()}.__getitem__
    history = restarts_still_counted(lab, SERVICE, EXPIRE, now)
    assert history.unreadable == {"an-node01": "grep: /var/log/messages: Permission denied"}


# ---------------------------------------------------------------- pacemaker's fail count


def crm_status(count: int, last_failure: float | None, node: str = "pm-node1") -> SimpleNamespace:
    from hacert.drivers.parsers.crm_mon import CrmFailCount

    stamp = None if last_failure is None else datetime.fromtimestamp(last_failure, timezone.utc).strftime("%a %b %e %H:%M:%S %Y")
    return SimpleNamespace(raw=SimpleNamespace(fail_counts=[
        CrmFailCount(node=node, resource="web01", fail_count=count, migration_threshold=3, last_failure=stamp),
        CrmFailCount(node="pm-node2", resource="web01", fail_count=5, migration_threshold=3, last_failure=stamp)]))


def pcmk_lab(offsets: dict[str, float]) -> SimpleNamespace:
    nodes = [SimpleNamespace(name=n, member_name=n) for n in ("pm-node1", "pm-node2", "pm-node3")]
    inventory = SimpleNamespace(nodes=nodes, node=lambda name: next(n for n in nodes if n.name == name))
    return SimpleNamespace(inventory=inventory, clocks=Clocks(offsets))


def test_pacemaker_fail_count_on_the_host_counts_until_its_failure_timeout() -> None:
    from hacert.observe.restarts import fail_count_still_counted

    now = time.time()
    lab = pcmk_lab({})
    history = fail_count_still_counted(lab, crm_status(2, now - 100), "web01", "pm-node1", EXPIRE, now)
    assert len(history.restarts) == 2 and history.counted_between(now, now + 30) == (2, 2)
    # the other node's count is not the host's; an expired count is no longer counted
    assert fail_count_still_counted(lab, crm_status(0, now - 100), "web01", "pm-node1", EXPIRE, now).restarts == []
    assert fail_count_still_counted(lab, crm_status(2, now - 700), "web01", "pm-node1", EXPIRE, now).restarts == []
    unknown = fail_count_still_counted(lab, crm_status(1, None), "web01", "pm-node1", EXPIRE, now)
    assert unknown.restarts == [] and "without its last failure" in unknown.unreadable["pm-node1"]


def test_pacemaker_last_failure_is_widened_by_the_spread_of_the_node_clocks() -> None:
    """crm_mon does not say whose local time `last-failure` is: with clocks 40 s apart, a failure
    stamped 590 s ago on the host's clock may or may not still count in the next 30 s."""
    from hacert.observe.restarts import fail_count_still_counted

    now = time.time()
    lab = pcmk_lab({"pm-node1": 0.0, "pm-node2": 40.0})
    history = fail_count_still_counted(lab, crm_status(1, now - 590), "web01", "pm-node1", EXPIRE, now)
    assert len(history.restarts) == 1
    assert history.restarts[0].latest - history.restarts[0].earliest >= 80
    assert history.counted_between(now, now + 30) == (0, 1)
