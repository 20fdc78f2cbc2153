"""summary.html on paper: print styles, and a sign-off block that says what the signatures vouch for."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import chromium_binary, page_text
from hacert.model.inventory import load_inventory
from hacert.verdict.summary import build_summary, lab_description, render_html, render_markdown, sign_off_facts

ROOT = Path(__file__).resolve().parents[2]


def _summary(monkeypatch: pytest.MonkeyPatch, rows: int = 40) -> dict:
    monkeypatch.setenv("HACERT_OPERATOR", "Madison Kelly")
    inv = load_inventory(ROOT / "inventories" / "anvil-sim.yaml")
    row = {"id": "suites/test_fencing.py::test_hang[an-node01]", "case": "test_fencing.py::test_hang[an-node01]",
           "title": "Hang an-node01 — an-node02 fences it by IPMI", "feature": "Fencing", "procedure": "Testing Fencing",
           "subject": "an-node01", "verdict": "passed", "status": "passed", "diagnosis": "", "steps": [], "facts": {},
           "numbers": [{"name": "time to fence", "value": 12.3, "unit": "s", "expected": "<= 15 s",
                        "parameter": "time to fence (s)", "display": "12.3 s"}], "allure": {"report_id": "abc123"}}
    cases = [row | {"id": f"{row['id']}-{i}", "case": f"{row['case']}-{i}", "started": i} for i in range(rows)]
    return build_summary(cases, labs=[lab_description(inv)], harness={"version": "0.1.0", "commit": "0123abcd"},
                         started=1796600000.0, finished=1796607200.0)


def test_the_sign_off_names_who_ran_it_on_which_lab_inventory_and_harness(monkeypatch: pytest.MonkeyPatch) -> None:
    summary = _summary(monkeypatch, rows=2)
    inv = load_inventory(ROOT / "inventories" / "anvil-sim.yaml")
    facts = dict(sign_off_facts(summary))
    assert facts["Run by"] == "Madison Kelly"
    assert facts["Lab"].startswith(f"{inv.lab} (cluster {inv.cluster.name}")
    assert facts["Inventory checksum"] == f"{inv.lab}: {inv.checksum}" and inv.checksum
    assert facts["Harness version"] == "hacert 0.1.0 (commit 0123abcd)"
    assert facts["Date"].startswith("2026-") and "to 2026-" in facts["Date"]
    html = render_html(summary)
    section = html[html.index('<section id="sign-off">'):]
    assert all(v in section for v in (inv.checksum, "Madison Kelly", "0123abcd"))
    assert section.count('class="sign-line"') == 3 and section.count("Signature") == 3
    md = render_markdown(summary)
    assert f"| Inventory checksum | {inv.lab}: {inv.checksum} |" in md and "| Approved by | | | |" in md


def test_operator_defaults_to_user_at_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HACERT_OPERATOR", raising=False)
    summary = build_summary([], labs=[], harness={})
    assert "@" in summary["ran_by"]


def test_summary_prints_to_a_pdf_with_the_sign_off_on_one_page(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    browser = chromium_binary()
    if browser is None:
        pytest.skip("no Chromium: install it with `apt-get install -y chromium` (.ci/run does)")
    html = render_html(_summary(monkeypatch))
    assert "@media print" in html and "@page" in html and "<thead>" in html  # header rows repeat on every page
    page = tmp_path / "summary.html"
    page.write_text(html, encoding="utf-8")
    pdf = tmp_path / "summary.pdf"
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                           "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and pdf.exists(), done.stderr[-1500:]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page\b", data))
    assert 1 <= pages <= 6, pages
    text = page_text(page.as_uri())
    assert "Sign-off Run by Madison Kelly" in text and "Reviewed by Signature Date" in text
