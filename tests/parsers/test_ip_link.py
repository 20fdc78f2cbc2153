"""`ip -o link` for the bond slaves."""

from __future__ import annotations

import pytest

from hacert.drivers.parsers import ParseError, parse_ip_link

IP_O_LINK = (
    "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000"
    "\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n"
    "2: eth0: <NO-CARRIER,BROADCAST,MULTICAST,SLAVE,UP> mtu 1500 qdisc pfifo_fast master bond0 state DOWN "
    "mode DEFAULT group default qlen 1000\\    link/ether 00:e0:81:c7:ec:49 brd ff:ff:ff:ff:ff:ff\n"
    "5: eth3: <BROADCAST,MULTICAST,SLAVE,UP,LOWER_UP> mtu 1500 qdisc pfifo_fast master bond0 state UP "
    "mode DEFAULT group default qlen 1000\\    link/ether 00:e0:81:c7:ec:49 brd ff:ff:ff:ff:ff:ff\n"
    "8: bond0: <BROADCAST,MULTICAST,MASTER,UP,LOWER_UP> mtu 1500 qdisc noqueue master vbr0 state UP "
    "mode DEFAULT group default qlen 1000\\    link/ether 00:e0:81:c7:ec:49 brd ff:ff:ff:ff:ff:ff\n"
    "9: bond0.100@bond0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT "
    "group default qlen 1000\\    link/ether 00:e0:81:c7:ec:49 brd ff:ff:ff:ff:ff:ff\n"
)


def test_ip_link():
    links = {link.name: link for link in parse_ip_link(IP_O_LINK)}
    eth0, eth3 = links["eth0"], links["eth3"]
    assert (eth0.index, eth0.master, eth0.state, eth0.admin_up, eth0.carrier) == (2, "bond0", "DOWN", True, False)
    assert (eth3.state, eth3.carrier, eth3.address, eth3.link_type, eth3.mtu) == (
        "UP", True, "00:e0:81:c7:ec:49", "ether", 1500)
    assert links["lo"].link_type == "loopback" and links["lo"].attrs["qdisc"] == "noqueue"
    assert links["bond0.100"].parent == "bond0"


def test_ip_link_error():
    with pytest.raises(ParseError) as err:
        parse_ip_link('Device "eth9" does not exist.\n')
    assert "eth9" in str(err.value)
