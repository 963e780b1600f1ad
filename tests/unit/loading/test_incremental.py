"""Incremental sync through load_parts(), without HTTP: only what changed is sent, the rest is counted."""

from __future__ import annotations

import json
import logging
import math

import pytest

from airflow_provider_monetate.exceptions import (
    ConfigurationError,
    DuplicateKeyError,
    InputShrankError,
    SnapshotConflictError,
    TooManyRejectedRowsError,
)
from airflow_provider_monetate.loading import _incremental, _snapshot_writer
from airflow_provider_monetate.loading._incremental import SyncTarget, sync_fingerprint
from airflow_provider_monetate.loading._pipeline import LoadOptions, LoadPart, load_parts
from airflow_provider_monetate.loading._rejects import RejectsReport
from airflow_provider_monetate.loading._snapshots import SnapshotStore
from airflow_provider_monetate.loading._sources import RecordSource
from tests.support.fake_object_store import FakeObjectPath

NAME = "events.snapshot"


class Sync:
    """One sync's runs over a snapshot store; remembers what each run sent."""

    def __init__(self, location, fingerprint="fp-1") -> None:
        self.store, self.fingerprint, self.sent = SnapshotStore(location), fingerprint, []

    def run(self, rows, *, full_resync=False, fail_after=None, key="id", options=None, reports=None, **settings):
        self.sent = []

        def send(batch):
            if fail_after is not None and len(self.sent) >= fail_after:
                raise RuntimeError("the network went away")
            self.sent.extend(json.loads(b"[" + batch.payload + b"]"))

        target = SyncTarget(self.store, NAME, self.fingerprint, "test sync", full_resync)
        part = LoadPart("", RecordSource(rows), lambda n, r: (r, []), send, True, key=key, sync=target)
        options = options or LoadOptions(max_rows=10, **settings)
        return load_parts([part], options=options, rejects=lambda name: RejectsReport(reports))[""]

    def generation(self):
        return self.store.generation(NAME)


def rows(n, start=0, version=0):
    return [{"id": f"k{i}", "v": version} for i in range(start, start + n)]


def counts(summary):
    return {k: getattr(summary, k) for k in ("rows_new", "rows_changed", "rows_unchanged", "keys_removed")}


@pytest.fixture
def sync(tmp_path):
    return Sync(tmp_path / "snapshots")


def test_the_first_run_sends_all_then_only_new_and_changed_rows(sync):
    first = sync.run(rows(100))
    assert len(sync.sent) == 100 and counts(first) == {"rows_new": 100, "rows_changed": 0, "rows_unchanged": 0,
                                                        "keys_removed": 0}
    assert first.full_sync_reason.startswith("no snapshot yet") and first.snapshot_generation == 1
    data = rows(100)
    for i in (3, 50, 99):
        data[i]["v"] = 1
    second = sync.run(data + rows(2, start=100))
    assert sorted(r["id"] for r in sync.sent) == ["k100", "k101", "k3", "k50", "k99"]
    assert counts(second) == {"rows_new": 2, "rows_changed": 3, "rows_unchanged": 97, "keys_removed": 0}
    assert second.rows_sent == 5 and second.batches == 1 and second.rows_rejected == 0
    assert second.full_sync_reason is None and second.snapshot_generation == 2
    third = sync.run(data[10:] + rows(2, start=100))  # ten keys left the input: reported, never deleted
    assert sync.sent == [] and counts(third) == {"rows_new": 0, "rows_changed": 0, "rows_unchanged": 92,
                                                 "keys_removed": 10}
    assert third.as_dict()["sync"] == "incremental"


def test_an_unchanged_run_keeps_the_snapshot_and_a_field_order_or_key_type_change_is_only_resent(sync):
    sync.run(rows(20))
    assert sync.run(rows(20)).snapshot_generation == 1 and sync.sent == []
    sync.run([{"v": r["v"], "id": r["id"]} for r in rows(20)])  # the same rows, fields in another order
    assert len(sync.sent) == 20  # sent again (harmless: an upsert), then remembered as such


def test_the_last_row_of_a_key_wins_across_sent_and_unchanged_rows(sync, tmp_path):
    sync.run(rows(30))
    report = tmp_path / "rejects.jsonl"
    changed_then_unchanged = [*rows(30), {"id": "k5", "v": 7}, {"id": "k5", "v": 0}]
    summary = sync.run(changed_then_unchanged, reports=report)
    assert sync.sent == [] and summary.rows_duplicate == 2 and summary.rows_unchanged == 30
    reasons = [json.loads(line)["reason"] for line in report.read_text().splitlines()]
    assert reasons == ["duplicate of row 32's id: only the last row with the same id is sent"] * 2
    unchanged_then_changed = [*rows(30), {"id": "k5", "v": 0}, {"id": "k5", "v": 9}]
    summary = sync.run(unchanged_then_changed)
    assert sync.sent == [{"id": "k5", "v": 9}] and summary.rows_duplicate == 2
    assert counts(summary) == {"rows_new": 0, "rows_changed": 1, "rows_unchanged": 29, "keys_removed": 0}
    assert sync.run(rows(30)) and sync.sent == [{"id": "k5", "v": 0}]  # the snapshot held the last row sent


@pytest.mark.parametrize(("tail", "sent", "kept", "changed"), [
    ([{"id": "k5", "v": 9}, {"id": "k5", "v": 0}], [], 12, 0),  # unchanged, changed, unchanged: the last wins
    ([{"id": "k5", "v": 0}, {"id": "k5", "v": 9}], [{"id": "k5", "v": 9}], 12, 1),  # unchanged twice, then changed
])
def test_identical_unchanged_rows_and_a_changed_one_of_the_same_key(sync, tmp_path, tail, sent, kept, changed):
    sync.run(rows(10))  # row 6 is k5 as the snapshot holds it
    report = tmp_path / "rejects.jsonl"
    summary = sync.run([*rows(10), *tail], reports=report)
    assert sync.sent == sent and summary.rows_duplicate == 2
    assert (summary.rows_changed, summary.rows_unchanged, summary.rows_new) == (changed, 10 - changed, 0)
    assert [json.loads(line)["row"] for line in report.read_text().splitlines()] == [6, 11]
    assert {json.loads(line)["reason"] for line in report.read_text().splitlines()} == {
        f"duplicate of row {kept}'s id: only the last row with the same id is sent"}
    sync.run(rows(10))
    assert sync.sent == ([{"id": "k5", "v": 0}] if changed else [])  # the snapshot holds what was sent last


def test_a_repeat_key_with_fail_sends_nothing_even_when_unchanged(sync):
    sync.run(rows(10))
    with pytest.raises(DuplicateKeyError):
        sync.run(rows(10) + rows(1), on_duplicate_key="fail")
    assert sync.sent == []


def test_a_changed_fingerprint_or_full_resync_sends_everything_and_says_why(tmp_path, caplog):
    sync = Sync(tmp_path)
    sync.run(rows(10))
    caplog.set_level(logging.INFO, logger=_incremental.__name__)
    summary = Sync(tmp_path, fingerprint="fp-2").run(rows(10))
    assert summary.rows_sent == 10 and "normalisation rules changed" in summary.full_sync_reason
    assert "test sync: full run: the destination, the dataset's fields or the normalisation rules" in caplog.text
    again = Sync(tmp_path, fingerprint="fp-2")
    assert again.run(rows(10)).rows_sent == 0
    assert again.run(rows(10), full_resync=True).rows_sent == 10 and again.generation() == 3


def test_fingerprints_are_stable_and_see_every_setting():
    settings = {"fields": {"b": {"data_type": "STRING"}, "a": {"data_type": "NUMBER"}}, "set": frozenset("xyz")}
    assert sync_fingerprint(settings) == sync_fingerprint({**settings, "set": frozenset("zyx")})
    assert sync_fingerprint(settings) != sync_fingerprint({**settings, "unknown_fields": "drop"})


def test_a_shrunken_input_is_refused_before_sending_unless_allowed(sync):
    sync.run(rows(100))
    with pytest.raises(InputShrankError, match=r"the input holds 49 keys, fewer than half of the 100 .*allow_shrink"):
        sync.run(rows(49, version=1))
    assert sync.sent == [] and sync.generation() == 1
    summary = sync.run(rows(49, version=1), allow_shrink=True)
    assert summary.rows_changed == 49 and summary.keys_removed == 51 and sync.generation() == 2


def test_a_dry_run_counts_and_neither_sends_nor_remembers(sync):
    sync.run(rows(10))
    summary = sync.run(rows(10, version=1) + rows(1, start=10), dry_run=True)
    assert sync.sent == [] and counts(summary) == {"rows_new": 1, "rows_changed": 10, "rows_unchanged": 0,
                                                   "keys_removed": 0}
    assert summary.dry_run and sync.generation() == 1


def test_a_failed_run_leaves_the_previous_snapshot_and_the_next_one_converges(sync):
    sync.run(rows(100))
    changed = rows(100, version=1)
    with pytest.raises(RuntimeError):
        sync.run(changed, fail_after=30)
    assert len(sync.sent) == 30 and sync.generation() == 1
    summary = sync.run(changed)  # another run: compares with the old snapshot, so resends what was sent too
    assert len(sync.sent) == 100 and summary.rows_changed == 100 and sync.generation() == 2
    assert sync.run(changed).rows_sent == 0


def test_two_runs_from_one_generation_leave_the_first_snapshot_and_fail_the_second(sync):
    sync.run(rows(10))
    target = SyncTarget(sync.store, NAME, sync.fingerprint, "test sync")
    with target.begin("id") as slow:
        sync.run(rows(10, version=2))  # another run reads generation 1 and writes 2 meanwhile
        with pytest.raises(SnapshotConflictError, match="another run of this sync wrote its snapshot"):
            slow.resolve({}, [])
            slow.commit()
    with sync.store.open(NAME) as (snapshot, generation, problem):
        assert generation == 2 and snapshot.keys == 10 and problem is None
    assert sync.run(rows(10, version=2)).rows_sent == 0


def test_a_row_that_cannot_be_sent_is_rejected_every_run_never_remembered(sync):
    sync.run(rows(10))
    bad = [*rows(10), {"id": "k99", "v": math.nan}]
    for _ in range(2):
        with pytest.raises(TooManyRejectedRowsError):
            sync.run(bad)
    summary = sync.run(bad, max_rejected_rows=1)
    assert summary.rows_rejected == 1 and summary.rows_unchanged == 10 and summary.rows_new == 0
    assert sync.run(bad, max_rejected_rows=1).rows_rejected == 1


def test_a_sync_needs_a_key_and_an_upserting_destination(sync):
    with pytest.raises(ConfigurationError, match="a diff needs a key"):
        sync.run(rows(3), key=None)


def test_large_runs_spill_and_state_on_object_storage_holds_no_key_or_value(monkeypatch):
    monkeypatch.setattr(_incremental, "CHUNK", 64)
    monkeypatch.setattr(_snapshot_writer, "CHUNK", 64)
    objects: dict[str, bytes] = {}
    sync = Sync(FakeObjectPath(objects, "s3://bucket/checkpoints/snapshots"))
    data = [{"id": f"customer-{i}", "email": f"person{i}@example.com"} for i in range(1000)]
    assert sync.run(data).rows_sent == 1000
    data[500]["email"] = "new@example.com"
    data[999]["id"] = "customer-1"  # now repeats an earlier key: the earlier row is left out
    summary = sync.run([*data, {"id": "customer-2000", "email": "x@example.com"}])
    assert sorted(r["id"] for r in sync.sent) == ["customer-1", "customer-2000", "customer-500"]
    assert counts(summary) == {"rows_new": 1, "rows_changed": 2, "rows_unchanged": 997, "keys_removed": 1}
    blob = objects[f"s3://bucket/checkpoints/snapshots/{NAME}"]
    assert b"customer" not in blob and b"example.com" not in blob
