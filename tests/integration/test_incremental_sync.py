"""sync="incremental" against the emulator: only new and changed rows reach Monetate and Acquia CDP.

Each test is a user's story over several runs of one task: the first run sends every row, the
next ones only what changed; a failed run is followed by one that converges; a schema change or a
shrunken input is noticed; two runs at once leave a valid snapshot.
"""

from __future__ import annotations

import json
import logging
import threading
from types import SimpleNamespace

import pytest

from airflow_provider_monetate._compat import Asset
from airflow_provider_monetate.exceptions import ConfigurationError, InputShrankError, SnapshotConflictError
from airflow_provider_monetate.hooks.monetate import MonetateHook
from airflow_provider_monetate.operators.acquia_cdp import AcquiaCdpIngestOperator
from airflow_provider_monetate.operators.monetate import MonetateCreateDatasetOperator, MonetatePostRecordsOperator
from airflow_provider_monetate.storage import snapshot_dir

pytestmark = pytest.mark.integration

FIELDS = {
    "customer_id": {"data_type": "STRING", "identifier": True, "unique_key": True},
    "tier": {"data_type": "STRING"},
    "points": {"data_type": "NUMBER"},
}


@pytest.fixture(autouse=True)
def setup(emulator, monkeypatch, tmp_path, fast_retries):
    monkeypatch.setenv("AIRFLOW_CONN_MONETATE_DEFAULT", emulator.monetate_conn_json())
    conn = json.loads(emulator.cdp_conn_json(token=emulator.issue_cdp_token()))
    conn["extra"]["source_system_id"] = "crm"
    monkeypatch.setenv("AIRFLOW_CONN_ACQUIA_CDP_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    fast_retries()
    create()


def create(fields=FIELDS):
    MonetateCreateDatasetOperator(task_id="create", name="customers", type="attribute", fields=fields,
                                  allow_customer_dataset=True).execute(context())


def context(run_id="run-1", **extra):
    return {"ti": SimpleNamespace(dag_id="sync_dag", run_id=run_id, task_id="sync", map_index=-1, try_number=1),
            **extra}


def customers(n, start=0, points=0):
    return [{"customer_id": f"C{i}", "tier": "gold" if i % 3 else "silver", "points": points}
            for i in range(start, start + n)]


def sync(records, run_id="run-1", **kwargs):
    task = MonetatePostRecordsOperator(task_id="sync", dataset="customers", records=records, sync="incremental",
                                       batch_size=10, max_in_flight=1, **kwargs)
    return task.execute(context(run_id))


def stored(emulator):
    return {row["customer_id"]: row for row in emulator.monetate_rows("testshop", "customers")}


def posts(emulator):
    return emulator.counters().get("monetate.data", {}).get("requests", 0)


def on_post(monkeypatch, number, before):
    """Run ``before`` just before the ``number``-th POST of rows (counting from this call)."""
    original, calls = MonetateHook.post_rows, []

    def post_rows(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == number:
            before()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MonetateHook, "post_rows", post_rows)
    return lambda: monkeypatch.setattr(MonetateHook, "post_rows", original)


def test_the_first_run_sends_all_and_the_next_only_new_and_changed_rows(emulator):
    first = sync(customers(100))
    assert first["rows_sent"] == 100 and first["rows_new"] == 100 and len(stored(emulator)) == 100
    assert first["full_sync_reason"].startswith("no snapshot yet") and first["snapshot_generation"] == 1
    data = customers(100)
    for i in (7, 42, 99):
        data[i]["points"] = 500
    before = posts(emulator)
    second = sync(data + customers(2, start=100), run_id="run-2")
    assert second["rows_sent"] == 5 and posts(emulator) - before == 1  # 5 rows: one request, not 11
    assert {k: second[k] for k in ("rows_new", "rows_changed", "rows_unchanged", "keys_removed")} == {
        "rows_new": 2, "rows_changed": 3, "rows_unchanged": 97, "keys_removed": 0}
    rows = stored(emulator)
    assert len(rows) == 102 and rows["C42"]["points"] == 500 and rows["C100"]["points"] == 0
    third = sync(data[:90] + customers(2, start=100), run_id="run-3")
    assert third["rows_sent"] == 0 and third["keys_removed"] == 10 and len(stored(emulator)) == 102  # not deleted


def test_counts_reach_the_outlet_assets_events(emulator):
    asset = Asset("monetate://datasets/customers")
    events = {asset: SimpleNamespace(extra={})}
    task = MonetatePostRecordsOperator(task_id="sync", dataset="customers", records=customers(10), sync="incremental",
                                       outlets=[asset])
    task.execute(context(outlet_events=events))
    assert events[asset].extra["rows_new"] == 10 and events[asset].extra["rows_unchanged"] == 0
    task.execute(context("run-2", outlet_events=events))
    assert events[asset].extra["rows_sent"] == 0 and events[asset].extra["rows_unchanged"] == 10


def test_a_crash_between_batches_then_a_rerun_converges_with_nothing_lost(emulator, monkeypatch):
    sync(customers(100))
    changed = customers(100, points=9)

    def worker_dies():
        raise RuntimeError("the worker was killed")

    restore = on_post(monkeypatch, 4, before=worker_dies)
    with pytest.raises(RuntimeError, match="killed"):
        sync(changed, run_id="run-2")
    restore()
    assert sum(row["points"] == 9 for row in stored(emulator).values()) == 30  # three batches arrived
    retried = sync(changed, run_id="run-2")  # the retry resumes after the acknowledged batches
    assert retried["rows_already_sent"] == 30 and retried["rows_sent"] == 70 and retried["snapshot_generation"] == 2
    assert all(row["points"] == 9 for row in stored(emulator).values())
    assert sync(changed, run_id="run-3")["rows_sent"] == 0


def test_a_failed_run_leaves_the_snapshot_and_a_new_run_sends_again_what_it_could_not_confirm(emulator, monkeypatch):
    sync(customers(50))
    changed = customers(50, points=3)
    restore = on_post(monkeypatch, 2, before=lambda: emulator.inject("monetate.data", "status", count=20, status=503))
    with pytest.raises(Exception, match="503"):
        sync(changed, run_id="run-2")
    restore()
    emulator.clear_faults()
    again = sync(changed, run_id="run-3")
    assert again["rows_changed"] == 50 and again["rows_sent"] == 50 and again["snapshot_generation"] == 2
    assert all(row["points"] == 3 for row in stored(emulator).values())


def test_a_schema_change_makes_the_next_run_full_and_says_why(emulator, caplog):
    sync(customers(20))
    create({**FIELDS, "region": {"data_type": "STRING"}})
    caplog.set_level(logging.INFO)
    summary = sync(customers(20), run_id="run-2")
    assert summary["rows_sent"] == 20 and "fields or the normalisation rules changed" in summary["full_sync_reason"]
    assert "full run: the destination, the dataset's fields or the normalisation rules changed" in caplog.text
    assert sync(customers(20), run_id="run-3")["rows_sent"] == 0
    assert sync(customers(20), run_id="run-4", unknown_fields="drop")["rows_sent"] == 20  # a rule setting too
    assert sync(customers(20), run_id="run-5", full_resync=True)["rows_sent"] == 20


def test_a_shrunken_input_is_refused_before_sending(emulator):
    sync(customers(100))
    before = posts(emulator)
    with pytest.raises(InputShrankError, match="fewer than half of the 100 the last sync delivered"):
        sync(customers(40, points=1), run_id="run-2")
    assert posts(emulator) == before and all(row["points"] == 0 for row in stored(emulator).values())
    allowed = sync(customers(40, points=1), run_id="run-3", allow_shrink=True)
    assert allowed["rows_sent"] == 40 and allowed["keys_removed"] == 60


def test_a_dry_run_counts_without_sending_or_remembering(emulator):
    sync(customers(30))
    before = posts(emulator)
    dry = sync(customers(30, points=1) + customers(5, start=30), run_id="run-2", dry_run=True)
    assert posts(emulator) == before and dry["rows_sent"] == 0 and dry["dry_run"]
    assert (dry["rows_changed"], dry["rows_new"], dry["snapshot_generation"]) == (30, 5, 1)
    assert sync(customers(30, points=1) + customers(5, start=30), run_id="run-3")["rows_sent"] == 35


def test_two_concurrent_runs_leave_a_valid_snapshot_and_the_loser_says_so(emulator, monkeypatch):
    sync(customers(40))
    paused, other_done, outcome = threading.Event(), threading.Event(), {}

    def wait_for_the_other_run():
        paused.set()
        assert other_done.wait(60)

    restore = on_post(monkeypatch, 1, before=wait_for_the_other_run)

    def slow_run():
        try:
            sync(customers(40, points=1), run_id="slow")
        except Exception as exc:
            outcome["error"] = exc

    slow = threading.Thread(target=slow_run)
    slow.start()
    assert paused.wait(60)
    fast = sync(customers(40, points=2), run_id="fast")  # reads generation 1 too, finishes first
    other_done.set()
    slow.join(60)
    restore()
    assert fast["snapshot_generation"] == 2
    assert isinstance(outcome.get("error"), SnapshotConflictError)
    assert "another run of this sync wrote its snapshot (generation 2)" in str(outcome["error"])
    snapshot = next(snapshot_dir().iterdir())
    assert snapshot.read_bytes()[:200].count(b'"generation": 2') == 1  # the winner's, whole
    # The destination holds the slow run's rows (sent last), the snapshot the fast run's: the next run converges.
    assert sync(customers(40, points=1), run_id="next")["rows_sent"] == 40
    assert sync(customers(40, points=1), run_id="after")["rows_sent"] == 0


def test_a_dataset_without_a_unique_key_fails_before_sending(emulator):
    MonetateCreateDatasetOperator(task_id="create", name="events", type="event", fields={
        "event_id": {"data_type": "STRING"}, "customer_id": {"data_type": "STRING", "identifier": True},
        "at": {"data_type": "DATETIME", "event_time": True}}).execute(context())
    task = MonetatePostRecordsOperator(task_id="sync", dataset="events", sync="incremental",
                                       records=[{"event_id": "e1", "customer_id": "C1", "at": "2024-05-01T00:00:00Z"}])
    with pytest.raises(ConfigurationError, match="a diff needs a key"):
        task.execute(context())
    assert posts(emulator) == 0
    with pytest.raises(ConfigurationError, match="sync must be one of full, incremental"):
        MonetatePostRecordsOperator(task_id="sync", dataset="events", records=[], sync="delta")


def test_acquia_cdp_keyed_entities_sync_incrementally_and_events_are_refused(emulator):
    people = [{"SourceCustomerNumber": f"P{i}", "Email": f"p{i}@example.com"} for i in range(20)]

    def ingest(entities, run_id):
        return AcquiaCdpIngestOperator(task_id="sync", entities=entities, sync="incremental").execute(context(run_id))

    assert ingest({"customers": people}, "run-1")["customers"]["rows_sent"] == 20
    people[4]["Email"] = "new@example.com"
    second = ingest({"customers": people}, "run-2")["customers"]
    assert (second["rows_sent"], second["rows_changed"], second["rows_unchanged"]) == (1, 1, 19)
    assert {r["SourceCustomerNumber"]: r["Email"] for r in emulator.cdp_records("1234", "Customer")}["P4"] == (
        "new@example.com")
    requests = emulator.counters().get("cdp.tracker", {}).get("requests", 0)
    with pytest.raises(ConfigurationError, match="events has none"):
        ingest({"customers": people, "events": [{"EventType": "view", "EventTimeStamp": 1714521600}]}, "run-3")
    assert emulator.counters().get("cdp.tracker", {}).get("requests", 0) == requests
