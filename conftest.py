"""hacert's pytest plugins live in fixtures/; registering them here makes them
apply to suites/ (the certification matrix) and tests/ (the harness's own tests).

- fixtures.plugin: options, inventories, the matrix, the `lab` fixture, --plan
- fixtures.guard:  audit before every case, restore after it, whatever happened
- fixtures.report: Allure metadata, the `record` fixture, the certification summary
- fixtures.locks:  one lock per device, so labs sharing a PDU never act on it at once
- fixtures.clocks: every node's clock read before and after every case (its stamps are corrected)
"""

pytest_plugins = ["fixtures.plugin", "fixtures.verdicts", "fixtures.guard", "fixtures.report", "fixtures.locks", "fixtures.clocks"]
