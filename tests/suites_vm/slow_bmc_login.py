"""pytest plugin for a suite run (`-p tests.suites_vm.slow_bmc_login`): every IPMI login takes
LOGIN_S longer, as on real BMCs whose RMCP+ login takes a second or so. A figure timed from a
BMC action must not move with it: the BMC acts once logged in, near its answer."""

from __future__ import annotations

import time
from typing import Any

from hacert.drivers.ipmi import IpmiBmc

LOGIN_S = 0.8

_login = IpmiBmc._login


def _slow_login(self: IpmiBmc) -> Any:
    time.sleep(LOGIN_S)
    return _login(self)


IpmiBmc._login = _slow_login  # type: ignore[method-assign]
