"""Helpers for netlab's own tests: real namespaces, real daemons, checked through real clients.

Every test here skips, with the reason, when this machine cannot run netlab (not root,
namespaces refused, a Debian package missing); nothing else makes them skip.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from hacert.netlab import ns

REPO = Path(__file__).resolve().parents[2]


FULL_MATRIX = os.environ.get("NETLAB_FULL_MATRIX") == "1"
"""CI runs one case of each procedure and variant on the real lab (the other node's, bond's and
switch's cases are the same procedure on mirrored cabling and placement) to stay within its time;
NETLAB_FULL_MATRIX=1 runs all of it, and the checks that overlap the cluster's own."""

LOCK = Path("/tmp/netlab-tests.lock")
LOCK_WAIT = 420.0


@pytest.fixture(scope="module")
def netlab_machine_lock() -> Iterator[None]:
    """One netlab test module at a time on this machine: two runs of these tests (several people
    run `pytest tests` here at once) would share prefixes and ports and tear down each other's labs."""
    require_netlab()
    from filelock import FileLock, Timeout

    lock = FileLock(str(LOCK))
    try:
        lock.acquire(timeout=LOCK_WAIT)
    except Timeout:
        pytest.fail(f"another run kept {LOCK} (netlab tests) for {LOCK_WAIT:g} s", pytrace=False)
    try:
        yield
    finally:
        lock.release()


def require_netlab() -> None:
    problems = ns.missing_requirements()
    if problems:
        pytest.skip("netlab cannot run here: " + "; ".join(problems))


def wait_until(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:g} s (last: {last!r})")


def leftovers(prefix: str, pids: list[int] = ()) -> list[str]:  # type: ignore[assignment]
    """Whatever of netlab's (this prefix) still exists: netns, host links, processes."""
    out = [f"netns {n}" for n in ns.netns_list(prefix)]
    out += [f"host link {link}" for link in ns.host_links(prefix)]
    out += [f"pid {p} still alive" for p in pids if Path(f"/proc/{p}").exists() and not _zombie(p)]
    return out


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def host_mount_lines(marker: str) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if marker in line]


def node_shell(endpoints: dict[str, Any], node: str, connect_timeout: float = 5.0) -> Any:
    from hacert.drivers.node import NodeShell

    ssh = endpoints["nodes"][node]["ssh"]
    return NodeShell(node, ssh["host"], int(ssh["port"]), ssh["user"], password=ssh["password"],
                     connect_timeout=connect_timeout)


def node_bmc(endpoints: dict[str, Any], node: str) -> Any:
    """The node's BMC through netlab's relay (close it after use)."""
    from hacert.drivers.ipmi import IpmiBmc

    ep = endpoints["nodes"][node]["bmc"]
    return IpmiBmc(node, ep["host"], int(ep["port"]), ep["user"], ep["password"])


def bmc_power(endpoints: dict[str, Any], node: str, action: str) -> None:
    """One chassis action ("on", "off") through the node's BMC."""
    bmc = node_bmc(endpoints, node)
    try:
        getattr(bmc, f"power_{action}")()
    finally:
        bmc.close()


def lab_pdu(endpoints: dict[str, Any], pdu: str) -> Any:
    """The PDU through netlab's relay (close it after use)."""
    from hacert.drivers.pdu import ApcPdu

    ep = endpoints["pdus"][pdu]
    return ApcPdu(pdu, ep["host"], int(ep["port"]), ep["community_ro"], ep["community_rw"], settle_timeout=10)


def everyone_in(prefix: str) -> list[int]:
    return [pid for name in ns.netns_list(prefix) for pid in ns.netns_pids(name) if pid != os.getpid()]
