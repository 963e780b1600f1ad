"""The example rotation DAG under real Airflow (``airflow dags test``, SQLite) against the emulator.

The token state lives in an Airflow Variable (the connection's ``token_variable``), seeded so that
today's run rotates: it creates a token, stores it, verifies it and deletes the old one. The run
must succeed, leave a token that verifies in the Variable, and show no token in its output,
its task logs or the xcom table.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from airflow_provider_monetate.acquia_cdp.tokens import TokenState
from airflow_provider_monetate.acquia_cdp.tokens._policy import DAY
from airflow_provider_monetate.testing.connections import cdp_connection, to_json

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

DAG_ID = "example_acquia_cdp_token_rotation"
DAG_FILE = Path(__file__).parents[2] / "example_dags" / f"{DAG_ID}.py"
VARIABLE = "acquia_cdp_token"


def airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, timeout=240
    )


def read_variable(db: Path, fernet_key: str) -> str:
    with sqlite3.connect(db) as conn:
        value, encrypted = conn.execute("SELECT val, is_encrypted FROM variable WHERE key = ?", (VARIABLE,)).fetchone()
    return Fernet(fernet_key.encode()).decrypt(value.encode()).decode() if encrypted else value


def xcom_values(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT task_id, key, value FROM xcom").fetchall()
    return {f"{task_id}.{key}": value if isinstance(value, str) else bytes(value).decode()
            for task_id, key, value in rows}


def verifies(emulator, token: str) -> bool:
    response = requests.get(f"{emulator.url}/token", params={"scheme": "a1user"},
                            headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return response.status_code == 200


def test_example_dag_rotates_the_token_in_a_variable(emulator, tmp_path):
    home = tmp_path / "airflow"
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(DAG_FILE, dags)
    db = home / "airflow.db"
    fernet_key = Fernet.generate_key().decode()

    login, password = emulator.create_cdp_user("PROD")
    conn = cdp_connection(emulator.url, login, password, emulator.cdp_tenant_id, "PROD")
    conn["extra"]["token_variable"] = VARIABLE
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": fernet_key,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}",
        "AIRFLOW_CONN_ACQUIA_CDP_DEFAULT": to_json(conn),
    }

    # Token 1 of the cycle, created 361 days ago: the extended policy rotates it today.
    old_token = emulator.issue_cdp_token(login)
    now = time.time()
    seeded = TokenState(token=old_token, created_at=now - 361 * DAY, cycle_started_at=now - 361 * DAY,
                        tokens_created_in_cycle=1, policy="extended",
                        last_run_day=(datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat())

    migrate = airflow(env, "db", "migrate")
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    assert airflow(env, "variables", "set", VARIABLE, seeded.to_json()).returncode == 0
    run = airflow(env, "dags", "test", DAG_ID, datetime.now(timezone.utc).date().isoformat())
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-5000:]

    state = TokenState.from_json(read_variable(db, fernet_key))
    assert state.token not in (None, old_token)
    assert verifies(emulator, state.token)
    assert not verifies(emulator, old_token)  # rotated out
    assert state.tokens_created_in_cycle == 2 and state.last_action == "rotate"
    assert emulator.cdp_stats()["users"][login]["created_in_cycle"] == 2

    xcoms = xcom_values(db)
    summary = json.loads(xcoms["rotate_token.return_value"])
    assert summary["action"] == "rotate" and summary["tokens_created_in_cycle"] == 2
    task_logs = "".join(path.read_text(errors="replace") for path in (home / "logs").rglob("*") if path.is_file())
    for token in (state.token, old_token):
        assert token not in output
        assert token not in task_logs
        assert not any(token in value for value in xcoms.values())
