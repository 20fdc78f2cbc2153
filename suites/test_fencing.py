"""Testing Fencing (seed 002): hang every node and cut every node's power; the cluster must fence it.

The seed's Test / Victim / Pass table, for every node of the inventory:

- hang the victim (`echo c > /proc/sysrq-trigger`, or the inventory's hang
  method) and confirm it took (it stops answering; else the case is
  inconclusive); a survivor declares it failed and fences it with the first
  method, IPMI — proven by the cluster's own fence record (the device or
  method index it names, looked up in the cluster's fence configuration:
  never a device's name), by the victim's BMC, and by its PDU outlet staying
  on — then the victim boots, rejoins and gets its services back;
- cut the victim's PDU outlet (`fence_apc_snmp -n N -o off`) after checking its
  label and its load; within seconds the victim, and only the victim, goes dark
  (else the outlet goes back on at once: a miswired lab, not the cluster); the
  survivor's IPMI attempt fails ("error from agent") because the BMC lost its
  power too, and the first method independent of the power (the PDU) then
  succeeds, its outlet coming back on by itself;
- with SCSI-3 persistent-reservation fencing (seed 001), the victim's own key
  (fence_scsi's key file on the victim) is removed from the shared disk and the
  reservation stays with a survivor.

Times are measured from the fault (hang, cut) by polling the survivors'
status and syslog; each moment is the window between the last poll that did
not see it and the first that did, narrowed by the syslog line's own stamp.
A deadline is judged on that moment, not on the look having begun in time;
a proof that rests on samples (the outlet stayed on) needs the samples.
"""

from __future__ import annotations

import pytest

from hacert.drivers.errors import Inconclusive, NotApplicable
from hacert.fixtures.guard import Guard
from hacert.fixtures.plan import plan_steps
from hacert.fixtures.report import Record
from hacert.lab.build import Lab
from hacert.model.bounds import Bound
from hacert.model.inventory import Inventory
from hacert.model.matrix import Victim
from hacert.model.scope import require_independent_fence
from hacert.observe.devices import DeviceSampler
from hacert.observe.fence_watch import FenceWatch
from hacert.procedures.fencing import (
    METHOD_WORDS,
    SCSI_KEY_FILES,
    attach_evidence,
    bmc_methods_before,
    bmc_words,
    cman_votes,
    cut_fence_and_recover,
    fail,
    hang_fence_and_recover,
    independent_method,
    key_int,
    key_owners,
    reboot_hung_victim,
    scsi_device,
    scsi_view,
    wait_scsi_fence,
)
from hacert.procedures.hang import HangCheck, hang, hang_words
from hacert.procedures.power_cut import check_loads

FEATURE = "Fencing"
pytestmark = pytest.mark.destructive
# ---------------------------------------------------------------- the cases


@plan_steps(
    "audit the lab healthy (members, quorum, services home, BMCs and outlets on)",
    "mark the survivors' syslog; poll {victim}'s BMC and PDU outlet from now on",
    "hang {victim} (sysrq 'c' or the inventory's hang method)",
    "wait up to {expect.fence_timeout} s for a survivor to declare {victim} failed and fence it",
    "prove IPMI fenced it: fence log, BMC power cycle, PDU outlet never off",
    "wait up to {expect.rejoin_timeout} s for {victim} to boot and rejoin",
    "wait up to {expect.services_back_timeout} s for its services (migrate VMs home if nofailback)",
    touches=["ssh all", "bmc {victim}", "outlets {victim}", "cluster"],
)
def test_hang_and_fence(victim: Victim, lab: Lab, guard: Guard, record: Record) -> None:
    """Hang a node; a survivor fences it by IPMI; it reboots and rejoins."""
    inv: Inventory = lab.inventory
    node = inv.node(victim.node)
    if not inv.peers(node.name):
        raise NotApplicable(f"{node.name} has no peer to fence it")
    first = node.fence[0] if node.fence else None
    record.subject(node.name)
    record.title(f"Hang {node.name} — a survivor fences it by {METHOD_WORDS.get(first or '', first or 'nothing')}")
    record.story("Testing Fencing: hang the victim")

    with record.step("audit the lab healthy"):
        guard.audit()
    with record.step(f"mark the survivors' syslog and watch {node.name}'s BMC and PDU outlet"):
        watch = FenceWatch.mark(lab, node)
        sampler = DeviceSampler(lab, node)
    sampler.start()
    try:
        hang_fence_and_recover(lab, guard, record, node, watch, sampler)
    finally:  # the evidence goes with the case whatever happened, once the waits are over
        sampler.stop()
        attach_evidence(record, watch, sampler, watch.since)


@plan_steps(
    "audit the lab healthy",
    "check each outlet feeding {victim} is named as the inventory expects (refuse otherwise)",
    "where the PDU meters its outlets: check each outlet carries a load (refuse otherwise)",
    "mark the survivors' syslog; poll {victim}'s BMC and PDU outlet from now on",
    "cut {victim}'s outlet(s) (fence_apc_snmp -n N -o off)",
    "within seconds: {victim}'s BMC and SSH go dark, every peer's and every switch on that PDU still answer "
    "(else the outlets go back on at once: a miswired lab)",
    "wait up to {expect.fence_timeout} s: IPMI must fail ('error from agent') where it comes first, then the first "
    "method independent of the power (the PDU, SCSI-3) must succeed",
    "make sure the outlet is on again; wait up to {expect.rejoin_timeout} s for {victim} to rejoin",
    "wait for its services",
    touches=["ssh all", "bmc all", "outlets {victim}", "cluster"],
)
def test_pdu_power_cut(victim: Victim, lab: Lab, guard: Guard, record: Record) -> None:
    """Cut a node's power at its PDU outlet; IPMI fails, the first power-independent method fences it."""
    inv: Inventory = lab.inventory
    node = inv.node(victim.node)
    record.subject(node.name)
    require_independent_fence(inv, node)
    expected = independent_method(node)
    ipmi_first = bool(bmc_methods_before(node, expected))
    record.title(f"Cut {node.name}'s power — " + (f"{bmc_words(node, expected)} fails, " if ipmi_first else "")
                 + f"{METHOD_WORDS.get(expected or '', expected)} fences it")
    record.story("Testing Fencing: cut the victim's power")
    if not node.power:
        raise NotApplicable(f"{node.name} has no PDU outlet in the inventory: its power cannot be cut")

    with record.step("audit the lab healthy"):
        guard.audit()
    with record.step(f"check the outlets feeding {node.name} are the ones the inventory names"):
        for ref in node.power:
            shown = lab.pdu(ref.pdu).outlet_name(ref.outlet)
            if ref.shared:
                fail(f"refused: PDU {ref.pdu} outlet {ref.outlet} is declared shared (it feeds more than {node.name}); "
                     "cutting it would take down more than the victim; touched nothing")
            if shown != ref.name:
                fail(f"refused: PDU {ref.pdu} outlet {ref.outlet} is named {shown!r} on the PDU, but the inventory "
                     f"expects {ref.name!r} for {node.name}; the outlet may feed another device; touched nothing")
    with record.step(f"check each outlet feeding {node.name} carries a load (where the PDU meters outlets)"):
        record.fact("outlet load before the cut", "; ".join(check_loads(lab, node)))
    with record.step(f"mark the survivors' syslog and watch {node.name}'s PDU outlet"):
        watch = FenceWatch.mark(lab, node)
        sampler = DeviceSampler(lab, node, bmc=False)  # its BMC goes dark with the outlet: nothing to poll
    sampler.start()
    try:
        cut_fence_and_recover(lab, guard, record, node, watch, sampler, expected, ipmi_first)
    finally:  # the evidence goes with the case whatever happened, once the waits are over
        sampler.stop()
        attach_evidence(record, watch, sampler, watch.since)


@plan_steps(
    "audit the lab healthy; read the shared disk's keys and reservation (sg_persist -i -k / -i -r) and the votes",
    "hang {victim}",
    "wait up to {expect.fence_timeout} s for its key to be removed from the disk",
    "check the reservation is held by a survivor, the votes dropped by {victim}'s, the cluster is quorate",
    "reboot {victim} through its BMC (the fence left it hung); wait for it to rejoin and for its services",
    touches=["ssh all", "bmc {victim}", "cluster"],
)
def test_scsi_fencing(victim: Victim, lab: Lab, guard: Guard, record: Record) -> None:
    """SCSI-3 persistent-reservation fencing: the hung node loses its key on the shared disk."""
    inv: Inventory = lab.inventory
    node = inv.node(victim.node)
    expect = inv.expectations
    if "scsi" not in node.fence:
        raise NotApplicable(f"{node.name} is not fenced by SCSI-3 reservations (its fence methods: {', '.join(node.fence)})")
    if inv.cluster.manager != "rgmanager":
        raise Inconclusive("hacert reads the votes of a SCSI-3 fence from cman_tool; it cannot judge one on pacemaker")
    record.subject(node.name)
    record.title(f"Hang {node.name} — its SCSI-3 key is removed from the shared disk")
    record.story("Test node failure and IO fencing (SCSI-3 persistent reservations)")
    survivor = inv.peers(node.name)[0].name
    with record.step("audit the lab healthy and read keys, reservation and votes"):
        guard.audit()
        owners = key_owners(lab)
        victim_key = next((key for key, owner in owners.items() if owner == node.name), None)
        if victim_key is None:
            raise Inconclusive(f"{node.name}'s own registration key could not be read (none of {', '.join(SCSI_KEY_FILES)} "
                               "on it): hacert cannot tell whether the key a fence removes is the victim's")
        record.fact("victim's key", f"0x{victim_key:x} (fence_scsi's key file on {node.name})")
        keys_before, holder_before = scsi_view(lab, survivor)
        votes_before, _ = cman_votes(lab, survivor)
        record.fact("keys before", " ".join(keys_before))
        if victim_key not in {key_int(k) for k in keys_before}:
            fail(f"{node.name}'s key 0x{victim_key:x} is not registered on {scsi_device(inv)} before the hang "
                 f"(keys: {' '.join(keys_before) or 'none'}): the cluster did not unfence it when it joined")
    with record.step(f"hang {node.name}: {hang_words(node)}"):
        guard.changed("hang", node.name, node.hang.method)
        t0 = hang(lab, node)
        took = HangCheck(lab, node, t0).start()
    with record.step(f"wait up to {expect.fence_timeout:g} s for a key to leave the disk and {node.name}'s votes the cluster"):
        keys, holder, votes, quorate, seen = wait_scsi_fence(lab, node, survivor, keys_before, votes_before, took, t0)
        record.number("hang to key removed and votes dropped", seen.t - t0, "s", expected=Bound.at_most(expect.fence_timeout))
        if seen.t > t0 + expect.fence_timeout:
            fail(f"no SCSI-3 fence of {node.name} within {expect.fence_timeout:g} s: its key left the disk and its votes "
                 f"the cluster {seen.t - t0:.1f} s after the hang")
        took.wait()
        record.fact("hang", took.evidence())
    with record.step(f"check the removed key is {node.name}'s, the reservation holder, the votes and the quorum"):
        gone = sorted(set(keys_before) - set(keys))
        record.fact("keys removed", " ".join(gone))
        whose = ", ".join(f"{k} ({owners.get(key_int(k), 'no node claims it')})" for k in gone)
        if [key_int(k) for k in gone] != [victim_key]:
            still = "still registered" if victim_key in {key_int(k) for k in keys} else "gone as well"
            fail(f"the SCSI-3 fence of {node.name} removed {whose or 'no key'}, not {node.name}'s own key 0x{victim_key:x} "
                 f"(read from its fence_scsi key file), which is {still}")
        if holder is None or holder in gone:
            fail(f"after fencing {node.name} the reservation is held by {holder or 'nobody'}, not by a survivor")
        if votes != votes_before - node.votes:
            fail(f"cman_tool status shows {votes} votes after the fence of {node.name}; expected {votes_before} - {node.votes}")
        if not quorate:
            fail(f"the cluster lost quorum after the fence of {node.name}")
        if holder_before is not None:
            record.fact("reservation", f"{holder_before} -> {holder}")
    reboot_hung_victim(lab, record, node)
