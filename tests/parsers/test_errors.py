"""Every parser refuses empty, blank and foreign input with a ParseError quoting the line."""

from __future__ import annotations

import pytest

from hacert.drivers import parsers as p
from hacert.drivers.parsers import ParseError

TEXT_PARSERS = [
    p.parse_bonding, p.parse_clustat, p.parse_cman_status, p.parse_cman_nodes, p.parse_crm_mon, p.parse_ping,
    p.parse_virsh_list, p.parse_virsh_dominfo, p.parse_virsh_domstate, p.parse_domjobinfo, p.parse_drbd,
    p.parse_sg_persist, p.parse_ip_link, p.parse_stonith_history, p.parse_syslog_events,
]
IDS = [f.__name__ for f in TEXT_PARSERS]

# A shell error, the most likely foreign text a driver hands to a parser.
FOREIGN = "bash: line 1: clustat: command not found"


def test_parse_error_is_a_value_error():
    err = ParseError("clustat: unrecognised line", "xyz", 3)
    assert isinstance(err, ValueError)
    assert (err.reason, err.line, err.lineno) == ("clustat: unrecognised line", "xyz", 3)
    assert str(err) == "clustat: unrecognised line (line 3: 'xyz')"


@pytest.mark.parametrize("parse", TEXT_PARSERS, ids=IDS)
@pytest.mark.parametrize("empty", ["", "\n", "   \n\t\n"], ids=["empty", "newline", "blank"])
def test_empty_output_is_an_error(parse, empty):
    with pytest.raises(ParseError, match="empty"):
        parse(empty)


@pytest.mark.parametrize("parse", TEXT_PARSERS, ids=IDS)
def test_foreign_output_quotes_the_line(parse):
    with pytest.raises(ParseError) as err:
        parse(FOREIGN + "\n")
    assert FOREIGN in str(err.value)


def test_ping_line_and_syslog_line_quote_the_line():
    for parse in (p.parse_ping_line, p.parse_syslog_line):
        with pytest.raises(ParseError) as err:
            parse(FOREIGN)
        assert FOREIGN in str(err.value)


def test_bytes_are_refused_loudly():
    with pytest.raises(TypeError):
        p.parse_clustat(b"Member Status: Quorate\n")
