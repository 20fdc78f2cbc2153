"""Loading an inventory file: YAML with line numbers, validation, and every problem as
``file:line: key.path: what is wrong`` (`InventoryError`)."""

from __future__ import annotations

import difflib
import hashlib
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from hacert.model.inventory.checks import cross_check
from hacert.model.inventory.common import key_path
from hacert.model.inventory.document import Inventory

# ---------------------------------------------------------------- errors


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class InventoryError(Exception):
    """One or more problems in an inventory; str() is one line per problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))




# ---------------------------------------------------------------- YAML with line numbers


class _Lines:
    """Key path → line, from PyYAML's node tree; also finds duplicate keys."""

    def __init__(self, root: yaml.Node | None):
        self.lines: dict[tuple[Any, ...], int] = {}
        self.duplicates: list[tuple[tuple[Any, ...], int]] = []
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: tuple[Any, ...]) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = key_node.value
                child = path + (key,)
                if key in seen:
                    self.duplicates.append((child, key_node.start_mark.line + 1))
                seen.add(key)
                self.lines[child] = key_node.start_mark.line + 1
                self._walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, path + (index,))

    def line_of(self, loc: tuple[Any, ...]) -> int | None:
        for cut in range(len(loc), -1, -1):
            if loc[:cut] in self.lines:
                return self.lines[loc[:cut]]
        return None


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the last key of `loc` (for 'did you mean')."""
    model: Any = Inventory
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return None
        model = _inner_model(model.model_fields[part].annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, Union, types.UnionType, Annotated):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if isinstance(found, type) and issubclass(found, BaseModel):
                return found
        return None
    return annotation


def _describe(error: dict[str, Any]) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    if kind == "extra_forbidden":
        owner = _model_at(loc)
        key = str(loc[-1])
        hint = ""
        if owner is not None:
            close = difflib.get_close_matches(key, list(owner.model_fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(owner.model_fields)})"
        return f"unknown key '{key}'{hint}"
    if kind == "missing":
        return "is required"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind in ("literal_error", "enum"):
        return f"{message[0].lower()}{message[1:]} (got {error.get('input')!r})"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{message[0].lower()}{message[1:]} (got {error.get('input')!r})"
    return message[0].lower() + message[1:] if message else kind


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic adds tags like 'function-after[...]' or 'literal[...]' for unions/validators
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in ("int", "str"))))


def load_inventory(path: str | os.PathLike[str], *, environ: typing.Mapping[str, str] | None = None) -> Inventory:
    """Read, validate and cross-check one inventory file."""
    file = Path(path)
    shown = str(path)
    environ = os.environ if environ is None else environ
    try:
        text = file.read_text()
    except OSError as exc:
        raise InventoryError([Problem(shown, None, "", f"cannot read the inventory: {exc.strerror or exc}")]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = getattr(exc, "problem", None) or str(exc)
        raise InventoryError([Problem(shown, line, "", f"YAML syntax error: {what}")]) from None
    lines = _Lines(root)
    problems = [Problem(shown, line, key_path(loc), "duplicate key (the later value would silently win)") for loc, line in lines.duplicates]
    if data is None:
        problems.append(Problem(shown, 1, "", "the file is empty: an inventory needs at least lab, cluster and nodes"))
        raise InventoryError(problems)
    if not isinstance(data, dict):
        problems.append(Problem(shown, 1, "", "the inventory must be a mapping of sections (lab, cluster, nodes, ...)"))
        raise InventoryError(problems)
    try:
        inventory = Inventory.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = _clean_loc(tuple(error["loc"]))
            problems.append(Problem(shown, lines.line_of(loc), key_path(loc), _describe(error)))
        raise InventoryError(problems) from None
    for loc, message in cross_check(inventory, environ, base=file.parent):
        problems.append(Problem(shown, lines.line_of(loc), key_path(loc), message))
    if problems:
        raise InventoryError(problems)
    inventory._source = file
    inventory._checksum = hashlib.sha256(text.encode()).hexdigest()[:16]
    return inventory
