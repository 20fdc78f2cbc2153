"""tests/parsers/samples/*.txt are verbatim copies of blocks of the seeds.

samples/SOURCES.json names each block's seed and line range and the only two
things cut: the command the wiki export glued onto the first output line and
the prose glued onto the last one. This test rebuilds every seed line from
the sample and compares it with ../shared/seeds.
"""

from __future__ import annotations

import json
from functools import lru_cache

import pytest

from tests.parsers._shared import SAMPLES, require_shared

MANIFEST = json.loads((SAMPLES / "SOURCES.json").read_text(encoding="utf-8"))["samples"]


@lru_cache(maxsize=None)
def seed_lines(name: str) -> tuple[str, ...]:
    return tuple(require_shared("seeds", name).read_text(encoding="utf-8").split("\n"))


def test_every_sample_file_has_a_source():
    listed = {entry["file"] for entry in MANIFEST}
    present = {p.name for p in SAMPLES.glob("*.txt")}
    assert present == listed


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_sample_is_verbatim_seed_text(entry):
    seed = seed_lines(entry["seed"])
    first, last = entry["lines"]
    expected = seed[first - 1:last]
    got = (SAMPLES / entry["file"]).read_text(encoding="utf-8").split("\n")
    assert got[-1] == "", "a sample ends with one newline"
    got = got[:-1]
    assert len(got) == len(expected), f"{entry['file']}: {len(got)} lines, seed range has {len(expected)}"
    got[0] = entry["dropped_prefix"] + got[0]
    got[-1] = got[-1] + entry["dropped_suffix"]
    for offset, (mine, theirs) in enumerate(zip(got, expected)):
        assert mine == theirs, f"{entry['file']} differs from {entry['seed']} line {first + offset}"
