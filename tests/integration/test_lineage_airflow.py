"""OpenLineage events from real Airflow runs: the OpenLineage provider's file transport, the example DAGs.

The provider calls each operator's ``get_openlineage_facets_on_complete`` (or ``_on_failure``) in the task's
process; the events must name the files read, the Monetate dataset or CDP entity written, rows and bytes
acknowledged, and carry the run summary; never a secret or a customer ID. Installed by ``requirements/
airflow3.txt`` (the extra ``[openlineage]``); the hooks' reports to Airflow's hook lineage collector too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

EXAMPLES = Path(__file__).parents[2] / "example_dags"
DATA = EXAMPLES / "data"
ERASED = ["C1001", "C1002", "C1003"]  # example_monetate_privacy's default param


def run_with_lineage(runner, dag_id: str, env: dict[str, str], tmp_path: Path) -> tuple[object, list[dict]]:
    """Run ``dag_id`` with OpenLineage's file transport; return the run and its events."""
    events = tmp_path / "openlineage.jsonl"
    transport = json.dumps({"type": "file", "log_file_path": str(events), "append": True})
    result = runner.dags_test(dag_id, {**env, "AIRFLOW__OPENLINEAGE__TRANSPORT": transport}, dags_folder=EXAMPLES)
    return result, [json.loads(line) for line in events.read_text().splitlines()] if events.exists() else []


def task_event(events: list[dict], dag_id: str, task_id: str, kind: str = "COMPLETE") -> dict:
    (event,) = [e for e in events if e["job"]["name"] == f"{dag_id}.{task_id}" and e["eventType"] == kind]
    return event


def outputs(event: dict) -> dict[tuple[str, str], dict]:
    """``{(namespace, name): outputStatistics}`` of an event's outputs."""
    return {(o["namespace"], o["name"]): o["outputFacets"].get("outputStatistics") for o in event["outputs"]}


def without_docs(event: dict) -> str:
    """The event as text, less the DAG's own documentation (its doc_md is the author's text)."""
    event = json.loads(json.dumps(event))
    event["job"]["facets"].pop("documentation", None)
    return json.dumps(event)


def test_a_monetate_load_names_its_file_its_dataset_rows_and_bytes(emulator, own_airflow, tmp_path):
    result, events = run_with_lineage(own_airflow, "example_monetate_load", emulator.conn_env(), tmp_path)
    assert result.succeeded, result.output[-3000:]
    event = task_event(events, "example_monetate_load", "post_records")
    rows = len(emulator.monetate_rows("testshop", "loyalty_events"))
    assert [(i["namespace"], i["name"]) for i in event["inputs"]] == [
        ("file", str(DATA / "monetate_loyalty_events.ndjson"))]
    dataset = (emulator.url, "/api/data/v1/testshop/production/data/loyalty_events")
    statistics = outputs(event)[dataset]
    (summary,) = [json.loads(v) for v in result.xcom_values() if '"bytes_sent"' in v]
    assert statistics["rowCount"] == rows == summary["rows_sent"] == 1000
    assert statistics["size"] == summary["bytes_sent"] > 1000 * 50  # each row's JSON, as sent
    facet = event["run"]["facets"]["monetateRunSummary"]
    assert facet["failed"] is False and facet["parts"][""]["rows_read"] == 1000
    assert facet["_schemaURL"].startswith("urn:airflow-provider-monetate:facets:MonetateRunSummaryRunFacet")
    text = json.dumps(events)
    assert emulator.private_key_pem.split("\n")[1] not in text and emulator.cdp_password not in text


def test_a_failed_load_still_names_what_it_read_and_wrote(emulator, own_airflow, tmp_path):
    emulator.inject("monetate.data", "status", count=1, status=400)  # the first batch refused: no retry
    result, events = run_with_lineage(own_airflow, "example_monetate_load", emulator.conn_env(), tmp_path)
    assert not result.succeeded
    event = task_event(events, "example_monetate_load", "post_records", "FAIL")
    assert [i["name"] for i in event["inputs"]] == [str(DATA / "monetate_loyalty_events.ndjson")]
    assert list(outputs(event)) == [(emulator.url, "/api/data/v1/testshop/production/data/loyalty_events")]
    assert event["run"]["facets"]["monetateRunSummary"]["failed"] is True


def test_cdp_ingest_and_soft_delete_name_each_tenant_entity(emulator, own_airflow, tmp_path):
    env = emulator.conn_env(token=emulator.issue_cdp_token())
    result, events = run_with_lineage(own_airflow, "example_acquia_cdp_ingest", env, tmp_path)
    assert result.succeeded, result.output[-3000:]
    tenant = emulator.cdp_tenant_id
    ingest = outputs(task_event(events, "example_acquia_cdp_ingest", "ingest"))
    collections = ("customers", "transactions", "transactionItems", "events")
    stored = {f"{tenant}.{c}": len(emulator.cdp_records(tenant, c)) for c in collections}  # each key once
    assert {name: stats["rowCount"] for (_, name), stats in ingest.items()} == stored
    assert all(stats["size"] > 0 for stats in ingest.values())
    assert {namespace for namespace, _ in ingest} == {emulator.url}
    inputs = {i["name"] for i in task_event(events, "example_acquia_cdp_ingest", "ingest")["inputs"]}
    assert inputs == {str(DATA / name) for name in ("customers.csv", "transactions.json",
                                                     "transaction_items.ndjson", "events.ndjson")}
    forget = outputs(task_event(events, "example_acquia_cdp_ingest", "soft_delete_customer"))
    assert forget[(emulator.url, f"{tenant}.customers")]["rowCount"] == 1


def test_deletion_and_erasure_name_the_privacy_dataset_and_cdp_customers_never_an_id(
        emulator, own_airflow, tmp_path):
    env = {**emulator.conn_env(), "MONETATE_EMULATOR_URL": emulator.url}
    result, events = run_with_lineage(own_airflow, "example_monetate_privacy", env, tmp_path)
    assert result.succeeded, result.output[-3000:]
    submit = task_event(events, "example_monetate_privacy", "submit_deletions")
    assert outputs(submit)[(emulator.url, "/api/data/v1/testshop/production/data/gdpr_deletions")]["rowCount"] == 3
    erase = task_event(events, "example_monetate_privacy", "erase_from_cdp")
    ((namespace, name),) = outputs(erase)
    assert (namespace, name) == (emulator.url, f"{emulator.cdp_tenant_id}.customers")
    for event in events:
        assert not any(cid in without_docs(event) for cid in ERASED), event["job"]["name"]


HOOK_LINEAGE = """
import json
from airflow.sdk.lineage import get_hook_lineage_collector
from airflow_provider_monetate.hooks.monetate import MonetateHook

hook = MonetateHook()
hook.create_schema({"name": "visits", "type": "event", "fields": {
    "visit_id": {"data_type": "STRING", "unique_key": True},
    "customer_id": {"data_type": "STRING", "identifier": True},
    "occurred_at": {"data_type": "DATETIME", "event_time": True}}})
for n in range(2):  # reported once per hook and dataset
    hook.post_rows("visits", [{"visit_id": f"v{n}", "customer_id": "C1", "occurred_at": "2024-05-01T12:00:00Z"}])
collected = get_hook_lineage_collector().collected_assets
print(json.dumps([[a.asset.uri, a.count, a.context is hook] for a in collected.outputs]))
"""


def test_the_hooks_report_what_they_write_to_the_hook_lineage_collector(emulator, own_airflow, tmp_path):
    # A process of its own: Airflow registers OpenLineage's hook lineage reader (and so a collector that
    # keeps what hooks report) only when OpenLineage is configured, once per process.
    transport = json.dumps({"type": "file", "log_file_path": str(tmp_path / "events.jsonl")})
    env = {**own_airflow.env, **emulator.conn_env(), "AIRFLOW__OPENLINEAGE__TRANSPORT": transport}
    proc = subprocess.run([sys.executable, "-c", HOOK_LINEAGE], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    assert json.loads(line) == [[f"{emulator.url}/api/data/v1/testshop/production/data/visits", 1, True]]
