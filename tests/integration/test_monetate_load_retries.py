"""Retry safety of an append-only Monetate load, through the emulator: what is in doubt, and what is not.

A batch is in doubt only when a call may have been processed (a dropped connection or timeout
after sending). An outage the API answered (503, 429) processed nothing, so a retry sends the
batch again without asking. The failing try already names the batches in doubt, and
``in_doubt`` says what the next try does with them.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_provider_monetate.exceptions import ApiUnavailableError, BatchesInDoubtError, ConfigurationError
from airflow_provider_monetate.hooks.monetate import MonetateHook
from airflow_provider_monetate.operators.monetate import MonetateCreateDatasetOperator, MonetatePostRecordsOperator

pytestmark = pytest.mark.integration

FIELDS = {  # no unique_key: every POST appends, so a repeated batch would duplicate rows
    "event_id": {"data_type": "STRING"},
    "customer_id": {"data_type": "STRING", "identifier": True},
    "occurred_at": {"data_type": "DATETIME", "event_time": True},
}


@pytest.fixture(autouse=True)
def setup(emulator, monkeypatch, tmp_path, fast_retries):
    monkeypatch.setenv("AIRFLOW_CONN_MONETATE_DEFAULT", emulator.monetate_conn_json())
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    fast_retries(max_attempts=3)
    ctx = {"ti": SimpleNamespace(dag_id="dag", run_id="run", task_id="post", map_index=-1, try_number=1)}
    MonetateCreateDatasetOperator(task_id="create", name="appends", type="event", fields=FIELDS).execute(ctx)


def context(try_number):
    return {"ti": SimpleNamespace(dag_id="dag", run_id="run", task_id="post", map_index=-1, try_number=try_number)}


def post(**kwargs):
    records = [{"event_id": f"e-{i}", "customer_id": f"C{i}", "occurred_at": "2024-05-01T12:00:00Z"}
               for i in range(1000)]
    return MonetatePostRecordsOperator(task_id="post", dataset="appends", records=records, batch_size=100,
                                       max_in_flight=1, **kwargs)


def on_call(monkeypatch, number, before=None, after=None):
    """Run ``before`` just before the ``number``-th POST of rows, ``after`` just after it."""
    original, calls = MonetateHook.post_rows, []

    def post_rows(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == number and before:
            before()
        result = original(self, *args, **kwargs)
        if len(calls) == number and after:
            after()
        return result

    monkeypatch.setattr(MonetateHook, "post_rows", post_rows)
    return lambda: monkeypatch.setattr(MonetateHook, "post_rows", original)


def event_ids(emulator):
    return [row["event_id"] for row in emulator.monetate_rows("testshop", "appends")]


@pytest.mark.parametrize("status", [503, 429])
def test_a_batch_that_only_met_an_outage_is_sent_again_without_asking(emulator, monkeypatch, status):
    restore = on_call(monkeypatch, 3, before=lambda: emulator.inject("monetate.data", "status", count=3,
                                                                      status=status))
    with pytest.raises(ApiUnavailableError) as info:
        post().execute(context(1))
    assert not info.value.in_doubt
    restore()
    summary = post().execute(context(2))
    assert summary["rows_already_sent"] == 200 and summary["rows_sent"] == 800
    assert sorted(event_ids(emulator)) == sorted(f"e-{i}" for i in range(1000))  # each row exactly once


def test_the_failing_try_names_the_batch_in_doubt(emulator, monkeypatch):
    restore = on_call(monkeypatch, 4, before=lambda: emulator.inject("monetate.data", "drop"))
    with pytest.raises(BatchesInDoubtError, match=r"batch 3 \(rows 301-400\)") as info:
        post().execute(context(1))
    assert "in_doubt='resend'" in str(info.value) and "in_doubt='skip'" in str(info.value)
    assert isinstance(info.value.__cause__, ApiUnavailableError) and info.value.__cause__.in_doubt
    restore()
    with pytest.raises(BatchesInDoubtError, match=r"batch 3 \(rows 301-400\)"):
        post().execute(context(2))  # the default, in_doubt="fail", still refuses
    summary = post(in_doubt="resend").execute(context(3))
    assert summary["rows_already_sent"] == 300 and summary["batches_resent"] == 1
    assert len(event_ids(emulator)) == 1000  # the dropped call was not processed, so resending was right


def test_skip_counts_a_batch_that_did_arrive_and_sends_the_rest(emulator, monkeypatch):
    def answer_lost():
        raise ApiUnavailableError("Monetate", "POST", "/data", None, ["ReadTimeout after sending"], in_doubt=True)

    restore = on_call(monkeypatch, 4, after=answer_lost)  # batch 3 is stored, its answer never comes
    with pytest.raises(BatchesInDoubtError, match=r"batch 3 \(rows 301-400\)"):
        post().execute(context(1))
    restore()
    summary = post(in_doubt="skip").execute(context(2))
    assert (summary["rows_in_doubt_skipped"], summary["rows_already_sent"], summary["rows_sent"]) == (100, 300, 600)
    assert sorted(event_ids(emulator)) == sorted(f"e-{i}" for i in range(1000))  # no duplicate, nothing lost


def test_resend_in_doubt_still_means_resend_and_a_wrong_policy_fails_early():
    assert post(resend_in_doubt=True).in_doubt == "resend"
    with pytest.raises(ConfigurationError, match="in_doubt must be one of fail, resend, skip"):
        post(in_doubt="maybe")


def test_a_worker_local_checkpoint_is_flagged_once_when_tasks_run_on_other_machines(monkeypatch, logs):
    from airflow_provider_monetate.operators import _load_base
    from tests.support.fake_object_store import FakeObjectPath

    monkeypatch.setattr(_load_base, "configured_executors", lambda: ["CeleryExecutor"])
    post().execute(context(1))
    text = logs()
    assert text.count("on this worker's local disk") == 1
    assert "checkpoint_dir is" in text and "CeleryExecutor" in text and "another machine" in text
    post(checkpoint_dir=FakeObjectPath({}, "s3://bucket/checkpoints")).execute(context(2))
    assert "on this worker's local disk" not in logs()
