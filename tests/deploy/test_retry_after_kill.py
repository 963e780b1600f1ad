"""A load whose task process is killed (SIGKILL) mid-delivery is retried and resumes from its checkpoint.

The emulator holds every POST open a little, so the kill lands while batches are still being sent.
The task process is found on whichever worker runs it by its title (``airflow worker -- <ti id>``).
The retry, on whichever worker picks it up, reads the checkpoint both workers share
(``$AIRFLOW_HOME/monetate/checkpoints``): it skips the batches acknowledged before the kill and
resends only those the killed try left without an answer, at most ``max_in_flight`` of them, as
upserts (the dataset has a unique key). The emulator ends up holding every row exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid

import pytest

from tests.deploy.stack import DEPLOY, processes_titled

DAG_ID, TASK_ID = "deploy_load_retry", "load"
BATCH_SIZE, MAX_IN_FLIGHT = 50, 2  # as in dags/deploy_load_retry.py
ROWS = 3000  # 60 batches, about 12 s of delivery at 0.4 s per POST
KILL_AFTER_ROWS = 10 * BATCH_SIZE


def write_input(dataset: str) -> str:
    folder = DEPLOY / "test-data"
    folder.mkdir(exist_ok=True)
    path = folder / f"{dataset}.ndjson"
    path.write_text("".join(
        json.dumps({"event_id": f"ev-{n:05d}", "customer_id": f"C{n % 97}", "occurred_at": "2026-11-02T10:00:00Z"})
        + "\n" for n in range(ROWS)))
    return str(path)


def rows_received(emulator) -> int:
    return emulator.counters()["monetate.data"]["rows_received"]


def kill_mid_delivery(airflow_api, emulator, run_id: str, before: int) -> int:
    """SIGKILL the load's task process once enough rows arrived; returns the rows received by then."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        (ti,) = [t for t in airflow_api.task_instances(DAG_ID, run_id) if t["task_id"] == TASK_ID]
        received = rows_received(emulator) - before
        if ti["state"] == "running" and received >= KILL_AFTER_ROWS:
            (pid,) = processes_titled(f"airflow worker -- {ti['id']}")
            os.kill(pid, signal.SIGKILL)
            return received
        assert received < ROWS, "the load finished before it could be killed"
        time.sleep(0.2)
    raise AssertionError("the load never got going")


@pytest.mark.timeout(600)
def test_a_load_killed_mid_delivery_resumes_from_its_checkpoint(airflow_api, deployed_emulator):
    dataset = f"retry_{uuid.uuid4().hex[:8]}"
    source = write_input(dataset)
    before = rows_received(deployed_emulator)
    deployed_emulator.inject("monetate.data", "latency", seconds=0.4)
    try:
        run_id = airflow_api.trigger(DAG_ID, {"source": source, "dataset": dataset})
        received_at_kill = kill_mid_delivery(airflow_api, deployed_emulator, run_id, before)
        state = airflow_api.wait(DAG_ID, run_id)
    finally:
        deployed_emulator.clear_faults()
    assert state == "success", airflow_api.failure_report(DAG_ID, run_id)
    assert received_at_kill < ROWS

    tries = airflow_api.tries(DAG_ID, run_id, TASK_ID)
    assert [t["try_number"] for t in tries] == [1, 2], f"tries: {[(t['try_number'], t['state']) for t in tries]}"
    assert tries[0]["state"] == "failed" and tries[1]["state"] == "success"
    summary = airflow_api.xcom(DAG_ID, run_id, TASK_ID)
    assert summary["rows_already_sent"] >= KILL_AFTER_ROWS - MAX_IN_FLIGHT * BATCH_SIZE, summary
    assert summary["batches_resent"] <= MAX_IN_FLIGHT, summary

    resent = rows_received(deployed_emulator) - before - ROWS
    assert 0 <= resent <= MAX_IN_FLIGHT * BATCH_SIZE, f"{resent} rows sent twice"
    held = [row["event_id"] for row in deployed_emulator.monetate_rows("demo", dataset)]
    assert len(held) == len(set(held)) == ROWS
