"""The one-command emulator (``__main__``): prints working connection JSON, then serves until SIGTERM."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from airflow_provider_monetate.testing import sign_jwt


def _start(args: list[str]) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_monetate.testing", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("EMULATOR_READY "):
            return proc, lines
    proc.kill()
    raise AssertionError(f"no EMULATOR_READY line; got {lines!r}; stderr {proc.stderr.read()!r}")


def _exports(lines: list[str]) -> dict[str, str]:
    exports = {}
    for line in lines:
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            exports[name] = shlex.split(value)[0]
    return exports


def _check_monetate_connection(exports: dict[str, str], url: str, state: Path) -> Path:
    """The Monetate connection works against the emulator; returns its key file."""
    monetate = json.loads(exports["AIRFLOW_CONN_MONETATE_DEFAULT"])
    assert set(monetate) == {"conn_type", "host", "port", "login", "extra"}
    assert (monetate["conn_type"], monetate["host"], monetate["login"]) == ("monetate", url, "api-demo-etl")
    # The port in its own field too, or Airflow 3.3.1-3.3.2's Test button refuses the connection.
    assert monetate["port"] == int(url.rsplit(":", 1)[1])
    assert set(monetate["extra"]) == {"shortname", "private_key_path"}
    assert monetate["extra"]["shortname"] == "demo"
    key_path = Path(monetate["extra"]["private_key_path"])
    assert key_path.parent == state
    assert key_path.stat().st_mode & 0o077 == 0  # private key not readable by others

    jwt_text = sign_jwt(key_path.read_text(), monetate["login"])
    minted = requests.get(f"{url}/api/auth/v0/refresh/", headers={"Authorization": f"JWT {jwt_text}"}, timeout=10)
    assert minted.status_code == 200
    token = minted.json()["data"]["token"]
    schemas = requests.get(
        f"{url}/api/data/v1/demo/production/schema/", headers={"Authorization": f"Token {token}"}, timeout=10
    )
    assert schemas.status_code == 200
    return key_path


def _check_cdp_connection(exports: dict[str, str], url: str) -> None:
    """The CDP connection's token verifies and can write to the tracker."""
    cdp = json.loads(exports["AIRFLOW_CONN_ACQUIA_CDP_DEFAULT"])
    assert set(cdp) == {"conn_type", "host", "port", "login", "password", "extra"}
    assert cdp["conn_type"] == "acquia_cdp" and cdp["host"] == url and cdp["port"] == int(url.rsplit(":", 1)[1])
    assert set(cdp["extra"]) == {
        "auth_host", "tenant_id", "environment", "token", "token_variable", "source_system_id"}
    assert (cdp["extra"]["auth_host"], cdp["extra"]["tenant_id"], cdp["extra"]["environment"]) == (
        url,
        "1234",
        "CS",
    )
    verified = requests.get(
        f"{url}/token",
        params={"scheme": "a1user"},
        headers={"Authorization": f"Bearer {cdp['extra']['token']}"},
        timeout=10,
    )
    assert verified.status_code == 200
    tracked = requests.post(
        f"{url}/v2/1234/dw/tracker",
        params={"scheme": "a1user"},
        json={"customers": [{"SourceSystemID": "demo", "SourceCustomerNumber": "C-1"}]},
        headers={"Authorization": f"Bearer {cdp['extra']['token']}"},
        timeout=10,
    )
    assert tracked.status_code == 200


def test_cli_prints_working_connections(tmp_path: Path):
    env_file = tmp_path / "emulator.env"
    ready_file = tmp_path / "ready"
    state = tmp_path / "state"
    proc, lines = _start(
        ["--port", "0", "--state-dir", str(state), "--print-env-file", str(env_file), "--ready-file", str(ready_file)]
    )
    try:
        url = lines[-1].split()[1]
        assert url.startswith("http://127.0.0.1:")
        assert ready_file.read_text().strip() == url
        exports = _exports(lines)
        assert exports == _exports(env_file.read_text().splitlines())
        key_path = _check_monetate_connection(exports, url, state)
        _check_cdp_connection(exports, url)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0

    # A restart with the same state dir reuses the key file.
    proc, lines = _start(["--port", "0", "--state-dir", str(state)])
    try:
        again = json.loads(_exports(lines)["AIRFLOW_CONN_MONETATE_DEFAULT"])
        assert again["extra"]["private_key_path"] == str(key_path)
        url = lines[-1].split()[1]
        jwt_text = sign_jwt(key_path.read_text(), "api-demo-etl")
        assert requests.get(f"{url}/api/auth/v0/refresh/", headers={"Authorization": f"JWT {jwt_text}"}, timeout=10).ok
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("monetate-emulator")
    assert script.exists() and os.access(script, os.X_OK)
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    assert "--state-dir" in out.stdout
