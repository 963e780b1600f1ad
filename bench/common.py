"""What every benchmark needs: the emulator in its own process, and measuring a scenario.

Each scenario runs in a fresh Python process, so its peak RSS and CPU time are its own, and
the emulator runs in another, so its CPU is not counted as the client's.
"""

from __future__ import annotations

import contextlib
import json
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass
class EmulatorProcess:
    url: str
    env: dict[str, str]  # AIRFLOW_CONN_* values printed by the emulator CLI
    monetate: dict
    cdp: dict

    @property
    def private_key(self) -> str:
        return Path(self.monetate["extra"]["private_key_path"]).read_text()


def prepare_like_a_task(module: str) -> None:
    """What Airflow has done before a task's ``execute`` runs, kept out of the timing: the provider's
    operator module imported, and Airflow's plugins loaded (the task runner loads them for its
    listeners), so the hooks' first report to the hook lineage collector finds them loaded."""
    import importlib

    from airflow_provider_monetate._compat import hook_lineage_collector

    importlib.import_module(module)
    hook_lineage_collector()


@contextlib.contextmanager
def emulator_process() -> Iterator[EmulatorProcess]:
    """Start ``python -m airflow_provider_monetate.testing`` and stop it afterwards."""
    with tempfile.TemporaryDirectory() as state_dir:
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow_provider_monetate.testing", "--port", "0", "--state-dir", state_dir],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        try:
            env = {}
            for line in proc.stdout:
                if line.startswith("export AIRFLOW_CONN_"):
                    name, _, value = line.removeprefix("export ").partition("=")
                    env[name] = shlex.split(value)[0]
                if line.startswith("EMULATOR_READY "):
                    yield EmulatorProcess(line.split()[1], env, json.loads(env["AIRFLOW_CONN_MONETATE_DEFAULT"]),
                                          json.loads(env["AIRFLOW_CONN_ACQUIA_CDP_DEFAULT"]))
                    break
            else:
                raise SystemExit("the emulator did not start")
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def measure(run: Callable[[], int]) -> dict:
    """Run a scenario in this process; report rows, wall seconds, CPU seconds, peak RSS (MB)."""
    wall, cpu = time.perf_counter(), time.process_time()
    rows = run()
    return {"rows": rows, "seconds": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_scenario(script: str, *args: str, env: dict | None = None) -> dict:
    """Run ``script --scenario ...`` in a fresh process and read its JSON result line."""
    import os

    proc = subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"scenario {args} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
