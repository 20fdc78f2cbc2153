from __future__ import annotations

from pathlib import Path

import pytest

from .example_suite import STUB_RUNNER, SUITE


@pytest.fixture
def suite_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rootdir holding the example suite (test_example.py) and nothing else."""
    root = tmp_path_factory.mktemp("suite")  # a neutral name: `-k` also matches folder names
    (root / "test_example.py").write_text(SUITE)
    return root


@pytest.fixture
def stub_labsim(tmp_path: Path) -> Path:
    """A folder to put first on PYTHONPATH: its labsim.runner only logs start/stop."""
    base = tmp_path / "stub"
    (base / "labsim").mkdir(parents=True)
    (base / "labsim" / "__init__.py").write_text("")
    (base / "labsim" / "runner.py").write_text(STUB_RUNNER)
    return base
