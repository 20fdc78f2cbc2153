"""`Secret`: a str that never shows itself in logs, reprs or tracebacks."""

from __future__ import annotations


class Secret(str):
    """A password or community string; str()/repr()/format() give '***'.

    Use `.reveal()` where the real value must go on the wire.
    """

    def reveal(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return "'***'"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"


def reveal(value: str | bytes | None) -> str | None:
    """The real value of a `Secret` (or of a plain str), None stays None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, Secret):
        return value.reveal()
    return value
