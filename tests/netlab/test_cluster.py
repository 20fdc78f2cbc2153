"""The real cluster of inventories/netlab.yaml: corosync 3 + pacemaker 2 in namespaces, fenced
by the real fence agents through netlab's BMCs and PDU; the harness's fencing suite against it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from hacert.observe.clocks import clocks_of

from hacert.model.inventory import load_inventory
from hacert.lab.build import Lab
from hacert.verdict.summary import latest_summary_path
from hacert.netlab import events, start_netlab

from tests.netlab.conftest import FULL_MATRIX, REPO, leftovers, wait_until

INVENTORY = REPO / "inventories" / "netlab.yaml"
VICTIM, SURVIVOR = "an-node02", "an-node01"

pytestmark = pytest.mark.timeout(900)  # includes waiting for another run's netlab tests

CI_FENCING = "not (test_pdu_power_cut and an-node01) and not (test_hang_and_fence and an-node02)"
CI_NETWORK = "(an-node01 and bond0) or sw1"
CI_VMS = "vm0001-dev or (withdraw and an-node02) or (crash and an-node02)"


def only(selection: str) -> list[str]:
    return [] if FULL_MATRIX else ["-k", selection]


@pytest.fixture(scope="module")
def netlab_lab(netlab_machine_lock: None) -> Iterator[Lab]:
    inv = load_inventory(INVENTORY)
    prefix = inv.netlab["prefix"]  # type: ignore[index]
    started = time.monotonic()
    running = start_netlab(INVENTORY, reuse=False)
    print(f"\nnetlab: cluster up in {time.monotonic() - started:.1f} s, {running.endpoints['memory_mb']} MB",
          file=sys.stderr)
    lab = Lab(inv, running.endpoints, running=running)
    try:
        yield lab
    finally:
        lab.close()
        assert not leftovers(prefix), "netlab down left something behind"


def ground_truth(netlab_lab: Lab, since: float) -> list[dict[str, Any]]:
    return [e for e in events.read(Path(netlab_lab.endpoints["netlab_events"])) if e["t"] >= since]


def settled(netlab_lab: Lab) -> bool:
    """Quorate, both nodes online and each service and guest on its home: the victim has fully
    joined (a node lost before its controller joined is not fenced — pacemaker's own rule)."""
    try:
        status = netlab_lab.cluster.status(via=SURVIVOR)
    except Exception:
        return False
    homes = {svc.name: svc.home for svc in netlab_lab.inventory.services}
    homes |= {vm.name: vm.home for vm in netlab_lab.inventory.vms}
    return (status.quorate and len(status.members) == 2 and all(m.online for m in status.members.values())
            and all(status.owner(name) == home for name, home in homes.items()))


def hang(netlab_lab: Lab, node: str) -> float:
    sent = time.time()
    with open(Path(netlab_lab.endpoints["workdir"]) / "nodes" / node / "sysrq-trigger", "w") as trigger:
        trigger.write("c")
    return sent


def fence_history(netlab_lab: Lab, node: str) -> str:
    """The survivor's fence history of `node`, one line per fence (without --verbose,
    pacemaker 2.1 folds them into one line whose time is not always the latest)."""
    return netlab_lab.node(SURVIVOR).run(f"stonith_admin --history {node} --verbose", check=False).stdout


def fenced_again(netlab_lab: Lab, node: str, before: str) -> bool:
    return fence_history(netlab_lab, node).count(" successful:") > before.count(" successful:")


def test_cluster_is_quorate_with_both_nodes_online(netlab_lab: Lab) -> None:
    status = netlab_lab.cluster.status()
    assert status.quorate
    assert {name: m.online for name, m in status.members.items()} == {"an-node01": True, "an-node02": True}
    assert netlab_lab.endpoints["startup_seconds"] < 120
    assert netlab_lab.endpoints["memory_mb"] < 2000


def device(netlab_lab: Lab, node: str, agent: str) -> str:
    """The stonith id netlab gave `node`'s device of that agent (misleading on purpose: the BMC's
    reads like a PDU, the outlet's like a BMC)."""
    return next(d["id"] for d in netlab_lab.endpoints["netlab"]["fence_devices"] if d["node"] == node and d["agent"] == agent)


SKEWED = "an-node01"
"""inventories/netlab.yaml runs this node's clock 4 s ahead (netlab.clock_offsets, libfaketime)."""


def test_the_skewed_node_runs_4_s_ahead_in_everything_it_stamps(netlab_lab: Lab) -> None:
    """Its SSH sessions (date, ping -D) and its syslog are on its own clock, the other node's on the
    host's; the harness measures both offsets; the cluster formed all the same (see above)."""
    measured = clocks_of(netlab_lab).measure("test").readings
    assert measured[SKEWED].offset == pytest.approx(4.0, abs=0.05), measured
    assert measured[VICTIM].offset == pytest.approx(0.0, abs=0.05), measured
    for node, offset in ((SKEWED, 4.0), (VICTIM, 0.0)):
        shell = netlab_lab.node(node)
        mark = f"{node}-{time.monotonic_ns()}"
        before = time.time()
        shell.run(f"logger -t netlab-clock-test {mark}")
        out = shell.run("ping -D -c 1 10.20.0.2").stdout
        after = time.time()
        stamp = float(re.search(r"^\[(\d+\.\d+)\] 64 bytes", out, re.M)[1])
        assert before + offset - 0.5 <= stamp <= after + offset + 0.5, (node, out)
        # the node's syslog daemon writes the line when it gets to it (a second or more on a loaded machine)
        line = wait_until(f"{node}'s syslog holds the logger line", lambda: shell.run(
            f"grep {mark} /var/log/messages", check=False).stdout.strip(), 15, interval=0.2).splitlines()[-1]
        seen = time.time()
        logged = time.mktime(time.strptime(f"{time.localtime().tm_year} {line[:15]}", "%Y %b %d %H:%M:%S"))
        assert before + offset - 1.5 <= logged <= seen + offset + 0.5, (node, line)


def test_fencing_topology_is_ipmi_then_pdu_with_the_real_agents(netlab_lab: Lab) -> None:
    out = netlab_lab.node(SURVIVOR).run("cibadmin -Q -o fencing-topology; crm_mon -1 --output-as=xml").stdout
    for node in ("an-node01", "an-node02"):
        ipmi, pdu = device(netlab_lab, node, "fence_ipmilan"), device(netlab_lab, node, "fence_apc_snmp")
        assert "pdu" in ipmi and "bmc" in pdu, (ipmi, pdu)  # names that would lie to anyone who read them
        assert f'target="{node}" index="1" devices="{ipmi}"' in out
        assert f'target="{node}" index="2" devices="{pdu}"' in out
    started = netlab_lab.cluster.status().services
    for node, agent in (("an-node01", "fence_ipmilan"), ("an-node02", "fence_apc_snmp")):
        name = device(netlab_lab, node, agent)
        assert started[name].state == "started", f"{name} ({agent}) is not running: {started[name]}"
    # the harness reads each device's kind from its agent in the CIB, whatever it is called
    from hacert.observe.fence_record import read_fence_config

    config = read_fence_config(netlab_lab, via=SURVIVOR)
    assert config.kinds("an-node01") == ["ipmi", "pdu"] and config.kinds("an-node02") == ["ipmi", "pdu"]


def test_guests_run_only_where_their_nodes_storage_runs(netlab_lab: Lab) -> None:
    """The seed's VMs need their node's storage: with an-node02's storage stopped its guest
    moves to an-node01 and nothing starts there; once it runs again the guest may come home."""
    shell = netlab_lab.node(SURVIVOR)
    constraints = shell.run("cibadmin -Q -o constraints").stdout
    assert 'id="vm0003-db-needs-storage"' in constraints and 'first="storage_an02" then="vm0003-db"' in constraints
    assert netlab_lab.cluster.status().owner("storage_an02") == "an-node02"
    guest, storage = "vm0003-db", "storage_an02"

    def where(name: str) -> str | None:
        status = netlab_lab.cluster.status(via=SURVIVOR)
        svc = status.services.get(name)
        return svc.owner if svc is not None and svc.state == "started" else None

    shell.run(f"pcs resource disable {storage}")
    try:
        wait_until(f"{guest} on an-node01, {storage} stopped",
                   lambda: where(guest) == "an-node01" and where(storage) is None, 90, interval=0.5)
        for name, node, value in (("storage_an01", "an-node01", "1"), (storage, "an-node02", "0")):
            attribute = shell.run(f"attrd_updater --name netlab-{name} --query --all").stdout
            values = {m.group(1): m.group(2) for m in re.finditer(r'host="([^"]+)" value="([^"]*)"', attribute)}
            assert values == {node: value}, attribute
        shell.run(f"crm_resource --move --resource {guest} --node an-node02")
        time.sleep(5)  # pacemaker had its chance to start it there
        assert where(guest) == "an-node01", f"{guest} went to an-node02 while its storage was stopped"
    finally:
        shell.run(f"pcs resource enable {storage}", check=False)
    wait_until(f"{guest} home after {storage} started", lambda: where(guest) == "an-node02", 90, interval=0.5)
    shell.run(f"crm_resource --clear --resource {guest}")
    wait_until("the cluster settled again", lambda: settled(netlab_lab), 90, interval=1)


def run_suites(netlab_lab: Lab, tmp_path: Path, *args: str, timeout: float = 900) -> tuple[int, list[dict[str, Any]], str]:
    """The harness as a user runs it against this netlab (the plugin attaches to the running lab):
    (exit code, the summary's rows, the end of the output)."""
    wait_until("the cluster settled", lambda: settled(netlab_lab), 90, interval=1)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *args, "--inventory", str(INVENTORY), "-q", "-p", "no:cacheprovider",
         "--alluredir", str(tmp_path / "allure"), "--summary-dir", str(tmp_path / "summary")],
        cwd=REPO, capture_output=True, text=True, timeout=timeout)
    summary = json.loads(latest_summary_path(tmp_path / "summary").read_text())
    rows = summary.get("cases") or summary.get("rows") or []
    print("\n".join(f"{r['id']}: {r['verdict']} in {r.get('duration_s') or 0:.0f} s; "
                    + "; ".join(f"{n['name']} = {n['value']}" for n in r["numbers"])
                    + ("" if r["verdict"] == "passed" else f"\n    {r.get('diagnosis') or r.get('message') or ''}")
                    for r in rows), file=sys.stderr)
    assert netlab_lab.running is not None and netlab_lab.running.alive(), "the suite's run stopped the lab it only attached to"
    if done.returncode != 0:
        print(cluster_actions(netlab_lab), file=sys.stderr)
    return done.returncode, rows, done.stdout[-4000:]


CLUSTER_ACTION = re.compile(r"pacemaker-(?:schedulerd|controld|fenced)\[\d+\]:.*(?:Actions: |Result of |[Ff]ailed|error|Timed out)")


def cluster_actions(netlab_lab: Lab, last: int = 60) -> str:
    """What pacemaker decided and what its operations returned, the last lines of each node's syslog:
    a failed run of the real cluster says why (a live migration pacemaker replaced by stop and start,
    an operation that failed or timed out) even when nobody kept the lab's folder."""
    workdir = Path(netlab_lab.endpoints["netlab_events"]).parent
    out = []
    for log in sorted(workdir.glob("nodes/*/var-log/messages")):
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if CLUSTER_ACTION.search(ln)]
        out.append(f"--- {log.parent.parent.name}: pacemaker's decisions and results (last {last}) ---")
        out += lines[-last:]
    return "\n".join(out)


def numbers(row: dict[str, Any]) -> dict[str, float]:
    return {n["name"]: n["value"] for n in row["numbers"]}


def test_fencing_suites_pass_against_the_real_cluster(netlab_lab: Lab, tmp_path: Path) -> None:
    """hang-and-fence and PDU cut for each node, then the cold stop/start: the real cluster fences
    through the real agents, and the harness measures it."""
    code, rows, out = run_suites(netlab_lab, tmp_path, "suites/test_fencing.py", "suites/test_cold_start.py",
                                 *only(CI_FENCING))
    assert code == 0, out
    verdicts = {r["id"].split("::")[-1]: r["verdict"] for r in rows}
    expected = {"test_hang_and_fence[an-node01]": "passed", "test_hang_and_fence[an-node02]": "passed",
                "test_pdu_power_cut[an-node01]": "passed", "test_pdu_power_cut[an-node02]": "passed",
                "test_cold_stop_start": "passed",
                # netlab fences by IPMI and PDU only
                "test_scsi_fencing[an-node01]": "not applicable",
                "test_scsi_fencing[an-node02]": "not applicable"}
    if not FULL_MATRIX:  # an-node02's hang is the wrong-password case's
        del expected["test_pdu_power_cut[an-node01]"], expected["test_hang_and_fence[an-node02]"]
    assert verdicts == expected, verdicts
    truth = events.read(Path(netlab_lab.endpoints["netlab_events"]))
    for row in rows:
        victim = row["id"].split("[")[-1].rstrip("]")
        if "test_hang_and_fence" in row["id"]:
            assert row["facts"]["method"] == "ipmi"
            assert f"device {device(netlab_lab, victim, 'fence_ipmilan')} (fence_ipmilan)" in row["facts"]["fenced with"], row["facts"]
            assert 0 < numbers(row)["hang to fence success"] < 60
            _fence_within_the_devices_actions(row, truth, "hang", "chassis")
        if "test_pdu_power_cut" in row["id"]:
            assert row["facts"]["method"] == "pdu"
            assert f"device {device(netlab_lab, victim, 'fence_apc_snmp')} (fence_apc_snmp)" in row["facts"]["fenced with"], row["facts"]
            assert "still answering" in row["facts"]["power cut"], row["facts"]  # the peer kept its power
            _fence_within_the_devices_actions(row, truth, "power cut", "outlet")
        if "node clocks" in row["facts"]:  # every case read both clocks; an-node01's is 4 s ahead
            offsets = {r["node"]: r["offset"] for r in row["clocks"] if r["phase"] == "after the case"}
            assert offsets[SKEWED] == pytest.approx(4.0, abs=0.05) and abs(offsets[VICTIM]) < 0.05, row["clocks"]


def _fence_within_the_devices_actions(row: dict[str, Any], truth: list[dict[str, Any]], fault: str, kind: str) -> None:
    """The fence's success, read from the survivor's syslog (an-node01's clock, 4 s ahead, corrected),
    falls after the fence device's first action on the victim and within 3 s of its last."""
    victim = row["subject"]
    start, end = float(row["started"]), float(row["started"]) + float(row["duration_s"])
    window = [e for e in truth if start <= e["t"] <= end]
    faulted = next(e["t"] for e in window if (e["kind"] == "node_state" and e["node"] == victim and e["state"] == "hung")
                   or (fault == "power cut" and e["kind"] == "outlet" and e["action"] == "off"))
    acted = [e["t"] for e in window if e["kind"] == kind and e["t"] > faulted
             and (e.get("node") == victim or kind == "outlet")]
    measured = faulted + numbers(row)[f"{fault} to fence success"]
    assert acted and acted[0] - 0.25 <= measured <= acted[-1] + 3.0, (row["id"], measured - faulted,
                                                                       [round(t - faulted, 2) for t in acted])


def test_network_suite_passes_against_the_real_network(netlab_lab: Lab, tmp_path: Path) -> None:
    """Every bond's three cable-pull variants and each switch's power cycle, through the switches'
    IF-MIB agents and the PDU, with corosync's ring on bond0 through those switches."""
    code, rows, out = run_suites(netlab_lab, tmp_path, "suites/test_network.py",
                                 *only(CI_NETWORK))
    assert code == 0, out
    assert len(rows) == (2 * 3 * 3 + 2 if FULL_MATRIX else 3 + 1) and all(r["verdict"] == "passed" for r in rows)
    assert {r["id"].split("::")[-1].split("[")[0] for r in rows} == {"test_bond_cable_pull", "test_switch_power_cycle"}
    for row in rows:
        figures = numbers(row)
        if "failover]" in row["id"]:
            assert 0 <= figures["seconds to fail over to " + ("eth3" if "bond0" in row["id"] else
                                                             "eth4" if "bond1" in row["id"] else "eth5")] <= 2
        if "updelay_return]" in row["id"]:
            assert 2.0 - 0.5 <= figures["seconds link-up to primary active"] <= 4.0


def test_wrong_ipmi_password_in_the_cib_fails_the_hang_case_with_the_diagnosis(netlab_lab: Lab, tmp_path: Path) -> None:
    """A real misconfiguration caught: level 1 fails (the BMC refuses the login), the PDU fences,
    and the harness's hang-and-fence case fails saying so."""
    shell = netlab_lab.node(SURVIVOR)
    ipmi, pdu = device(netlab_lab, VICTIM, "fence_ipmilan"), device(netlab_lab, VICTIM, "fence_apc_snmp")
    good = shell.run(f"crm_resource --resource {ipmi} --get-parameter password").stdout.strip()
    shell.run(f"crm_resource --resource {ipmi} --set-parameter password --parameter-value netlab-wrong")
    try:
        wait_until("the fencer uses the wrong password",
                   lambda: "netlab-wrong" in shell.run(f"crm_resource --resource {ipmi} --get-parameter password").stdout, 10)
        since = time.time()
        code, rows, out = run_suites(netlab_lab, tmp_path, "suites/test_fencing.py", "-k", f"test_hang_and_fence and {VICTIM}")
        assert code == 1, out
        assert [r["verdict"] for r in rows] == ["failed"], rows
        diagnosis = rows[0]["diagnosis"]
        assert f"{VICTIM} was fenced by the PDU, not IPMI" in diagnosis, diagnosis
        truth = ground_truth(netlab_lab, since)
        assert not [e for e in truth if e["kind"] == "chassis"], "IPMI acted although its password is wrong"
        assert [e["action"] for e in truth if e["kind"] == "outlet" and e["outlet"] == 2][:2] == ["off", "on"]
        log = shell.run(f"grep -h 'targeting {VICTIM} using' /var/log/messages").stdout
        assert f"using {ipmi} returned 1" in log and f"using {pdu} returned 0" in log
    finally:
        shell.run(f"crm_resource --resource {ipmi} --set-parameter password --parameter-value {good}", check=False)
        shell.run(f"crm_resource --cleanup --resource {ipmi}", check=False)
    wait_until("the cluster settled again", lambda: settled(netlab_lab), 90, interval=1)


def test_vm_suites_pass_with_real_guests(netlab_lab: Lab, tmp_path: Path) -> None:
    """Real guests under each node's libvirtd, pacemaker VirtualDomain resources: destroy x3 ->
    restarted twice, relocated on the third; live migration while pinged; node withdrawal and
    rejoin; node crash -> its guests restart on the survivor."""
    code, rows, out = run_suites(netlab_lab, tmp_path, "suites/test_vm_recovery.py", "suites/test_migration.py",
                                 *only(CI_VMS))
    assert code == 0, out
    by_test = {r["id"].split("::")[-1]: r for r in rows}
    assert all(r["verdict"] == "passed" for r in rows), {k: r["verdict"] for k, r in by_test.items()}
    destroy = by_test["test_vm_destroy_relocates[vm0001-dev]"]
    assert "relocated to an-node02 on destroy #3" in destroy["diagnosis"], destroy["diagnosis"]
    assert all(0 < numbers(destroy)[f"downtime after destroy {k}"] < 60 for k in (1, 2, 3))
    migration = numbers(by_test["test_live_migration[vm0001-dev-to-an-node02]"])
    assert 0 < migration["hypervisor downtime"] < 1000, migration
    assert "test_node_crash_recovers_vms[an-node02]" in by_test and "test_node_withdraw_rejoin[an-node02]" in by_test


def test_a_guest_without_its_failure_threshold_fails_the_destroy_case(netlab_lab: Lab, tmp_path: Path) -> None:
    """A real misconfiguration caught: without migration-threshold pacemaker restarts the guest in
    place forever, and the harness's destroy x3 case says it did not relocate."""
    shell = netlab_lab.node("an-node01")
    vm = "vm0001-dev"
    threshold = shell.run(f"crm_resource --resource {vm} --meta --get-parameter migration-threshold").stdout.strip()
    assert threshold == "3", threshold
    shell.run(f"crm_resource --resource {vm} --meta --delete-parameter migration-threshold")
    try:
        code, rows, out = run_suites(netlab_lab, tmp_path, "suites/test_vm_recovery.py",
                                     "-k", f"test_vm_destroy_relocates and {vm}")
        assert code == 1, out
        assert [r["verdict"] for r in rows] == ["failed"], rows
        diagnosis = rows[0]["diagnosis"]
        # a failure an earlier test left inside failure-timeout still counts: the threshold is reached one destroy sooner
        said = re.search(rf"{vm} restarted on an-node01 a (second|third) time instead of relocating \(max_restarts 2, "
                         r"window \d+ s(, (\d) from before this case still counted)?\)", diagnosis)
        assert said and {"second": 1, "third": 0}[said[1]] == int(said[3] or 0), diagnosis
    finally:
        # its failures go first: with the threshold back and 3 failures counted, pacemaker would
        # move it off its home, and stickiness would keep it there
        shell.run(f"pcs resource cleanup {vm}", check=False)
        wait_until(f"{vm}'s failures forgotten", lambda: "value=0" in shell.run(
            f"crm_failcount --query --resource {vm} --node an-node01", check=False).stdout, 30, interval=1)
        shell.run(f"crm_resource --resource {vm} --meta --set-parameter migration-threshold --parameter-value {threshold}",
                  check=False)
    wait_until("the cluster settled again", lambda: settled(netlab_lab), 120, interval=1)


CI_CTS = "test_maintenance_mode or test_rolling_restart"
"""Measured on this machine: rolling restart 52 s, maintenance 72 s (its hold is vm_restart_timeout, 60 s),
standby drain 27 s per node; the rolling restart drains each node with `pcs node standby` and fills it
again, so CI leaves the standby family's own cases to NETLAB_FULL_MATRIX=1."""


def test_standby_maintenance_and_rolling_restart_pass_on_the_real_cluster(netlab_lab: Lab, tmp_path: Path) -> None:
    """Issue 20's standby, maintenance and rolling-restart families on real pacemaker: `pcs node
    standby` live-migrates the real guests off and back, `maintenance-mode=true` leaves a
    destroyed guest down (and pacemaker recovers it once it ends), each node's corosync and
    pacemaker restart in turn with no guest stopped."""
    code, rows, out = run_suites(netlab_lab, tmp_path, "suites/test_standby_drain.py", "suites/test_maintenance_mode.py",
                                 "suites/test_rolling_restart.py", *only(CI_CTS))
    by_test = {r["id"].split("::")[-1]: r for r in rows}
    assert code == 0 and all(r["verdict"] == "passed" for r in rows), \
        ({k: (r["verdict"], r.get("diagnosis")) for k, r in by_test.items()}, out)
    assert {"test_maintenance_mode", "test_rolling_restart"} <= set(by_test)
    if FULL_MATRIX:
        drain = numbers(by_test["test_standby_drain[an-node02]"])
        assert drain["vm0003-db: moves"] == 2 and drain["vm0003-db: longest gap"] <= 1.0, drain
    kept = numbers(by_test["test_maintenance_mode"])
    assert kept["left alone in maintenance"] >= 60 and kept["recovered after maintenance ended"] < 60, kept
    rolled = numbers(by_test["test_rolling_restart"])
    assert all(rolled[f"{vm}: moves"] == 2 for vm in ("vm0001-dev", "vm0003-db")), rolled
