"""The browser lane's world: an Airflow 3 UI, the emulator it tests connections against, Chromium.

The Airflow under test is the deployment named by ``MONETATE_DEPLOY_UI_URL`` (with
``MONETATE_DEPLOY_UI_USER`` and ``MONETATE_DEPLOY_UI_PASSWORD``) when that is set, else one
started here: ``airflow api-server`` on 127.0.0.1 with a temporary AIRFLOW_HOME, a SQLite
metadata DB, the SimpleAuthManager with one known admin, and connection testing enabled. The
emulator always runs here, from its command line (as ``make demo`` starts it), so its values are
the ones a user would copy: its URL, the Monetate user's PEM key, the CDP password and token.
Every process started here is stopped at teardown.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.browser import _ui

VENV_BIN = Path(sys.executable).parent
STARTUP_LIMIT = 180.0  # seconds a started process may take to answer, on a busy 2-core machine


@dataclass(frozen=True)
class AirflowUi:
    url: str
    user: str
    password: str
    env: dict | None  # the environment of the airflow CLI, when the Airflow was started here


@dataclass(frozen=True)
class EmulatorValues:
    """What the emulator printed, as a user copies it into the connection form."""

    url: str
    port: int
    monetate: dict  # connection fields, with the PEM key as "password"
    cdp: dict


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """Stop a process this module started, and its children (its own session)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_until(ready, what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_LIMIT
    while time.monotonic() < deadline:
        if ready():
            return
        if process.poll() is not None:
            break
        time.sleep(0.5)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log.exists() else ""
    pytest.fail(f"{what} did not start (exit code {process.poll()}); last lines of {log}:\n{tail}")


def _read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export":
            name, _, value = words[1].partition("=")
            values[name] = value
    return values


@pytest.fixture(scope="session")
def emulator(tmp_path_factory) -> EmulatorValues:
    state = tmp_path_factory.mktemp("emulator")
    log = state / "emulator.log"
    command = [str(VENV_BIN / "python"), "-m", "airflow_provider_monetate.testing", "--port", "0",
               "--state-dir", str(state), "--print-env-file", str(state / "env.sh"),
               "--ready-file", str(state / "ready")]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until(lambda: (state / "ready").exists() and (state / "ready").read_text().strip(),
                    "the emulator", process, log)
        env = _read_env_file(state / "env.sh")
        url = (state / "ready").read_text().strip()
        monetate = json.loads(env["AIRFLOW_CONN_MONETATE_DEFAULT"])
        monetate["password"] = Path(monetate["extra"].pop("private_key_path")).read_text()
        cdp = json.loads(env["AIRFLOW_CONN_ACQUIA_CDP_DEFAULT"])
        cdp["extra"].pop("token_variable", None)  # no Variable here: the token itself goes in the form
        yield EmulatorValues(url, int(url.rsplit(":", 1)[1]), monetate, cdp)
    finally:
        _stop(process)


def _airflow_env(home: Path, password_file: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    (home / "dags").mkdir(parents=True)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__WORKERS": "1",
    })
    return env


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/api/v2/monitor/health", timeout=5).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="session")
def airflow_ui(tmp_path_factory) -> AirflowUi:
    if os.environ.get("MONETATE_DEPLOY_UI_URL"):
        user, password = (os.environ.get(f"MONETATE_DEPLOY_UI_{name}") for name in ("USER", "PASSWORD"))
        if not (user and password):
            pytest.fail("MONETATE_DEPLOY_UI_URL is set: set MONETATE_DEPLOY_UI_USER and "
                        "MONETATE_DEPLOY_UI_PASSWORD too")
        yield AirflowUi(os.environ["MONETATE_DEPLOY_UI_URL"].rstrip("/"), user, password, None)
        return
    home = tmp_path_factory.mktemp("airflow")
    password = secrets.token_urlsafe(12)
    password_file = home / "passwords.json"
    password_file.write_text(json.dumps({"admin": password}))
    env = _airflow_env(home / "home", password_file)
    migrate = subprocess.run([str(VENV_BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True)
    assert migrate.returncode == 0, f"airflow db migrate failed:\n{migrate.stdout[-3000:]}{migrate.stderr[-3000:]}"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = home / "api-server.log"
    with log.open("w") as out:
        command = [str(VENV_BIN / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(port)]
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until(lambda: _answers(url), "airflow api-server", process, log)
        yield AirflowUi(url, "admin", password, env)
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def browser(airflow_ui, tmp_path_factory):
    """Headless Chromium, signed in to the Airflow UI."""
    driver = _ui.start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        _ui.sign_in(driver, airflow_ui.url, airflow_ui.user, airflow_ui.password)
        yield driver
    finally:
        driver.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, keep what the browser showed: a screenshot path in the report."""
    outcome = yield
    report = outcome.get_result()
    driver = item.funcargs.get("browser") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and driver is not None:
        folder = Path(tempfile.gettempdir()) / "monetate-browser-failures"
        folder.mkdir(exist_ok=True)
        path = folder / (re.sub(r"\W+", "_", item.name) + ".png")
        driver.save_screenshot(str(path))
        report.sections.append(("browser", f"the page at the failure: {path}"))
