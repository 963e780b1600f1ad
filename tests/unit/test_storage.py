"""Locations: local or object storage told apart once, files written whole or not at all, default folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_monetate import storage
from airflow_provider_monetate.exceptions import ConfigurationError, LocationError
from airflow_provider_monetate.storage import Folder, as_location, local_path, open_for_writing
from tests.support.fake_object_store import FakeObjectPath


def test_folder_create_publishes_nothing_on_failure(tmp_path):
    folder = Folder(tmp_path)
    with pytest.raises(RuntimeError), folder.create("ids.ndjson") as file:
        file.write(b"partial\n")
        raise RuntimeError("the load failed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("durable", [True, False])
def test_folder_write_replaces_atomically_and_fsyncs_only_when_durable(tmp_path, monkeypatch, durable):
    synced = []
    monkeypatch.setattr(storage.os, "fsync", synced.append)
    folder = Folder(tmp_path / "new")
    folder.write("a.json", b"one", durable=durable)
    folder.write("a.json", b"two", durable=durable)
    assert folder.read("a.json") == b"two" and folder.names() == ["a.json"]
    assert len(synced) == (2 if durable else 0)


def test_folder_reads_lists_and_deletes_on_object_storage():
    objects: dict[str, bytes] = {}
    folder = Folder(FakeObjectPath(objects, "s3://bucket/work"))
    assert folder.names() == [] and folder.read("x") is None
    folder.write("b", b"2")
    folder.write("a", b"1")
    assert folder.names() == ["a", "b"] and folder.read("a") == b"1" and folder.location == "s3://bucket/work"
    folder.delete("a")
    folder.delete("a")  # a missing file is fine
    assert folder.names() == ["b"]


def test_local_path_tells_local_from_object_storage(tmp_path):
    assert local_path(tmp_path) == tmp_path and local_path(str(tmp_path)) == tmp_path
    assert local_path("~/x") == Path("~/x").expanduser()
    assert local_path(FakeObjectPath({}, "s3://bucket/x")) is None
    with pytest.raises(LocationError, match="is a URI"):
        local_path("s3://bucket/x")
    with pytest.raises(LocationError) as info:
        local_path(42)
    assert isinstance(info.value, (TypeError, ConfigurationError))


def test_as_location_turns_only_uris_into_storage_paths(tmp_path):
    assert as_location(None) is None and as_location(tmp_path) == tmp_path and as_location("/data/x") == "/data/x"
    pytest.importorskip("airflow")
    location = as_location(f"file://{tmp_path}/x")
    assert location.protocol == "file" and local_path(location) == tmp_path / "x"


def test_open_for_writing_creates_local_folders(tmp_path):
    target = tmp_path / "deep" / "report.jsonl"
    with open_for_writing(target) as file:
        file.write(b"{}\n")
    assert target.read_bytes() == b"{}\n"


def test_default_folders_live_under_airflow_home(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    home = tmp_path / "monetate"
    assert storage.state_dir() == home
    assert [storage.default_checkpoint_dir(), storage.default_rejects_dir(), storage.default_ledger(),
            storage.default_deletion_work_dir()] == [home / "checkpoints", home / "rejects", home / "deletion_ledger",
                                                     home / "deletions"]


def test_streamed_files_are_readable_by_their_owner_only_and_removable(tmp_path):
    target = tmp_path / "r.jsonl"
    with open_for_writing(target) as file:
        file.write(b"x")
    assert target.stat().st_mode & 0o777 == 0o600
    storage.remove_file(target)
    storage.remove_file(target)  # a missing file is fine
    assert not target.exists()


@pytest.mark.parametrize(
    ("executors", "shared", "warned"),
    [
        (["CeleryExecutor"], False, True),
        (["LocalExecutor", "airflow.providers.celery.executors.celery_executor.CeleryExecutor"], False, True),
        (["LocalExecutor"], False, False),
        (["CeleryExecutor"], True, False),
    ],
)
def test_a_worker_local_folder_is_flagged_only_when_tasks_run_elsewhere(tmp_path, executors, shared, warned):
    location = FakeObjectPath({}, "s3://bucket/checkpoints") if shared else tmp_path / "checkpoints"
    warning = storage.worker_local_warning(location, "checkpoint_dir", executors)
    assert (warning is not None) == warned
    if warned:
        assert "checkpoint_dir" in warning and str(location) in warning and "Celery" in warning


# -- whole files published with a precondition, fetched to local disk (incremental sync snapshots) --------


def test_default_snapshot_folder_sits_with_the_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert storage.snapshot_dir() == tmp_path / "monetate" / "checkpoints" / "snapshots"
    assert storage.snapshot_dir(str(tmp_path / "cp")) == tmp_path / "cp" / "snapshots"
    assert str(storage.snapshot_dir(FakeObjectPath({}, "s3://b/cp"))) == "s3://b/cp/snapshots"


def test_folder_reads_only_the_head_of_a_file_when_asked(tmp_path):
    folder = Folder(tmp_path)
    folder.write("big", b"header" + b"x" * 10_000)
    assert folder.read("big", size=6) == b"header"
    assert Folder(FakeObjectPath({"s3://b/f/big": b"header..."}, "s3://b/f")).read("big", size=6) == b"header"


@pytest.mark.parametrize("remote", [False, True])
def test_put_publishes_a_local_file_whole_only_when_the_check_passes(tmp_path, remote):
    objects: dict[str, bytes] = {}
    folder = Folder(FakeObjectPath(objects, "s3://b/state") if remote else tmp_path / "state")
    source = tmp_path / "new.bin"
    source.write_bytes(b"v1")
    folder.put("s.snapshot", source)
    assert folder.read("s.snapshot") == b"v1"
    source.write_bytes(b"v2")
    with pytest.raises(RuntimeError, match="someone else wrote"):
        folder.put("s.snapshot", source, check=lambda: (_ for _ in ()).throw(RuntimeError("someone else wrote")))
    assert folder.read("s.snapshot") == b"v1"  # the check refused: nothing replaced
    seen = []
    folder.put("s.snapshot", source, check=lambda: seen.append(folder.read("s.snapshot")))
    assert seen == [b"v1"] and folder.read("s.snapshot") == b"v2"
    if not remote:
        assert (tmp_path / "state" / "s.snapshot").stat().st_mode & 0o777 == 0o600
        assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["s.snapshot"]  # no temporary left over


@pytest.mark.parametrize("remote", [False, True])
def test_fetch_gives_a_local_path_copying_only_from_object_storage(tmp_path, remote):
    objects: dict[str, bytes] = {}
    folder = Folder(FakeObjectPath(objects, "s3://b/state") if remote else tmp_path / "state")
    with folder.fetch("missing") as path:
        assert path is None
    folder.write("s.snapshot", b"data")
    with folder.fetch("s.snapshot") as path:
        assert path.read_bytes() == b"data"
        assert (path.parent == tmp_path / "state") != remote  # object storage: a private local copy
        copy = path
    assert copy.exists() != remote  # the local copy is removed afterwards, the local original kept
