"""Locating ../shared (the corpus and the seeds) for the parser tests.

shared/ sits next to the repository root (CI checks it out beside the
clone); HACERT_SHARED overrides. Without it the tests that need it skip, saying
how to get it; in CI (CI=true) a missing shared/ is a failure, never a skip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(__file__).resolve().parent / "samples"


def shared_dir() -> Path:
    env = os.environ.get("HACERT_SHARED")
    return Path(env) if env else (REPO_ROOT / ".." / "shared").resolve()


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_shared(*parts: str) -> Path:
    """The path under shared/; when it is missing, a skip that says how to get it (a failure in CI)."""
    path = shared_dir().joinpath(*parts)
    if not path.exists():
        why = (f"{path} not found: this test reads real tool output or the source documents from the project's "
               f"shared/ folder (corpus/, seeds/); put it next to the repository root ({REPO_ROOT.parent / 'shared'}) "
               f"or point HACERT_SHARED at it")
        if in_ci():
            pytest.fail(why + " (CI=true: a missing shared/ is a failure)", pytrace=False)
        pytest.skip(why)
    return path


def load_corpus_index() -> dict | None:
    """The parsed corpus/index.json, or None when it cannot be read (the test then fails)."""
    try:
        return json.loads((shared_dir() / "corpus" / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def sample(name: str) -> str:
    """A verbatim block copied from a seed (tests/parsers/samples/NAME)."""
    return (SAMPLES / name).read_text(encoding="utf-8")
