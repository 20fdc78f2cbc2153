"""When something happened, from looks that bracket it: a condition first seen true by a look
happened after the look before it and by the end of the look that saw it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Moment:
    """When something happened: after `before` (a look that did not see it yet), by `after`
    (the look that saw it); `stamp` is the whole second its syslog line carries, if any."""

    before: float
    after: float
    stamp: float | None = None

    @property
    def t(self) -> float:
        low, high = self.before, self.after
        if self.stamp is not None:
            narrowed = (max(low, self.stamp), min(high, self.stamp + 1.0))
            if narrowed[0] <= narrowed[1]:  # the node's clock agrees with ours: use both
                low, high = narrowed
        return (low + high) / 2


class Edge:
    """The first time a repeated look sees a condition true."""

    def __init__(self, since: float) -> None:
        self._previous = since
        self.moment: Moment | None = None

    def look(self, seen: bool, start: float, end: float, stamp: float | None = None) -> None:
        if self.moment is None and seen:
            self.moment = Moment(self._previous, end, stamp)
        elif self.moment is not None and self.moment.stamp is None and stamp is not None:
            # the syslog line of the same event reached us a look later (status said it first)
            self.moment = Moment(self.moment.before, self.moment.after, stamp)
        self._previous = start

    @property
    def t(self) -> float | None:
        return self.moment.t if self.moment else None
