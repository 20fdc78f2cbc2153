"""Real clients accept labsim's Redfish BMC: Debian's fence_redfish (status, off, on, reboot with
--ssl-insecure) and curl against the service root and the reset action; wrong credentials are
refused and nothing is powered. Each action is checked against the lab's ground truth (its event
log) and the BMC's own log service."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.redfish.conftest import RedfishLab


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (the CI image installs it; this check needs the real client)")
    return path


def fence_redfish(lab: RedfishLab, action: str, password: str | None = None, *extra: str) -> subprocess.CompletedProcess:
    bmc = lab.bmc
    cmd = [need("fence_redfish"), f"--ip={bmc['host']}", f"--ipport={bmc['port']}", f"--username={bmc['user']}",
           f"--password={bmc['password'] if password is None else password}", "--ssl-insecure", f"--action={action}",
           *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def curl(lab: RedfishLab, path: str, *args: str, user: str | None = None) -> tuple[int, str]:
    """(HTTP status, body) of `curl -k` on the BMC."""
    cmd = [need("curl"), "-k", "-s", "-m", "10", "-w", "\n%{http_code}", *args]
    if user is not None:
        cmd += ["-u", user]
    result = subprocess.run(cmd + [lab.url + path], capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    body, _, status = result.stdout.rpartition("\n")
    return int(status), body


def test_fence_redfish_status_off_on_reboot(rlab: RedfishLab) -> None:
    status = fence_redfish(rlab, "status")
    assert status.returncode == 0 and "Status: ON" in status.stdout, status
    off = fence_redfish(rlab, "off")
    assert off.returncode == 0 and "Success: Powered OFF" in off.stdout, off
    assert rlab.chassis() == ["off"]
    assert fence_redfish(rlab, "status").returncode == 2  # the fence agents' exit code for "off"
    on = fence_redfish(rlab, "on")
    assert on.returncode == 0 and "Success: Powered ON" in on.stdout, on
    reboot = fence_redfish(rlab, "reboot")
    assert reboot.returncode == 0 and "Success: Rebooted" in reboot.stdout, reboot
    # fence_redfish reboots by ForceOff then On (fence_action's on/off method): the chassis saw both
    assert rlab.chassis() == ["off", "on", "off", "on"]
    resets = [e["reset_type"] for e in rlab.events("redfish_reset") if e["node"] == rlab.node]
    assert resets == ["ForceOff", "On", "ForceOff", "On"]
    # the BMC's log service recorded each one, with who asked
    status_code, body = curl(rlab, rlab.bmc["systems_uri"] + "/LogServices/SEL/Entries", user=f"{rlab.bmc['user']}:{rlab.bmc['password']}")
    assert status_code == 200
    messages = [entry["Message"] for entry in json.loads(body)["Members"]]
    assert len(messages) == 4 and all(f"requested by {rlab.bmc['user']}" in m for m in messages), messages
    assert [m.split(" requested by ")[0] for m in messages] == ["ComputerSystem.Reset " + r for r in resets]
    # what the system was when each was asked: the state the request found, not one it has yet to reach
    assert [m.rsplit("(the system was ", 1)[1] for m in messages] == ["On)", "Off)", "On)", "Off)"], messages


def test_fence_redfish_finds_the_system_itself_and_takes_an_explicit_systems_uri(rlab: RedfishLab) -> None:
    explicit = fence_redfish(rlab, "status", None, f"--systems-uri={rlab.bmc['systems_uri']}")
    assert explicit.returncode == 0 and "Status: ON" in explicit.stdout, explicit
    wrong = fence_redfish(rlab, "status", None, "--systems-uri=/redfish/v1/Systems/nope")
    assert wrong.returncode != 0


def test_curl_service_root_and_reset_action(rlab: RedfishLab) -> None:
    assert {"protocol", "host", "port", "user", "password", "systems_uri"} <= set(rlab.bmc)  # the endpoints JSON's contract
    assert rlab.bmc["protocol"] == "redfish"
    status, body = curl(rlab, "/redfish/v1/")
    assert status == 200  # the service root answers without credentials (DSP0266)
    root = json.loads(body)
    assert root["@odata.id"] == "/redfish/v1" and root["Systems"]["@odata.id"] == "/redfish/v1/Systems"
    assert root["Links"]["Sessions"]["@odata.id"] == "/redfish/v1/SessionService/Sessions"
    creds = f"{rlab.bmc['user']}:{rlab.bmc['password']}"
    status, body = curl(rlab, rlab.bmc["systems_uri"], user=creds)
    system = json.loads(body)
    assert status == 200 and system["PowerState"] == "On"
    reset = system["Actions"]["#ComputerSystem.Reset"]
    assert {"On", "ForceOff", "ForceRestart", "PowerCycle", "GracefulShutdown"} <= set(reset["ResetType@Redfish.AllowableValues"])
    post = ("-X", "POST", "-H", "Content-Type: application/json")
    status, _ = curl(rlab, reset["target"], *post, "-d", json.dumps({"ResetType": "ForceOff"}), user=creds)
    assert status == 204
    assert json.loads(curl(rlab, rlab.bmc["systems_uri"], user=creds)[1])["PowerState"] == "Off"
    status, _ = curl(rlab, reset["target"], *post, "-d", json.dumps({"ResetType": "PowerCycle"}), user=creds)
    assert status == 409  # a power cycle of a system that is off is refused, as IPMI's is
    status, body = curl(rlab, reset["target"], *post, "-d", json.dumps({"ResetType": "Explode"}), user=creds)
    assert status == 400 and "ActionParameterValueNotInList" in body
    status, _ = curl(rlab, reset["target"], *post, "-d", json.dumps({"ResetType": "On"}), user=creds)
    assert status == 204
    assert rlab.chassis() == ["off", "on"]
    for path in ("/redfish/v1/Chassis/1", "/redfish/v1/Managers/1"):
        status, body = curl(rlab, path, user=creds)
        assert status == 200, (path, body)
    # a session: POST Sessions gives a token that works instead of basic auth; DELETE ends it
    status, body = curl(rlab, "/redfish/v1/SessionService/Sessions", *post, "-i",
                        "-d", json.dumps({"UserName": rlab.bmc["user"], "Password": rlab.bmc["password"]}))
    assert status == 201
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in body.splitlines()) if v}
    token, location = headers["x-auth-token"], headers["location"]
    assert curl(rlab, rlab.bmc["systems_uri"], "-H", f"X-Auth-Token: {token}")[0] == 200
    assert curl(rlab, location, "-X", "DELETE", "-H", f"X-Auth-Token: {token}")[0] == 204
    assert curl(rlab, rlab.bmc["systems_uri"], "-H", f"X-Auth-Token: {token}")[0] == 401


def test_wrong_credentials_are_refused_and_nothing_is_powered(rlab: RedfishLab) -> None:
    for action in ("off", "reboot"):
        refused = fence_redfish(rlab, action, "not-the-password")
        assert refused.returncode != 0, refused
    reset = f"{rlab.bmc['systems_uri']}/Actions/ComputerSystem.Reset"
    post = ("-X", "POST", "-H", "Content-Type: application/json", "-d", json.dumps({"ResetType": "ForceOff"}))
    assert curl(rlab, reset, *post)[0] == 401  # no credentials
    assert curl(rlab, reset, *post, user=f"{rlab.bmc['user']}:wrong")[0] == 401
    assert curl(rlab, reset, *post, "-H", "X-Auth-Token: 0123456789abcdef")[0] == 401  # a made-up session
    status, _ = curl(rlab, "/redfish/v1/SessionService/Sessions", "-X", "POST", "-H", "Content-Type: application/json",
                     "-d", json.dumps({"UserName": rlab.bmc["user"], "Password": "wrong"}))
    assert status == 401
    assert rlab.chassis() == [] and rlab.events("redfish_reset") == []
    assert fence_redfish(rlab, "status").stdout.strip() == "Status: ON"
