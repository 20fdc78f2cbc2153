"""A transport retry a driver journaled during a case lands in that case's evidence (its facts in the
summary), and only in that case's (hacert.fixtures.transport)."""

from __future__ import annotations

from tests.reporting.conftest import ExampleLab

SUITE = '''
from hacert.drivers.transport import JOURNAL, RERAN, TransportEvent


def test_with_a_retry(record):
    record.title("a case whose status read lost its connection once")
    JOURNAL.add(TransportEvent("an-node01", "root@127.0.0.1:2201", "crm_mon --one-shot", "EOFError", RERAN, "exit code 0"))


def test_without(record):
    record.title("a case without any")
'''


def test_a_journaled_retry_is_in_its_case_facts_only(example_lab: ExampleLab) -> None:
    (example_lab.path / "test_retries.py").write_text(SUITE)
    done = example_lab.run("test_retries.py", "-p", "hacert.fixtures.transport")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cases = {case["case"].split("::")[-1]: case for case in example_lab.summary["cases"]}
    fact = cases["test_with_a_retry"]["facts"].get("transport retries", "")
    assert fact.startswith("1: an-node01") and "EOFError" in fact and "re-ran on a fresh connection" in fact, fact
    assert "transport retries" not in cases["test_without"]["facts"]
