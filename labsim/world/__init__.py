"""The one model of the simulated lab's power and network (`model.World`), its jobs one module each:
`records` (nodes, NICs, switches, ports), `events` (the event log, syslog, node clocks), `nodes`
(what power, the BMC and the OS do to a node), `network` (switches, ports, carrier), `reach`
(addresses and pings). The outlets themselves are the shared power model's
(hacert.labsim.devices.power)."""

from hacert.labsim.world.model import World
from hacert.labsim.world.records import NODE_STATES, SWITCH_PORTS_MIN, Nic, NodeModel, Port, Registered, SwitchModel

__all__ = ["World", "NODE_STATES", "SWITCH_PORTS_MIN", "Nic", "NodeModel", "Port", "Registered", "SwitchModel"]
