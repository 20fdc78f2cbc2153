"""Typed errors of the drivers.

A `LabError` means a lab device did not answer or misbehaved: the harness
cannot judge the cluster until someone fixes the lab. A cluster that does not
behave is never a `LabError`; suites turn that into an assertion failure.
"""

from __future__ import annotations


class HacertError(Exception):
    """Base of every error hacert raises on purpose."""


class LabError(HacertError):
    """A lab device failed: which device, at which address, doing what."""

    def __init__(self, device: str, address: str, attempted: str, detail: str = "") -> None:
        self.device = device
        self.address = address
        self.attempted = attempted
        self.detail = detail
        message = f"{device} ({address}): {attempted}"
        if detail:
            message += f": {detail}"
        super().__init__(message)


class DeviceUnreachable(LabError):
    """Nothing answered within the timeout (dead BMC, unplugged PDU, hung node)."""


class TransportDropped(DeviceUnreachable):
    """The connection or channel died under a command the node had accepted (EOF, reset, a session
    dropped): the node may well be up. `hacert.drivers.node.NodeShell.run` re-runs a command marked
    idempotent once on a fresh connection, and checks whether a non-idempotent one took effect."""


class AuthenticationRefused(LabError):
    """The device answered but refused the credentials."""


class CommandRefused(LabError):
    """The device accepted the login but refused the request (privilege, bad outlet, read-only)."""


class CommandIgnored(LabError):
    """The device acknowledged a command but its state never changed (a switch that
    answers a port shutdown and keeps the port up, a PDU whose outlet stays on)."""


class Miswired(LabError):
    """The lab is not cabled as labelled: cutting an outlet darkened another node or device than the
    one its label and the inventory name (or none at all). The lab's fault, never the cluster's."""

    def __init__(self, device: str, address: str, attempted: str, finding: str, detail: str = "") -> None:
        self.device = device
        self.address = address
        self.attempted = attempted
        self.finding = finding
        self.detail = detail
        Exception.__init__(self, finding + (f"; {detail}" if detail else ""))


class CommandFailed(LabError):
    """A command ran on a node and exited non-zero (or did not finish in time)."""

    def __init__(
        self,
        device: str,
        address: str,
        attempted: str,
        exit_code: int | None,
        stdout: str = "",
        stderr: str = "",
        detail: str = "",
    ) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        if not detail:
            detail = f"exit code {exit_code}"
            tail = (stderr or stdout).strip().splitlines()[-3:]
            if tail:
                detail += ": " + " | ".join(tail)
        super().__init__(device, address, attempted, detail)


class ClusterError(HacertError):
    """The cluster, not the lab: a request the procedure made that the cluster manager refused
    or did not carry out. A verdict on the cluster (a failure), never a lab error."""


class ClusterRefused(ClusterError):
    """The cluster manager answered a request (migrate, relocate, enable, fence) and refused it:
    the command reached a node and exited non-zero."""

    def __init__(self, node: str, command: str, exit_code: int | None, stdout: str = "", stderr: str = "") -> None:
        self.node = node
        self.command = command
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        said = " | ".join((stderr or stdout).strip().splitlines()[-3:])
        super().__init__(f"the cluster refused {command!r} on {node} (exit code {exit_code})" + (f": {said}" if said else ""))


class WaitTimeout(HacertError):
    """A bounded wait ran out: what was awaited, the deadline, the last state seen."""

    def __init__(self, awaited: str, deadline_s: float, last_seen: object = None) -> None:
        self.awaited = awaited
        self.deadline_s = deadline_s
        self.last_seen = last_seen
        super().__init__(f"timed out after {deadline_s:.1f} s waiting for {awaited}; last seen: {last_seen!r}")


# ---------------------------------------------------------------- what a case concludes
# Raised by any layer, classified into a Verdict by hacert.verdict.verdicts.verdict_of.


class ClusterFailure(AssertionError):
    """The cluster did not recover as the procedure requires; the message is the diagnosis."""

    def __init__(self, diagnosis: str) -> None:
        self.diagnosis = diagnosis
        super().__init__(diagnosis)


class CapabilityMissing(ClusterFailure):
    """The lab lacks a capability the documents require (a finding that fails the certification)."""

    def __init__(self, capability: str, diagnosis: str) -> None:
        self.capability = capability
        super().__init__(diagnosis)


class NotApplicable(HacertError):
    """The case does not apply to this lab's shape; the message says why."""


class Inconclusive(HacertError):
    """The case could not judge the cluster: what the harness needed to see, it did not."""


class HarnessError(HacertError):
    """hacert itself went wrong (a bug, a misuse of its API): nothing was judged."""
