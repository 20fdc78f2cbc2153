from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.labsim_cluster.lab import InProcessLab, SshLab, ssh_available, write_inventory


def _transport() -> str:
    wanted = os.environ.get("LABSIM_CLUSTER_TRANSPORT")
    if wanted:
        return wanted
    return "ssh" if ssh_available() else "inproc"


@pytest.fixture(scope="session")
def _lab_stopper() -> Iterator[list[threading.Thread]]:
    """Labs are stopped in the background while the next test runs; all are joined at the end."""
    threads: list[threading.Thread] = []
    yield threads
    for thread in threads:
        thread.join(30)


@pytest.fixture
def make_lab(tmp_path: Path, _lab_stopper: list[threading.Thread]) -> Iterator[Callable[..., Any]]:
    """make_lab(faults=[...], timing={...}, edit=fn, base=path) -> a started lab, stopped afterwards."""
    labs: list[Any] = []

    def make(faults: list[dict[str, Any]] | None = None, timing: dict[str, Any] | None = None,
             edit: Callable[[dict[str, Any]], None] | None = None, transport: str | None = None, **kw: Any) -> Any:
        folder = tmp_path / f"lab{len(labs)}"
        folder.mkdir()
        path = write_inventory(folder, faults, timing, edit=edit, **kw)
        kind = transport or _transport()
        lab = SshLab(path, folder / "run") if kind == "ssh" else InProcessLab(path, folder / "run")
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        thread = threading.Thread(target=lab.stop, name="stop-lab", daemon=True)
        thread.start()
        _lab_stopper.append(thread)
