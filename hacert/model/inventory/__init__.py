"""The lab inventory: what exists in a lab, validated before anything is touched.

An inventory is a YAML file (inventories/*.yaml). `load_inventory(path)` returns a
frozen `Inventory` or raises `InventoryError`, whose message lists every problem
as ``file:line: key.path: what is wrong`` so a lab engineer can fix them all in
one pass. Secrets are never values in the file: fields name an environment
variable (``*_env``) or a file (``*_file``) that holds them.

One module per job:

- common.py: strict frozen sections, checked names/ports/durations, named secrets;
- lab.py: nodes, BMCs, PDUs, switches, bonds, the cluster, domains, services, VMs;
- expectations.py: the procedures' timeouts and bounds, and the run's safety switches;
- simulation.py: simulation-only sections (timing, faults, device faults, adversities, clock offsets);
- document.py: `Inventory`, the whole of one lab, and its look-ups;
- checks.py: cross-checks between sections; loading.py: reading the YAML, file:line errors.
"""

from hacert.model.inventory.common import Name, NonNegative, Port, SecretSource, Seconds, Strict, key_path
from hacert.model.inventory.document import Inventory
from hacert.model.inventory.expectations import Expectations, Safety
from hacert.model.inventory.lab import (
    BmcAccess, Bond, Cluster, FailoverDomain, FenceMethod, HangMethod, Node, OutletRef, Pdu, Service, SlaveLink, SshAccess, Switch,
    SwitchCliCommands, SwitchPorts, SwitchPower, Vm,
)
from hacert.model.inventory.loading import InventoryError, Problem, load_inventory
from hacert.model.inventory.checks import cross_check
from hacert.model.inventory.simulation import (
    ADVERSITY_NAMES, DEVICE_FAULT_NAMES, FAULT_NAMES, Adversity, DeviceFault, Fault, SimTiming, Simulation,
)

__all__ = [
    "ADVERSITY_NAMES", "Adversity", "BmcAccess", "Bond", "Cluster", "DEVICE_FAULT_NAMES", "DeviceFault", "Expectations", "FAULT_NAMES",
    "FailoverDomain", "Fault", "FenceMethod", "HangMethod", "Inventory", "InventoryError", "Name", "Node", "NonNegative", "OutletRef",
    "Pdu", "Port", "Problem", "Safety", "SecretSource", "Seconds", "Service", "SimTiming", "Simulation", "SlaveLink", "SshAccess",
    "Strict", "Switch", "SwitchCliCommands", "SwitchPorts", "SwitchPower", "Vm", "cross_check", "key_path", "load_inventory",
]
