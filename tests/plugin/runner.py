"""Run pytest with hacert's plugin in a subprocess, the way a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

REPO = Path(__file__).resolve().parents[2]
SIM_INVENTORY = REPO / "inventories" / "anvil-sim.yaml"
THREE_NODE_INVENTORY = REPO / "inventories" / "three-node-sim.yaml"
EXAMPLE_INVENTORY = REPO / "inventories" / "anvil-example.yaml"

# Variables of the caller that would change what the plugin does.
_SCRUBBED = ("HACERT_INVENTORY", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "CI")


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_pytest(
    args: Sequence[str | os.PathLike[str]],
    *,
    rootdir: Path,
    env: Mapping[str, str] | None = None,
    pythonpath_first: Path | None = None,
    timeout: float = 60.0,
) -> Run:
    """`python -m pytest -p hacert.fixtures.plugin ARGS` in a subprocess, `rootdir` as rootdir and cwd, no ini file."""
    environ = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    paths = [str(REPO)] + ([str(pythonpath_first)] if pythonpath_first else [])
    if pythonpath_first:
        paths.reverse()
    environ["PYTHONPATH"] = os.pathsep.join(paths + [environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    environ["PYTHONDONTWRITEBYTECODE"] = "1"
    # third-party plugins (allure, hypothesis, ...) only slow the start; -p loads what a test needs
    environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    environ.update(env or {})
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        os.devnull,
        "--rootdir",
        str(rootdir),
        "-p",
        "no:cacheprovider",
        "-p",
        "hacert.fixtures.plugin",
        *[str(a) for a in args],
    ]
    done = subprocess.run(
        command, cwd=rootdir, env=environ, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    return Run(done.returncode, done.stdout, done.stderr)


def collected_ids(run: Run) -> list[str]:
    """The node ids `--collect-only -q` printed."""
    return [line.strip() for line in run.stdout.splitlines() if "::" in line and not line.startswith(" ")]


def run_many(jobs: Mapping[str, tuple[Sequence[str | os.PathLike[str]], dict]]) -> dict[str, Run]:
    """Several `run_pytest(args, **kwargs)` at once (each is mostly interpreter start-up)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, len(jobs) or 1)) as pool:
        futures = {name: pool.submit(run_pytest, args, **kwargs) for name, (args, kwargs) in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def run_inprocess(
    args: Sequence[str | os.PathLike[str]], *, rootdir: Path, env: Mapping[str, str] | None = None
) -> Run:
    """The same as `run_pytest`, but with `pytest.main` in this process: no interpreter start-up.

    For runs that need no separate process (collection, --plan, option errors,
    suites that touch no lab). The environment, cwd, sys.path and the test
    modules the run imported are put back afterwards.
    """
    import contextlib
    import io

    import pytest

    saved_env, saved_cwd, saved_path = dict(os.environ), os.getcwd(), list(sys.path)
    saved_modules = set(sys.modules)
    out, err = io.StringIO(), io.StringIO()
    try:
        for name in _SCRUBBED:
            os.environ.pop(name, None)
        os.environ.update(env or {})
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        os.chdir(rootdir)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = pytest.main(
                ["-c", os.devnull, "--rootdir", str(rootdir), "-p", "no:cacheprovider", "-p", "hacert.fixtures.plugin", *map(str, args)]
            )
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            if name.startswith("test_") or name.split(".")[0] == "conftest":
                del sys.modules[name]
    return Run(int(code), out.getvalue(), err.getvalue())
