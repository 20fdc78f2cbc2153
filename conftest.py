"""hacert's pytest plugin lives in fixtures/; registering it here makes it apply
to suites/ (the certification matrix) and tests/ (the harness's own tests)."""

pytest_plugins = ["fixtures.plugin"]
