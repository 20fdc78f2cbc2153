"""The VM suites' helpers on their own: ping logs, where to ping from, domain states."""

from __future__ import annotations

from hacert.model.inventory import load_inventory
from hacert.observe.domains import DomainPoller
from hacert.observe.ping import PingLog
from hacert.procedures.vm import ping_source

from tests.suites_vm.conftest import ROOT

LINES = [
    "PING 10.254.0.1 (10.254.0.1) 56(84) bytes of data.",
    "[100.000000] 64 bytes from 10.254.0.1: icmp_seq=1 ttl=64 time=0.100 ms",
    "[100.050000] 64 bytes from 10.254.0.1: icmp_seq=2 ttl=64 time=0.100 ms",
    "[100.150000] no answer yet for icmp_seq=3",
    "[100.200000] no answer yet for icmp_seq=4",
    "[100.200000] 64 bytes from 10.254.0.1: icmp_seq=5 ttl=64 time=0.100 ms",
    "[100.250000] 64 bytes from 10.254.0.1: icmp_seq=6 ttl=64 time=0.100 ms",
    "[101.000000] 64 bytes from 10.254.0.1: icmp_seq=9 ttl=64 time=0.100 ms",
    "",
    "--- 10.254.0.1 ping statistics ---",
    "10 packets transmitted, 5 received, 50% packet loss, time 450ms",
]


def test_ping_log_counts_losses_and_gaps() -> None:
    log = PingLog.parse("an-node02", "10.254.0.1", 0.05, LINES)
    assert (log.transmitted, log.received, log.lost_seqs()) == (10, 5, [3, 4, 7, 8, 10])
    gaps = log.gaps()
    assert [(g.start, g.end, g.lost) for g in gaps] == [(100.05, 100.2, 2), (100.25, 101.0, 2), (101.0, None, 1)]
    assert abs(log.longest_silence() - 0.75) < 1e-9
    assert log.outage_after(100.1).start == 100.05  # a silence still going on at t
    assert log.outage_after(100.3).first_lost_seq == 7
    assert log.first_reply_after(100.2) == 100.25


def test_one_ping_log_reads_the_same_run_for_a_flood_and_for_a_vm() -> None:
    """The network floods and the VM pings are one instrument: the same output gives the same
    losses whichever way it is asked (ping's schedule or the replies' stamps), both on the
    controller's clock once the source's offset is taken off."""
    log = PingLog.parse("an-node02", "10.254.0.1", 0.05, LINES, 2.0, network="ifn", target="vm0001-dev")
    assert log.label == "an-node02 -> vm0001-dev (ifn)" and log.what.startswith("the ping flood")
    assert log.lost == len(log.lost_seqs()) == 5
    assert log.longest_gap == 0.15  # seqs 3-4 (and 7-8) lost in a row: 3 intervals without an answer
    assert [(g.start, g.end) for g in log.gaps()][0] == (98.05, 98.2)  # the -D stamps minus the 2 s offset
    assert log.loss_windows()[0][2] == 2 and abs(log.loss_windows()[0][0] - 98.1) < 1e-9  # seq 3, stamped as seq 4 was sent
    assert log.seen_until == 99.0  # its last stamp (its 10 probes reach only 0.5 s past the start)


def test_ping_log_without_summary_counts_to_the_last_probe_seen() -> None:
    log = PingLog.parse("n", "a", 0.05, LINES[:6])
    assert (log.transmitted, log.lost) == (5, 2)


def test_ping_source_prefers_the_inventory_then_an_uninvolved_node() -> None:
    inv = load_inventory(ROOT / "inventories" / "three-node-sim.yaml")
    assert ping_source(inv, "guest1", prefer_not={"et-virt05", "et-virt06"}) == "et-virt07"
    assert ping_source(inv, "guest1", avoid={"et-virt05"}) == "et-virt06"
    two = load_inventory(ROOT / "inventories" / "anvil-sim.yaml")
    # nobody is uninvolved in a two-node migration: any node that stays up will do
    assert ping_source(two, "vm0001-dev", prefer_not={"an-node01", "an-node02"}) == "an-node01"
    assert ping_source(two, "vm0001-dev", avoid={"an-node01"}, prefer_not={"an-node02"}) == "an-node02"


def test_domain_poller_sees_a_stop_only_when_neither_node_runs_the_vm() -> None:
    poller = DomainPoller(lab=None, vm="v", source="a", target="b")
    # libvirt's switch-over as a real live migration shows it: both ends paused, then the target runs
    poller.samples = [(1.0, "running", None), (1.5, "paused", "paused"), (2.0, "shut off", "running"),
                      (3.0, "shut off", "shut off"), (4.0, None, "crashed")]
    assert poller.stopped_at() == [3.0, 4.0]
