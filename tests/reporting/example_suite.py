"""An example suite for the reporting tests (copied into a temporary folder as test_example.py).

Four cases, one of each outcome: a pass with numbers, steps, evidence and a
timeline; a cluster failure with a diagnosis; a lab error; an inconclusive case.
The secrets come from the environment, as a real lab's would.
"""

import os

import pytest

from hacert.drivers.errors import DeviceUnreachable

FEATURE = "Testing fencing"
BMC_PASSWORD = os.environ.get("EXAMPLE_BMC_PASSWORD", "")
COMMUNITY = os.environ.get("EXAMPLE_COMMUNITY", "")


@pytest.mark.parametrize("victim", ["an-node01"])
def test_hang(record, victim):
    """Hang a node: its peer fences it by IPMI"""
    record.title(f"Hang {victim} — an-node02 fences it by IPMI")
    record.subject(victim)
    with record.step(f"hang {victim} with echo c > /proc/sysrq-trigger"):
        print(f"ipmitool -P {BMC_PASSWORD} chassis power status")  # captured stdout: must be redacted
    with record.step("wait for an-node02 to fence it"):
        record.number("time to fence", 12.3456, "s", expected="<= 15 s")
        record.method("ipmi")
    record.attach_syslog({
        "an-node02": ["Dec 13 12:42:41 an-node02 fenced[2812]: fencing node an-node01",
                      "Dec 13 12:42:39 an-node02 corosync[2758]:   [TOTEM ] A processor failed, forming new configuration."],
        "an-node01": ["Dec 13 12:42:40 an-node01 kernel: SysRq : Trigger a crash"],
    })
    record.attach_text("bmc session", f"logged in to the BMC with password {BMC_PASSWORD}")
    record.attach_timeline(
        events=[(0.0, "sysrq c"), (3.2, "member lost"), (12.3, "fence done ipmi")],
        gaps=[(0.1, 14.0)],
        states={"an-node01 power": [(0.0, "on"), (12.3, "off"), (13.0, "on")]},
        t0=0.0,
    )


def test_vm_restart(record):
    """Destroy a VM: rgmanager restarts it in place"""
    record.title("Destroy vm0001-dev — it is restarted on an-node01")
    record.subject("vm0001-dev")
    with record.step("virsh destroy vm0001-dev"):
        pass
    with record.step("wait for vm0001-dev to run again"):
        downtime = record.number("VM down", 42.0, "s", expected="<= 15 s")
        assert downtime <= 15, "vm0001-dev was not restarted within 15 s: still down after 42 s"


def test_pdu_outlet(record):
    """Cut power: the PDU fences the node"""
    record.subject("pdu2")
    with record.step("read outlet 1 of pdu2"):
        raise DeviceUnreachable("pdu2", "127.0.0.1:16100", f"snmpget -c {COMMUNITY} outlet 1 status", "no answer in 2 s")


def test_switch_power(record):
    """Power-cycle a switch: the bonds fail over"""
    record.subject("sw2")
    record.number("lost pings", 3, "packets")
    record.verdict("inconclusive", "sw2 reported no port state after its reboot")
