"""A lab that ends with the run that started it.

labsim and netlab run as processes of their own, stopped by the run that started
them when it ends. A run that cannot stop them (SIGKILL, the OOM killer, a CI
job's timeout, an xdist worker that crashed, SIGTERM, which pytest does not turn
into teardown) would leave them running for good: ports held, and for netlab
namespaces, node processes and guests. Given its owner's PID, a lab watches that
process and stops itself when it ends.

The watch is a pidfd (Linux 5.3): it becomes readable when that very process
ends, so a PID reused later by another process cannot keep the lab alive. Where
pidfd_open is missing the PID is polled instead.
"""

from __future__ import annotations

import os
import select
import threading
import time
from typing import Callable

POLL_S = 1.0
"""How often a PID is polled where there is no pidfd."""


def watch_owner(pid: int, on_gone: Callable[[], None]) -> None:
    """Call `on_gone()` once, from a daemon thread, when process `pid` ends (at once if it
    already has)."""
    try:
        fd: int | None = os.pidfd_open(pid)
    except ProcessLookupError:
        on_gone()
        return
    except (AttributeError, OSError):
        fd = None

    def wait() -> None:
        if fd is not None:
            select.select([fd], [], [])
            os.close(fd)
        else:
            while _exists(pid):
                time.sleep(POLL_S)
        on_gone()

    threading.Thread(target=wait, name=f"owner-{pid}", daemon=True).start()


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
