"""Every sample of shared/corpus/index.json against its parser: each `expect`
fact must be what the parser extracts. shared/ missing = failure."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from hacert.drivers.parsers import (
    parse_bonding, parse_clustat, parse_cman_status, parse_crm_mon, parse_drbd, parse_ping,
    parse_sg_persist, parse_virsh_list,
)

from tests.parsers._shared import load_corpus_index, require_shared

PARSERS = {
    "bonding": parse_bonding,
    "clustat": parse_clustat,
    "cman_tool_status": parse_cman_status,
    "crm_mon_xml": parse_crm_mon,
    "drbd": parse_drbd,
    "ping": parse_ping,
    "sg_persist": parse_sg_persist,
    "virsh_list": parse_virsh_list,
}

# Field names of the corpus that are spelled differently in the records.
ALIASES = {"from": "source"}


def _crm_format(rec) -> str:
    if rec.schema == "legacy":
        return f'legacy <crm_mon version="{rec.version}">'
    return f'pacemaker-result api-version="{rec.version}"'


def _sg_reservation(rec):
    return "not queried" if not rec.reservation_queried else rec.reservation


# Facts that are not a single record field: (kind, key) -> how to read them from the record.
DERIVED = {
    ("crm_mon_xml", "format"): _crm_format,
    ("crm_mon_xml", "resources_active"): lambda rec: [r for r in rec.resources if r.active],
    ("crm_mon_xml", "resources_inactive_count"): lambda rec: sum(not r.active for r in rec.resources),
    ("sg_persist", "reservation"): _sg_reservation,
}


def _check_command(rec, command: str) -> None:
    """sg_persist's `command` says how the output was produced: -k reads keys, -r the reservation."""
    words = command.split()
    assert ("-k" in words) == (rec.keys is not None), f"{command}: keys {rec.keys!r}"
    assert ("-r" in words) == rec.reservation_queried, f"{command}: reservation_queried {rec.reservation_queried}"


def _get(actual, key: str, path: str):
    if isinstance(actual, dict):
        if key in actual:
            return actual[key]
        if key.lstrip("-").isdigit() and int(key) in actual:
            return actual[int(key)]
        pytest.fail(f"{path}: no entry {key!r} (have {sorted(map(str, actual))})", pytrace=False)
    name = ALIASES.get(key, key)
    if not hasattr(actual, name):
        pytest.fail(f"{path}: {type(actual).__name__} has no field {name!r}", pytrace=False)
    return getattr(actual, name)


def _match(expected, actual, path: str) -> None:
    if isinstance(expected, dict):
        if actual is None:
            pytest.fail(f"{path}: expected {expected!r}, parser gave None", pytrace=False)
        for key, value in expected.items():
            _match(value, _get(actual, key, path), f"{path}.{key}")
    elif isinstance(expected, list):
        assert actual is not None, f"{path}: expected {expected!r}, parser gave None"
        actual = list(actual)
        assert len(actual) == len(expected), f"{path}: expected {len(expected)} items, got {len(actual)}: {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            _match(e, a, f"{path}[{i}]")
    elif isinstance(expected, float) and not isinstance(expected, bool):
        close = pytest.approx(expected, rel=1e-12, abs=1e-9)
        assert actual == close, f"{path}: expected {expected!r}, got {actual!r}"
    else:
        if dataclasses.is_dataclass(actual):
            pytest.fail(f"{path}: expected {expected!r}, got {actual!r}", pytrace=False)
        assert actual == expected, f"{path}: expected {expected!r}, got {actual!r}"


_INDEX = load_corpus_index()
_CASES = ([pytest.param(s, id=s["file"]) for s in _INDEX["samples"]] if _INDEX
          else [pytest.param(None, id="corpus-index-missing")])


def test_corpus_index_is_there():
    index = require_shared("corpus", "index.json")
    assert _INDEX is not None, f"{index} is not readable JSON"
    assert {s["kind"] for s in _INDEX["samples"]} <= set(PARSERS), "a corpus kind has no parser"


@pytest.mark.parametrize("case", _CASES)
def test_corpus_sample(case):
    if case is None:
        require_shared("corpus", "index.json")
        pytest.fail("shared/corpus/index.json could not be read", pytrace=False)
    path = require_shared("corpus", case["file"])
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == case["sha256"], f"{path} differs from the indexed copy"
    kind = case["kind"]
    record = PARSERS[kind](data.decode("utf-8"))
    for key, value in case["expect"].items():
        if (kind, key) == ("sg_persist", "command"):
            _check_command(record, value)
        elif (kind, key) in DERIVED:
            _match(value, DERIVED[(kind, key)](record), key)
        else:
            _match(value, _get(record, key, kind), key)
