"""netlab's ground truth: JSON lines `{"t": wall-clock s, "kind": ..., fields}` in WORKDIR/<lab>/events.jsonl.

Kinds: node_state {node, state (off|booting|up|hung)}, sysrq {node, letter},
chassis {node, action}, outlet {pdu, outlet, action}.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_path: Path | None = None


def open_log(path: Path) -> None:
    global _path
    _path = path
    path.write_text("")


def emit(kind: str, **fields: Any) -> None:
    record = {"t": time.time(), "kind": kind, **fields}
    print(f"netlab {time.strftime('%H:%M:%S')}: {kind} " + " ".join(f"{k}={v}" for k, v in fields.items()),
          file=sys.stderr, flush=True)
    with _lock:
        if _path is not None:
            with open(_path, "a") as out:
                out.write(json.dumps(record) + "\n")


def read(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        return []
