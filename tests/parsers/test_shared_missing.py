"""Without ../shared the tests that need it skip and say how to get it; in CI they fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_") and k != "CI"}
    env["HACERT_SHARED"] = str(tmp_path / "no-shared-here")
    if ci:
        env["CI"] = "true"
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rsf", "--no-cert-summary",
            "tests/parsers/test_pacemaker.py", "tests/parsers/test_corpus.py"]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("ci", [False, True], ids=["outside-ci", "ci"])
def test_missing_shared_skips_with_how_to_get_it_but_fails_in_ci(tmp_path: Path, ci: bool) -> None:
    done = _run(tmp_path, ci)
    out = done.stdout
    how = "put it next to the repository root"
    if ci:
        assert done.returncode == 1, out
        assert "failed" in out.splitlines()[-1] and "CI=true: a missing shared/ is a failure" in out
    else:
        assert done.returncode == 0, out
        last = out.splitlines()[-1]
        assert "skipped" in last and "failed" not in last, last
        assert "no-shared-here/corpus/index.json not found" in out and how in out and "HACERT_SHARED" in out
