"""Installed beside the PyPI package `fixtures`, hacert claims no generic top-level name: in a
fresh virtual environment that has both, `import fixtures` outside the checkout is the PyPI
package, the certification suites still run from the checkout, and a project that does not use
hacert runs its own tests with hacert's plugin loaded and untouched by it."""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GENERIC = ("fixtures", "drivers", "labsim", "netlab", "benchmarks")


def _run(argv: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment (it reuses the machine's installed dependencies, so nothing but
    the PyPI `fixtures` package is downloaded) with `fixtures` and then hacert (editable) installed."""
    where = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(system_site_packages=True, with_pip=True, symlinks=True).create(where)
    python = where / "bin" / "python"
    got = _run([str(python), "-m", "pip", "install", "-q", "--root-user-action=ignore", "fixtures"], where)
    if got.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"pip could not install the PyPI package 'fixtures' in CI:\n{got.stdout}{got.stderr}")
        pytest.skip(f"pip could not download the PyPI package 'fixtures' (offline?): {got.stderr.strip()[-300:]}")
    got = _run([str(python), "-m", "pip", "install", "-q", "--root-user-action=ignore", "--no-deps",
                "-e", str(REPO)], where)
    assert got.returncode == 0, got.stdout + got.stderr
    return python


def test_the_pypi_fixtures_package_stays_itself_outside_the_checkout(venv_python: Path, tmp_path: Path) -> None:
    got = _run([str(venv_python), "-c",
                "import fixtures, hacert, importlib.util as u\n"
                "print(fixtures.__file__)\nprint(hacert.__file__)\n"
                f"print([n for n in {GENERIC!r} if n != 'fixtures' and u.find_spec(n)])\n"
                "print(hasattr(fixtures, 'Fixture'))"], tmp_path)
    assert got.returncode == 0, got.stderr
    fixtures_file, hacert_file, generic, pypi_api = got.stdout.splitlines()
    assert "site-packages" in fixtures_file and not fixtures_file.startswith(str(REPO)), fixtures_file
    assert pypi_api == "True", "`fixtures` is not the PyPI package (no fixtures.Fixture)"
    assert hacert_file.startswith(str(REPO)), hacert_file
    assert generic == "[]", f"the installation exposes generic top-level names: {generic}"


def test_the_distribution_declares_one_top_level_name_and_the_plugin_entry_point(venv_python: Path, tmp_path: Path) -> None:
    got = _run([str(venv_python), "-c",
                "import importlib.metadata as m\n"
                "print([e.value for e in m.entry_points(group='pytest11') if e.name == 'hacert'])\n"
                "d = m.distribution('hacert')\n"
                "print(sorted({str(f).split('/')[0] for f in (d.files or []) if str(f).endswith('.py')}))"], tmp_path)
    assert got.returncode == 0, got.stderr
    entry, tops = got.stdout.splitlines()
    assert entry == "['hacert.fixtures.plugins']"
    assert not set(GENERIC) & set(eval(tops)), f"installed top-level modules: {tops}"


def test_a_project_that_does_not_use_hacert_runs_its_tests_untouched(venv_python: Path, tmp_path: Path) -> None:
    left = {}
    for plugin in ("hacert", "no:hacert"):  # what other installed plugins leave is the baseline
        project = tmp_path / plugin.replace(":", "-")
        project.mkdir()
        (project / "test_other.py").write_text("def test_other():\n    assert 1 + 1 == 2\n")
        extra = ["-p", plugin] if plugin.startswith("no:") else ["--trace-config"]
        got = _run([str(venv_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra], project)
        assert got.returncode == 0, got.stdout + got.stderr
        assert "1 passed" in got.stdout
        if plugin == "hacert":
            assert "hacert.fixtures.plugin" in got.stdout, "the entry point did not load hacert's plugin"
        left[plugin] = sorted(p.name for p in project.iterdir() if p.name not in ("test_other.py", "__pycache__"))
    assert left["hacert"] == left["no:hacert"], f"hacert's plugin wrote into a project that does not use it: {left}"


def test_the_suites_run_from_the_checkout_in_that_environment(venv_python: Path, tmp_path: Path) -> None:
    """One case of the matrix, end to end (the whole matrix is `pytest suites`, the quick start)."""
    got = _run([str(venv_python), "-m", "pytest", "suites/test_fencing.py", "-k", "test_hang_and_fence", "-q",
                "-p", "no:cacheprovider", "--inventory", "inventories/anvil-sim.yaml",
                "--summary-dir", str(tmp_path / "summary"), "--alluredir", str(tmp_path / "allure"),
                "--basetemp", str(tmp_path / "bt")], REPO, timeout=900)
    assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-2000:]
    assert "2 passed" in got.stdout, got.stdout[-2000:]
