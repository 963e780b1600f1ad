"""deliver() without HTTP: bounded concurrency, acks and in-doubt batches, rate-limited progress log."""

from __future__ import annotations

import threading
import time

import pytest

from airflow_provider_monetate.loading._batches import iter_batches
from airflow_provider_monetate.loading._checkpoints import CheckpointStore
from airflow_provider_monetate.loading._delivery import DeliveryReport, ProgressLog, deliver


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


def test_skipped_batches_count_as_already_sent(tmp_path):
    store = CheckpointStore(tmp_path)
    first = store.begin("k", "fp", {})
    for i in (0, 1):
        first.mark_started(i)
        first.mark_acked(i)
    first.flush()
    sent = []
    report = DeliveryReport()
    returned = deliver(batches(40), lambda b: sent.append(b.index), progress=store.begin("k", "fp", {}), report=report)
    assert returned is report
    assert (report.rows_already_sent, report.batches_skipped, report.rows_sent, report.batches_sent) == (20, 2, 20, 2)
    assert sorted(sent) == [2, 3]


def test_progress_log_is_rate_limited(caplog):
    clock = [0.0]
    progress = ProgressLog("load", total_rows=1000, interval=10, clock=lambda: clock[0])
    caplog.set_level("INFO")
    for step in range(1, 31):
        clock[0] = step
        progress.update(step * 10)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("load:")]
    assert len(lines) == 3 and "ETA" in lines[0]
