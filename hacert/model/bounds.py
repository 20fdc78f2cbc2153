"""The bound a measured number must keep: typed, shown the way a report says it, and enforced.

A suite writes the bound next to the number it measures (`record.number(..., expected=...)`);
the report then enforces it at the end of the case. The bound is a `Bound` built with the
small constructors (`Bound.at_most(5)`, `Bound.below(15)`, `Bound.at_least(2)`,
`Bound.between(2, 6)`) or parsed from the words suites wrote before: "<= 5", "< 15", ">= 2",
"> 0", "2 .. 6", each optionally followed by its unit ("<= 15 s").

The limits are kept exact (a bound shown as "<= 0.1" may hold 0.12): what is shown is rounded
for a person, what is enforced is what the suite computed.

pytest-free.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_UNIT = r"(?:\s*[A-Za-z%/]+)?"
_ONE_SIDED = re.compile(rf"^\s*(?P<op><=|<|>=|>|≤|≥)\s*(?P<value>{_NUMBER}){_UNIT}\s*$")
_RANGE = re.compile(rf"^\s*(?P<low>{_NUMBER}){_UNIT}\s*(?:\.\.|–|to)\s*(?P<high>{_NUMBER}){_UNIT}\s*$")
_OPS = {"≤": "<=", "≥": ">="}


class BoundError(ValueError):
    """An `expected` that is no bound hacert can enforce (a suite's own mistake)."""


def _show(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") if not float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Bound:
    """Where a measured number must lie: `low` .. `high` (None: no limit on that side);
    `strict_low` / `strict_high` exclude the limit itself."""

    low: float | None = None
    high: float | None = None
    strict_low: bool = False
    strict_high: bool = False

    # ------------------------------------------------------------ constructors

    @classmethod
    def at_most(cls, limit: float) -> "Bound":
        return cls(high=float(limit))

    @classmethod
    def below(cls, limit: float) -> "Bound":
        return cls(high=float(limit), strict_high=True)

    @classmethod
    def at_least(cls, limit: float) -> "Bound":
        return cls(low=float(limit))

    @classmethod
    def above(cls, limit: float) -> "Bound":
        return cls(low=float(limit), strict_low=True)

    @classmethod
    def between(cls, low: float, high: float) -> "Bound":
        """Both limits included."""
        if low > high:
            raise BoundError(f"an empty bound: {low:g} .. {high:g}")
        return cls(low=float(low), high=float(high))

    @classmethod
    def parse(cls, text: str) -> "Bound":
        """'<= 5', '< 15 s', '>= 2', '2 .. 6' -> a Bound (BoundError for anything else)."""
        if m := _ONE_SIDED.match(text):
            op, value = _OPS.get(m["op"], m["op"]), float(m["value"])
            return {"<=": cls.at_most, "<": cls.below, ">=": cls.at_least, ">": cls.above}[op](value)
        if m := _RANGE.match(text):
            return cls.between(float(m["low"]), float(m["high"]))
        raise BoundError(f"{text!r} is no bound: write '<= N', '< N', '>= N', '> N' or 'LOW .. HIGH' "
                         "(or use hacert.model.bounds.Bound)")

    @classmethod
    def of(cls, expected: Any) -> "Bound | None":
        """What a suite passed as `expected`: a Bound, its words, or None (no bound)."""
        if expected is None or isinstance(expected, Bound):
            return expected
        if isinstance(expected, str):
            return cls.parse(expected)
        raise BoundError(f"expected={expected!r}: give a hacert.model.bounds.Bound or its words ('<= 5', '2 .. 6')")

    # ------------------------------------------------------------ judging

    def holds(self, value: float) -> bool:
        """Is `value` within the bound (NaN never is)?"""
        if value is None or math.isnan(value):
            return False
        if self.low is not None and (value < self.low or (self.strict_low and value == self.low)):
            return False
        if self.high is not None and (value > self.high or (self.strict_high and value == self.high)):
            return False
        return True

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            if not self.strict_low and not self.strict_high:
                return f"{_show(self.low)} .. {_show(self.high)}"
            return f"{'>' if self.strict_low else '>='} {_show(self.low)} and {'<' if self.strict_high else '<='} {_show(self.high)}"
        if self.high is not None:
            return f"{'<' if self.strict_high else '<='} {_show(self.high)}"
        if self.low is not None:
            return f"{'>' if self.strict_low else '>='} {_show(self.low)}"
        return "any value"


__all__ = ["Bound", "BoundError"]
