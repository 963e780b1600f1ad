"""The next snapshot: old entries kept in order, new ones merged in, counts checked, large inputs sorted flat."""

from __future__ import annotations

import pytest

from airflow_provider_monetate.exceptions import StateFileError
from airflow_provider_monetate.loading import _snapshot_writer
from airflow_provider_monetate.loading._snapshot_writer import sort_records, write_snapshot
from airflow_provider_monetate.loading._snapshots import Header, Snapshot
from tests.support.snapshot_files import SALT, entries, records, write


def test_the_next_snapshot_keeps_old_entries_not_left_out_and_merges_new_ones(tmp_path):
    old_records = records(3000, seed=2)
    write(tmp_path / "old", old_records)
    old = Snapshot(tmp_path / "old", Header.decode((tmp_path / "old").read_bytes()))
    try:
        ordered = entries(old)
        left_out = [0, 5, 6, 7, 2999, 1500]
        new = records(700, seed=3)
        header = write(tmp_path / "next", new, old=old, left_out=left_out, generation=2)
        expected = sorted([e for i, e in enumerate(ordered) if i not in left_out] + new)
        nxt = Snapshot(tmp_path / "next", header)
        assert entries(nxt) == expected and nxt.keys == 3000 - 6 + 700
        nxt.close()
    finally:
        old.close()


def test_a_count_that_does_not_add_up_publishes_nothing(tmp_path):
    with pytest.raises(StateFileError, match="not the 3 counted"):
        write_snapshot(tmp_path / "s", Header(1, "fp", 3, SALT), None, [], [sorted(records(2))])
    with pytest.raises(StateFileError, match="more than the 1 keys"):
        write_snapshot(tmp_path / "s", Header(1, "fp", 1, SALT), None, [], [sorted(records(2))])


def test_large_inputs_are_sorted_in_runs_merged_from_disk(monkeypatch):
    monkeypatch.setattr(_snapshot_writer, "CHUNK", 100)
    many = records(1050, seed=4)
    assert [r for chunk in sort_records(iter(many), len(many)) for r in chunk] == sorted(many)
