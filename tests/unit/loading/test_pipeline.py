"""load_parts() without HTTP: check everything first, refuse bad input, resume, count, time."""

from __future__ import annotations

import json

import pytest

from airflow_provider_monetate.exceptions import BatchesInDoubtError, EmptyInputError, TooManyRejectedRowsError
from airflow_provider_monetate.loading._checkpoints import CheckpointStore
from airflow_provider_monetate.loading._pipeline import LoadOptions, LoadPart, load_parts
from airflow_provider_monetate.loading._rejects import Rejection, RejectsReport
from airflow_provider_monetate.loading._sources import RecordSource


def load_one(records, *, normalize=lambda n, r: (r, []), send=lambda batch: None, options=None, resend_safe=True,
             exclude=None, begin_progress=None, clock=None):
    """Load one part of ``records`` and return its summary."""
    part = LoadPart("", RecordSource(records), normalize, send, resend_safe, exclude)
    kwargs = {"clock": clock} if clock else {}
    if begin_progress:
        kwargs["begin_progress"] = lambda name, fingerprint: begin_progress(fingerprint)
    return load_parts([part], options=options or LoadOptions(), rejects=lambda name: RejectsReport(), **kwargs)[""]


def test_resume_skips_acked_batches_and_refuses_unsafe_resends(tmp_path):
    store = CheckpointStore(tmp_path)
    first = store.begin("k", "fp", {"max_rows": 10})
    for i in (0, 1, 2):
        first.mark_started(i)
        first.mark_acked(i)
    first.mark_started(3)
    sent = []

    def run(resend):
        return load_one([{"i": i} for i in range(100)], send=lambda b: sent.append(b.index),
                        options=LoadOptions(max_rows=10, in_doubt="resend" if resend else "fail"), resend_safe=False,
                        begin_progress=lambda fp: store.begin("k", "fp", {"max_rows": 10, "max_bytes": 5_000_000}))

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
        load_one(iter([{"x": i} for i in range(10)]), normalize=normalize, send=sent.append,
                 options=LoadOptions(max_rejected_rows=1))
    assert sent == [] and "row 3 field 'x': bad" in str(info.value)


def test_excluded_rows_are_counted_not_sent():
    sent = []
    summary = load_one([{"id": i} for i in range(10)], send=lambda b: sent.append(json.loads(b.body())["schema_rows"]),
                       exclude=lambda row: row["id"] % 2 == 0)
    assert summary.rows_excluded == 5 and summary.rows_sent == 5
    assert sent == [[{"id": 1}, {"id": 3}, {"id": 5}, {"id": 7}, {"id": 9}]]


def test_summary_tells_checking_time_from_the_whole():
    now = [100.0]  # a clock the test moves: 2 s per row checked, 50 s per batch sent

    def normalize(number, record):
        now[0] += 2
        return record, []

    def send(batch):
        now[0] += 50

    summary = load_one([{"id": i} for i in range(20)], normalize=normalize, send=send,
                       options=LoadOptions(max_rows=10, max_in_flight=1), clock=lambda: now[0])
    assert summary.check_seconds == 40.0  # 20 rows checked before the first request
    assert summary.seconds == 140.0  # and two sends, one after the other
    assert summary.rows_per_second == round(20 / 140, 1)
    assert (summary.batches, summary.batches_sent, summary.rows_sent) == (2, 2, 20)


def test_dry_run_counts_batches_and_sends_nothing():
    sent = []
    summary = load_one([{"id": i} for i in range(25)], send=sent.append, options=LoadOptions(max_rows=10, dry_run=True))
    assert sent == [] and summary.batches == 3 and summary.rows_sent == 0 and summary.dry_run


# -- rows that can never be sent, empty inputs (issue 13, item 10) -----------------------------


def test_a_row_too_large_for_any_request_is_a_rejection_counted_against_max_rejected_rows():
    records = [{"id": 1}, {"id": 2, "note": "x" * 20_000}, {"id": 3}]
    sent = []
    summary = load_one(records, send=lambda b: sent.append(b.rows_count),
                       options=LoadOptions(max_bytes=10_000, max_rejected_rows=1))
    assert summary.rows_rejected == 1 and summary.rows_sent == 2 and sent == [2]
    [example] = summary.rejects["examples"]
    assert example["row"] == 2 and example["field"] is None
    assert "20274 bytes" in example["reason"] and "10000-byte request limit (max_batch_bytes)" in example["reason"]
    with pytest.raises(TooManyRejectedRowsError, match="1 of 3 rows") as info:
        load_one(records, send=sent.append, options=LoadOptions(max_bytes=10_000))
    assert "row 2: the row is 20274 bytes" in str(info.value) and "xxx" not in str(info.value)


@pytest.mark.parametrize(("value", "reason"), [("a\ud800", "lone surrogate"), (float("nan"), "NaN")])
def test_a_row_that_cannot_be_encoded_is_rejected_naming_row_and_field(value, reason):
    with pytest.raises(TooManyRejectedRowsError, match=rf"row 2 field 'note': [^.]*{reason}") as info:
        load_one([{"id": 1}, {"id": 2, "note": value}], send=lambda b: None)
    assert "\ud800" not in str(info.value)
    summary = load_one([{"id": 1}, {"id": 2, "note": value}], options=LoadOptions(max_rejected_rows=1))
    assert (summary.rows_rejected, summary.rows_sent) == (1, 1)


def test_an_integer_beyond_64_bits_is_sent_exactly():
    sent = []
    summary = load_one([{"id": 1, "n": 2**70}], send=lambda b: sent.append(b.body()))
    assert summary.rows_sent == 1 and sent == [b'{"schema_rows":[{"id":1,"n":1180591620717411303424}]}']


@pytest.mark.parametrize("name", ["e.ndjson", "e.csv", "e.json"])
def test_an_empty_input_succeeds_and_says_so_or_fails_with_allow_empty_false(tmp_path, caplog, name):
    path = tmp_path / name
    path.write_bytes(b"")
    part = LoadPart("", RecordSource(path), lambda n, r: (r, []), lambda b: None, True)
    summary = load_parts([part], options=LoadOptions(), rejects=lambda n: RejectsReport())[""]
    assert summary.input_empty and summary.rows_read == summary.rows_sent == summary.batches == 0
    assert f"the input holds no rows ({RecordSource(path).describe()})" in caplog.text
    sent = []
    part = LoadPart("", RecordSource(path), lambda n, r: (r, []), sent.append, True)
    with pytest.raises(EmptyInputError, match=rf"holds no rows \(allow_empty=False\): .*{name}"):
        load_parts([part], options=LoadOptions(allow_empty=False), rejects=lambda n: RejectsReport())
    assert sent == []


def test_a_non_empty_input_is_not_called_empty():
    assert not load_one([{"id": 1}]).input_empty
    assert not load_one([{"id": 1}], normalize=lambda n, r: (None, []), options=LoadOptions(max_rejected_rows=1,
                                                                                           allow_empty=False)).input_empty
