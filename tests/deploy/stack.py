"""The running deployment as the tests see it: its settings, its REST API, its processes.

Everything comes from what scripts/deploy/up.sh wrote under .deploy/ (the Airflow environment,
the generated secrets, the emulator's connection environment), so the tests need no settings of
their own. Standard library and requests only.
"""

from __future__ import annotations

import os
import shlex
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = Path(os.environ.get("DEPLOY_DIR") or ROOT / ".deploy")
FINISHED = {"success", "failed"}


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` and ``export NAME=value`` lines of a shell file, unquoted."""
    values = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "export":
            words = words[1:]
        if len(words) == 1 and "=" in words[0]:
            name, _, value = words[0].partition("=")
            values[name] = value
    return values


@dataclass(frozen=True, repr=False)
class Stack:
    """Where the deployment is and what it was given (its repr shows no value: they hold secrets)."""

    airflow_env: dict[str, str]
    secrets: dict[str, str]
    emulator_env: dict[str, str]

    @classmethod
    def load(cls, deploy: Path = DEPLOY) -> Stack:
        return cls(read_env_file(deploy / "airflow.env"), read_env_file(deploy / "secrets" / "secrets.env"),
                   read_env_file(deploy / "emulator" / "env.sh"))

    def __repr__(self) -> str:
        return f"Stack({DEPLOY})"

    @property
    def api_url(self) -> str:
        return self.airflow_env["AIRFLOW__API__BASE_URL"]

    @property
    def emulator_url(self) -> str:
        return self.emulator_env["MONETATE_EMULATOR_URL"]

    @property
    def log_folder(self) -> Path:
        return DEPLOY / "logs"

    @property
    def task_log_folder(self) -> Path:
        return Path(self.airflow_env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"])


class AirflowApi:
    """The Airflow 3 REST API (v2), logged in as the deployment's admin through ``/auth/token``."""

    def __init__(self, stack: Stack) -> None:
        self.url = stack.api_url
        self.session = requests.Session()
        answer = self.session.post(f"{self.url}/auth/token", timeout=30,
                                   json={"username": "admin", "password": stack.secrets["ADMIN_PASSWORD"]})
        answer.raise_for_status()
        self.token = answer.json()["access_token"]
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def call(self, method: str, path: str, **kwargs) -> dict:
        answer = self.session.request(method, f"{self.url}/api/v2/{path}", timeout=60, **kwargs)
        assert answer.ok, f"{method} {path}: HTTP {answer.status_code} {answer.text[:500]}"
        return answer.json() if answer.content else {}

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180) -> None:
        """Until the dag-processor has parsed every one of ``dag_ids``."""
        deadline = time.monotonic() + timeout
        while True:
            known = {dag["dag_id"] for dag in self.call("GET", "dags", params={"limit": 1000})["dags"]}
            if set(dag_ids) <= known:
                return
            errors = self.call("GET", "importErrors")["import_errors"]
            assert not errors, f"DAG import errors: {errors}"
            assert time.monotonic() < deadline, f"DAGs never parsed: {sorted(set(dag_ids) - known)}"
            time.sleep(2)

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        """Unpause ``dag_id`` and start a run of it now, as an API client does: with no logical date,
        which Airflow 3 allows and templates must survive (``make demo`` always has one); returns the
        run id."""
        self.call("PATCH", f"dags/{dag_id}", json={"is_paused": False})
        run_id = f"deploy_test__{uuid.uuid4().hex[:12]}"
        self.call("POST", f"dags/{dag_id}/dagRuns", json={"dag_run_id": run_id, "logical_date": None,
                                                          "conf": conf or {}})
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.call("GET", f"dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait(self, dag_id: str, run_id: str, timeout: float = 900) -> str:
        """Until the run finishes; returns its state (``success`` or ``failed``)."""
        deadline = time.monotonic() + timeout
        while (state := self.run_state(dag_id, run_id)) not in FINISHED:
            assert time.monotonic() < deadline, f"{dag_id} run {run_id} still {state} after {timeout} s"
            time.sleep(2)
        return state

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        return self.call("GET", path, params={"limit": 1000})["task_instances"]

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict]:
        """Every try of a task instance, the current one included, oldest first."""
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        path += "/tries" if map_index < 0 else f"/{map_index}/tries"
        tries = self.call("GET", path, params={"limit": 100})["task_instances"]
        return sorted(tries, key=lambda t: t["try_number"])

    def log_events(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> list[dict]:
        """One try's log as the UI gets it: one dict per event (worker and triggerer files together)."""
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        content = self.call("GET", path, params={"full_content": "true", "map_index": map_index})["content"]
        return [line if isinstance(line, dict) else {"event": str(line)} for line in content]

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1):
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        return self.call("GET", path, params={"map_index": map_index, "deserialize": "true",
                                              "stringify": "false"})["value"]

    def failure_report(self, dag_id: str, run_id: str) -> str:
        """What went wrong in a run: each failed task instance and the end of its log."""
        lines = []
        for ti in self.task_instances(dag_id, run_id):
            if ti["state"] not in ("success", "skipped"):
                lines.append(f"{ti['task_id']}[{ti['map_index']}] {ti['state']} (try {ti['try_number']})")
                if ti["try_number"]:
                    events = self.log_events(dag_id, run_id, ti["task_id"], ti["try_number"], ti["map_index"])
                    lines.extend(str(event.get("event"))[:300] for event in events[-25:])
                    lines.extend(f"{error['exc_type']}: {error['exc_value']}"[:500] for event in events
                                 for error in event.get("error_detail") or ())
        return "\n".join(lines)


def processes_titled(title: str) -> list[int]:
    """Pids of the processes whose command line (or process title) contains ``title``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if title in cmdline:
                pids.append(int(entry.name))
    return pids
