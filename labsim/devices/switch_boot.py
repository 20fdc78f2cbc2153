"""A switch booting after its power returns, as the seed's did: its links come up one interval
in, go down and up again `bounces` times every `interval` s, and it forwards once it is ready
(`boot` s after power at the earliest, never before its last bounce). labsim's World and
netlab's Switches both play it on their scheduler; what a link change or readiness does is theirs.
"""

from __future__ import annotations

from typing import Callable

from hacert.labsim.devices.scheduler import Scheduler, _Timer


def schedule_boot(scheduler: Scheduler, name: str, *, interval: float, bounces: int, boot: float,
                  link: Callable[[bool, bool], None], ready: Callable[[], None]) -> list[_Timer]:
    """Schedule the boot of switch `name`: `link(up, bounce)` at each link change (bounce: a
    down that is one of the bounces), `ready()` when it forwards. The timers, to cancel them."""
    step = interval
    timers = [scheduler.after(step, lambda: link(True, False), f"{name} link")]
    for _ in range(bounces):
        step += interval
        timers.append(scheduler.after(step, lambda: link(False, True), f"{name} bounce"))
        step += interval
        timers.append(scheduler.after(step, lambda: link(True, False), f"{name} link"))
    timers.append(scheduler.after(max(boot, step), ready, f"{name} ready"))
    return timers
