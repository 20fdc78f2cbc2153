"""The house rules of docs/ARCHITECTURE.md, read from the source: layers point downward only,
nothing imports tests/, the library is imported under one name, suites/ holds only test files."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Lowest first. A module may import its own layer and the ones below it, never one above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("devices", ("hacert.drivers",)),
    ("model", ("hacert.model",)),
    ("backends", ("hacert.labsim", "hacert.netlab")),
    ("lab", ("hacert.lab",)),
    ("observe", ("hacert.observe",)),
    ("procedures", ("hacert.procedures",)),
    ("verdict", ("hacert.verdict",)),
    ("plugin", ("hacert.fixtures",)),
    ("suites", ("suites",)),
    ("tools", ("hacert.suite_runs", "benchmarks")),
]
# Folders of the checkout and the name their modules are imported under.
FOLDERS = {"drivers": "hacert.drivers", "fixtures": "hacert.fixtures", "labsim": "hacert.labsim",
           "netlab": "hacert.netlab", "hacert": "hacert", "suites": "suites", "benchmarks": "benchmarks"}
# The card's folders are importable only through the hacert package.
BARE_NAMES = ("drivers", "fixtures", "labsim", "netlab")


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (rank, len(prefix))
    return None if best is None else best[0]


def modules() -> dict[str, Path]:
    """Every module of the harness (not tests/), by its import name."""
    found: dict[str, Path] = {}
    for folder, name in FOLDERS.items():
        for path in (REPO / folder).rglob("*.py"):
            relative = path.relative_to(REPO / folder)
            if any(part in ("drivers", "fixtures", "labsim", "netlab") for part in relative.parts[:1]) and folder == "hacert":
                continue  # the symlinks into the card's folders, walked under their own names
            parts = [name, *relative.with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(module: str, path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            out.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names if alias.name != "*")
    return out


def violations(found: dict[str, Path]) -> list[str]:
    problems = []
    for module, path in sorted(found.items()):
        own = layer_of(module)
        where = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        for line, target in imports_of(module, path):
            head = target.split(".")[0]
            if head == "tests":
                problems.append(f"{where}:{line}: imports {target} (nothing outside tests/ may import tests/)")
            elif head in BARE_NAMES:
                problems.append(f"{where}:{line}: imports {target} (import it as hacert.{target})")
            elif (theirs := layer_of(target)) is not None and own is not None and theirs > own:
                problems.append(f"{where}:{line}: {LAYERS[own][0]} module {module} imports "
                                f"{LAYERS[theirs][0]} module {target}")
    return sorted(set(problems))


def test_every_module_of_the_harness_has_a_layer():
    unplaced = [m for m in modules() if layer_of(m) is None and m != "hacert"]
    assert not unplaced, f"modules outside every layer of docs/ARCHITECTURE.md: {unplaced}"


def test_layers_point_downward_and_nothing_imports_tests():
    problems = violations(modules())
    assert not problems, "\n".join(problems)


def test_suites_hold_only_test_files():
    others = [p.name for p in (REPO / "suites").iterdir()
              if p.name != "__pycache__" and not (p.is_file() and p.name.startswith("test_") and p.suffix == ".py")]
    assert not others, f"suites/ holds more than test_*.py files: {others}"


@pytest.mark.parametrize(("source", "target", "expected"), [
    ("hacert.drivers.ipmi", "hacert.fixtures.guard", "devices module hacert.drivers.ipmi imports plugin module"),
    ("hacert.observe.waiting", "tests.support.canned", "nothing outside tests/ may import tests/"),
    ("hacert.procedures.hang", "drivers.node", "import it as hacert.drivers.node"),
])
def test_the_check_sees_a_wrong_import(tmp_path, source, target, expected):
    """The rule is not vacuous: a module with one wrong import is reported."""
    path = tmp_path / "module.py"
    path.write_text(f"import {target}\n")
    assert any(expected in p for p in violations({source: path})), violations({source: path})
