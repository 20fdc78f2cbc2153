"""Adversity syslog_garbage: the targeted node's /var/log/messages gets lines no parser knows (cut
short, binary, another program's format, a continuation), the four kinds in turn, only while the
node runs, each one a ground-truth event; the other nodes' syslogs stay clean."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

import hacert.labsim.garbage as garbage
from hacert.drivers.parsers import ParseError, parse_syslog_line
from hacert.model.inventory import load_inventory
from hacert.labsim.core import read_event_log
from hacert.labsim.world import World

from tests.labsim.conftest import ANVIL


def _world(tmp_path: Path, target: str | None) -> World:
    data = yaml.safe_load(ANVIL.read_text())
    data.setdefault("simulation", {})["adversities"] = [{"name": "syslog_garbage", **({"target": target} if target else {})}]
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return World(load_inventory(path), tmp_path / "work", cluster=False)


def test_garbage_lines_are_no_syslog_and_come_in_every_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(garbage, "EVERY", 0.05)
    world = _world(tmp_path, "an-node02")
    clean, before = len(world.messages("an-node01")), len(world.messages("an-node02"))
    world.start()
    try:
        deadline = time.monotonic() + 5
        while len(world.messages("an-node02")) < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        lines = world.messages("an-node02")[before:]
        assert len(world.messages("an-node01")) == clean, "only the targeted node gets garbage"
        world.hang("an-node02")
        hung = len(world.messages("an-node02"))
        time.sleep(0.3)
        assert len(world.messages("an-node02")) == hung, "a hung node writes nothing"
    finally:
        world.stop()
    assert len(lines) >= 8
    for line in lines:
        with pytest.raises(ParseError):
            parse_syslog_line(line)
        assert "\n" not in line and not any(w in line for w in ("fenc", "processor failed", "quorum", "Restart"))
    events = [e for e in read_event_log(world.event_log_path) if e["kind"] == "syslog_garbage"]
    assert {e["garbage"] for e in events} == set(garbage.KINDS)
    assert {e["node"] for e in events} == {"an-node02"} and len(events) == hung - before
    # the binary blob's bytes reach an SSH client as they are (not as Python escapes)
    blob = garbage.garbage_line("binary", "an-node02", 1)
    assert blob.encode("utf-8", "surrogateescape").startswith(b"\x00\x00\x1f\x8b\x08\x00\xff\xfe\x7fELF")


def test_no_adversity_no_garbage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(garbage, "EVERY", 0.05)
    world = World(load_inventory(ANVIL), tmp_path / "work", cluster=False)
    before = {n: len(world.messages(n)) for n in ("an-node01", "an-node02")}
    world.start()
    time.sleep(0.3)
    world.stop()
    assert {n: len(world.messages(n)) for n in before} == before
