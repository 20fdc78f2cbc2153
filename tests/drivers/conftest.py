"""Helpers for the driver tests: free loopback ports and device processes."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DeviceProcess:
    """A device simulator started as a subprocess; ready when it prints READY."""

    def __init__(self, args: list[str], ready_timeout: float = 15.0, cwd: Path = ROOT) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        deadline = time.monotonic() + ready_timeout
        seen = b""
        assert self.proc.stdout is not None
        while b"READY" not in seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"{' '.join(args)} did not become ready: {seen.decode(errors='replace')}")
            ready, _, _ = select.select([self.proc.stdout], [], [], remaining)
            if ready:
                seen += os.read(self.proc.stdout.fileno(), 4096)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


@pytest.fixture
def device_process() -> Iterator[type]:
    started: list[DeviceProcess] = []

    class _Tracked(DeviceProcess):
        def __init__(self, *a, **kw) -> None:
            super().__init__(*a, **kw)
            started.append(self)

    yield _Tracked
    for process in started:
        process.stop()
