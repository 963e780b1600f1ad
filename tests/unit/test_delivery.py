"""deliver() and load_records() without HTTP: bounded concurrency, acks, in-doubt, rejects."""

from __future__ import annotations

import json
import threading
import time

import pytest

from airflow_provider_monetate.batching import iter_batches
from airflow_provider_monetate.checkpoint import CheckpointStore
from airflow_provider_monetate.delivery import BatchesInDoubtError, ProgressLog, deliver
from airflow_provider_monetate.record_load import LoadOptions, TooManyRejectedRowsError, load_records
from airflow_provider_monetate.record_sources import RecordSource
from airflow_provider_monetate.rejects import Rejection, RejectsReport


def batches(n_rows, size=10):
    return iter_batches(((i, {"i": i}) for i in range(1, n_rows + 1)), max_rows=size)


def test_never_more_than_max_in_flight():
    lock, active, peak = threading.Lock(), [0], [0]

    def send(batch):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.01)
        with lock:
            active[0] -= 1

    report = deliver(batches(200), send, max_in_flight=3)
    assert report.batches_sent == 20 and report.rows_sent == 200 and peak[0] == 3


def test_failure_waits_for_in_flight_batches_and_records_their_acks(tmp_path):
    progress = CheckpointStore(tmp_path).begin("k", "fp", {})

    def send(batch):
        if batch.index == 5:
            raise RuntimeError("boom")
        time.sleep(0.01)

    with pytest.raises(RuntimeError, match="boom"):
        deliver(batches(200), send, max_in_flight=4, progress=progress)
    state = progress.snapshot()
    assert state.in_doubt() == {5}
    assert {0, 1, 2, 3, 4} <= state.acked and max(state.started) <= 5 + 3


def test_resume_skips_acked_batches_and_refuses_unsafe_resends(tmp_path):
    store = CheckpointStore(tmp_path)
    first = store.begin("k", "fp", {"max_rows": 10})
    for i in (0, 1, 2):
        first.mark_started(i)
        first.mark_acked(i)
    first.mark_started(3)
    sent = []

    def run(resend_in_doubt):
        return load_records(RecordSource([{"i": i} for i in range(100)]), normalize=lambda n, r: (r, []),
                            send=lambda b: sent.append(b.index), options=LoadOptions(
                                max_rows=10, resend_in_doubt=resend_in_doubt), rejects=RejectsReport(),
                            begin_progress=lambda fp: store.begin("k", "fp", {"max_rows": 10, "max_bytes": 5_000_000}),
                            resend_safe=False)

    # the settings differ from the first checkpoint's, so this starts over...
    assert run(False).rows_already_sent == 0
    # ...while identical settings resume: three batches skipped, batch 3 in doubt
    second = store.begin("k", "fp", {"max_rows": 10, "max_bytes": 5_000_000})
    for i in (0, 1, 2):
        second.mark_started(i)
        second.mark_acked(i)
    second.mark_started(3)
    with pytest.raises(BatchesInDoubtError, match=r"batch 3 \(rows 31-40\)"):
        run(False)
    sent.clear()
    summary = run(True)
    assert summary.rows_already_sent == 30 and summary.batches_resent == 1 and min(sent) == 3


def test_rejections_stop_everything_before_sending():
    def normalize(n, row):
        return (None, [Rejection(n, "x", "bad")]) if n in (3, 4) else (row, [])

    sent = []
    with pytest.raises(TooManyRejectedRowsError, match="2 of 10 rows") as info:
        load_records(RecordSource(iter([{"x": i} for i in range(10)])), normalize=normalize, send=sent.append,
                     options=LoadOptions(max_rejected_rows=1), rejects=RejectsReport(), resend_safe=True)
    assert sent == [] and "row 3 field 'x': bad" in str(info.value)


def test_excluded_rows_are_counted_not_sent():
    sent = []
    summary = load_records(RecordSource([{"id": i} for i in range(10)]), normalize=lambda n, r: (r, []),
                           send=lambda b: sent.append(json.loads(b.body())["schema_rows"]), options=LoadOptions(),
                           rejects=RejectsReport(), resend_safe=True, exclude=lambda row: row["id"] % 2 == 0)
    assert summary.rows_excluded == 5 and summary.rows_sent == 5
    assert sent == [[{"id": 1}, {"id": 3}, {"id": 5}, {"id": 7}, {"id": 9}]]


def test_progress_log_is_rate_limited(caplog):
    clock = [0.0]
    progress = ProgressLog("load", total_rows=1000, interval=10, clock=lambda: clock[0])
    caplog.set_level("INFO")
    for step in range(1, 31):
        clock[0] = step
        progress.update(step * 10)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("load:")]
    assert len(lines) == 3 and "ETA" in lines[0]


def test_summary_tells_checking_time_from_the_whole():
    def slow_normalize(number, record):
        time.sleep(0.002)  # 20 rows: at least 40 ms of checking
        return record, []

    def slow_send(batch):
        time.sleep(0.05)

    summary = load_records(RecordSource([{"id": i} for i in range(20)]), normalize=slow_normalize, send=slow_send,
                           options=LoadOptions(max_rows=10, max_in_flight=1), rejects=RejectsReport(),
                           resend_safe=True)
    assert 0.04 <= summary.check_seconds < summary.seconds
    assert summary.seconds - summary.check_seconds >= 0.1  # two 50 ms sends, one after the other
