"""ping runs from seed 002 and the streaming line classifier."""

from __future__ import annotations

import pytest

from hacert.drivers.parsers import (
    ParseError, PingError, PingFlood, PingHeader, PingNoAnswer, PingReply, PingRtt, PingStats,
    PingStatsHeader, parse_ping, parse_ping_line,
)

from tests.parsers._shared import sample


def without_author_notes(text: str) -> str:
    """The seed's author annotated the capture with a '# Node died here ...' line; ping never prints it."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("# "))


def test_vm_destroy_gap():
    run = parse_ping(without_author_notes(sample("ping_002_l4496_vm0001_destroyed.txt")))
    assert (run.destination, run.address) == ("10.254.0.1", "10.254.0.1")
    assert (run.transmitted, run.received, run.loss_percent, run.time_ms) == (58, 23, 60, 57949)
    assert run.complete
    assert run.missing_icmp_seq == list(range(17, 52))
    assert len(run.missing_icmp_seq) == run.transmitted - run.received
    assert run.longest_loss_run == 35  # "36 pings lost at ~1 ping/sec" by the author's count
    assert run.answered_seqs == list(range(1, 17)) + list(range(52, 59))
    assert run.rtt_ms == PingRtt(min=0.342, avg=0.505, max=0.816, mdev=0.109)
    assert run.timestamps is False and run.longest_gap_s is None  # no -D


def test_the_author_annotation_is_kept_not_fatal():
    """One line ping does not print (the author's note inside the real run) no longer sinks the run:
    it is kept with its line number and the reason, and the rest is read as without it."""
    run = parse_ping(sample("ping_002_l4496_vm0001_destroyed.txt"))
    assert [(u.where, u.reason) for u in run.unparsed] == [("line 18", "ping: unrecognised line")]
    assert "# Node died here" in run.unparsed[0].text
    clean = parse_ping(without_author_notes(sample("ping_002_l4496_vm0001_destroyed.txt")))
    assert (run.replies, run.transmitted, run.received, run.missing_icmp_seq) == \
        (clean.replies, clean.transmitted, clean.received, clean.missing_icmp_seq)
    assert clean.unparsed == [] and clean.skipped == {"interrupt echo": 1}


def test_partial_capture_has_no_summary():
    run = parse_ping(sample("ping_002_l4474_before_destroy.txt"))
    assert [r.seq for r in run.replies] == [1, 2, 3]
    assert [r.time_ms for r in run.replies] == [0.737, 0.530, 0.589]
    assert run.complete is False and run.transmitted is None and run.missing_icmp_seq == []


def test_flood_dots():
    run = parse_ping(sample("ping_002_l1884_flood.txt"))
    assert (run.destination, run.address, run.flood_unanswered) == ("an-node02", "10.20.0.2", 24)


def test_longest_gap_from_timestamps():
    text = ("PING 10.254.0.1 (10.254.0.1) 56(84) bytes of data.\n"
            "[1325461115.100000] 64 bytes from 10.254.0.1: icmp_seq=1 ttl=64 time=0.737 ms\n"
            "[1325461116.100000] no answer yet for icmp_seq=2\n"
            "[1325461119.350000] 64 bytes from 10.254.0.1: icmp_seq=5 ttl=64 time=0.530 ms\n"
            "[1325461120.350000] 64 bytes from 10.254.0.1: icmp_seq=6 ttl=64 time=0.530 ms (DUP!)\n")
    run = parse_ping(text)
    assert run.timestamps and run.longest_gap_s == pytest.approx(4.25)
    assert run.missing_icmp_seq == [2, 3, 4] and len(run.duplicate_replies) == 1


@pytest.mark.parametrize("line, expected", [
    ("64 bytes from 10.254.0.1: icmp_seq=52 ttl=64 time=0.816 ms",
     PingReply(seq=52, source="10.254.0.1", bytes=64, ttl=64, time_ms=0.816)),
    ("[1595191373.643436] 64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.043 ms",
     PingReply(seq=1, source="127.0.0.1", bytes=64, ttl=64, time_ms=0.043, timestamp=1595191373.643436)),
    ("64 bytes from 151.101.189.67 (151.101.189.67): icmp_seq=16 ttl=59 time=36.6 ms",
     PingReply(seq=16, source="151.101.189.67 (151.101.189.67)", bytes=64, ttl=59, time_ms=36.6)),
    ("no answer yet for icmp_seq=15", PingNoAnswer(seq=15)),
    ("[1596585011.711167] no answer yet for icmp_seq=4", PingNoAnswer(seq=4, timestamp=1596585011.711167)),
    ("From 10.0.0.1 icmp_seq=3 Destination Host Unreachable",
     PingError(source="10.0.0.1", icmp_seq=3, message="Destination Host Unreachable")),
    ("PING an-node02 (10.20.0.2) 56(84) bytes of data.", PingHeader(destination="an-node02", address="10.20.0.2")),
    ("--- 10.254.0.1 ping statistics ---", PingStatsHeader(destination="10.254.0.1")),
    ("3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2049ms",
     PingStats(transmitted=3, received=0, loss_percent=100, time_ms=2049, errors=3)),
    ("........................", PingFlood(dots=24)),
    ("^C", None),
    ("", None),
])
def test_stream_lines(line, expected):
    assert parse_ping_line(line) == expected


def test_stream_of_the_seed_run():
    kinds = [type(parse_ping_line(line)).__name__
             for line in without_author_notes(sample("ping_002_l4496_vm0001_destroyed.txt")).splitlines()]
    assert kinds[0] == "PingHeader" and kinds.count("PingReply") == 23
    assert kinds[-4:] == ["NoneType", "PingStatsHeader", "PingStats", "PingRtt"]


def test_unknown_stream_line():
    with pytest.raises(ParseError) as err:
        parse_ping_line("Now, on an-node01, forcefully shut down vm0001-dev;")
    assert "forcefully shut down" in str(err.value)


def test_unknown_host_is_not_a_run():
    with pytest.raises(ParseError, match="neither a 'PING' header"):
        parse_ping("ping: unknown host an-node03\n")
