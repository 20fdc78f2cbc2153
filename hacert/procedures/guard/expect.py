"""What a case tells the guard: what it changed (to undo) and what it causes on purpose (not to blame)."""

from __future__ import annotations


from hacert.drivers.errors import HarnessError
from hacert.procedures.aftermath import Expected, check_expected, expected_from_changes
from hacert.procedures.guard.state import GuardParts, Change


class Expectations(GuardParts):
    """`guard.changed(...)` and `guard.expect(...)`."""

    # ------------------------------------------------------------ public

    def changed(self, kind: str, target: str, detail: str = "") -> None:
        """Register what the case changed ('outlet' 'PDU/N', 'hang' NODE, 'power' NODE,
        'port' 'SWITCH/PORT', 'stack' NODE, 'service' NAME, 'switch_power' SWITCH) so the restore
        knows what to undo and what to wait for."""
        self.changes.append(Change(kind, target, detail))

    def expect(self, kind: str, target: str) -> None:
        """Declare what the case causes on purpose that `changed` does not tell: "failure" of a
        service or VM it makes fail (the destroy case), "fence" of a node, "down" of a node (its
        fence and the failures of what it hosted). The post-case audit does not count it."""
        try:
            self.expected.append(check_expected(self.inv, kind, target))
        except ValueError as exc:
            raise HarnessError(f"guard.expect: {exc}") from None

    def expected_now(self) -> list[Expected]:
        return expected_from_changes(self.inv, self.changes) + list(self.expected)

