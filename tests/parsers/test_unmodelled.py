"""Real output with lines or elements a parser does not model: no exception, the rest read as
without them, the unknown kept (``unparsed`` / ``extra``) and the known-harmless counted (``skipped``)."""

from __future__ import annotations

import pytest

from hacert.drivers.parsers import ParseError, parse_bonding, parse_clustat, parse_crm_mon, parse_ping
from tests.parsers._shared import require_shared


def corpus(*parts: str) -> str:
    return require_shared("corpus", *parts).read_text(encoding="utf-8")


def _insert(text: str, index: int, *lines: str) -> str:
    rows = text.splitlines()
    rows[index:index] = list(lines)
    return "\n".join(rows) + "\n"


PROMPT = "[root@an-node01 ~]# ping -c 60 10.255.0.1"  # a shell prompt captured with the output
CRM_BAN = ('<bans>\n  <ban id="cli-ban-vm0001-dev-on-an-node02" resource="vm0001-dev" node="an-node02" weight="-1000000" '
           'promoted-only="false" master_only="false"/>\n</bans>')


@pytest.mark.parametrize("name", ["01_iputils_O_one_missing_reply.txt", "02_iputils_O_D_timestamps_no_loss.txt",
                                  "03_iputils_O_D_total_loss.txt", "04_iputils_unreachable_errors.txt"])
def test_ping_keeps_an_unknown_line_and_counts_the_harmless(name: str) -> None:
    real = corpus("ping", name)
    clean = parse_ping(real)
    mixed = parse_ping(_insert(real, 3, PROMPT, "^C"))  # no exception: one unknown line never sinks the run
    assert [(u.where, u.text) for u in mixed.unparsed] == [("line 4", PROMPT)]
    assert mixed.skipped == {"interrupt echo": 1 + clean.skipped.get("interrupt echo", 0)}
    assert (mixed.replies, mixed.no_answers, mixed.error_lines, mixed.transmitted, mixed.received, mixed.rtt_ms) == \
        (clean.replies, clean.no_answers, clean.error_lines, clean.transmitted, clean.received, clean.rtt_ms)
    assert clean.unparsed == []


def test_ping_hands_unknown_lines_to_the_harness_too() -> None:
    bad = []
    run = parse_ping(_insert(corpus("ping", "01_iputils_O_one_missing_reply.txt"), 1, PROMPT), on_bad_line=bad.append)
    assert [e.lineno for e in bad] == [2] and run.unparsed[0].where == "line 2" and run.complete


def test_crm_mon_keeps_the_elements_it_does_not_model() -> None:
    legacy = parse_crm_mon(corpus("crm_mon_xml", "01_pcmk1.1.20_legacy_as_xml_standby_unclean_fence_history.xml"))
    assert [u.where for u in legacy.extra] == ["crm_mon/bans"] and "<ban id=" in legacy.extra[0].text
    assert legacy.skipped == {"node_attributes": 1, "empty tickets": 1}

    real = corpus("crm_mon_xml", "02_pcmk2.0.3_api2.0_offline_stale_node.xml")
    clean = parse_crm_mon(real)
    future = real.replace("</summary>", '  <cluster_health state="degraded"/>\n  </summary>', 1)
    mixed = parse_crm_mon(future[:future.index("</pacemaker-result>")] + CRM_BAN + "\n</pacemaker-result>\n")
    assert clean.extra == []
    assert [u.where for u in mixed.extra] == ["pacemaker-result/bans", "pacemaker-result/summary/cluster_health"]
    assert 'node="an-node02"' in mixed.extra[0].text and mixed.extra[1].reason == "not modelled"
    assert (mixed.nodes, mixed.resources, mixed.quorum, mixed.dc) == (clean.nodes, clean.resources, clean.quorum, clean.dc)


def test_crm_mon_keeps_an_unknown_element_among_the_resources() -> None:
    real = corpus("crm_mon_xml", "03_pcmk2.0.4_api2.2_remote_bundle_nodes_offline.xml")
    clean = parse_crm_mon(real)
    mixed = parse_crm_mon(real.replace("<resources>", '<resources>\n    <inactive_summary count="2"/>', 1))
    assert [u.where for u in mixed.extra] == ["pacemaker-result/resources/inactive_summary"]
    assert mixed.resources == clean.resources


def test_clustat_keeps_a_line_it_does_not_model() -> None:
    real = corpus("clustat", "01_rgmanager3_two_nodes_service_started.txt")
    clean = parse_clustat(real)
    note = "Service states unavailable: Temporary failure; try again"
    mixed = parse_clustat(_insert(real, 2, note))
    assert [(u.where, u.text) for u in mixed.unparsed] == [("line 3", note)]
    assert (mixed.members, mixed.services, mixed.quorate) == (clean.members, clean.services, clean.quorate)
    with pytest.raises(ParseError, match="unreadable row of the members table"):  # a row could hide a member
        parse_clustat(_insert(real, 5, note))
    xml = corpus("clustat", "03_rgmanager2_clustat_x_stopped_and_started.xml")
    extra = parse_clustat(xml.replace("</clustat>", '<fence_domain state="ok"/>\n</clustat>'))
    assert [u.where for u in extra.unparsed] == ["clustat/fence_domain"]


def test_bonding_keeps_a_field_it_does_not_model() -> None:
    real = corpus("bonding", "02_v3.6.0_active_backup_backup_slave_down.txt")
    mixed = parse_bonding(_insert(real, 2, "Hacert Future Field: 42"))
    assert mixed.extra == {"Hacert Future Field": "42"} and mixed.slaves == parse_bonding(real).slaves
