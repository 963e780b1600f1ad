"""Every example DAG runs to success in the deployment; the deletion sensor waits in the triggerer.

All example DAGs are triggered at once through the REST API, as a user would from the UI, and
run by the Celery workers against the emulator.
"""

from __future__ import annotations

import pytest

from tests.deploy.conftest import EXAMPLE_DAGS

PRIVACY_DAG, SENSOR = "example_monetate_privacy", "wait_until_erased"


@pytest.fixture(scope="module")
def example_runs(airflow_api) -> dict[str, str]:
    """One run of every example DAG, all triggered at once and each waited for: dag_id -> run_id."""
    runs = {dag_id: airflow_api.trigger(dag_id) for dag_id in EXAMPLE_DAGS}
    for dag_id, run_id in runs.items():
        airflow_api.wait(dag_id, run_id)
    return runs


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("dag_id", EXAMPLE_DAGS)
def test_every_example_dag_runs_to_success(airflow_api, example_runs, dag_id):
    run_id = example_runs[dag_id]
    assert airflow_api.run_state(dag_id, run_id) == "success", airflow_api.failure_report(dag_id, run_id)


def test_the_deletion_sensor_deferred_and_its_trigger_ran_in_the_triggerer(airflow_api, example_runs, stack):
    run_id = example_runs[PRIVACY_DAG]
    (sensor,) = [ti for ti in airflow_api.task_instances(PRIVACY_DAG, run_id) if ti["task_id"] == SENSOR]
    assert sensor["state"] == "success"
    events = airflow_api.log_events(PRIVACY_DAG, run_id, SENSOR, sensor["try_number"])
    deferred = [e for e in events if str(e.get("event", "")).startswith("Pausing task as DEFERRED")]
    fired = [e for e in events if e.get("event") == "Trigger fired event"]
    assert deferred, "the sensor never deferred: it waited in a worker slot"
    assert fired, "no trigger event in the sensor's log"
    assert fired[-1]["ti_id"] == sensor["id"]
    assert "'status': 'success'" in fired[-1]["result"]
    assert deferred[0]["timestamp"] < fired[-1]["timestamp"]

    # The trigger's own log is written by the triggerer, into a file named after its job.
    folder = stack.task_log_folder / f"dag_id={PRIVACY_DAG}" / f"run_id={run_id}" / f"task_id={SENSOR}"
    trigger_logs = sorted(folder.glob(f"attempt={sensor['try_number']}.log.trigger.*.log"))
    assert trigger_logs, f"no trigger log in {folder}"
    jobs = airflow_api.call("GET", "jobs", params={"job_type": "TriggererJob"})["jobs"]
    triggerers = {str(job["id"]) for job in jobs}
    assert {path.name.split(".")[-2] for path in trigger_logs} <= triggerers
    assert "Trigger fired event" in trigger_logs[-1].read_text()

    # The sensor then finished in a worker, from the event: every ID confirmed.
    report = airflow_api.xcom(PRIVACY_DAG, run_id, SENSOR)
    assert report["confirmed"] == report["total"] == 3


@pytest.mark.parametrize("conn_id", ["monetate_default", "acquia_cdp_default"])
def test_the_connections_test_button_reaches_the_emulator(airflow_api, conn_id):
    """``[core] test_connection = Enabled``: the UI's Test button, through the same REST call."""
    stored = airflow_api.call("GET", f"connections/{conn_id}")
    body = {key: stored[key] for key in ("connection_id", "conn_type", "host", "login", "extra")}
    result = airflow_api.call("POST", "connections/test", json=body)
    assert result["status"] is True, result["message"]
