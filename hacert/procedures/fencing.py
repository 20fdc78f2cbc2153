"""The fencing procedures (seed 002's "Testing Fencing", seed 001's SCSI-3 fencing): hang a
node and see a survivor fence it by its first method; cut its power and see IPMI fail and the
first power-independent method fence it; see a SCSI-3 fence remove the victim's own key. Then
the victim boots, rejoins and gets its services back.

Times are measured from the fault (hang, cut) by polling the survivors' status and syslog
(hacert.observe.fence_watch); each moment is the window between the last poll that did not
see it and the first that did, narrowed by the syslog line's own stamp. A deadline is judged
on that moment, not on the look having begun in time; a proof that rests on samples (the
outlet stayed on) needs the samples (hacert.observe.devices).
"""

from __future__ import annotations

import time
from typing import Any, NoReturn

from hacert.drivers.errors import ClusterFailure, HacertError, Inconclusive, LabError, Miswired, WaitTimeout
from hacert.drivers.parsers.syslog import CorosyncMembers
from hacert.model.bounds import Bound
from hacert.model.inventory import Inventory, Node
from hacert.model.scope import INDEPENDENT_METHODS, POWER_DEPENDENT_METHODS
from hacert.observe.clocks import reading_of
from hacert.observe.cluster_state import find_service, is_online, member_state, where_running
from hacert.observe.coverage import Unseen, raise_unseen
from hacert.observe.devices import DeviceSampler
from hacert.observe.fence_record import REBOOTING_METHODS, FenceRound, fence_method
from hacert.observe.fence_watch import POLL, FenceWatch, syslog_events, syslog_window
from hacert.observe.lines import count_unreadable_syslog
from hacert.observe.moments import Edge, Moment
from hacert.observe.waiting import sleep_demanded, wait_for
from hacert.procedures.hang import HangCheck, hang, hang_words
from hacert.procedures.power_cut import PowerCutCheck

METHOD_WORDS = {"ipmi": "IPMI", "redfish": "Redfish", "pdu": "the PDU", "scsi": "SCSI-3 reservations"}


def fail(message: str) -> NoReturn:
    """End the case as a failure of the cluster; the message is also the summary's diagnosis."""
    raise ClusterFailure(message)


# ---------------------------------------------------------------- the victim comes back


def wait_rejoined(watch: FenceWatch, after: float, what: str) -> float:
    """Wait (expectations.rejoin_timeout from `after`) until the victim is an online member again.
    The moment is narrowed by the survivor's corosync line listing the victim among the members."""
    inv, victim, survivor = watch.inv, watch.victim, watch.survivors[0]
    victim_id = getattr(member_state(inv, watch.status, victim.name), "id", None)
    edge = Edge(after)
    timeout = inv.expectations.rejoin_timeout
    deadline = after + timeout

    def look() -> Moment | None:
        start = time.time()
        status = watch.lab.cluster.status(via=survivor)
        end = time.time()
        watch.status = status
        stamp = None
        if is_online(inv, status, victim.name) and victim_id is not None:
            lines = watch.lab.node(survivor).syslog_since(watch.marks[survivor])
            events = syslog_events(lines)
            fenced = [i for i, e in enumerate(events) if type(e).__name__ in ("FenceSucceeded", "PeerFenced")]
            joins = [e for e in events[(fenced[-1] if fenced else 0):]
                     if isinstance(e, CorosyncMembers) and victim_id in e.node_ids]
            stamp = syslog_window(joins[0], reading_of(watch.lab, survivor)) if joins else None
        edge.look(is_online(inv, status, victim.name), start, end, stamp)
        return edge.moment

    try:
        moment = wait_for(f"{victim.name} to rejoin the cluster", look, lambda seen: seen is not None,
                          timeout=max(deadline - time.time(), 1e-3), interval=POLL)
    except WaitTimeout:
        moment = None
    if moment is not None:
        if moment.t > deadline:  # seen by a look that began in time, measured after the deadline
            fail(f"{victim.name} did not rejoin the cluster within {timeout:g} s of {what}: it rejoined "
                 f"{moment.t - after:.1f} s after")
        return moment.t
    alive = answers(watch.lab, victim.name)
    why = ("it booted (SSH answers) but did not join: its cluster stack did not start at boot"
           if alive else "it never came back (SSH does not answer)")
    fail(f"{victim.name} did not rejoin the cluster within {timeout:g} s of {what}: {why}; "
         f"last cluster state: {watch.state_text()}")


def answers(lab: Any, node: str) -> bool:
    try:
        return bool(lab.node(node).reachable(timeout=2))
    except HacertError:
        return False


def wait_services_home(watch: FenceWatch, after: float) -> float:
    """The victim's services back on it: storage started by the cluster, VMs migrated home where
    the failover domain does not fail back by itself. Returns when the last one was home: seen by
    polling, or when the harness's own migrate/relocate returned (those commands return once done)."""
    lab, inv, victim = watch.lab, watch.inv, watch.victim
    timeout = inv.expectations.services_back_timeout
    deadline = time.time() + timeout
    storage = list(victim.storage_services)
    vms = [vm.name for vm in inv.vms_on(victim.name)]
    others = [svc.name for svc in inv.services if svc.home == victim.name and svc.name not in storage]
    edges = {name: Edge(after) for name in storage + vms + others}
    if not edges:
        return after  # nothing lives on the victim: its services are back when it is
    home: dict[str, bool] = {}

    def look() -> bool:
        """One look at the cluster; moves home what must be moved by the harness; True when all are home."""
        start = time.time()
        status = lab.cluster.status(via=watch.survivors[0])
        end = time.time()
        watch.status = status
        for name, edge in edges.items():
            home[name] = where_running(inv, status, name) == victim.name
            edge.look(home[name], start, end)
        if all(edge.moment is not None for edge in edges.values()):
            return True
        storage_up = all(home[name] for name in storage)
        for name in vms + others:
            if home[name] or not storage_up:
                continue
            svc = find_service(status, name)
            if svc is None or svc.state != "started" or fails_back(inv, name):
                continue  # still being recovered elsewhere (move it once it runs), or the cluster brings it home
            if name in vms:
                lab.cluster.migrate(name, victim.name)
            else:
                lab.cluster.relocate(name, victim.name)
            done = time.time()
            edges[name].moment = Moment(done, done)
            home[name] = True
        return False

    try:
        wait_for(f"{victim.name}'s services to be back on it", look, timeout=max(deadline - time.time(), 1e-3),
                 interval=POLL)
    except WaitTimeout:
        pass
    else:
        back = max(edge.t for edge in edges.values())  # type: ignore[type-var]
        if back > deadline:  # seen by a look that began in time, measured after the deadline
            last = max(edges, key=lambda n: edges[n].t or 0.0)
            fail(f"{victim.name} rejoined but its services were not back within {timeout:g} s: {last} was back "
                 f"only {back - after:.1f} s after it rejoined")
        return back
    missing = [name for name, edge in edges.items() if edge.moment is None]
    fail(f"{victim.name} rejoined but its services were not back within {timeout:g} s: "
         f"{', '.join(missing)} not running on it; last cluster state: {watch.state_text()}")


def fails_back(inv: Inventory, name: str) -> bool:
    domain = None
    for vm in inv.vms:
        if vm.name == name:
            domain = vm.domain
    for svc in inv.services:
        if svc.name == name:
            domain = svc.domain
    if domain is None:
        return False
    d = inv.domain(domain)
    return d.ordered and not d.nofailback


def rebooted_since(lab: Any, node: str, moment: float) -> bool:
    """Did the node boot after `moment` (its uptime is shorter than the time since)?"""
    text = lab.node(node).read_file("/proc/uptime").split()
    return bool(text) and float(text[0]) < time.time() - moment


def attach_evidence(record: Any, watch: FenceWatch, sampler: DeviceSampler, t0: float) -> None:
    windows = {name: lines for name, lines in watch.windows.items()}
    if any(windows.values()):
        record.attach_syslog(windows, name="survivors' syslog during the fence")
    count_unreadable_syslog(windows).report(record)
    rows = [{"t": round(t - t0, 3), "source": s, "value": v} for t, s, v in list(sampler.samples)]
    if rows:
        record.attach_csv("victim's BMC and PDU outlets, polled", rows)
    events = [(t, label) for t, label in (
        (watch.declared.t, "declared failed"), (watch.started.t, "fence start"),
        (watch.ipmi_failed.t, "IPMI failed"), (watch.succeeded.t, "fence success")) if t is not None]
    try:
        record.attach_timeline(events=[(t0, "fault")] + events, states=sampler.timeline(), t0=t0)
    except Exception as exc:  # a picture must never fail a case
        record.fact("timeline", f"not drawn: {exc}")


def record_fence(record: Any, inv: Inventory, watch: FenceWatch) -> tuple[FenceRound | None, str | None]:
    """The victim's fence round as the cluster recorded it, and its method, put in the case's facts."""
    rnd = watch.fence_round
    method = fence_method(inv, rnd)
    record.method(method or "none")
    record.fact("fence configuration", watch.configured())
    record.fact("fenced with", watch.fenced_with(rnd))
    return rnd, method


def record_times(record: Any, watch: FenceWatch, t0: float, fault: str) -> None:
    def since(t: float | None) -> float | None:
        return None if t is None else t - t0

    expect = watch.inv.expectations
    record.number(f"{fault} to declared failed", since(watch.declared.t), "s")
    record.number(f"{fault} to fence start", since(watch.started.t), "s")
    record.number(f"{fault} to fence success", since(watch.succeeded.t), "s", expected=Bound.at_most(expect.fence_timeout))


def judge_fenced_in_time(watch: FenceWatch, t0: float, fault: str) -> None:
    """A fence seen by a look that began before the deadline, but measured after it, is no fence in time."""
    limit = watch.inv.expectations.fence_timeout
    if watch.succeeded.t is not None and watch.succeeded.t - t0 > limit:
        fail(f"no fence of {watch.victim.name} within {limit:g} s of {fault}: it was fenced "
             f"{watch.succeeded.t - t0:.1f} s after")


# ---------------------------------------------------------------- hang


def hang_fence_and_recover(lab: Any, guard: Any, record: Any, node: Node, watch: FenceWatch, sampler: DeviceSampler) -> None:
    inv: Inventory = lab.inventory
    expect = inv.expectations
    first = node.fence[0] if node.fence else None
    survivor = watch.survivors[0]
    victim_key = own_scsi_key(lab, node.name) if "scsi" in node.fence else None
    with record.step(f"hang {node.name}: {hang_words(node)}"):
        guard.changed("hang", node.name, node.hang.method)
        t0 = hang(lab, node)
        watch.rebase(t0)
        took = HangCheck(lab, node, t0).start()
    with record.step(f"wait up to {expect.fence_timeout:g} s for a survivor to declare {node.name} failed and fence it"):
        fenced = watch.until(lambda: watch.succeeded.moment is not None or took.refuted, t0 + expect.fence_timeout)
    with record.step(f"confirm the hang took: {node.name} stopped answering"):
        took.wait()  # Inconclusive: a node that still answers was never hung, whatever the cluster did
        record.fact("hang", took.evidence())
    record_times(record, watch, t0, "hang")
    rnd, method = record_fence(record, inv, watch)
    if not fenced:
        if watch.declared.moment is None:
            detail = "no survivor even declared it failed"
        elif watch.started.moment is None:
            detail = f"declared failed after {watch.declared.t - t0:.1f} s but no fencing started"
        elif watch.failures_text():
            detail = f"fencing started after {watch.started.t - t0:.1f} s ({watch.failures_text()}) and never succeeded"
        else:
            detail = f"fencing started after {watch.started.t - t0:.1f} s and had not finished"
        fail(f"no fence of {node.name} within {expect.fence_timeout:g} s of the hang: {detail}; "
             f"last cluster state: {watch.state_text()}")
    judge_fenced_in_time(watch, t0, "the hang")
    require_method_known(watch, rnd, method)
    fence_end = watch.succeeded.moment.after if watch.succeeded.moment else time.time()
    bmc_proof = ""
    unseen: list[Unseen] = []
    expected = METHOD_WORDS.get(first or "", first or "its first method")
    how = method_words(watch, rnd, method)
    with record.step(f"prove {expected} fenced {node.name}: fence log, BMC, PDU outlet"):
        # keep watching the outlet a moment after the fence: a PDU reboot must not slip between two looks
        sleep_demanded(POLL * 3, "a last look at the outlets after the fence", progress=False)
        window_end = time.time()
        dark = {o: sampler.first_dark(o, t0, window_end) for o in sampler.outlets}
        cut = [f"{o} went off at +{t - t0:.1f} s" for o, t in dark.items() if t is not None]
        if method != first:
            why = (f"{'IPMI' if first == 'ipmi' else expected} attempt failed with '{rnd.failures[0].result}'"
                   if rnd and rnd.failures else f"{expected} is not what succeeded")
            fail(f"{node.name} was fenced by {METHOD_WORDS.get(method or '', method)}, not {expected}: {why}; the cluster's "
                 f"record: {how}" + (f"; its outlet {', '.join(cut)}" if cut else ""))
        if method in POWER_DEPENDENT_METHODS and cut:
            fail(f"the cluster's record says {node.name} was fenced by {METHOD_WORDS[method]} ({how}), but its PDU outlet was cut: "
                 f"{', '.join(cut)}")
        if method == "pdu" and len(cut) < len(sampler.outlets):
            untouched = [o for o, t in dark.items() if t is None]
            fail(f"the cluster's record says {node.name} was fenced by the PDU ({how}), but its outlet "
                 f"{', '.join(untouched)} never went off (polled every {POLL:g} s from the hang to +{window_end - t0:.1f} s)")
        if method == "scsi" and victim_key is not None:
            keys = [key_int(k) for k in scsi_view(lab, survivor)[0]]
            if victim_key in keys:
                fail(f"the cluster's record says {node.name} was fenced by SCSI-3 reservations ({how}), but its key "
                     f"0x{victim_key:x} is still registered on the shared disk")
            record.fact("SCSI key", f"{node.name}'s key 0x{victim_key:x} removed from the shared disk")
        if method != "pdu":
            for outlet in sampler.outlets:  # "stayed on" rests on the samples: the outlet was read all through
                unseen += sampler.unseen(outlet, t0, window_end, f"{outlet} was cut during the fence", t0)
            record.fact("PDU outlet", f"{', '.join(sampler.outlets) or 'none'} stayed on through the fence")
        else:
            record.fact("PDU outlet", "; ".join(cut))
        off = sampler.seen("bmc", "off", t0, window_end)
        if off:
            bmc_proof = f"its BMC read power off at +{off[0] - t0:.1f} s"
    sampler.stop()
    if method not in REBOOTING_METHODS:
        with record.step(f"reboot {node.name}: a {METHOD_WORDS.get(method or '', method)} fence leaves it hung (seed 001)"):
            lab.bmc(node.name).power_cycle()
            fence_end = time.time()
    with record.step(f"wait up to {expect.rejoin_timeout:g} s for {node.name} to boot and rejoin"):
        rejoined = wait_rejoined(watch, fence_end, "its fence")
        record.number("hang to rejoin", rejoined - t0, "s")
    if method in POWER_DEPENDENT_METHODS:
        with record.step(f"check {node.name}'s BMC power-cycled it"):
            if not bmc_proof:
                # a cycle can be quicker than one poll of the BMC: the node's uptime proves the reset instead
                if not rebooted_since(lab, node.name, t0):
                    fail(f"the cluster's record says {node.name} was fenced by {METHOD_WORDS[method]} ({how}), but it never rebooted: "
                         "its BMC never read power off and its uptime predates the hang")
                bmc_proof = "its BMC power-cycled it (the node rebooted while its outlet stayed on)"
            record.fact("BMC evidence", bmc_proof)
            if method == "redfish":
                record.fact("BMC log", bmc_log_since(lab, node.name, t0))
    with record.step(f"wait up to {expect.services_back_timeout:g} s for {node.name}'s services to come back"):
        back = wait_services_home(watch, rejoined)
        record.number("hang to services back", back - t0, "s")
    raise_unseen(unseen)
    record.diagnosis(f"{node.name} fenced by {METHOD_WORDS.get(method or '', method)} "
                     f"{watch.succeeded.t - t0:.1f} s after the hang; rejoined at +{rejoined - t0:.1f} s")


def bmc_log_since(lab: Any, node: str, since: float) -> str:
    """What the BMC's own log service recorded since `since` (its resets: who asked for which reset type).
    The BMC's clock is its own: entries are kept from a minute before, and shown as the BMC stamped them."""
    from datetime import datetime

    try:
        lines = lab.bmc(node).sel()
    except LabError as exc:
        return f"not read ({exc})"
    kept = []
    for line in lines:
        try:
            stamp = datetime.fromisoformat(line.split(" | ")[1]).timestamp()
        except (IndexError, ValueError):
            continue
        if stamp >= since - 60:
            kept.append(line)
    return "; ".join(kept[-4:]) or "no entry since the fault"


def method_words(watch: FenceWatch, rnd: FenceRound | None, method: str | None) -> str:
    """'IPMI: device fence-pilot-pdu1 (fence_ipmilan), named by pacemaker-fenced's record'."""
    return f"{METHOD_WORDS.get(method or '', method or 'an unknown method')}: {watch.fenced_with(rnd)}"


def require_method_known(watch: FenceWatch, rnd: FenceRound | None, method: str | None) -> None:
    """The record must say which method fenced, or the case cannot judge it (never guessed from names)."""
    if method is not None:
        return
    raise Inconclusive(f"the cluster fenced {watch.victim.name} but hacert cannot tell by which method: "
                       f"{watch.fenced_with(rnd)}; the cluster's configuration: {watch.configured()}")


def bmc_methods_before(node: Node, expected: str | None) -> list[str]:
    """The node's fence methods through its own BMC (IPMI, Redfish) listed before `expected`."""
    if expected not in node.fence:
        return []
    return [m for m in node.fence[: node.fence.index(expected)] if m in POWER_DEPENDENT_METHODS]


def bmc_words(node: Node, expected: str | None) -> str:
    """How the BMC methods before `expected` are named ('IPMI', 'Redfish', 'IPMI and Redfish'); with none before it, the node's BMC methods."""
    methods = bmc_methods_before(node, expected) or [m for m in node.fence if m in POWER_DEPENDENT_METHODS]
    return " and ".join(METHOD_WORDS.get(m, m) for m in methods) or "the BMC"


def independent_method(node: Node) -> str | None:
    """The node's first fence method that works whatever happened to its power (the PDU, SCSI-3)."""
    return next((m for m in node.fence if m in INDEPENDENT_METHODS), None)


# ---------------------------------------------------------------- power cut


def cut_fence_and_recover(lab: Any, guard: Any, record: Any, node: Node, watch: FenceWatch, sampler: DeviceSampler,
                           expected: str | None, ipmi_first: bool) -> None:
    t0 = time.time()
    with record.step(f"cut {node.name}'s power: " + ", ".join(f"fence_apc_snmp -n {r.outlet} -o off ({r.pdu})" for r in node.power)):
        for index, ref in enumerate(node.power):
            guard.changed("outlet", f"{ref.pdu}/{ref.outlet}")
            sent = time.time()
            lab.pdu(ref.pdu).outlet_off(ref.outlet)
            if index == 0:
                t0 = sent
        cut_done = time.time()
        watch.rebase(t0)

        def power_back() -> float | None:
            times = [t for o in sampler.outlets for t in sampler.seen(o, "on", cut_done)]
            return min(times) if times else None

        physical = PowerCutCheck(lab, node, t0, power_back).start()

    def confirm_physical() -> None:
        """The cut darkened the victim and nothing else (else the outlets are back on: a lab error)."""
        try:
            physical.wait()
        except Miswired:
            if physical.restored_at is not None:
                record.number("power cut to outlet back on", physical.restored_at - t0, "s")
            raise
        record.fact("power cut", physical.evidence())

    try:
        diagnosis = judge_power_cut(lab, record, node, watch, t0, expected, ipmi_first, physical)
    except (AssertionError, HacertError):
        confirm_physical()  # a miswired lab ends the case as a lab error, whatever the cluster then did
        raise
    with record.step(f"confirm the cut darkened {node.name} and nothing else"):
        confirm_physical()
    record.diagnosis(diagnosis)


def judge_power_cut(lab: Any, record: Any, node: Node, watch: FenceWatch, t0: float, expected: str | None,
                     ipmi_first: bool, physical: PowerCutCheck) -> str:
    """Wait for the fence and judge it; returns the diagnosis of a pass."""
    inv: Inventory = lab.inventory
    expect = inv.expectations
    expected_words = METHOD_WORDS.get(expected or "", expected or "a power-independent method")
    bmc = bmc_words(node, expected)
    with record.step(f"wait up to {expect.fence_timeout:g} s: " + (f"{bmc} fails, then " if ipmi_first else "")
                     + f"{expected_words} fences {node.name}"):
        fenced = watch.until(lambda: watch.succeeded.moment is not None or physical.miswired, t0 + expect.fence_timeout)
    if physical.miswired:
        physical.wait()
    record_times(record, watch, t0, "power cut")
    record.number("power cut to IPMI failure", None if watch.ipmi_failed.t is None else watch.ipmi_failed.t - t0, "s")
    rnd, method = record_fence(record, inv, watch)
    if not fenced:
        tried = watch.failures_text()
        if watch.started.moment is None:
            detail = "no fencing started"
        elif tried:
            detail = f"{tried}, and no other method succeeded (is {expected_words} a fence method of the cluster?)"
        else:
            detail = "fencing started but no method finished"
        fail(f"no fence of {node.name} within {expect.fence_timeout:g} s of its power cut: {detail}; "
             f"last cluster state: {watch.state_text()}; the cluster's fence configuration for it: {watch.configured()}")
    judge_fenced_in_time(watch, t0, "its power cut")
    require_method_known(watch, rnd, method)
    how = method_words(watch, rnd, method)
    with record.step((f"prove {bmc} failed and " if ipmi_first else "prove ") + f"{expected_words} succeeded"):
        ipmi_failures = [f for f in (rnd.failures if rnd else []) if f.method in POWER_DEPENDENT_METHODS]
        if ipmi_first and not ipmi_failures:
            fail(f"{node.name} was fenced by {METHOD_WORDS.get(method or '', method)} without an {bmc} failure ({how}): "
                 f"with its power cut, its BMC cannot answer, so {bmc} must have failed first")
        if method != expected:
            fail(f"{node.name} was fenced by {METHOD_WORDS.get(method or '', method)}, not {expected_words}, after its "
                 f"power was cut ({how})")
        record.fact(f"{bmc} result", ipmi_failures[0].result if ipmi_failures else "not tried")
    fence_end = watch.succeeded.moment.after if watch.succeeded.moment else time.time()
    with record.step(f"make sure {node.name}'s outlet is on again"):
        by_itself = []
        for ref in node.power:
            pdu = lab.pdu(ref.pdu)
            try:
                wait_for(f"{ref.pdu}/{ref.outlet} to be on again", lambda: pdu.outlet_status(ref.outlet),
                         lambda state: state == "on", timeout=max(5.0, expect.fence_timeout / 2), interval=POLL)
            except WaitTimeout:
                pass  # read once more below: the harness turns it on
            if pdu.outlet_status(ref.outlet) != "on":
                pdu.outlet_on(ref.outlet)
                record.fact(f"outlet {ref.pdu}/{ref.outlet}", "stayed off after the fence; turned on by the harness")
            else:
                by_itself.append(f"{ref.pdu}/{ref.outlet}")
        if method == "pdu" and len(by_itself) < len(node.power):
            fail(f"the cluster's record says the PDU fenced {node.name} ({how}), but its outlet stayed off: the "
                 "PDU's reboot never switched it back on")
        if method == "pdu":
            record.fact("PDU evidence", f"{', '.join(by_itself)} came back on by itself after the fence (the PDU's reboot)")
    with record.step(f"wait up to {expect.rejoin_timeout:g} s for {node.name} to boot and rejoin"):
        rejoined = wait_rejoined(watch, fence_end, "its fence")
        record.number("power cut to rejoin", rejoined - t0, "s")
    with record.step(f"wait up to {expect.services_back_timeout:g} s for {node.name}'s services to come back"):
        back = wait_services_home(watch, rejoined)
        record.number("power cut to services back", back - t0, "s")
    failed_first = f"{bmc} failed ({watch.failures_text()}); " if ipmi_failures else ""
    return f"{failed_first}fenced by {expected_words} {watch.succeeded.t - t0:.1f} s after the cut"


# ---------------------------------------------------------------- SCSI-3 persistent reservations



def scsi_view(lab: Any, via: str) -> tuple[list[str], str | None]:
    from hacert.drivers.parsers.sg_persist import parse_sg_persist

    device = scsi_device(lab.inventory)
    shell = lab.node(via)
    keys = parse_sg_persist(shell.run(f"sg_persist -n -i -k {device}").stdout).keys or []
    holder = parse_sg_persist(shell.run(f"sg_persist -n -i -r {device}").stdout).reservation
    return [k.lower() for k in keys], holder.key.lower() if holder else None


SCSI_KEY_FILES = ("/var/run/cluster/fence_scsi.key", "/var/run/cluster.key")
"""Where fence_scsi keeps the key it registered for the node it runs on (RHEL 6/7; fence-agents 4.12)."""


def key_int(key: str) -> int:
    """'0x9a3f0001' (sg_persist, no leading zeros) or '9a3f0001' (fence_scsi's file) -> the number."""
    return int(key.strip().lower().removeprefix("0x"), 16)


def own_scsi_key(lab: Any, node: str) -> int | None:
    """The registration key `node` itself says it holds (fence_scsi's key file), None when it has none."""
    shell = lab.node(node)
    for path in SCSI_KEY_FILES:
        done = shell.run(f"cat {path}", check=False)
        text = done.stdout.strip()
        if done.exit_code == 0 and text:
            try:
                return key_int(text.splitlines()[0])
            except ValueError:
                continue
    return None


def key_owners(lab: Any) -> dict[int, str]:
    """{key: node} for every node fenced by SCSI whose key file could be read."""
    out: dict[int, str] = {}
    for n in lab.inventory.nodes:
        if "scsi" in n.fence:
            key = own_scsi_key(lab, n.name)
            if key is not None:
                out[key] = n.name
    return out


def scsi_device(inv: Inventory) -> str:
    netlab = inv.netlab or {}
    return str(netlab.get("scsi_device", "/dev/sdb"))


def cman_votes(lab: Any, via: str) -> tuple[int, bool]:
    from hacert.drivers.parsers.cman import parse_cman_status

    status = parse_cman_status(lab.node(via).run("cman_tool status").stdout)
    return int(status.total_votes), bool(status.quorate)


def wait_scsi_fence(lab: Any, node: Node, survivor: str, keys_before: list[str], votes_before: int, took: HangCheck,
                    t0: float) -> tuple[list[str], str | None, int, bool, Moment]:
    """Wait (expectations.fence_timeout from the hang at `t0`) for a key to leave the shared disk and
    `node`'s votes the cluster, asked of `survivor`: the keys, the reservation holder, the votes, the
    quorum, and when it was seen (judged on when it was measured, not on the look having begun in time)."""
    expect = lab.inventory.expectations
    looks = [t0, t0]  # [the look before's start, this look's start]

    def look() -> tuple[list[str], str | None, int, bool]:
        looks[:] = [looks[1], time.time()]
        keys, holder = scsi_view(lab, survivor)
        votes, quorate = cman_votes(lab, survivor)
        if not fenced((keys, holder, votes, quorate)) and took.refuted:
            took.wait()  # Inconclusive: the victim was never hung
        return keys, holder, votes, quorate

    def fenced(seen: tuple[list[str], str | None, int, bool]) -> bool:
        return len(seen[0]) < len(keys_before) and seen[2] <= votes_before - node.votes

    try:
        keys, holder, votes, quorate = wait_for(f"a SCSI-3 fence of {node.name}", look, fenced,
                                                timeout=max(t0 + expect.fence_timeout - time.time(), 1e-3),
                                                interval=POLL * 2)
    except WaitTimeout as timed_out:
        took.wait()
        keys, _, votes, _ = timed_out.last_seen  # type: ignore[misc]
        fail(f"no SCSI-3 fence of {node.name} within {expect.fence_timeout:g} s: the disk has {len(keys)} keys "
             f"({' '.join(keys)}; {len(keys_before)} before the hang) and cman_tool status {votes} votes "
             f"({votes_before} before)")
    return keys, holder, votes, quorate, Moment(looks[0], time.time())


def reboot_hung_victim(lab: Any, record: Any, node: Node) -> None:
    """The procedure's return to the ideal state after a fence that leaves its victim hung (SCSI-3
    reservations, seed 001): reboot it through its BMC, wait for it to rejoin and for its services."""
    expect = lab.inventory.expectations
    watch = FenceWatch.mark(lab, node)
    with record.step(f"reboot {node.name} through its BMC: a SCSI-3 fence leaves it hung (seed 001)"):
        lab.bmc(node.name).power_cycle()
        rebooted = time.time()
    with record.step(f"wait up to {expect.rejoin_timeout:g} s for {node.name} to boot and rejoin"):
        rejoined = wait_rejoined(watch, rebooted, "its reboot")
        record.number("reboot to rejoin", rejoined - rebooted, "s")
    with record.step(f"wait up to {expect.services_back_timeout:g} s for {node.name}'s services to come back"):
        wait_services_home(watch, rejoined)
