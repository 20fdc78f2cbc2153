"""Locating ../shared (the corpus and the seeds) for the parser tests.

shared/ sits next to the repository root (CI checks it out beside the
clone); HACERT_SHARED overrides. A missing shared/ is a failure, never a skip.
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


def require_shared(*parts: str) -> Path:
    """The path under shared/, or a loud test failure saying where it was looked for."""
    path = shared_dir().joinpath(*parts)
    if not path.exists():
        pytest.fail(f"{path} not found: the parser tests need the shared/ folder next to the repository "
                    f"root (or HACERT_SHARED pointing at it)", pytrace=False)
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
