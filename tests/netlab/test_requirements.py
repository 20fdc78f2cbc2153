"""netlab says exactly what a machine lacks (runs anywhere: nothing is started here)."""

from __future__ import annotations

import pytest

from hacert.netlab import NetlabError, NetlabSettings
from hacert.netlab import ns
from hacert.model.inventory import load_inventory

from tests.netlab.conftest import REPO


def test_missing_packages_and_root_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ns.os, "geteuid", lambda: 1000)
    real_which = ns.shutil.which
    monkeypatch.setattr(ns.shutil, "which", lambda b, path=None: None if b in ("corosync", "crm_mon") else real_which(b, path=path))
    problems = ns.missing_requirements()
    assert problems[0].startswith("netlab must run as root")
    assert "missing Debian packages: corosync pacemaker-cli-utils" in problems[1]
    with pytest.raises(NetlabError, match="root.*corosync"):
        ns.require()


def test_settings_come_from_the_inventory_and_bad_ones_are_refused() -> None:
    inv = load_inventory(REPO / "inventories" / "netlab.yaml")
    settings = NetlabSettings.of(inv)
    assert (settings.prefix, settings.subnet, settings.workdir) == ("hn-", "10.213.7", "/tmp/netlab")
    for bad in ({"prefix": "eth"}, {"subnet": "8.8.8"}, {"subnet": "10.1"}, {"no_such_key": 1}):
        with pytest.raises(NetlabError):
            NetlabSettings.of(inv.model_copy(update={"netlab": bad}))
