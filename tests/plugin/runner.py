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
    """`python -m pytest -p fixtures.plugin ARGS` with `rootdir` as rootdir and cwd, no ini file."""
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
        "fixtures.plugin",
        *[str(a) for a in args],
    ]
    done = subprocess.run(
        command, cwd=rootdir, env=environ, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    return Run(done.returncode, done.stdout, done.stderr)


def collected_ids(run: Run) -> list[str]:
    """The node ids `--collect-only -q` printed."""
    return [line.strip() for line in run.stdout.splitlines() if "::" in line and not line.startswith(" ")]
