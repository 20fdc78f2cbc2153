"""Makes hacert's pytest plugin apply to suites/ and tests/ in a checkout that is not installed.

Installed (`pip install -e .`), pytest loads the plugin through its `pytest11` entry point
`hacert` before it reads this file; registering the module again would load it twice. Without
the installation (or with plugin autoloading turned off), this file registers it.
"""

import sys

pytest_plugins = [] if "hacert.fixtures.plugins" in sys.modules else ["hacert.fixtures.plugins"]
