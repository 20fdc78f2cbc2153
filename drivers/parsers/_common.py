"""Shared pieces of the parsers: the error type and small line helpers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from dataclasses import dataclass

__all__ = ["ParseError", "Unparsed", "nonblank_lines", "split_key_value", "to_int", "parse_xml", "element_text"]


@dataclass(frozen=True)
class Unparsed:
    """A line or element of real output that a parser does not model: kept, never silently lost.

    ``where`` is 'line 13' or an element's path ('crm_mon/tickets'); ``text`` the line or the
    element's XML as it was; ``reason`` why it was not read."""

    where: str
    text: str
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.text!r}" + (f" ({self.reason})" if self.reason else "")


class ParseError(ValueError):
    """Input that a parser cannot read.

    ``reason`` says what was expected, ``line`` is the offending line (quoted in
    the message) and ``lineno`` its 1-based number in the input when known.
    """

    def __init__(self, reason: str, line: str | None = None, lineno: int | None = None):
        self.reason = reason
        self.line = line
        self.lineno = lineno
        message = reason
        if line is not None:
            where = f"line {lineno}" if lineno is not None else "line"
            message = f"{reason} ({where}: {line!r})"
        super().__init__(message)


def nonblank_lines(text: str, what: str) -> list[tuple[int, str]]:
    """(line number, line without its line ending) for every non-blank line.

    Raises ParseError when ``text`` is empty or blank: no parser returns an
    empty record for empty output.
    """
    if not isinstance(text, str):
        raise TypeError(f"{what}: expected str, got {type(text).__name__}")
    lines = [(n, line.rstrip("\r\n")) for n, line in enumerate(text.splitlines(), 1)]
    lines = [(n, line) for n, line in lines if line.strip()]
    if not lines:
        raise ParseError(f"empty {what} output", line=text, lineno=1)
    return lines


def split_key_value(line: str, lineno: int, what: str) -> tuple[str, str]:
    """'Key: value' -> ('Key', 'value'), both stripped; ParseError without a colon."""
    key, sep, value = line.partition(":")
    if not sep or not key.strip():
        raise ParseError(f"{what}: expected 'Key: value'", line, lineno)
    return key.strip(), value.strip()


def to_int(value: str, line: str, lineno: int, what: str) -> int:
    """int(value) or a ParseError quoting the line."""
    try:
        return int(value.strip())
    except ValueError:
        raise ParseError(f"{what}: expected an integer, got {value.strip()!r}", line, lineno) from None


def parse_xml(text: str, what: str) -> ET.Element:
    """Parse an XML document; a syntax error becomes a ParseError quoting its line."""
    nonblank_lines(text, what)
    try:
        return ET.fromstring(text.strip())
    except ET.ParseError as exc:
        lineno, _col = exc.position
        lines = text.strip().splitlines()
        bad = lines[lineno - 1] if 0 < lineno <= len(lines) else text.strip()[:200]
        raise ParseError(f"{what}: malformed XML ({exc})", bad, lineno) from None


def element_text(elem: ET.Element) -> str:
    """The start tag of an element, for error messages."""
    attrs = " ".join(f'{k}="{v}"' for k, v in elem.attrib.items())
    return f"<{elem.tag}{' ' + attrs if attrs else ''}>"
