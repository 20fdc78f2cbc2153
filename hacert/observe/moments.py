"""When something happened, from looks that bracket it: a condition first seen true by a look
happened after the look before it and by the end of the look that saw it.

A node's syslog line of the same event narrows the bracket, once its stamp is on the
controller's clock: a classic stamp is a whole second of the node's clock, so corrected by the
node's measured offset it says "between `stamp` and `stamp + span`" (span: one second plus the
offset's uncertainty on each side; hacert.observe.clocks.stamp_window). The stamp narrows the bracket only
where the two agree (they overlap); a stamp outside the bracket is ignored, never trusted over
the looks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Moment:
    """When something happened: after `before` (a look that did not see it yet), by `after`
    (the look that saw it); `stamp` is when its syslog line says it happened, on the controller's
    clock: within [stamp, stamp + span] (a whole second, widened by the clock's uncertainty)."""

    before: float
    after: float
    stamp: float | None = None
    span: float = 1.0

    @property
    def t(self) -> float:
        low, high = self.before, self.after
        if self.stamp is not None:
            narrowed = (max(low, self.stamp), min(high, self.stamp + self.span))
            if narrowed[0] <= narrowed[1]:  # the corrected stamp agrees with the looks: use both
                low, high = narrowed
        return (low + high) / 2


class Edge:
    """The first time a repeated look sees a condition true."""

    def __init__(self, since: float) -> None:
        self._previous = since
        self.moment: Moment | None = None

    def look(self, seen: bool, start: float, end: float, stamp: float | tuple[float, float] | None = None) -> None:
        """One look from `start` to `end`; `stamp`: the event's syslog stamp on the controller's
        clock, a whole second from it, or a window (earliest, latest) (hacert.observe.clocks.stamp_window)."""
        low, span = _window(stamp)
        if self.moment is None and seen:
            self.moment = Moment(self._previous, end, low, span)
        elif self.moment is not None and self.moment.stamp is None and low is not None:
            # the syslog line of the same event reached us a look later (status said it first)
            self.moment = Moment(self.moment.before, self.moment.after, low, span)
        self._previous = start

    @property
    def t(self) -> float | None:
        return self.moment.t if self.moment else None


def _window(stamp: float | tuple[float, float] | None) -> tuple[float | None, float]:
    if stamp is None:
        return None, 1.0
    if isinstance(stamp, tuple):
        return stamp[0], stamp[1] - stamp[0]
    return float(stamp), 1.0
