from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_monetate.exceptions import CheckpointError
from airflow_provider_monetate.loading._checkpoints import Checkpoint, CheckpointStore, ResumePlan, checkpoint_key
from tests.support.fake_object_store import FakeObjectPath

SETTINGS = {"max_rows": 500, "max_bytes": 5_000_000}
KEY = "load_events__manual__2024-05-01__post__-1.0123456789abcdef"


def FakeStoragePath(objects: dict[str, bytes], path: str = "s3://bucket/checkpoints") -> FakeObjectPath:
    return FakeObjectPath(objects, path)


# --- keys -----------------------------------------------------------------------------


def test_checkpoint_key_is_safe_readable_and_deterministic():
    key = checkpoint_key("load.events", "manual__2024-05-01T12:00:00+00:00", "post_rows", 3)
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[0-9a-f]{16}", key)
    assert key.startswith("load_events__manual__2024-05-01T12_00_00_00_00__post_rows__3.")
    assert key == checkpoint_key("load.events", "manual__2024-05-01T12:00:00+00:00", "post_rows", 3)


@pytest.mark.parametrize(
    "other",
    [
        ("dag", "run", "task", 1),
        ("dag", "run", "task", -1),
        ("dag", "run:", "task", 0),  # same readable form, different ids
        ("dag_", "_run", "task", 0),
        ("dag", "run", "task2", 0),
    ],
)
def test_checkpoint_keys_differ_for_different_task_instances(other):
    assert checkpoint_key(*other) != checkpoint_key("dag", "run_", "task", 0)


def test_checkpoint_key_stays_short_for_long_ids(tmp_path):
    key = checkpoint_key("d" * 250, "r" * 250, "t" * 250, 10_000)
    assert len(key) <= 200
    assert CheckpointStore(tmp_path).load(key) is None  # accepted as a file name
    assert key != checkpoint_key("d" * 250, "r" * 250, "t" * 250, 10_001)


@given(st.text(min_size=1, max_size=60), st.text(min_size=1, max_size=60), st.integers(-1, 5000))
def test_any_ids_give_a_key_the_store_accepts(run_id, task_id, map_index):
    with tempfile.TemporaryDirectory() as directory:
        assert CheckpointStore(directory).load(checkpoint_key("dag", run_id, task_id, map_index)) is None


# --- checkpoint and resume plan -------------------------------------------------------


def test_in_doubt_is_started_minus_acked():
    checkpoint = Checkpoint("fp", SETTINGS, started={0, 1, 2, 5}, acked={0, 2})
    assert checkpoint.in_doubt() == {1, 5}


def test_resume_with_same_input_and_settings_skips_acked_and_reports_in_doubt():
    checkpoint = Checkpoint("fp", SETTINGS, started={0, 1, 2, 3}, acked={0, 1, 3})
    assert checkpoint.resume_plan("fp", dict(SETTINGS)) == ResumePlan({0, 1, 3}, {2}, None)


def test_changed_input_starts_over_with_a_reason():
    checkpoint = Checkpoint("fp", SETTINGS, started={0, 1}, acked={0})
    plan = checkpoint.resume_plan("other", SETTINGS)
    assert (plan.skip, plan.in_doubt) == (set(), set())
    assert "input changed since the previous try" in plan.reason


def test_changed_settings_start_over_with_a_reason():
    plan = Checkpoint("fp", SETTINGS, acked={0}).resume_plan("fp", {**SETTINGS, "max_rows": 200})
    assert (plan.skip, plan.in_doubt) == (set(), set())
    assert "batch settings changed" in plan.reason and "200" in plan.reason


def test_settings_compare_as_json():
    checkpoint = Checkpoint("fp", {"limits": (1, 2)}, acked={4})
    assert checkpoint.resume_plan("fp", {"limits": [1, 2]}).skip == {4}


def test_json_round_trip_uses_ranges():
    checkpoint = Checkpoint("fp", SETTINGS, started=set(range(400)) | {402}, acked=set(range(398)) | {399})
    data = checkpoint.to_json()
    assert json.loads(data)["acked"] == [[0, 397], [399, 399]]
    assert len(data) < 200
    assert Checkpoint.from_json(data) == checkpoint


@given(st.sets(st.integers(0, 2000)), st.sets(st.integers(0, 2000)))
def test_json_round_trip_any_sets(started, acked):
    checkpoint = Checkpoint("fp", SETTINGS, started=started, acked=acked)
    assert Checkpoint.from_json(checkpoint.to_json()) == checkpoint


@pytest.mark.parametrize("data", [b"", b"{", b"[]", b'{"version": 99}', b'{"version": 1, "fingerprint": "x"}'])
def test_from_json_rejects_garbage(data):
    with pytest.raises(ValueError, match="not a valid checkpoint"):
        Checkpoint.from_json(data)


# --- store ----------------------------------------------------------------------------


@pytest.fixture(params=["local", "storage"])
def store(request, tmp_path):
    if request.param == "local":
        return CheckpointStore(tmp_path / "checkpoints")
    return CheckpointStore(FakeStoragePath({}))


def test_save_load_delete(store):
    assert store.load(KEY) is None
    checkpoint = Checkpoint("fp", SETTINGS, started={0, 1}, acked={0})
    store.save(KEY, checkpoint)
    assert store.load(KEY) == checkpoint
    store.delete(KEY)
    assert store.load(KEY) is None
    store.delete(KEY)  # already gone: fine


def test_keys_are_validated(store):
    with pytest.raises(ValueError, match="checkpoint key"):
        store.load("../escape")


def test_local_write_is_atomic_when_interrupted(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save(KEY, Checkpoint("fp", SETTINGS, acked={0}))
    with mock.patch("os.replace", side_effect=KeyboardInterrupt), pytest.raises(KeyboardInterrupt):
        store.save(KEY, Checkpoint("fp", SETTINGS, acked={0, 1}))
    assert store.load(KEY) == Checkpoint("fp", SETTINGS, acked={0})
    assert os.listdir(tmp_path) == [f"{KEY}.json"]  # no temporary file left behind


def test_unreadable_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / f"{KEY}.json").write_text("{truncated")
    with pytest.raises(CheckpointError, match=rf"{re.escape(KEY)}\.json .* is unusable.*Delete it"):
        CheckpointStore(tmp_path).load(KEY)


def test_file_url_storage_paths_are_written_locally(tmp_path):
    compat = pytest.importorskip("airflow_provider_monetate._compat")
    directory = compat.ObjectStoragePath(f"file://{tmp_path}/cp")
    store = CheckpointStore(directory)
    store.save(KEY, Checkpoint("fp", SETTINGS, acked={1}))
    assert (tmp_path / "cp" / f"{KEY}.json").exists()
    assert store.load(KEY) == Checkpoint("fp", SETTINGS, acked={1})


def test_unsupported_directory_is_a_type_error():
    with pytest.raises(TypeError):
        CheckpointStore(42)


# --- begin / progress -----------------------------------------------------------------


def test_fresh_begin_has_nothing_to_skip(store):
    progress = store.begin(KEY, "fp", SETTINGS)
    assert progress.plan == ResumePlan(set(), set(), None)
    assert store.load(KEY) == Checkpoint("fp", SETTINGS)


def test_progress_is_persisted_and_a_retry_resumes(store):
    progress = store.begin(KEY, "fp", SETTINGS)
    for index in range(5):
        progress.mark_started(index)
    for index in (0, 1, 3):
        progress.mark_acked(index)
    assert progress.in_doubt() == {2, 4}
    progress.flush()
    # The worker dies here; the retry reads the same input with the same settings.
    retry = store.begin(KEY, "fp", SETTINGS)
    assert retry.plan == ResumePlan({0, 1, 3}, {2, 4}, None)
    retry.mark_started(2)
    retry.mark_acked(2)
    assert retry.snapshot().acked == {0, 1, 2, 3}
    retry.flush()
    assert store.load(KEY).acked == {0, 1, 2, 3}


def test_acks_ride_with_the_next_start_and_a_crash_only_adds_doubt(store):
    progress = store.begin(KEY, "fp", SETTINGS)
    progress.mark_started(0)
    progress.mark_acked(0)
    assert store.load(KEY).in_doubt() == {0}  # not yet written: a crash now leaves batch 0 in doubt
    progress.mark_started(1)
    assert store.load(KEY).acked == {0} and store.load(KEY).in_doubt() == {1}


def test_retry_with_changed_input_starts_over(store):
    progress = store.begin(KEY, "fp", SETTINGS)
    progress.mark_started(0)
    progress.mark_acked(0)
    retry = store.begin(KEY, "changed", SETTINGS)
    assert retry.plan.skip == set()
    assert "input changed" in retry.plan.reason
    assert store.load(KEY) == Checkpoint("changed", SETTINGS)


def test_finish_deletes_the_checkpoint(store):
    progress = store.begin(KEY, "fp", SETTINGS)
    progress.mark_acked(0)
    progress.finish()
    assert store.load(KEY) is None


def test_marking_twice_does_not_rewrite(tmp_path):
    store = CheckpointStore(tmp_path)
    progress = store.begin(KEY, "fp", SETTINGS)
    with mock.patch.object(store, "save_encoded", wraps=store.save_encoded) as write:
        progress.mark_started(0)
        progress.mark_started(0)
        progress.mark_acked(0)
        progress.mark_acked(0)
        progress.flush()
        progress.flush()
    assert write.call_count == 2


def test_concurrent_marks_from_threads_are_all_persisted(store):
    progress = store.begin(KEY, "fp", SETTINGS)
    barrier = threading.Barrier(8)

    def send(worker: int) -> None:
        barrier.wait()
        for index in range(worker, 400, 8):
            progress.mark_started(index)
            progress.mark_acked(index)

    threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    progress.flush()
    saved = store.load(KEY)
    assert saved.acked == saved.started == set(range(400))
    assert json.loads(saved.to_json())["acked"] == [[0, 399]]


def test_each_start_is_persisted_before_it_returns(tmp_path):
    store = CheckpointStore(tmp_path)
    progress = store.begin(KEY, "fp", SETTINGS)
    for index in range(50):
        progress.mark_started(index)
        assert index in store.load(KEY).started
        assert store.load(KEY).in_doubt() == {index}  # every earlier ack went out with this start
        progress.mark_acked(index)
