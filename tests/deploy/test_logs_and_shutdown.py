"""After the runs: no secret in any log file of the deployment, then `make down` leaves nothing running.

Runs last in the lane (scripts/deploy/test.sh orders the files): the first test reads the logs every
earlier run wrote, the last one stops the stack.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy.stack import DEPLOY, ROOT, Stack

# Shapes of secrets whose values the test cannot know in advance: any JWT (Monetate's signed
# assertions, Airflow's task and UI tokens), a Monetate API token as the emulator mints them, a PEM key.
SECRET_SHAPES = {
    "a JWT": re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}"),
    "a Monetate API token": re.compile(r"\b1\.[\w-]{19}\.[\w-]{43}\b"),
    "a PEM private key": re.compile(r"PRIVATE KEY-----"),
}


def known_secrets(stack: Stack, api_token: str, stored_cdp_token: str | None) -> dict[str, str]:
    """name -> value of every secret the deployment holds (the values never reach a message)."""
    values = {f"secrets.env {name}": value for name, value in stack.secrets.items()}
    monetate = json.loads(stack.emulator_env["AIRFLOW_CONN_MONETATE_DEFAULT"])
    cdp = json.loads(stack.emulator_env["AIRFLOW_CONN_ACQUIA_CDP_DEFAULT"])
    values["CDP password"] = cdp["password"]
    values["CDP token (connection)"] = cdp["extra"]["token"]
    pem = Path(monetate["extra"]["private_key_path"]).read_text()
    for number, line in enumerate(pem.splitlines()):
        if len(line) >= 32 and "-----" not in line:  # each base64 line of the key on its own
            values[f"Monetate private key, line {number}"] = line
    values["the REST API token of this test"] = api_token
    if stored_cdp_token:
        values["CDP token (rotated, in the Variable)"] = stored_cdp_token
    return values


def stored_cdp_token(stack: Stack) -> str | None:
    """The token the rotation DAG keeps in the ``acquia_cdp_token`` Variable, read from the metadata
    DB and decrypted (the REST API shows it as ``***``); ``None`` before the first rotation."""
    import psycopg2
    from cryptography.fernet import Fernet

    url = stack.airflow_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2://", "postgresql://")
    with psycopg2.connect(url) as db, db.cursor() as cursor:
        cursor.execute("SELECT val, is_encrypted FROM variable WHERE key = 'acquia_cdp_token'")
        row = cursor.fetchone()
    if row is None:
        return None
    value = Fernet(stack.secrets["FERNET_KEY"].encode()).decrypt(row[0].encode()).decode() if row[1] else row[0]
    return json.loads(value)["token"]


def test_no_secret_in_any_log_file(stack, airflow_api):
    secrets = known_secrets(stack, airflow_api.token, stored_cdp_token(stack))
    assert [name for name, value in secrets.items() if len(value) < 12] == []  # a short one would match by chance
    files = [path for path in stack.log_folder.rglob("*") if path.is_file()]
    task_logs = [path for path in files if path.name.startswith("attempt=")]
    assert len(task_logs) > 20, f"only {len(task_logs)} task logs under {stack.log_folder}"
    found = []
    for path in files:
        text = path.read_bytes().decode(errors="replace")
        found += [f"{path.relative_to(DEPLOY)}: {name}" for name, value in secrets.items() if value in text]
        found += [f"{path.relative_to(DEPLOY)}: {shape}" for shape, pattern in SECRET_SHAPES.items()
                  if pattern.search(text)]
    assert found == [], "secrets in log files:\n" + "\n".join(found)


def stack_ports(stack: Stack) -> set[str]:
    """The four ports of the stack, from the settings up.sh wrote."""
    env = stack.airflow_env
    return {stack.api_url.rsplit(":", 1)[1], stack.emulator_url.rsplit(":", 1)[1],
            env["AIRFLOW__CELERY__BROKER_URL"].rsplit(":", 1)[1].split("/")[0],
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].rsplit(":", 1)[1].split("/")[0]}


def stack_processes(ports: set[str]) -> list[str]:
    """Processes of the deployment: marked in their environment, or naming its folder, virtualenv or
    ports in their command line (Redis and Postgres write their titles over their environment)."""
    mine = {os.getpid(), os.getppid()}
    words = [str(DEPLOY), os.path.realpath(DEPLOY / "postgres"), str(ROOT / ".venv-deploy"),
             *(f"127.0.0.1:{port}" for port in ports),
             *(f"port:{port}" for port in ports)]
    lines = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"DEPLOY_STACK={DEPLOY}".encode() in environ or any(word in cmdline for word in words):
            lines.append(f"{entry.name} {cmdline[:200]}")
    return lines


@pytest.mark.timeout(300)
def test_make_down_leaves_no_process_and_no_listening_port(stack):
    ports = stack_ports(stack)
    down = subprocess.run(["bash", str(ROOT / "scripts" / "deploy" / "down.sh")], capture_output=True, text=True,
                          timeout=240, env={**os.environ, "DEPLOY_DIR": str(DEPLOY)})
    assert down.returncode == 0, down.stdout + down.stderr
    assert stack_processes(ports) == []
    listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
    open_ports = {line.split()[3].rsplit(":", 1)[1] for line in listening.splitlines() if line.strip()}
    assert ports & open_ports == set(), f"still listening: {sorted(ports & open_ports)}"
