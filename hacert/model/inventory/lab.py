"""What a lab holds: nodes (SSH, BMC, power feeds, bonds, how to hang one), PDUs, switches,
the cluster, its failover domains, services and VMs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    model_validator,
)

from hacert.model.inventory.common import Name, NonNegative, Port, Seconds, SecretSource, Strict


class SshAccess(SecretSource):
    host: str
    port: Port = 22
    user: str = "root"
    key_file: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    connect_timeout: Seconds = 10.0
    command_timeout: Seconds = 60.0


BMC_PORTS = {"ipmi": 623, "redfish": 443}


class BmcAccess(SecretSource):
    """A node's BMC: IPMI over LAN (the default) or Redfish over HTTPS (`hacert.drivers.redfish`)."""

    protocol: Literal["ipmi", "redfish"] = "ipmi"
    host: str | None = Field(None, description="required in a real lab; a simulated lab publishes its own")
    port: Port = Field(None, description="623 for IPMI, 443 for Redfish unless given")  # type: ignore[assignment]
    user: str = "admin"
    password_env: str | None = None
    password_file: str | None = None
    timeout: Seconds = 5.0
    systems_uri: str | None = Field(None, description="Redfish: the ComputerSystem's path (else the only member of Systems)")
    verify: bool = Field(True, description="Redfish: check the BMC's TLS certificate (false for a self-signed BMC)")
    ca_bundle: str | None = Field(None, description="Redfish: the CA bundle that signed the BMC's certificate")
    auth: Literal["session", "basic"] = "session"

    @model_validator(mode="before")
    @classmethod
    def _port_of_protocol(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("port") is None:
            data = {**data, "port": BMC_PORTS.get(str(data.get("protocol", "ipmi")), 623)}
        return data

    @model_validator(mode="after")
    def _redfish_keys(self) -> "BmcAccess":
        if self.protocol != "redfish":
            for key in ("systems_uri", "ca_bundle"):
                if getattr(self, key) is not None:
                    raise ValueError(f"'{key}' is a Redfish setting: it needs 'protocol: redfish'")
        if self.systems_uri is not None and not self.systems_uri.startswith("/redfish/v1/"):
            raise ValueError(f"systems_uri must be a path under /redfish/v1/ (got {self.systems_uri!r})")
        if self.ca_bundle is not None and not self.verify:
            raise ValueError("give either 'ca_bundle' or 'verify: false', not both")
        return self


class OutletRef(Strict):
    pdu: Name
    outlet: int = Field(ge=1, le=128)
    name: str = Field(description="the outlet's name as the PDU reports it")
    shared: bool = Field(False, description="declared as feeding more than one device")


class SlaveLink(Strict):
    nic: Name
    switch: Name
    port: str


class Bond(Strict):
    name: Name
    network: Name
    address: str
    primary: SlaveLink
    backup: SlaveLink
    ping_peer: str | None = None
    status_path: str | None = None

    @property
    def status_file(self) -> str:
        return self.status_path or f"/proc/net/bonding/{self.name}"

    @property
    def slaves(self) -> tuple[SlaveLink, SlaveLink]:
        return (self.primary, self.backup)


class HangMethod(Strict):
    method: Literal["sysrq", "ifdown", "hypervisor"] = "sysrq"
    interface: str | None = None
    command: str | None = None
    undo_command: str | None = None

    @model_validator(mode="after")
    def _needs_its_argument(self) -> "HangMethod":
        if self.method == "ifdown" and not self.interface:
            raise ValueError("hang method 'ifdown' needs 'interface' (the cluster interface to take down)")
        if self.method == "hypervisor" and not self.command:
            raise ValueError("hang method 'hypervisor' needs 'command' (run on the hypervisor host)")
        return self


FenceMethod = Literal["ipmi", "redfish", "pdu", "scsi"]


class Node(Strict):
    name: Name
    cluster_name: str | None = Field(None, description="the node's name inside the cluster manager")
    ssh: SshAccess | None = None
    bmc: BmcAccess | None = None
    power: list[OutletRef] = []
    fence: list[FenceMethod] = ["ipmi", "pdu"]
    bonds: list[Bond] = []
    hang: HangMethod = HangMethod()
    votes: int = Field(1, ge=0)
    storage_services: list[str] = []

    @property
    def member_name(self) -> str:
        return self.cluster_name or self.name

    def bond(self, name: str) -> Bond:
        for bond in self.bonds:
            if bond.name == name:
                return bond
        raise KeyError(f"{self.name} has no bond {name}")


class Pdu(SecretSource):
    name: Name
    host: str | None = None
    port: Port = 161
    snmp_version: Literal["1", "2c"] = "1"
    community_env: str | None = None
    community_file: str | None = None
    write_community_env: str | None = None
    write_community_file: str | None = None
    outlets: int = Field(8, ge=1, le=128)
    timeout: Seconds = 2.0
    retries: int = Field(1, ge=0, le=10)


class SwitchCliCommands(Strict):
    enter: list[str] = ["configure terminal"]
    interface: str = "interface {port}"
    down: str = "shutdown"
    up: str = "no shutdown"
    leave: list[str] = ["end"]


class SwitchPorts(SecretSource):
    method: Literal["snmp", "ssh", "node", "manual"]
    host: str | None = None
    port: Port = 161
    snmp_version: Literal["1", "2c"] = "2c"
    community_env: str | None = None
    community_file: str | None = None
    write_community_env: str | None = None
    write_community_file: str | None = None
    ssh: SshAccess | None = None
    commands: SwitchCliCommands = SwitchCliCommands()
    timeout: Seconds = 2.0

    @model_validator(mode="after")
    def _method_needs(self) -> "SwitchPorts":
        if self.method == "ssh" and self.ssh is None:
            raise ValueError("port method 'ssh' needs an 'ssh' section (how to log in to the switch CLI)")
        return self


class SwitchPower(Strict):
    method: Literal["pdu", "manual"]
    pdu: Name | None = None
    outlet: int | None = Field(None, ge=1, le=128)
    name: str | None = Field(None, description="the outlet's name as the PDU reports it")

    @model_validator(mode="after")
    def _pdu_needs_outlet(self) -> "SwitchPower":
        if self.method == "pdu" and (self.pdu is None or self.outlet is None or self.name is None):
            raise ValueError("power method 'pdu' needs 'pdu', 'outlet' and 'name'")
        return self


class Switch(Strict):
    name: Name
    ports: SwitchPorts
    power: SwitchPower = SwitchPower(method="manual")


class FailoverDomain(Strict):
    name: Name
    nodes: list[Name] = Field(min_length=1, description="in priority order, first preferred")
    ordered: bool = True
    restricted: bool = True
    nofailback: bool = True


class Vm(Strict):
    name: Name
    home: Name
    domain: Name | None = None
    address: str
    ping_from: str | None = Field(None, description="a node name, 'observer' or 'self'")
    ssh: SshAccess | None = None
    destroy_command: str = "virsh destroy {vm}"


class Service(Strict):
    name: Name
    domain: Name | None = None
    home: Name | None = None
    address: str | None = None
    storage: bool = False


class Cluster(Strict):
    name: str
    manager: Literal["rgmanager", "pacemaker"]
    post_join_delay: Seconds = 30.0
    heartbeat_network: Name | None = None
    two_node: bool | None = None
    fence_delay: dict[str, NonNegative] = Field(
        {}, description="node -> seconds the devices that fence it wait (the tutorial's `delay`): it wins a fence race")
    no_quorum_policy: Literal["stop", "freeze", "ignore"] = "stop"
