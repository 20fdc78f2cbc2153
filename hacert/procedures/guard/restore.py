"""The guard's restore: put the lab back after a case (power, ports, hangs, members, services, bonds)."""

from __future__ import annotations

import shlex
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from typing import Any

from hacert.drivers.errors import ClusterRefused, HacertError, LabError, WaitTimeout
from hacert.observe.cluster_state import describe_status, expected_homes, find_service, is_online, node_of, where_running
from hacert.observe.fence_record import REBOOTING_METHODS, FenceConfig, FenceRound, cut_short, fence_method, fence_rounds, read_fence_config
from hacert.observe.waiting import wait_for
from hacert.procedures.guard.state import ACTED_SETTLE, BMC_RECOVERY, POLL, GuardParts, RestoreFailed, side_by_side


class Restore(GuardParts):
    """Putting the lab back, step by step; every action is recorded."""

    def report_restore(self) -> None:
        """What the restore did goes into the case's report, not only on stderr."""
        if self.actions and self.record is not None:
            try:
                self.record.restored(self.actions)
            except Exception as exc:  # the report must never keep the lab from being put back
                self._log(f"hacert guard: could not record the restore in the case's report: {exc!r}")

    def restore(self) -> None:
        """Put the lab back; raise RestoreFailed with what is left broken."""
        started = time.monotonic()
        self.actions = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="guard-fences") as pool:
            fencing = pool.submit(self._pending_fences)  # read-only, like the survey: asked side by side
            # after a case whose post-case audit found the cluster whole, a node without power would
            # show as silent or as no member: the BMC logins (the survey's slowest look) are left to
            # the next case's audit, which asks every BMC before any fault is injected
            findings, status = self.survey(bmcs=not self.audited_clean)
            pending = fencing.result()
        if findings or pending:
            self._restore_power_feeds()
            self._restore_switch_ports()
            self._wait_pending_fences()
            self._undo_hangs()
            self._restore_node_power()
            self._wait_nodes_answer()
            self._restore_members()
            self._restore_services()
            self._wait_bonds_primary()
            findings, status = self.survey()
            if findings:
                raise RestoreFailed(self.inv.lab, findings, self.actions)
        self.mark_syslogs()
        self._log(f"hacert guard: lab {self.inv.lab} restored in {time.monotonic() - started:.1f} s"
                  + (f" ({'; '.join(self.actions)})" if self.actions else ""))

    def mark_syslogs(self) -> None:
        """Remember where each node's syslog ends: the audit's "since the last case" and the restore's fence
        check (every node asked at once)."""
        def mark(name: str) -> Any:
            try:
                return self.lab.node(name).syslog_mark()
            except HacertError:
                return None

        names = [node.name for node in self.inv.nodes]
        for name, got in zip(names, side_by_side(names, mark, "guard-marks")):
            if got is None:
                self.state.marks.pop(name, None)
            else:
                self.state.marks[name] = got


    # ------------------------------------------------------------ restore steps

    def _did(self, action: str) -> None:
        self.actions.append(action)
        self._log(f"hacert guard: {action}")

    def _restore_power_feeds(self) -> None:
        for owner, pdu, outlet, _ in self._node_outlets():
            try:
                driver = self.lab.pdu(pdu)
                if driver.outlet_status(outlet) != "on":
                    driver.outlet_on(outlet)
                    self._did(f"turned PDU {pdu} outlet {outlet} ({owner}) back on")
            except LabError as exc:
                self._did(f"could not check/turn on PDU {pdu} outlet {outlet}: {exc}")

    def _restore_switch_ports(self) -> None:
        for switch in self.inv.switches:
            if switch.ports.method == "manual":
                continue
            try:
                control = self.lab.switch_ports(switch.name)
                for port, cable in self._cabled_ports(switch.name):
                    if control.port_is_up(port) is False:
                        control.port_up(port)
                        self._did(f"brought {switch.name} port {port} ({cable}) back up")
            except Exception as exc:  # recorded; the final survey reports what is left
                self._did(f"could not restore {switch.name}'s ports: {exc}")

    def _pending_fences(self) -> list[str]:
        """Nodes some survivor started fencing (since the last restore) without a result yet."""
        latest: dict[str, FenceRound] = {}
        rounds = self._fence_rounds()
        for rnd in rounds:
            latest[rnd.victim] = rnd
        return [victim for victim, rnd in latest.items() if rnd.succeeded is None and not cut_short(rnd, rounds)]

    def _fence_rounds(self) -> list[FenceRound]:
        """Every fencing the nodes that answer logged since the last restore (every node asked at once)."""
        def window(name: str) -> list[str] | None:
            mark = self.state.marks.get(name)
            if mark is None or not self._answers(name):
                return None
            try:
                return self.lab.node(name).syslog_since(mark)
            except HacertError:  # an unreadable node tells us nothing here
                return None

        names = [node.name for node in self.inv.nodes]
        windows = {name: got for name, got in zip(names, side_by_side(names, window, "guard-fences")) if got is not None}
        return fence_rounds(self.inv, windows, self._fence_config())

    def _fence_config(self) -> FenceConfig | None:
        """The cluster's fence configuration (which device is of which kind), read once per guard from
        the first node that answers; None when none does (cman's method indexes then fall back to the
        inventory's `fence` order, and a pacemaker device's kind stays unknown)."""
        if not hasattr(self, "_config"):
            self._config: FenceConfig | None = None
            for node in self.inv.nodes:
                if not self._answers(node.name):
                    continue
                try:
                    self._config = read_fence_config(self.lab, via=node.name)
                    break
                except (HacertError, ValueError, KeyError):
                    continue  # a node that cannot say: try the next
        return self._config

    def _wait_pending_fences(self) -> None:
        pending = self._pending_fences()
        if not pending:
            return
        budget = self.inv.expectations.fence_timeout * 3
        self._did(f"waiting up to {budget:.0f} s for the cluster to finish fencing {', '.join(pending)}")
        try:
            pending = wait_for(f"the cluster to finish fencing {', '.join(pending)}", self._pending_fences,
                               lambda left: not left, timeout=budget, interval=POLL)
        except WaitTimeout as timed_out:
            pending = timed_out.last_seen or pending
        if pending:
            self._did(f"the cluster never finished fencing {', '.join(pending)}")

    def _undo_hangs(self) -> None:
        """A node the case 'hung' without crashing it (interface down, paused by its hypervisor) and
        that nobody fenced: undo the hang the way it was made."""
        for change in self.changes:
            if change.kind != "hang":
                continue
            node = self.inv.node(change.target)
            how = node.hang
            try:
                if how.method == "ifdown" and how.interface and self._answers(node.name):
                    self.lab.node(node.name).run(f"ip link set dev {shlex.quote(how.interface)} up", timeout=30)
                    self._did(f"brought {how.interface} back up on {node.name}")
                elif how.method == "hypervisor" and how.undo_command:
                    command = how.undo_command.format(node=node.name, member=node.member_name)
                    done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=30)
                    self._did(f"ran {command!r} for {node.name} (exit code {done.returncode})")
            except (HacertError, OSError, subprocess.TimeoutExpired) as exc:
                self._did(f"could not undo the hang of {node.name}: {exc}")

    def _restore_node_power(self) -> None:
        # a node the cluster fenced by power is booting: only one nobody power-fenced is still hung
        fenced = {rnd.victim for rnd in self._fence_rounds() if fence_method(self.inv, rnd) in REBOOTING_METHODS}
        hung = {c.target for c in self.changes if c.kind == "hang"} - fenced
        for node in self.inv.nodes:
            try:
                bmc = self.lab.bmc(node.name)
                state = self._bmc_status(bmc, node.name)
                if state == "off":
                    bmc.power_on()
                    self._did(f"powered {node.name} on through its BMC")
                elif node.name in hung and not self._answers(node.name):
                    bmc.power_cycle()
                    self._did(f"power-cycled {node.name} (left hung by the case) through its BMC")
            except LabError as exc:
                self._did(f"could not check/power {node.name} through its BMC: {exc}")

    def _bmc_status(self, bmc: Any, node: str) -> str:
        """Power status, waiting for a BMC that just got its power back (pyghmi can need ~35 s
        to let go of a session it opened while the BMC was dark)."""
        try:
            return wait_for(f"{node}'s BMC to answer", bmc.power_status, lambda _: True, interval=POLL,
                            timeout=max(BMC_RECOVERY, self.inv.expectations.fence_timeout), retry_errors=(LabError,))
        except WaitTimeout as timed_out:
            if isinstance(timed_out.last_seen, LabError):
                raise timed_out.last_seen from None
            raise

    def _answers(self, node: str) -> bool:
        try:
            return bool(self.lab.node(node).reachable(timeout=2))
        except HacertError:
            return False

    def _wait_nodes_answer(self) -> None:
        budget = self.inv.expectations.rejoin_timeout
        deadline = time.monotonic() + budget
        silent = [n.name for n in self.inv.nodes if not self._answers(n.name)]
        cycled: set[str] = set()

        def still_silent() -> list[str]:
            silent[:] = [n for n in silent if not self._answers(n)]
            # a node that stays dark for half the budget while its BMC says on is hung: cycle it once
            if silent and time.monotonic() > deadline - budget / 2:
                for name in silent:
                    if name in cycled:
                        continue
                    cycled.add(name)
                    try:
                        self.lab.bmc(name).power_cycle()
                        self._did(f"power-cycled {name}: no SSH for {budget / 2:.0f} s")
                    except LabError as exc:
                        self._did(f"could not power-cycle {name}: {exc}")
            return silent

        if silent:
            try:
                wait_for("every node to answer SSH", still_silent, lambda left: not left, timeout=budget, interval=POLL)
            except WaitTimeout:
                pass  # the audit after the restore says which node is still dark

    def _restore_members(self) -> None:
        reachable = [n.name for n in self.inv.nodes if self._answers(n.name)]
        if not reachable:
            return
        try:
            status = self._status(reachable)
        except HacertError as exc:
            self._did(f"cluster status unreadable: {exc}")
            return
        absent = [n for n in reachable if not is_online(self.inv, status, n)]
        for name in absent:
            try:
                self.lab.cluster.start_stack(name)
                self._did(f"started the cluster stack on {name}")
            except HacertError as exc:
                self._did(f"could not start the cluster stack on {name}: {exc}")
        self._wait("every node an online member of a quorate cluster", reachable,
                   lambda s: s.quorate and all(is_online(self.inv, s, n.name) for n in self.inv.nodes),
                   self.inv.expectations.rejoin_timeout)

    def _restore_services(self) -> None:
        """Storage first, then every service and VM on its home node; a request the cluster refuses
        (it is busy with that service) is tried again a moment later, until services_back_timeout."""
        reachable = [n.name for n in self.inv.nodes if self._answers(n.name)]
        if not reachable:
            return
        homes = expected_homes(self.inv)
        storage = [svc.name for svc in self.inv.services if svc.storage]
        order = storage + [name for name in homes if name not in storage]
        vms = {vm.name for vm in self.inv.vms}
        timeout = self.inv.expectations.services_back_timeout
        deadline = time.monotonic() + timeout
        retry_at: dict[str, float] = {}
        refused: dict[str, str] = {}
        no_migration: set[str] = set()
        cleaned: set[str] = set()
        seen: list[Any] = [None]

        def look() -> bool:
            """One look; True when every service is home, else one request per service that may move."""
            try:
                status = self._status(reachable)
            except HacertError:
                status = None
            seen[0] = status
            if status is not None and all(self._home(status, name, home) for name, home in homes.items()):
                return True
            if time.monotonic() >= deadline:
                return False  # time is up: no more requests
            for name in order if status is not None else []:
                home = homes[name]
                svc = find_service(status, name)
                if svc is None or svc.state not in ("started", "stopped", "disabled", "failed"):
                    continue  # the cluster is busy with it
                if self._home(status, name, home) or time.monotonic() < retry_at.get(name, 0.0):
                    continue
                if home is not None and not is_online(self.inv, status, home):
                    continue  # its home is not back in the cluster: nothing to ask of it yet
                if name not in storage and home is not None and not self._storage_up(status, home):
                    continue  # a VM needs its home's storage first
                owner = node_of(self.inv, svc.owner)
                try:
                    if name not in cleaned:  # its failures may ban it from its home
                        self.lab.cluster.reset_failures(name)
                        cleaned.add(name)
                    if svc.state == "failed":
                        self.lab.cluster.disable(name)
                        self.lab.cluster.enable(name, node=home)
                        self._did(f"re-enabled failed {name} on {home or 'any node'}")
                    elif svc.state != "started":
                        self.lab.cluster.enable(name, node=home)
                        self._did(f"enabled {name} on {home or 'any node'}")
                    elif name in vms and name not in no_migration:
                        self.lab.cluster.migrate(name, home)
                        self._did(f"live-migrated {name} from {owner} back to {home}")
                    else:
                        self.lab.cluster.relocate(name, home)
                        self._did(f"relocated {name} from {owner} back to {home}")
                    refused.pop(name, None)
                    retry_at[name] = time.monotonic() + ACTED_SETTLE  # the cluster needs a moment to act
                except HacertError as exc:
                    refused[name] = str(exc)
                    retry_at[name] = time.monotonic() + 1.0
                    if isinstance(exc, ClusterRefused) and name in vms and svc.state == "started":
                        no_migration.add(name)  # the cluster refuses to live-migrate it: relocate it next time
            return False

        try:
            wait_for("every service and VM on its home node", look, timeout=timeout, interval=POLL)
        except WaitTimeout:
            why = "; ".join(f"{name}: {text}" for name, text in refused.items())
            self._did(f"gave up after {timeout:.0f} s bringing every service home; last: "
                      f"{describe_status(self.inv, seen[0])}" + (f"; refused: {why}" if why else ""))

    def _home(self, status: Any, name: str, home: str | None) -> bool:
        where = where_running(self.inv, status, name)
        return where == home if home is not None else where is not None

    def _storage_up(self, status: Any, node: str) -> bool:
        return all(where_running(self.inv, status, svc) == node for svc in self.inv.node(node).storage_services)

    def _wait_bonds_primary(self) -> None:
        """Bonds go back to their primary by themselves once its link has been up for the bond's
        updelay: wait that long (read from the bond), plus a margin."""
        from hacert.drivers.parsers._common import ParseError
        from hacert.drivers.parsers.bonding import parse_bonding

        reachable = [n.name for n in self.inv.nodes if n.bonds and self._answers(n.name)]
        updelay_ms = 0
        for name in reachable:
            for bond in self.inv.node(name).bonds:
                try:
                    updelay_ms = max(updelay_ms, parse_bonding(self.lab.node(name).read_file(bond.status_file)).up_delay_ms)
                except (HacertError, ParseError):
                    continue
        try:
            wait_for("every bond back on its primary", lambda: self._check_bonds(reachable), lambda off: not off,
                     timeout=updelay_ms / 1000 + 10.0, interval=POLL)
        except WaitTimeout:
            pass  # the audit after the restore says which bond is still off its primary

    def _wait(self, what: str, via: list[str], until: Callable[[Any], bool], timeout: float) -> Any:
        seen: list[Any] = [None]  # the last status read (a look that could not read one keeps it)

        def look() -> Any:
            seen[0] = self._status(via)
            return seen[0]

        try:
            return wait_for(what, look, until, timeout=timeout, interval=POLL, retry_errors=(HacertError,))
        except WaitTimeout:
            self._did(f"gave up after {timeout:.0f} s waiting for {what}; last: {describe_status(self.inv, seen[0])}")
            return seen[0]

