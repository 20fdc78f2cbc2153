"""The guard's survey: every health check of the lab, read-only, devices asked side by side."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hacert.drivers.errors import HacertError, LabError
from hacert.drivers.pdu import outlet_states
from hacert.drivers.switch import ports_are_up
from hacert.observe.cluster_state import expected_homes, find_service, is_online, node_of
from hacert.procedures.guard.state import BMC_ATTEMPTS, _BAD_NEWS, Finding, side_by_side
from hacert.procedures.guard.commands import Commands


class Survey(Commands):
    """The read-only looks at the lab: what is wrong, and the cluster's status."""

    def survey(self, *, bmcs: bool = True) -> tuple[list[Finding], Any]:
        """Every health check, read-only: (findings, cluster status or None). `bmcs=False` leaves
        out the BMCs' power status (the post-case audit: a node without power is no online member,
        and a fresh IPMI login per BMC is the slowest and least reliable look of all)."""
        def nodes() -> tuple[list[Finding], Any]:
            found: list[Finding] = []
            reachable = self._check_ssh(found)
            status = None
            if reachable:
                status, cluster_findings = self._check_cluster(reachable)
                found += cluster_findings + self._check_bonds(reachable)
            return found, status

        # different devices answer independently: ask them side by side (one SNMP agent, one task)
        # the BMCs one after the other: pyghmi's client shares sessions and sockets between the BMCs
        # of a process, and side-by-side logins left BMCs silent for a whole restore (seen on labsim)
        checks: list[Callable[[], list[Finding]]] = [self._check_bmcs] if bmcs else []
        checks += [lambda name=pdu.name: self._check_outlets(name) for pdu in self.inv.pdus]
        checks += [lambda name=switch.name: self._check_switches(name) for switch in self.inv.switches]
        with ThreadPoolExecutor(max_workers=len(checks) + 1, thread_name_prefix="guard-survey") as pool:
            devices = [pool.submit(check) for check in checks]
            node_findings, status = pool.submit(nodes).result()
            findings = [f for future in devices for f in future.result()] + node_findings
        if status is not None:
            self.state.last_status = status
        return findings, status

    def _node_outlets(self) -> Iterator[tuple[str, str, int, str]]:
        """(owner, pdu, outlet, expected name) for every outlet feeding a node or a switch."""
        for node in self.inv.nodes:
            for ref in node.power:
                yield node.name, ref.pdu, ref.outlet, ref.name
        for switch in self.inv.switches:
            power = switch.power
            if power.method == "pdu" and power.pdu and power.outlet:
                yield switch.name, power.pdu, power.outlet, power.name or switch.name

    def _check_outlets(self, only: str | None = None) -> list[Finding]:
        feeds: dict[str, list[tuple[int, str]]] = {}
        for owner, pdu, outlet, _ in self._node_outlets():
            if only is None or pdu == only:
                feeds.setdefault(pdu, []).append((outlet, owner))
        out = []
        for pdu, fed in feeds.items():
            try:
                states = outlet_states(self.lab.pdu(pdu), [outlet for outlet, _ in fed])  # one GET per PDU where it can
            except LabError as exc:
                out.append(Finding("device", f"{pdu}", f"PDU {pdu} does not answer ({exc})", f"check PDU {pdu}'s network and SNMP community"))
                continue
            for outlet, owner in fed:
                if states[outlet] != "on":
                    out.append(Finding("outlet", f"{pdu}/{outlet}", f"PDU {pdu} outlet {outlet} (feeds {owner}) is {states[outlet]}",
                                       self._outlet_on_command(pdu, outlet)))
        return out

    def _check_switches(self, only: str | None = None) -> list[Finding]:
        out = []
        for switch in self.inv.switches:
            if switch.ports.method == "manual" or (only is not None and switch.name != only):
                continue
            try:
                control = self.lab.switch_ports(switch.name)
            except Exception as exc:  # a switch that cannot be driven is the lab's problem, not the cluster's
                out.append(Finding("device", switch.name, f"switch {switch.name} ports cannot be checked ({exc})"))
                continue
            cabled = self._cabled_ports(switch.name)
            try:
                up = ports_are_up(control, [port for port, _ in cabled])  # one GET per switch where it can
            except LabError as exc:
                out.append(Finding("device", switch.name, f"switch {switch.name} does not answer ({exc})", f"check switch {switch.name}"))
                continue
            for port, cable in cabled:
                if up[port] is False:
                    out.append(Finding("port", f"{switch.name}/{port}", f"switch {switch.name} port {port} ({cable}) is down",
                                       f"bring {switch.name} port {port} up ({control.describe()})"))
        return out

    def _cabled_ports(self, switch: str) -> list[tuple[str, str]]:
        return [
            (link.port, f"{node.name}/{link.nic}")
            for node in self.inv.nodes
            for bond in node.bonds
            for link in bond.slaves
            if link.switch == switch
        ]

    def _check_bmcs(self) -> list[Finding]:
        out = []
        for node in self.inv.nodes:
            if node.bmc is None and not self.inv.simulated:
                continue
            try:
                state = self._bmc_answer(node.name)
            except LabError as exc:
                out.append(Finding("device", f"bmc:{node.name}", f"{node.name}'s BMC does not answer ({exc})",
                                   f"check {node.name}'s BMC network and power"))
                continue
            if state != "on":
                out.append(Finding("power", node.name, f"{node.name}'s BMC says power {state}", self._bmc_command(node.name, "on")))
        return out

    def _bmc_answer(self, node: str) -> str:
        """Power status, asked up to BMC_ATTEMPTS times 1 s apart: a BMC that just got its power back
        may still be starting, and one on a loaded machine can miss a login's whole retry window."""
        for attempt in range(1, BMC_ATTEMPTS + 1):
            try:
                return self.lab.bmc(node).power_status()
            except LabError:
                if attempt == BMC_ATTEMPTS:
                    raise
                time.sleep(1.0)
        raise AssertionError("unreachable")

    def _check_ssh(self, findings: list[Finding]) -> list[str]:
        def answers(name: str) -> bool:
            try:
                return bool(self.lab.node(name).reachable(timeout=2))
            except HacertError:
                return False

        names = [node.name for node in self.inv.nodes]
        reachable = []
        for name, ok in zip(names, side_by_side(names, answers, "guard-ssh")):
            if ok:
                reachable.append(name)
            else:
                findings.append(Finding("ssh", name, f"{name} does not answer over SSH",
                                        f"check {name} (console); power-cycle it if hung: {self._bmc_command(name, 'cycle')}"))
        return reachable

    def _status(self, via: list[str]) -> Any:
        last: Exception | None = None
        for node in via:
            try:
                return self.lab.cluster.status(via=node)
            except HacertError as exc:
                last = exc
        raise last if last else LabError("cluster", "-", "read cluster status", "no node answers")

    def _check_cluster(self, via: list[str]) -> tuple[Any, list[Finding]]:
        out: list[Finding] = []
        try:
            status = self._status(via)
        except HacertError as exc:
            return None, [Finding("device", "cluster", f"cluster status cannot be read ({exc})")]
        if not status.quorate:
            out.append(Finding("quorum", "cluster", "the cluster is not quorate"))
        for node in self.inv.nodes:
            if not is_online(self.inv, status, node.name):
                out.append(Finding("member", node.name, f"{node.name} is not an online cluster member", self._stack_command(node.name)))
        for name, home in expected_homes(self.inv).items():
            svc = find_service(status, name)
            if svc is None:
                out.append(Finding("service", name, f"service {name} is not in the cluster's status"))
                continue
            owner = node_of(self.inv, svc.owner)
            if svc.state != "started":
                out.append(Finding("service", name, f"{name} is {svc.state}", self._service_command(name, home, "enable")))
            elif home is not None and owner != home:
                out.append(Finding("service", name, f"{name} runs on {owner}, not its home {home}",
                                   self._service_command(name, home, "move")))
        return status, out

    def _check_bonds(self, reachable: list[str]) -> list[Finding]:
        from hacert.drivers.parsers.bonding import parse_bonding
        from hacert.drivers.parsers._common import ParseError
        from hacert.observe.bonds import split_bond_files

        def texts_of(node: Any) -> list[str | HacertError]:
            """Each bond's status file: one `cat` of them all when every file answers with a bonding
            status, else file by file (so the finding names the file that failed, and why)."""
            shell = self.lab.node(node.name)
            try:
                texts = split_bond_files(shell.run("cat " + " ".join(shlex.quote(b.status_file) for b in node.bonds),
                                                   check=False, idempotent=True).stdout)
            except HacertError:
                texts = []
            if len(texts) == len(node.bonds):
                return list(texts)
            out: list[str | HacertError] = []
            for bond in node.bonds:
                try:
                    out.append(shell.read_file(bond.status_file))
                except HacertError as exc:
                    out.append(exc)
            return out

        def bonds_of(node: Any) -> list[Finding]:
            out = []
            for bond, text in zip(node.bonds, texts_of(node)):
                try:
                    if isinstance(text, HacertError):
                        raise text
                    status = parse_bonding(text)
                except (HacertError, ParseError) as exc:
                    out.append(Finding("device", f"{node.name}/{bond.name}", f"{node.name} {bond.status_file} cannot be read ({exc})"))
                    continue
                if status.active_slave != bond.primary.nic:
                    out.append(Finding("bond", f"{node.name}/{bond.name}",
                                       f"{node.name} {bond.name} runs on {status.active_slave or 'no slave'}, not its primary {bond.primary.nic}",
                                       f"on {node.name}: check the cable of {bond.primary.nic} ({bond.primary.switch} port {bond.primary.port}); "
                                       f"then ifenslave -c {bond.name} {bond.primary.nic}"))
            return out

        nodes = [node for node in self.inv.nodes if node.name in reachable and node.bonds]
        return [f for found in side_by_side(nodes, bonds_of, "guard-bonds") for f in found]

    def _syslog_news(self) -> list[Finding]:
        def news(node: Any) -> list[Finding]:
            try:
                lines = self.lab.node(node.name).syslog_since(self.state.marks[node.name])
            except HacertError as exc:
                return [Finding("syslog", node.name, f"{node.name}'s syslog cannot be read ({exc})")]
            for line in lines:
                if any(p.search(line) for p in _BAD_NEWS):
                    return [Finding("syslog", node.name, f"{node.name} logged since the last case: {line.strip()}")]
            return []

        marked = [node for node in self.inv.nodes if self.state.marks.get(node.name) is not None]
        return [f for found in side_by_side(marked, news, "guard-syslog") for f in found]
