"""Snapshot files: header, sorted columns, search, merge-writing, publishing only over the generation read."""

from __future__ import annotations

import pytest

from airflow_provider_monetate.exceptions import SnapshotConflictError
from airflow_provider_monetate.loading._snapshots import (
    HEADER_SIZE,
    UNREADABLE,
    Header,
    Snapshot,
    SnapshotStore,
    snapshot_name,
)
from tests.support.fake_object_store import FakeObjectPath
from tests.support.snapshot_files import SALT, entries, records, write


def test_names_are_readable_safe_and_distinct():
    name = snapshot_name("monetate_default", "loyalty events/2024")
    assert name.startswith("monetate_default__loyalty_events_2024.") and name.endswith(".snapshot")
    assert snapshot_name("a", "b_c") != snapshot_name("a_b", "c")
    assert snapshot_name("c", "d", map_index=3) != snapshot_name("c", "d")


def test_header_round_trip_and_refusals():
    header = Header(7, "abc", 12, SALT)
    data = header.encode()
    assert len(data) == HEADER_SIZE and Header.decode(data) == header
    with pytest.raises(ValueError):
        Header.decode(b'{"magic": "something else"}'.ljust(HEADER_SIZE))
    with pytest.raises(ValueError):
        Header.decode(data.replace(b'"format": 1', b'"format": 9'))


def test_columns_are_sorted_by_row_hash_and_found_by_search(tmp_path):
    new = records(5000)
    write(tmp_path / "s", new)
    snapshot = Snapshot(tmp_path / "s", Header.decode((tmp_path / "s").read_bytes()))
    try:
        assert entries(snapshot) == sorted(new)
        assert snapshot.row_a[snapshot.keys] == 2**64 - 1  # the sentinel ends every search on an entry
        probes = [r[0] for r in new[:100]] + [r[0] ^ 1 for r in new[:100]]
        from array import array

        at = snapshot.locate(array("Q", probes))
        assert [snapshot.row_a[i] == p for i, p in zip(at, probes, strict=True)] == [True] * 100 + [False] * 100
    finally:
        snapshot.close()


@pytest.mark.parametrize("remote", [False, True])
def test_store_opens_publishes_and_refuses_a_generation_it_did_not_read(tmp_path, remote):
    store = SnapshotStore(FakeObjectPath({}, "s3://bucket/snapshots") if remote else tmp_path / "snapshots")
    with store.open("s.snapshot") as (snapshot, generation, problem):
        assert (snapshot, generation, problem) == (None, 0, None)
    for generation in (1, 2):
        with store.new_file("s.snapshot") as path:
            write(path, records(10, seed=generation), generation=generation)
            store.publish("s.snapshot", path, read_generation=generation - 1, what="test sync")
    assert store.generation("s.snapshot") == 2
    with store.new_file("s.snapshot") as path:
        write(path, records(3), generation=2)
        refused = r"test sync: another run .* \(generation 2\) after this run read generation 1"
        with pytest.raises(SnapshotConflictError, match=refused):
            store.publish("s.snapshot", path, read_generation=1, what="test sync")
    with store.open("s.snapshot") as (snapshot, generation, problem):
        assert generation == 2 and snapshot.keys == 10 and problem is None  # the winner's file, whole
    if not remote:
        assert (tmp_path / "snapshots" / "s.snapshot").stat().st_mode & 0o777 == 0o600
        assert [p.name for p in (tmp_path / "snapshots").iterdir()] == ["s.snapshot"]


def test_an_unreadable_file_is_reported_not_trusted(tmp_path):
    store = SnapshotStore(tmp_path)
    (tmp_path / "s.snapshot").write_bytes(b"garbage")
    assert store.generation("s.snapshot") == UNREADABLE
    (tmp_path / "j.snapshot").write_bytes(b"[1, 2]")
    assert store.generation("j.snapshot") == UNREADABLE
    with store.open("s.snapshot") as (snapshot, generation, problem):
        assert snapshot is None and generation == UNREADABLE and "cannot be read" in problem
    write(tmp_path / "t.snapshot", records(4))
    (tmp_path / "t.snapshot").write_bytes((tmp_path / "t.snapshot").read_bytes()[:-8])  # a partial copy
    with store.open("t.snapshot") as (snapshot, _, problem):
        assert snapshot is None and "size does not match" in problem
