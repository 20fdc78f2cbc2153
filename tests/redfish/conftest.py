"""A simulated lab with one Redfish node (inventories/redfish-sim.yaml), devices only: the cluster
model would react (fence, restart) to what these tests do to the power."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from hacert.labsim.core import read_event_log
from hacert.labsim.runner import RunningLab, start_lab
from hacert.model.inventory import load_inventory

REPO = Path(__file__).resolve().parents[2]
REDFISH_SIM = REPO / "inventories" / "redfish-sim.yaml"


def redfish_node() -> str:
    """The inventory's node whose BMC speaks Redfish (no name is assumed)."""
    inv = load_inventory(REDFISH_SIM)
    return next(n.name for n in inv.nodes if n.bmc is not None and n.bmc.protocol == "redfish")


class RedfishLab:
    def __init__(self, running: RunningLab) -> None:
        self.running = running
        self.ep = running.endpoints
        self.node = redfish_node()
        self.bmc: dict[str, Any] = self.ep["nodes"][self.node]["bmc"]

    @property
    def url(self) -> str:
        return f"https://{self.bmc['host']}:{self.bmc['port']}"

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in read_event_log(self.running.event_log) if kind is None or e["kind"] == kind]

    def chassis(self) -> list[str]:
        return [e["action"] for e in self.events("chassis") if e["node"] == self.node]


@pytest.fixture
def rlab(tmp_path: Path) -> Iterator[RedfishLab]:
    running = start_lab(REDFISH_SIM, tmp_path / "lab", cluster=False)
    try:
        yield RedfishLab(running)
    finally:
        code = running.stop()
        log = running.log_path.read_text()
        assert code == 0, f"labsim exited with {code}: {log[-2000:]}"
        assert "Traceback" not in log, log[-3000:]
