"""Helpers of the reporting tests: an example lab and suite in a temporary folder, run by a
pytest subprocess with the reporting plugin (`-p hacert.fixtures.report`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from hacert.verdict.summary import latest_summary_path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

# Made-up secrets: what a lab's environment and a simulated lab's endpoints would hold.
SECRETS = {
    "EXAMPLE_BMC_PASSWORD": "Bmc-pw-7Qx!v2",
    "EXAMPLE_SSH_PASSWORD": "ssh-Root-93kd",
    "EXAMPLE_COMMUNITY": "comm-private-5tz",
}
ENDPOINT_SECRETS = {"password": "labsim-made-up-pw-1", "community_rw": "labsim-rw-community-2"}

INVENTORY = """\
lab: example-lab
description: two nodes used by the reporting tests
cluster: {name: example-cluster, manager: rgmanager}
nodes:
  - name: an-node01
    ssh: {host: 127.0.0.1, port: 2201, password_env: EXAMPLE_SSH_PASSWORD}
    bmc: {host: 127.0.0.1, port: 6231, password_env: EXAMPLE_BMC_PASSWORD}
    power: [{pdu: pdu2, outlet: 1, name: an-node01}]
    fence: [ipmi, pdu]
  - name: an-node02
    ssh: {host: 127.0.0.1, port: 2202, password_env: EXAMPLE_SSH_PASSWORD}
    bmc: {host: 127.0.0.1, port: 6232, password_env: EXAMPLE_BMC_PASSWORD}
    power: [{pdu: pdu2, outlet: 2, name: an-node02}]
    fence: [ipmi, pdu]
pdus:
  - {name: pdu2, host: 127.0.0.1, port: 16100, community_env: EXAMPLE_COMMUNITY, write_community_env: EXAMPLE_COMMUNITY}
vms:
  - {name: vm0001-dev, home: an-node01, address: 10.254.0.1}
"""

EXAMPLE_CONFTEST = """\
import json, os
from hacert.model.inventory import load_inventory
from hacert.fixtures.report import register_endpoint_secrets, use_inventory

def pytest_configure(config):
    use_inventory(config, load_inventory(os.environ["EXAMPLE_INVENTORY"]))
    with open(os.environ["EXAMPLE_ENDPOINTS"]) as f:
        register_endpoint_secrets(json.load(f))
"""


@dataclass
class ExampleLab:
    path: Path
    env: dict[str, str]

    @property
    def results(self) -> Path:
        return self.path / "reports" / "allure-results"

    @property
    def report(self) -> Path:
        return self.path / "reports" / "allure-report"

    @property
    def summary(self) -> dict:
        return json.loads(latest_summary_path(self.path / "reports").read_text())

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """pytest on the example suite; results in reports/allure-results (cleaned first)."""
        shutil.rmtree(self.results, ignore_errors=True)
        argv = [sys.executable, "-m", "pytest", "-p", "no:hacert", "-p", "hacert.fixtures.report", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
                f"--alluredir={self.results}", "-q", *args]
        return subprocess.run(argv, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=timeout)

    def render(self, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "hacert.fixtures.report", "render", "--results", str(self.results), "--out", str(self.report)]
        return subprocess.run(argv, cwd=self.path, env=self.env | (env or {}), capture_output=True, text=True, timeout=timeout)

    def results_json(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted(self.results.glob("*-result.json"))]


@pytest.fixture
def example_lab(tmp_path: Path) -> ExampleLab:
    return make_example_lab(tmp_path)


def make_example_lab(tmp_path: Path) -> ExampleLab:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(EXAMPLE_CONFTEST)
    shutil.copy(HERE / "example_suite.py", tmp_path / "test_example.py")
    (tmp_path / "lab.yaml").write_text(INVENTORY)
    (tmp_path / "endpoints.json").write_text(json.dumps({"nodes": {"an-node01": {"ssh": {"host": "127.0.0.1", "port": 2201,
                                                         "user": "root", "password": ENDPOINT_SECRETS["password"]}}},
                                                         "switches": {"sw1": {"community_rw": ENDPOINT_SECRETS["community_rw"]}}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(SECRETS)
    env.update({
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
        "EXAMPLE_INVENTORY": str(tmp_path / "lab.yaml"),
        "EXAMPLE_ENDPOINTS": str(tmp_path / "endpoints.json"),
        "MPLBACKEND": "Agg",
    })
    return ExampleLab(tmp_path, env)


def all_secrets() -> list[str]:
    return list(SECRETS.values()) + list(ENDPOINT_SECRETS.values())


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def page_text(url: str, timeout: float = 90) -> str:
    """The visible text of a page after its scripts ran, as headless Chromium renders it."""
    import re

    browser = chromium_binary()
    assert browser is not None
    argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-dev-shm-usage", "--no-first-run",
            "--virtual-time-budget=8000", "--dump-dom", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"chromium failed on {url}: {done.stderr[-1500:]}"
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", done.stdout, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", dom)
    return re.sub(r"\s+", " ", text.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&"))
