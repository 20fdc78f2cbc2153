"""The nodes' shell over SSH: ping streams in real time with iputils' format and
accounts its losses in the event log; the command line syntax; small tools."""

from __future__ import annotations

import re
import time

from hacert.drivers.parsers.ping import parse_ping

from tests.labsim.conftest import Lab, wait_until

NODE = "an-node01"
SUMMARY = re.compile(r"^(\d+) packets transmitted, (\d+) received, (\d+(?:\.\d+)?)% packet loss, time (\d+)ms$")


def test_ping_streams_one_line_per_reply_in_real_time(lab: Lab) -> None:
    node = lab.node(NODE)
    _, out, _ = node.client.exec_command("ping -c 5 -i 0.2 -D -O 10.20.0.2", timeout=10)
    arrivals = []
    lines = []
    for line in out:
        arrivals.append(time.monotonic())
        lines.append(line.rstrip("\n"))
    assert out.channel.recv_exit_status() == 0
    assert lines[0] == "PING 10.20.0.2 (10.20.0.2) 56(84) bytes of data."
    replies = lines[1:6]
    assert all(re.fullmatch(r"\[\d+\.\d{6}\] 64 bytes from 10\.20\.0\.2: icmp_seq=\d ttl=64 time=\d+\.\d{3} ms", r) for r in replies), replies
    gaps = [b - a for a, b in zip(arrivals[1:6], arrivals[2:6])]
    assert all(0.1 < g < 0.4 for g in gaps), f"replies did not arrive one by one: {gaps}"
    assert lines[6:8] == ["", "--- 10.20.0.2 ping statistics ---"]
    m = SUMMARY.match(lines[8])
    assert m and m.group(1, 2, 3) == ("5", "5", "0"), lines[8]
    assert re.fullmatch(r"rtt min/avg/max/mdev = [\d.]+/[\d.]+/[\d.]+/[\d.]+ ms", lines[9])
    parsed = parse_ping("\n".join(lines))
    assert (parsed.transmitted, parsed.received, parsed.complete) == (5, 5, True)


def test_ping_records_what_it_lost(lab: Lab) -> None:
    node = lab.node(NODE)
    _, out, _ = node.client.exec_command("ping -i 0.05 -w 1.5 -O an-node02.bcn", timeout=10)
    assert out.readline().rstrip() == "PING an-node02.bcn (10.20.0.2) 56(84) bytes of data."
    wait_until("a few replies", lambda: "icmp_seq=3 " in out.readline(), 2)
    # both of an-node02's bcn links gone: nothing can answer
    lab.set_port("sw1", "4", up=False)
    lab.set_port("sw2", "4", up=False)
    time.sleep(0.4)
    lab.set_port("sw2", "4", up=True)
    text = out.read().decode()
    assert out.channel.recv_exit_status() == 0
    parsed = parse_ping("PING an-node02.bcn (10.20.0.2) 56(84) bytes of data.\n" + text)
    assert parsed.complete and parsed.transmitted and parsed.received is not None
    assert parsed.no_answers, text
    assert "64 bytes from an-node02.bcn (10.20.0.2): icmp_seq=" in text
    [done] = lab.events("ping_done")
    assert (done["node"], done["target"]) == (NODE, "10.20.0.2")
    assert done["transmitted"] == parsed.transmitted and done["received"] == parsed.received
    assert len(done["lost_seqs"]) == parsed.transmitted - parsed.received >= 4
    assert {n.seq for n in parsed.no_answers} <= set(done["lost_seqs"])
    loss = float(SUMMARY.match(text.strip().splitlines()[-2]).group(3))
    assert abs(loss - 100 * len(done["lost_seqs"]) / done["transmitted"]) < 0.01


def test_ping_of_nothing_and_unknown_hosts(lab: Lab) -> None:
    node = lab.node(NODE)
    code, out, _ = node.run("ping -c 2 -i 0.1 -q 10.20.0.99")
    assert code == 1
    assert out.splitlines()[-1] == "2 packets transmitted, 0 received, 100% packet loss, time " + out.splitlines()[-1].split("time ")[1]
    code, _, err = node.run("ping -c 1 no-such-host")
    assert (code, err) == (2, "ping: unknown host no-such-host\n")


def test_command_line_syntax(lab: Lab) -> None:
    node = lab.node(NODE)
    assert node.run("true && echo yes || echo no") == (0, "yes\n", "")
    assert node.run("false && echo yes || echo no") == (0, "no\n", "")
    assert node.run("echo a; echo b") == (0, "a\nb\n", "")
    assert node.run("nope 2>&1; echo $?") == (0, "bash: nope: command not found\n127\n", "")
    assert node.run("cat /etc/nothing 2>/dev/null") == (1, "", "")
    assert node.run("cat /proc/net/bonding/bond0 | grep -c Slave") == (0, "6\n", "")
    assert node.run("cat /proc/net/bonding/bond0 | tail -n 1") == (0, "Slave queue ID: 0\n", "")
    assert node.run("echo 'a  b' \"c\"") == (0, "a  b c\n", "")
    assert node.run("hostname -s") == (0, "an-node01\n", "")
    code, out, _ = node.run("date +%s.%N")
    assert code == 0 and abs(float(out) - time.time()) < 5 and re.fullmatch(r"\d+\.\d{9}\n", out)
    assert node.run("sleep 0.1; uptime")[1].startswith(" ")
    assert node.run("/usr/bin/nothing") == (127, "", "bash: /usr/bin/nothing: No such file or directory\n")


def test_syslog_tools(lab: Lab) -> None:
    node = lab.node(NODE)
    code, before, _ = node.run("wc -l /var/log/messages")
    assert code == 0 and before.endswith(" /var/log/messages\n")
    lab.set_port("sw1", "3", up=False)  # eth2
    wait_until("the failover line", lambda: node.run("grep -c 'bond2: making interface eth5' /var/log/messages")[1] == "1\n", 1)
    _, tail, _ = node.run("tail -n 2 /var/log/messages")
    assert re.fullmatch(r"\w{3} [ \d]\d \d\d:\d\d:\d\d an-node01 kernel: bonding: bond2: making interface eth5 the new active one\.",
                        tail.splitlines()[-1]), tail
    _, follow, _ = node.client.exec_command("tail -f -n 0 /var/log/messages", timeout=5)
    time.sleep(0.2)
    lab.set_port("sw1", "3", up=True)
    assert follow.readline().rstrip().endswith("kernel: e1000e: eth2 NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx")
    follow.channel.close()
