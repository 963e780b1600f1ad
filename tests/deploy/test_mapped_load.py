"""The mapped load runs on both workers, and the monetate_api pool bounds it.

``example_monetate_load_mapped`` maps its load over four files, each task with ``max_in_flight=1``
in the ``monetate_api`` pool, which ``make up`` creates with two slots; the two workers have four
task slots between them, so only the pool can hold the load to two tasks at once. The emulator
holds every POST open for a while, so tasks that run at the same time overlap in its in-flight
count: the peak on the data route must be exactly two (at most the pool's two slots times one
request each, and the two did run together).
"""

from __future__ import annotations

import json

import pytest

from tests.deploy.stack import ROOT

DAG_ID, TASK_ID = "example_monetate_load_mapped", "load_part"
POOL_SLOTS, MAX_IN_FLIGHT = 2, 1
PARTS = sorted((ROOT / "example_dags" / "data" / "loyalty_events_parts").glob("part-*.ndjson"))
LATENCY = 8.0  # seconds each POST stays open: longer than two tasks' start-up skew


@pytest.mark.timeout(600)
def test_four_mapped_loads_run_on_both_workers_two_at_a_time(airflow_api, deployed_emulator):
    assert airflow_api.call("GET", "pools/monetate_api")["slots"] == POOL_SLOTS
    deployed_emulator.inject("monetate.data", "latency", seconds=LATENCY)
    deployed_emulator.reset_peaks()
    try:
        run_id = airflow_api.trigger(DAG_ID)
        state = airflow_api.wait(DAG_ID, run_id)
    finally:
        deployed_emulator.clear_faults()
    peak = deployed_emulator.in_flight()["monetate.data"]["peak"]
    assert state == "success", airflow_api.failure_report(DAG_ID, run_id)

    loads = [ti for ti in airflow_api.task_instances(DAG_ID, run_id) if ti["task_id"] == TASK_ID]
    assert sorted(ti["map_index"] for ti in loads) == list(range(len(PARTS))) == [0, 1, 2, 3]
    workers = {ti["hostname"].split("@")[0] for ti in loads}
    assert workers == {"worker1", "worker2"}, f"hostnames {[ti['hostname'] for ti in loads]}"
    assert {ti["pool"] for ti in loads} == {"monetate_api"}
    assert peak <= POOL_SLOTS * MAX_IN_FLIGHT, f"{peak} POSTs open at once: the pool did not bound the load"
    assert peak == POOL_SLOTS * MAX_IN_FLIGHT, "the mapped tasks never overlapped"

    held = {row["event_id"] for row in deployed_emulator.monetate_rows("demo", "loyalty_events")}
    sent = {json.loads(line)["event_id"] for part in PARTS for line in part.read_text().splitlines()}
    assert sent <= held
