from __future__ import annotations

from pathlib import Path

import pytest

from tests.plugin.example_suite import STUB_RUNNER, SUITE


@pytest.fixture
def suite_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rootdir holding the example suite (test_example.py) and nothing else."""
    root = tmp_path_factory.mktemp("suite")  # a neutral name: `-k` also matches folder names
    (root / "test_example.py").write_text(SUITE)
    return root


@pytest.fixture
def stub_labsim(tmp_path: Path) -> Path:
    """A folder to put first on PYTHONPATH: its sitecustomize replaces hacert.labsim.runner's
    `start_lab` with one that only logs start/stop."""
    base = tmp_path / "stub"
    base.mkdir(parents=True)
    (base / "stub_labsim_runner.py").write_text(STUB_RUNNER)
    (base / "sitecustomize.py").write_text(
        "import hacert.labsim.runner\nimport stub_labsim_runner\n"
        "hacert.labsim.runner.start_lab = stub_labsim_runner.start_lab\n")
    return base
