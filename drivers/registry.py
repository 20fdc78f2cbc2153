"""One registry per kind of device: a new BMC, PDU, switch or cluster manager is one module that
registers its builder here, and `hacert.lab.build.Lab` builds every device through these.

    from hacert.drivers.registry import BMCS, BuildContext

    @BMCS.register("redfish")
    def build_redfish(lab: BuildContext, node: str, spec: Any) -> RedfishBmc:
        ...

A builder gets the lab it builds for (`BuildContext`: the inventory, the running lab's endpoints,
the secrets the inventory names, the lab's other drivers), the device's name and its inventory
section, and returns the driver. A kind nobody registered yet makes the registry import every
module of hacert.drivers once (and of any package added to `PACKAGES`; the modules register
themselves when imported), so nothing but the
new module needs to know the new kind.

Registries: `BMCS` (by the BMC section's `kind`, "ipmi" when it has none), `PDUS` (by the PDU's
`kind`, "apc_snmp" when it has none), `SWITCH_PORTS` (by the switch's `ports.method`),
`SWITCH_POWER` (by `power.method`), `CLUSTER_MANAGERS` (by `cluster.manager`; a builder here is
the manager's class, called with (shells, inventory, timeout)).
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from .errors import LabError

B = TypeVar("B", bound=Callable[..., Any])


class LabConfigError(LabError):
    """The lab cannot give this device: not declared, of a kind no driver knows, or a secret is
    missing (a bad inventory)."""

    def __init__(self, message: str) -> None:
        self.device, self.address, self.attempted, self.detail = "inventory", "", "build a driver", message
        Exception.__init__(self, message)


class BuildContext(Protocol):
    """What a builder may ask of the lab it builds a driver for (`hacert.lab.build.Lab`)."""

    inventory: Any

    @property
    def from_endpoints(self) -> bool:
        """Addresses and made-up credentials come from a running simulated lab or netlab."""

    @property
    def simulated(self) -> bool: ...

    def endpoint(self, section: str, name: str) -> Mapping[str, Any]:
        """The running lab's endpoint of one device (raises LabConfigError when it publishes none)."""

    def secret(self, owner: str, env: str | None, file: str | None) -> Any:
        """The secret the inventory names (an environment variable or a file), or None."""

    def node(self, name: str) -> Any: ...

    def pdu(self, name: str) -> Any: ...


PACKAGES: list[str] = [__package__ or "hacert.drivers"]
"""Packages whose modules register kinds of devices; a site's own drivers may add theirs."""

_discovering = threading.Lock()
_DISCOVERED: set[str] = set()


def discover() -> None:
    """Import every module of every package in PACKAGES once (subpackages such as cluster through
    their __init__): each module registers its kinds when imported."""
    with _discovering:
        for name in [p for p in PACKAGES if p not in _DISCOVERED]:
            _DISCOVERED.add(name)
            package = importlib.import_module(name)
            for info in pkgutil.iter_modules(package.__path__):
                if info.name in ("parsers", "registry", "errors") or info.name.startswith("_"):
                    continue
                importlib.import_module(f"{name}.{info.name}")


class Registry(Generic[B]):
    """Builders of one kind of device, by the name the inventory gives the kind."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._builders: dict[str, B] = {}

    def register(self, kind: str) -> Callable[[B], B]:
        """Decorator: `builder` builds devices of `kind`."""
        def add(builder: B) -> B:
            known = self._builders.get(kind)
            if known is not None and known is not builder:
                raise ValueError(f"{self.what} kind {kind!r} is registered twice ({known!r} and {builder!r})")
            self._builders[kind] = builder
            return builder

        return add

    def get(self, kind: str) -> B:
        """The builder of `kind`; LabConfigError naming the known kinds when no module registers it."""
        if kind not in self._builders:
            discover()
        try:
            return self._builders[kind]
        except KeyError:
            raise LabConfigError(f"no driver knows {self.what} kind {kind!r} (known: {', '.join(self.kinds())})") from None

    def kinds(self) -> list[str]:
        discover()
        return sorted(self._builders)

    def __contains__(self, kind: str) -> bool:
        return kind in self.kinds()


BMCS: Registry[Callable[[BuildContext, str, Any], Any]] = Registry("BMC")
PDUS: Registry[Callable[[BuildContext, str, Any], Any]] = Registry("PDU")
SWITCH_PORTS: Registry[Callable[[BuildContext, str, Any], Any]] = Registry("switch port control")
SWITCH_POWER: Registry[Callable[[BuildContext, str, Any], Any]] = Registry("switch power control")
CLUSTER_MANAGERS: Registry[Callable[..., Any]] = Registry("cluster manager")

DEFAULT_BMC_KIND = "ipmi"
DEFAULT_PDU_KIND = "apc_snmp"


def bmc_kind(spec: Any) -> str:
    """The kind of a node's BMC section (an inventory without one names no kind: IPMI)."""
    return getattr(spec, "protocol", None) or getattr(spec, "kind", None) or DEFAULT_BMC_KIND


def pdu_kind(spec: Any) -> str:
    return getattr(spec, "kind", None) or DEFAULT_PDU_KIND


__all__ = ["BMCS", "BuildContext", "CLUSTER_MANAGERS", "DEFAULT_BMC_KIND", "DEFAULT_PDU_KIND", "LabConfigError", "PDUS",
           "Registry", "SWITCH_PORTS", "SWITCH_POWER", "bmc_kind", "discover", "pdu_kind"]
