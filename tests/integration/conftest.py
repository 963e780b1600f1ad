"""Run DAGs through real Airflow: ``airflow dags test`` in a subprocess, SQLite metadata DB."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_provider_monetate.http import _policy as api_session  # fast_retries patches the default policy

TEST_DAGS = Path(__file__).parent.parent / "dags"
AIRFLOW = [sys.executable, "-m", "airflow"]


@dataclass
class DagRunResult:
    output: str
    home: Path
    dag_id: str

    @property
    def succeeded(self) -> bool:
        return "DagRun Finished:" in self.output and "state=success" in self.output.split("DagRun Finished:")[-1]

    def xcom_values(self) -> list[str]:
        """Every XCom value this DAG stored in the (session-shared) metadata DB, as text."""
        with sqlite3.connect(self.home / "airflow.db") as db:
            return [str(value) for (value,) in db.execute("SELECT value FROM xcom WHERE dag_id = ?", (self.dag_id,))]

    def task_logs(self) -> str:
        """Everything under the Airflow log folder."""
        logs = self.home / "logs"
        return "\n".join(p.read_text(errors="replace") for p in logs.rglob("*") if p.is_file())


class AirflowRunner:
    """An isolated AIRFLOW_HOME with a migrated SQLite DB, shared by a test session."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(TEST_DAGS),
        }
        subprocess.run([*AIRFLOW, "db", "migrate"], env=self.env, check=True, capture_output=True)

    def dags_test(self, dag_id: str, env: dict[str, str], dags_folder: Path = TEST_DAGS,
                  timeout: float = 300) -> DagRunResult:
        run_env = {**self.env, "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder), **env}
        proc = subprocess.run([*AIRFLOW, "dags", "test", dag_id], env=run_env, capture_output=True,
                              text=True, timeout=timeout)
        return DagRunResult(proc.stdout + proc.stderr, self.home, dag_id)


@pytest.fixture(scope="session")
def airflow_runner(tmp_path_factory) -> AirflowRunner:
    return AirflowRunner(tmp_path_factory.mktemp("airflow-home"))


@pytest.fixture(scope="module")
def own_airflow(tmp_path_factory) -> AirflowRunner:
    """A metadata DB of the test module's own: the CDP example's XComs are {entity: summary} dicts,
    which tests scanning the shared DB for flat load summaries would trip over."""
    return AirflowRunner(tmp_path_factory.mktemp("module-airflow-home"))


@pytest.fixture
def fast_retries(monkeypatch):
    """``use(max_attempts=4)`` makes every hook created afterwards retry by the production rules
    with waits of milliseconds, so fault tests run fast."""

    real = api_session.RetryPolicy

    def use(max_attempts: int = 4) -> None:
        policy = real(max_attempts=max_attempts, base_delay=0.01, max_delay=0.02)
        monkeypatch.setattr(api_session, "RetryPolicy", lambda: policy)

    return use
