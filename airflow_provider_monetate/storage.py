"""Where the provider keeps its files: local folders or object storage, written whole or not at all.

Every file the provider writes (load checkpoints, rejects reports, the proof-of-deletion
ledger, the deletion work files) lives at a *location*: a local path, or an Airflow
``ObjectStoragePath`` (``s3://...``, ``gs://...``) that several workers and the triggerer can
share. This module is the one place that

* turns a task argument into a location (:func:`as_location`: a URI becomes a storage path),
* tells local from object storage (:func:`local_path`),
* writes a file atomically (:meth:`Folder.create`, :meth:`Folder.write`), readable by its
  owner only on local disk (0600: these files hold customer IDs and rows),
* knows the default folders under ``$AIRFLOW_HOME/monetate`` (:func:`state_dir` and the
  ``default_*`` functions), and
* warns when such a folder is on one worker's disk while tasks run on other machines
  (:func:`worker_local_warning`).

No Airflow import at module level: :func:`as_location` imports ``ObjectStoragePath`` only
when it meets a URI, so the pure modules that take locations load without Airflow.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
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
    "state_dir",
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

    def read(self, name: str) -> bytes | None:
        """The file's content, or ``None`` when it does not exist."""
        try:
            with self.path(name).open("rb") as file:
                return file.read()
        except FileNotFoundError:
            return None

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
