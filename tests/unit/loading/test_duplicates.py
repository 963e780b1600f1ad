"""Rows sharing a unique key: the last by input order is sent, the others are counted and reported,
or the input is refused (on_duplicate_key="fail"); memory stays bounded; keys are never shown."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from airflow_provider_monetate.exceptions import ConfigurationError, DuplicateKeyError
from airflow_provider_monetate.loading import _duplicates
from airflow_provider_monetate.loading._duplicates import KeyIndex
from airflow_provider_monetate.loading._pipeline import LoadOptions, LoadPart, load_parts
from airflow_provider_monetate.loading._rejects import RejectsReport
from airflow_provider_monetate.loading._sources import RecordSource


def load(records, *, key="id", options=None, report=None):
    """Load ``records`` keyed by ``key``; return (summary, rows sent in order, batches sent)."""
    sent = []

    def send(batch):
        rows = json.loads(batch.body())["schema_rows"]
        assert len(rows) == batch.rows_count
        sent.append((batch.index, batch.first_row, batch.last_row, rows))

    part = LoadPart("", RecordSource(records), lambda n, r: (r, []), send, True, key=key)
    summary = load_parts([part], options=options or LoadOptions(max_rows=100, max_in_flight=1),
                         rejects=lambda name: report or RejectsReport())[""]
    return summary, [row for *_, rows in sorted(sent) for row in rows], sorted(sent)


def test_the_last_row_of_a_key_wins_whatever_the_batches(tmp_path):
    records = [{"id": f"k{i}", "n": i} for i in range(1, 1501)]
    records[1199]["id"] = "k1"  # row 1200 repeats row 1's key, eleven batches later
    report = RejectsReport(tmp_path / "rejects.jsonl")
    summary, rows, batches = load(records, report=report)
    assert summary.rows_duplicate == 1 and summary.rows_sent == 1499 and summary.rows_rejected == 0
    assert {"id": "k1", "n": 1200} in rows and {"id": "k1", "n": 1} not in rows
    assert batches[0][1:3] == (2, 100) and len(batches[0][3]) == 99  # batch 0 now starts at row 2
    [line] = (tmp_path / "rejects.jsonl").read_text().splitlines()
    assert json.loads(line) == {"row": 1, "field": "id", "reason": (
        "duplicate of row 1200's id: only the last row with the same id is sent")}
    assert summary.rejects["count"] == 1


def test_every_earlier_row_names_the_last_one():
    records = [{"id": "a", "n": 1}, {"id": "b", "n": 2}, {"id": "a", "n": 3}, {"id": "a", "n": 4}, {"id": "b", "n": 5}]
    report = RejectsReport()
    summary, rows, _ = load(records, report=report)
    assert rows == [{"id": "a", "n": 4}, {"id": "b", "n": 5}]
    assert summary.rows_duplicate == 3
    assert [(e["row"], e["reason"].split(":")[0]) for e in report.examples] == [
        (1, "duplicate of row 4's id"), (2, "duplicate of row 5's id"), (3, "duplicate of row 4's id")]


def test_a_batch_left_empty_is_dropped_and_the_rest_keep_their_order():
    records = [{"id": f"k{i % 3}"} for i in range(1, 13)] + [{"id": "k0"}, {"id": "k1"}, {"id": "k2"}]
    summary, rows, batches = load(records, options=LoadOptions(max_rows=4))  # rows 1-4, 5-8, 9-12, 13-15
    assert rows == [{"id": "k0"}, {"id": "k1"}, {"id": "k2"}] and summary.rows_duplicate == 12
    assert [b[0] for b in batches] == [0] and summary.batches == 1
    assert batches[0][1:3] == (13, 15)


def test_on_duplicate_key_fail_sends_nothing_and_names_rows_not_values():
    records = [{"id": "secret-1"}, {"id": "x"}, {"id": "secret-1"}]
    with pytest.raises(DuplicateKeyError) as info:
        load(records, options=LoadOptions(on_duplicate_key="fail"))
    message = str(info.value)
    assert "1 of 3 rows" in message and "row 1 field 'id': duplicate of row 3's id" in message
    assert "on_duplicate_key='keep_last'" in message and "secret" not in message


def test_on_duplicate_key_is_checked():
    with pytest.raises(ConfigurationError, match="on_duplicate_key must be one of keep_last, fail"):
        LoadOptions(on_duplicate_key="first")


def test_keys_compare_as_text_and_rows_without_a_key_are_never_duplicates():
    records = [{"id": 5}, {"id": "5"}, {"n": 1}, {"n": 2}, {"id": None}, {"id": None}]
    summary, rows, _ = load(records)
    assert summary.rows_duplicate == 1 and rows == records[1:]


def test_a_key_function_names_no_field():
    report = RejectsReport()
    summary, rows, _ = load([{"a": 1, "b": 2}, {"a": 1, "b": 2, "c": 3}], key=lambda r: (r["a"], r["b"]),
                            report=report)
    assert summary.rows_duplicate == 1 and rows == [{"a": 1, "b": 2, "c": 3}]
    assert report.examples == [{"row": 1, "field": None, "reason": (
        "duplicate of row 2's key: only the last row with the same key is sent")}]


def test_a_hash_collision_never_drops_a_row(monkeypatch):
    monkeypatch.setattr(_duplicates, "hash", lambda value: 7, raising=False)  # every key collides
    records = [{"id": f"k{i}"} for i in range(250)] + [{"id": "k3"}]
    summary, rows, _ = load(records)
    assert summary.rows_duplicate == 1 and len(rows) == 250 and rows[-1] == {"id": "k3"}


def test_repeats_are_found_across_spilled_chunks_and_within_them(monkeypatch):
    monkeypatch.setattr(_duplicates, "_CHUNK", 7)
    records = [{"id": f"k{i}"} for i in range(60)] + [{"id": "k2"}, {"id": "k40"}, {"id": "k41"}, {"id": "k41"}]
    summary, rows, _ = load(records, options=LoadOptions(max_rows=5))
    ids = [r["id"] for r in rows]
    assert summary.rows_duplicate == 4 and len(ids) == len(set(ids)) == 60
    assert ids[-3:] == ["k2", "k40", "k41"]  # rows 61, 62 and 64 won over rows 3, 41, 42 and 63


def test_an_input_without_repeated_keys_is_sent_as_is():
    records = [{"id": f"k{i}", "n": i} for i in range(1000)]
    summary, rows, batches = load(records)
    assert rows == records and summary.rows_duplicate == 0
    assert [(b[1], b[2]) for b in batches] == [(i * 100 + 1, i * 100 + 100) for i in range(10)]


def test_key_memory_is_bounded_whatever_the_input_size(monkeypatch):
    monkeypatch.setattr(_duplicates, "_CHUNK", 8192)  # the bound scales with the chunk, not the input

    def peak(rows):
        keys = KeyIndex("id")
        tracemalloc.start()
        for start in range(0, rows, 500):
            keys.add([(n, {"id": f"customer-{n}"}) for n in range(start + 1, start + 501)])
        keys.duplicates(None, [])  # no repeats: the spool is never read
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        keys.close()
        return top

    small, large = peak(20_000), peak(200_000)  # 3 chunks, 25 chunks
    assert large < small * 1.3


@pytest.mark.parametrize("chunks", [3, 40])  # sets of chunks, or sorted runs compared range by range
def test_repeats_are_found_the_same_way_whatever_the_number_of_chunks(monkeypatch, chunks):
    monkeypatch.setattr(_duplicates, "_CHUNK", 50)
    keys = KeyIndex("id")
    numbers = list(range(1, chunks * 50 + 1))
    repeats = {7: 1, 49: 50, 120: 51, chunks * 50: 3}  # row -> the earlier row whose key it repeats
    rows = [{"id": f"k{repeats.get(n, n)}"} for n in numbers]
    for start in range(0, len(rows), 25):
        keys.add(list(zip(numbers[start:start + 25], rows[start:start + 25], strict=True)))
    expected = {hash(f"k{n}") for n in repeats.values()}
    assert keys._repeated_hashes() == expected
    keys.close()
