"""What a running lab backend is to the lab layer (hacert.lab.build): labsim's `RunningLab`
(hacert.labsim.runner.start_lab) and netlab's `RunningNetlab` (hacert.netlab.start_netlab) both
implement `RunningBackend`, so `Lab` holds either the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class RunningBackend(Protocol):
    @property
    def endpoints(self) -> dict[str, Any]:
        """The lab's addresses and made-up credentials (docs/CONTRACTS.md, "Simulated lab")."""
        ...

    @property
    def workdir(self) -> Path:
        """Where the backend keeps its state, logs and endpoints file."""
        ...

    @property
    def log_path(self) -> Path:
        """The backend process's own log."""
        ...

    @property
    def event_log(self) -> Path | None:
        """The ground truth the harness's measurements may be checked against (labsim's
        events.jsonl); None when the backend keeps none for that (netlab's own record of its
        actions is endpoints["netlab_events"])."""
        ...

    @property
    def pid(self) -> int:
        """The backend's process."""
        ...

    @property
    def startup_seconds(self) -> float: ...

    def alive(self) -> bool: ...

    def stop(self, timeout: float = ...) -> int:
        """Stop the backend (a backend only attached to is left running); its exit code."""
        ...
