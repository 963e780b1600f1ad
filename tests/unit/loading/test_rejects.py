from __future__ import annotations

import io
import json
import threading

import pytest

from airflow_provider_monetate.exceptions import MonetateProviderError
from airflow_provider_monetate.loading._rejects import Rejection, RejectsReport


class FakeStorage:
    """Stands in for ObjectStoragePath: ``open("wb")`` and ``str()``."""

    protocol = "s3"

    def __init__(self) -> None:
        self.data = b""

    def open(self, mode: str):
        assert mode == "wb"
        storage = self

        class Upload(io.BytesIO):
            def close(self) -> None:
                storage.data = self.getvalue()
                super().close()

        return Upload()

    def __str__(self) -> str:
        return "s3://bucket/rejects/run-1.jsonl"


def read_lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_rejections_are_written_as_json_lines(tmp_path):
    path = tmp_path / "rejects.jsonl"
    with RejectsReport(path) as report:
        report.add(Rejection(3, "points", "expected a number, got str with pattern 'aaa'"))
        report.add(Rejection(8, "customer_id", "missing required identifier"))
        report.add(Rejection(9, None, "row is too large"))
    assert read_lines(path) == [
        {"row": 3, "field": "points", "reason": "expected a number, got str with pattern 'aaa'"},
        {"row": 8, "field": "customer_id", "reason": "missing required identifier"},
        {"row": 9, "field": None, "reason": "row is too large"},
    ]


def test_lines_are_streamed_not_held_until_close(tmp_path):
    path = tmp_path / "rejects.jsonl"
    report = RejectsReport(path)
    for number in range(5000):
        report.add(Rejection(number, "f", "bad"))
    assert path.stat().st_size > 0  # buffered output already reached the file
    report.close()
    assert len(read_lines(path)) == 5000


def test_summary_counts_and_examples(tmp_path):
    path = tmp_path / "out" / "rejects.jsonl"
    with RejectsReport(path) as report:
        for number in range(1, 251):
            report.add(Rejection(number, "points" if number % 2 else "opted_in", f"reason {number % 3}"))
        report.add(Rejection(300, None, "row is too large"))
    summary = report.summary()
    assert summary["count"] == 251
    assert summary["by_field"] == {"points": 125, "opted_in": 125, "(whole row)": 1}
    assert summary["by_reason"] == {"reason 1": 84, "reason 2": 83, "reason 0": 83, "row is too large": 1}
    assert len(summary["examples"]) == 100
    assert summary["examples"][0] == {"row": 1, "field": "points", "reason": "reason 1"}
    assert summary["path"] == str(path)
    json.dumps(summary)  # fits in XCom / a log line


def test_count_only_without_a_target():
    report = RejectsReport(max_examples=2)
    for number in range(10):
        report.add(Rejection(number, "f", "bad"))
    report.close()
    summary = report.summary()
    assert summary["count"] == 10
    assert summary["path"] is None
    assert [e["row"] for e in summary["examples"]] == [0, 1]


def test_storage_target_is_opened_for_binary_writing():
    storage = FakeStorage()
    with RejectsReport(storage) as report:
        report.add(Rejection(1, "name", "expected a string, got dict"))
    assert storage.data == b'{"row": 1, "field": "name", "reason": "expected a string, got dict"}\n'
    assert report.summary()["path"] == "s3://bucket/rejects/run-1.jsonl"


def test_real_object_storage_path(tmp_path):
    compat = pytest.importorskip("airflow_provider_monetate._compat")
    target = compat.ObjectStoragePath(f"file://{tmp_path}/rejects.jsonl")
    with RejectsReport(target) as report:
        report.add(Rejection(4, "points", "expected a number, got bool"))
    assert read_lines(tmp_path / "rejects.jsonl") == [
        {"row": 4, "field": "points", "reason": "expected a number, got bool"}
    ]


def test_a_new_report_replaces_the_previous_tries_file(tmp_path):
    path = tmp_path / "rejects.jsonl"
    with RejectsReport(path) as report:
        report.add(Rejection(1, "a", "old"))
    with RejectsReport(path) as report:
        report.add(Rejection(2, "b", "new"))
    assert [json.loads(line)["row"] for line in path.read_text().splitlines()] == [2]


def test_a_run_without_rejections_leaves_no_report_and_removes_the_last_tries(tmp_path):
    path = tmp_path / "rejects.jsonl"
    with RejectsReport(path) as report:
        report.add(Rejection(1, "a", "old"))
    with RejectsReport(path) as report:
        pass
    assert not path.exists() and report.summary()["path"] is None


def test_a_local_report_is_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "deep" / "rejects.jsonl"
    with RejectsReport(path) as report:
        report.add(Rejection(1, "a", "bad"))
    assert path.stat().st_mode & 0o777 == 0o600 and report.summary()["path"] == str(path)


def test_long_reasons_are_cut(tmp_path):
    path = tmp_path / "r.jsonl"
    with RejectsReport(path) as report:
        report.add(Rejection(1, "f", "API said: " + "x" * 5000))
    (line,) = read_lines(path)
    assert len(line["reason"]) == 200
    assert report.summary()["examples"][0]["reason"] == line["reason"]


def test_distinct_reasons_are_capped_in_memory():
    report = RejectsReport()
    for number in range(1000):
        report.add(Rejection(number, "f", f"unique reason {number}"))
    by_reason = report.summary()["by_reason"]
    assert len(by_reason) == 101
    assert by_reason["(other reasons)"] == 900
    assert sum(by_reason.values()) == 1000


def test_concurrent_adds_are_all_recorded(tmp_path):
    path = tmp_path / "r.jsonl"
    report = RejectsReport(path)

    def add_many(thread: int) -> None:
        for number in range(500):
            report.add(Rejection(thread * 1000 + number, f"f{thread}", "bad"))

    threads = [threading.Thread(target=add_many, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.close()
    lines = read_lines(path)
    assert report.count == len(lines) == 4000
    assert len({line["row"] for line in lines}) == 4000


def test_close_twice_is_fine_and_add_after_close_fails(tmp_path):
    report = RejectsReport(tmp_path / "r.jsonl")
    report.close()
    report.close()
    with pytest.raises(MonetateProviderError, match="closed"):
        report.add(Rejection(1, "f", "bad"))
