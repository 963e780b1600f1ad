"""Where the provider keeps its files: local folders or object storage, written whole or not at all.

Every file the provider writes (load checkpoints, rejects reports, the proof-of-deletion
ledger, the deletion work files) lives at a *location*: a local path, or an Airflow
``ObjectStoragePath`` (``s3://...``, ``gs://...``) that several workers and the triggerer can
share. This module is the one place that

* turns a task argument into a location (:func:`as_location`: a URI becomes a storage path),
* tells local from object storage (:func:`local_path`),
* writes a file atomically (:meth:`Folder.create`, :meth:`Folder.write`, or :meth:`Folder.put`
  for a finished local file, after a last check), readable by its owner only on local disk
  (0600: these files hold customer IDs and rows), and copies one to local disk (:meth:`Folder.fetch`),
* knows the default folders under ``$AIRFLOW_HOME/monetate`` (:func:`state_dir` and the
  ``default_*`` functions), and
* warns when such a folder is on one worker's disk while tasks run on other machines
  (:func:`worker_local_warning`).

No Airflow import at module level: :func:`as_location` imports ``ObjectStoragePath`` only
when it meets a URI, so the pure modules that take locations load without Airflow.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from airflow_provider_monetate.exceptions import LocationError

__all__ = [
    "LOCAL_EXECUTORS",
    "Folder",
    "as_location",
    "default_checkpoint_dir",
    "default_deletion_work_dir",
    "default_ledger",
    "default_rejects_dir",
    "local_path",
    "open_for_writing",
    "remove_file",
    "snapshot_dir",
    "state_dir",
    "subfolder",
    "warn_if_worker_local",
    "worker_local_warning",
]

#: Executors that run every task on the scheduler's machine, so a local folder is seen by all tries.
LOCAL_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor", "DebugExecutor"})
_PRIVATE = 0o600


def state_dir() -> Path:
    """``$AIRFLOW_HOME/monetate``: the parent of every default folder below (worker-local)."""
    return Path(os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser() / "monetate"


def default_checkpoint_dir() -> Path:
    """``$AIRFLOW_HOME/monetate/checkpoints``: load progress kept for retries."""
    return state_dir() / "checkpoints"


def snapshot_dir(checkpoints: Any = None) -> Any:
    """Where incremental sync state lives: ``snapshots`` beside the load checkpoints, in the folder
    ``checkpoints`` (a ``checkpoint_dir``) or by default ``$AIRFLOW_HOME/monetate/checkpoints/snapshots``."""
    return subfolder(checkpoints if checkpoints is not None else default_checkpoint_dir(), "snapshots")


def subfolder(location: Any, name: str) -> Any:
    """The folder ``name`` inside ``location`` (a local path, a path string or a storage path)."""
    path = local_path(location)
    return path / name if path is not None else location / name


def default_rejects_dir() -> Path:
    """``$AIRFLOW_HOME/monetate/rejects``: one JSON Lines report of refused rows per load."""
    return state_dir() / "rejects"


def default_ledger() -> Path:
    """``$AIRFLOW_HOME/monetate/deletion_ledger``: the proof-of-deletion ledger."""
    return state_dir() / "deletion_ledger"


def default_deletion_work_dir() -> Path:
    """``$AIRFLOW_HOME/monetate/deletions``: submitted-IDs files, sensor state and reports."""
    return state_dir() / "deletions"


def as_location(value: Any) -> Any:
    """A task argument as a location: ``scheme://...`` becomes an ``ObjectStoragePath``;
    anything else (a local path, a storage path, ``None``) is returned as it is."""
    if isinstance(value, str) and "://" in value:
        from airflow_provider_monetate._compat import ObjectStoragePath

        return ObjectStoragePath(value)
    return value


def local_path(location: Any) -> Path | None:
    """The local path ``location`` names, or ``None`` when it is an object storage path.

    Storage paths carry a ``protocol``; on Airflow 2 they are also ``PathLike`` with a URL as
    their fspath, so the protocol is checked first. ``file://`` storage paths are local.

    :raises LocationError: a URI string (pass it through :func:`as_location` first), or an
        object that is neither a path nor a storage path.
    """
    protocol = getattr(location, "protocol", None)
    if protocol is None and isinstance(location, (str, os.PathLike)):
        text = os.fspath(location)
        if "://" in text:
            raise LocationError(f"{text!r} is a URI: pass it as an ObjectStoragePath (as_location), or a local path")
        return Path(text).expanduser()
    if protocol in ("", "file", "local") and isinstance(getattr(location, "path", None), str):
        return Path(location.path)
    if callable(getattr(location, "open", None)):
        return None
    raise LocationError(f"cannot use a {type(location).__name__} as a file location; pass a path or a storage path")


def open_for_writing(target: Any) -> IO[bytes]:
    """Open a file for streaming binary writes (not atomic); a local one is created 0600, with its folders."""
    path = local_path(target)
    if path is None:
        return target.open("wb")
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _PRIVATE), "wb")


def remove_file(target: Any) -> None:
    """Remove a file, local or in object storage; a missing one is fine."""
    path = local_path(target)
    with contextlib.suppress(FileNotFoundError):
        (path if path is not None else target).unlink()


def warn_if_worker_local(log: Any, executors: Iterable[str], **locations: Any) -> None:
    """Log :func:`worker_local_warning` for each ``setting=location`` that needs it (once per call).

    :param log: the task's logger.
    :param executors: the configured executors.
    """
    executors = list(executors)
    for setting, location in locations.items():
        warning = worker_local_warning(location, setting, executors) if location is not None else None
        if warning:
            log.warning("%s", warning)


def worker_local_warning(location: Any, setting: str, executors: Iterable[str]) -> str | None:
    """What to tell the user when ``location`` is on this machine's disk but tasks run elsewhere.

    :param location: the folder or file a task keeps state in (checkpoints, the ledger, ...).
    :param setting: the parameter that sets it, named in the warning.
    :param executors: the configured executors (``[core] executor``).
    :return: the warning, or ``None`` when the location is shared or every executor is local.
    """
    remote = [name for name in executors if name.rsplit(".", 1)[-1] not in LOCAL_EXECUTORS]
    if not remote or local_path(location) is None:
        return None
    return (
        f"{setting} is {location}, on this worker's local disk, but the executor ({', '.join(remote)}) can run "
        f"a retry or the next task on another machine, which cannot see it. Set {setting} to storage every "
        "worker can reach (an s3://, gs:// or other object storage URI)."
    )


class Folder:
    """A folder on local disk or in object storage whose files are written whole or not at all.

    :param location: a local path, or a storage path with ``/``, ``open`` and ``iterdir``
        (an Airflow ``ObjectStoragePath``).
    """

    def __init__(self, location: Any) -> None:
        self._local = local_path(location)
        self._remote = location if self._local is None else None
        if self._remote is not None and not callable(getattr(location, "__truediv__", None)):
            raise LocationError(f"cannot use a {type(location).__name__} as a folder: it has no '/' to name files")
        self.location = str(location)

    def __repr__(self) -> str:
        return f"Folder({self.location!r})"

    def path(self, name: str) -> Any:
        """The file ``name`` in this folder, as a ``Path`` or a storage path."""
        return self._local / name if self._local is not None else self._remote / name

    def names(self) -> list[str]:
        """File names in the folder, sorted; empty when the folder does not exist yet."""
        try:
            entries = os.listdir(self._local) if self._local is not None else [p.name for p in self._remote.iterdir()]
        except FileNotFoundError:
            return []
        return sorted(entries)

    @property
    def local(self) -> Path | None:
        """The folder's local path, or ``None`` on object storage."""
        return self._local

    def read(self, name: str, size: int = -1) -> bytes | None:
        """The file's content (its first ``size`` bytes when given), or ``None`` when it does not exist."""
        try:
            with self.path(name).open("rb") as file:
                return file.read(size)
        except FileNotFoundError:
            return None

    def put(self, name: str, source: Path, *, check: Callable[[], None] = lambda: None) -> None:
        """Publish the finished local file ``source`` as ``name``, whole, replacing any previous one.

        :param check: runs just before the file is published and may raise to publish nothing (e.g.
            "the file changed since I read it"). On local disk it runs under a lock on the folder, so
            two ``put`` calls cannot interleave their checks and replaces; object storage has no such
            lock: there another writer can publish between the check and the upload.
        """
        if self._local is None:
            check()
            with source.open("rb") as data, (self._remote / name).open("wb") as file:
                shutil.copyfileobj(data, file, 1 << 20)
            return
        self._local.mkdir(parents=True, exist_ok=True)
        copy = None
        if source.parent.resolve() != self._local.resolve():  # a rename within one file system is atomic
            handle, copy = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self._local)
            with os.fdopen(handle, "wb") as file, source.open("rb") as data:
                shutil.copyfileobj(data, file, 1 << 20)
            source = Path(copy)
        try:
            with _folder_lock(self._local):
                check()
                os.replace(source, self._local / name)
        finally:
            if copy is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(copy)

    @contextlib.contextmanager
    def fetch(self, name: str) -> Iterator[Path | None]:
        """The file as a local path for the ``with`` block (``None`` when it does not exist).

        A local file is used where it is; an object is first copied to a private (0600) temporary
        file, removed afterwards.
        """
        if self._local is not None:
            path = self._local / name
            yield path if path.exists() else None
            return
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".fetched")
        try:
            try:
                with os.fdopen(handle, "wb") as copy, self.path(name).open("rb") as data:
                    shutil.copyfileobj(data, copy, 1 << 20)
            except FileNotFoundError:
                yield None
                return
            yield Path(temporary)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temporary)

    def write(self, name: str, data: bytes, *, durable: bool = True) -> None:
        """Replace the file ``name`` with ``data`` atomically (see :meth:`create`)."""
        with self.create(name, durable=durable) as file:
            file.write(data)

    @contextlib.contextmanager
    def create(self, name: str, *, durable: bool = True) -> Iterator[IO[bytes]]:
        """Write a file that appears whole or not at all, replacing any previous one.

        Locally the data goes to a temporary file renamed into place on success; an object
        store publishes an object only once its upload completes.

        :param durable: flush the data to disk before the rename (fsync), so the file also
            survives a machine crash. Records that prove something (the ledger, the deletion
            state) are durable; load checkpoints are not: the rename alone is atomic for a
            crashed *process*, which is what a retried task recovers from, and an fsync per
            batch would cost more than sending the batch.
        """
        if self._local is None:
            with (self._remote / name).open("wb") as file:
                yield file
            return
        self._local.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self._local)
        try:
            with os.fdopen(handle, "wb") as file:
                yield file
                if durable:
                    file.flush()
                    os.fsync(file.fileno())
            os.replace(temporary, self._local / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(temporary)
            raise

    def delete(self, name: str) -> None:
        """Remove a file; a missing one is fine."""
        remove_file(self.path(name))


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on a local folder (``flock`` on the directory itself: no lock file is left behind)."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing releases the lock
