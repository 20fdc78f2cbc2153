"""netlab: a real corosync + pacemaker cluster on one Linux machine, out of namespaces.

`python -m hacert.netlab up INVENTORY` / `python -m hacert.netlab down INVENTORY`; from Python,
`start_netlab(inventory_path, workdir=None) -> RunningNetlab` (used by the pytest
plugin). See README.md ("netlab") and docs/CONTRACTS.md.
"""

from .config import NetlabError, NetlabSettings, Plan
from .runner import RunningNetlab, down, start_netlab

__all__ = ["NetlabError", "NetlabSettings", "Plan", "RunningNetlab", "down", "start_netlab"]
