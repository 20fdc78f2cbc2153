"""A tiny pyghmi BMC for the IPMI driver tests, run as its own process:

    python -m tests.drivers.bmc_server PORT USER PASSWORD STATE_FILE

It keeps the chassis power state in STATE_FILE ('on'/'off'; 'cycle' and
'reset' append to the file's history line) and prints READY once bound.
Open-session requests for anything but cipher suite 3's algorithms are
refused with status 0x11, which makes pyghmi's client fall back cleanly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hacert.drivers.pyghmi_io  # noqa: F401  (installs the race-free socket I/O)
from pyghmi.ipmi import bmc as pyghmi_bmc
from pyghmi.ipmi.private import serversession

_SUITE3 = (1, 1, 1)  # RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128
_NO_MATCHING_CIPHER = 0x11


class Suite3Session(serversession.ServerSession):
    def create_open_session_response(self, request):  # type: ignore[override]
        request = bytearray(request)
        offered = (request[12], request[20], request[28]) if len(request) >= 32 else None
        if offered != _SUITE3:
            return bytearray([request[0], _NO_MATCHING_CIPHER, 0, 0]) + request[4:8]
        return super().create_open_session_response(request)


serversession.ServerSession = Suite3Session  # the server builds sessions by this module global


class FileBmc(pyghmi_bmc.Bmc):
    def __init__(self, authdata, port, state_file: Path):
        super().__init__(authdata, port=port, address="127.0.0.1")
        self.state_file = state_file
        if not state_file.exists():
            state_file.write_text("off\n")

    def _state(self) -> str:
        return self.state_file.read_text().split()[0]

    def _record(self, state: str, action: str) -> None:
        history = self.state_file.read_text().split()[1:]
        self.state_file.write_text(" ".join([state, *history, action]) + "\n")

    def get_power_state(self):
        return self._state()

    def power_on(self):
        self._record("on", "on")

    def power_off(self):
        self._record("off", "off")

    def power_cycle(self):
        self._record("on", "cycle")

    def power_reset(self):
        self._record(self._state(), "reset")


def main() -> None:
    port, user, password, state = int(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4])
    server = FileBmc({user: password}, port, state)
    print("READY", flush=True)
    server.listen(timeout=1)


if __name__ == "__main__":
    main()
