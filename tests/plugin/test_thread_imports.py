"""Worker threads (the guard's survey, the instruments, the timeline's drawer) import nothing that
pytest might be parsing at the same moment: opening a lab imports it all on the main thread first
(CPython 3.11's ast.parse is not safe in two threads at once; CI met it as an INTERNALERROR)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent("""
    import sys
    from pathlib import Path
    from hacert.drivers import registry
    from hacert.fixtures.plugin import THREAD_IMPORTS, LabPool, Settings
    from hacert.model.inventory import load_inventory

    inv = load_inventory("inventories/anvil-sim.yaml")
    pool = LabPool(Settings({inv.lab: inv}, False, False, False, None), lambda name: Path(sys.argv[1]))
    before = [name for name in THREAD_IMPORTS if name in sys.modules]
    try:
        pool[inv.lab]
    finally:
        pool.close()
    after = [name for name in THREAD_IMPORTS if name not in sys.modules]
    drivers = sorted(name for name in sys.modules if name.startswith("hacert.drivers.") and "parsers" not in name)
    print("before:", before)
    print("missing:", after)
    print("discovered:", sorted(registry._DISCOVERED))
    print("drivers:", drivers)
""")


def test_opening_a_lab_imports_what_worker_threads_would_import(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    assert lines["missing"] == "[]", done.stdout
    assert "hacert.observe.waiting" not in lines["before"], "the probe must show the pool importing it, not find it loaded"
    assert "hacert.drivers" in lines["discovered"], done.stdout
    for module in ("hacert.drivers.ipmi", "hacert.drivers.pdu", "hacert.drivers.switch", "hacert.drivers.redfish"):
        assert module in lines["drivers"], done.stdout
