"""Makes hacert's pytest plugin apply to suites/ and tests/ in a checkout that is not installed.

Installed (`pip install -e .`), pytest loads the plugin through its `pytest11` entry point
`hacert`; registering it here as well would load it twice. Without the installation (or with
plugin autoloading turned off), this file registers it.
"""

import os
from importlib.metadata import entry_points


def _loaded_by_entry_point() -> bool:
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    return any(ep.name == "hacert" for ep in entry_points(group="pytest11"))


pytest_plugins = [] if _loaded_by_entry_point() else ["hacert.fixtures.plugins"]
