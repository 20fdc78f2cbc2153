"""libvirt VMs on one node, through `virsh` over that node's shell.

Commands run with LC_ALL=C so states come back in English whatever the
node's locale.
"""

from __future__ import annotations

from typing import Protocol

from .errors import CommandFailed
from .parsers import parse_domjobinfo, parse_virsh_domstate, parse_virsh_list


class _Runner(Protocol):
    name: str

    def run(self, cmd: str, timeout: float | None = None, check: bool = True): ...


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


class Virsh:
    def __init__(self, shell: _Runner, timeout: float = 30.0) -> None:
        self.shell = shell
        self.timeout = timeout

    def _virsh(self, args: str, check: bool = True):
        return self.shell.run(f"LC_ALL=C virsh {args}", timeout=self.timeout, check=check)

    def list(self) -> dict[str, str]:
        """{domain name: state} for every domain defined or running on the node."""
        return dict(parse_virsh_list(self._virsh("list --all").stdout).domains)

    def running(self) -> list[str]:
        return [name for name, state in self.list().items() if state == "running"]

    def state(self, vm: str) -> str | None:
        """'running', 'shut off', 'paused', ...; None when the node does not know the domain."""
        result = self._virsh(f"domstate {_quote(vm)}", check=False)
        if result.exit_code != 0:
            if "failed to get domain" in (result.stderr + result.stdout).lower():
                return None
            raise CommandFailed(self.shell.name, "virsh", f"domstate {vm}", result.exit_code, result.stdout, result.stderr)
        return parse_virsh_domstate(result.stdout).state

    def destroy(self, vm: str) -> None:
        """Pull the VM's virtual power cord (what the VM-recovery procedure does)."""
        self._virsh(f"destroy {_quote(vm)}")

    def start(self, vm: str) -> None:
        self._virsh(f"start {_quote(vm)}")

    def downtime_ms(self, vm: str) -> float | None:
        """The last completed migration's downtime (domjobinfo --completed), None if not reported."""
        result = self._virsh(f"domjobinfo --completed {_quote(vm)}", check=False)
        if result.exit_code != 0 or not result.stdout.strip():
            return None
        value = parse_domjobinfo(result.stdout).downtime_ms
        return None if value is None else float(value)
