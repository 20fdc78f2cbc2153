"""Every file under broken/ is rejected with one message per problem naming file, line and key.

Each file's first line says what is broken and what the loader must report:
`# broken on purpose: WHAT -- expect: KEY @ LINE[, KEY @ LINE ...]` ('-' = no key).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hacert.model.inventory import InventoryError, load_inventory
from tests.plugin.runner import REPO, run_inprocess, run_pytest

BROKEN = Path(__file__).parent / "broken"
FILES = sorted(BROKEN.glob("*.yaml"))
# the secrets the 'real lab' files name, except env_var_not_set.yaml's (which must stay unset)
ENV = {"HACERT_TEST_NODE_PASSWORD": "x", "HACERT_TEST_BMC_PASSWORD": "x", "HACERT_TEST_PDU_COMMUNITY": "x"}


def expected(path: Path) -> list[tuple[str, int]]:
    header = path.read_text().splitlines()[0]
    match = re.match(r"# broken on purpose: .+ -- expect: (.+)$", header)
    assert match, f"{path.name}: first line must say what to expect"
    out = []
    for item in match.group(1).split(", "):
        key, line = item.rsplit(" @ ", 1)
        out.append(("" if key == "-" else key, int(line)))
    return out


def test_there_are_at_least_20_broken_inventories() -> None:
    assert len(FILES) >= 20


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_broken_inventory_reports_file_line_and_key(path: Path) -> None:
    with pytest.raises(InventoryError) as caught:
        load_inventory(path, environ=ENV)
    got = [(p.key, p.line) for p in caught.value.problems]
    assert got == expected(path), str(caught.value)
    for problem, line in zip(caught.value.problems, str(caught.value).splitlines(), strict=True):
        assert line.startswith(f"{path}:{problem.line}: {problem.key + ': ' if problem.key else ''}")
        assert len(line) > len(f"{path}:{problem.line}: {problem.key}: ") + 10, line  # says what is wrong


def test_pytest_exits_4_listing_every_problem_of_every_broken_file(tmp_path: Path) -> None:
    run = run_inprocess(["-q", "--collect-only", "--inventory", BROKEN], rootdir=REPO, env=ENV)
    assert run.returncode == 4, run.output
    assert "Traceback" not in run.output
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    wanted = [(path, key, line) for path in FILES for key, line in expected(path)]
    assert len(errors) == len(wanted), "\n".join(errors)
    for (path, key, line), error in zip(wanted, errors, strict=True):
        shown = path.relative_to(REPO)
        assert error.startswith(f"ERROR: {shown}:{line}: {key}"), error


@pytest.mark.parametrize("name", ["bmc_port_out_of_range", "yaml_syntax_error", "env_var_not_set"])
def test_the_pytest_command_exits_4_with_the_messages_only(name: str) -> None:
    """The real command line, in its own process: exit code 4, the problems, nothing else."""
    path = BROKEN / f"{name}.yaml"
    run = run_pytest(["-q", "--collect-only", "--inventory", path], rootdir=REPO, env=ENV)
    assert run.returncode == 4, run.output
    assert "Traceback" not in run.output
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    wanted = [f"ERROR: {path.relative_to(REPO)}:{line}: {key}" for key, line in expected(path)]
    assert len(errors) == len(wanted) and all(e.startswith(w) for e, w in zip(errors, wanted)), run.output
    assert [line for line in run.output.splitlines() if line.strip() and not line.startswith("ERROR:")] == []
