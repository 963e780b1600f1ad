"""Retry-safe progress of a batched load, kept in a small JSON file outside XCom.

Airflow 3 clears a task's XCom before each retry, so a load records which batches it has
sent ("started") and which the API acknowledged ("acked") in a file keyed by the task
instance. A retry that reads the same input with the same batch settings skips the acked
batches; batches started but never acked are "in doubt" (the API may or may not have
stored them), and the caller decides whether resending them is safe.

A checkpoint is only trusted for the same input fingerprint and batch settings: with
either changed, batch indices no longer name the same rows, so the load starts over.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from airflow_provider_monetate.exceptions import CheckpointError, ConfigurationError
from airflow_provider_monetate.storage import Folder

__all__ = ["Checkpoint", "CheckpointStore", "Progress", "ResumePlan", "checkpoint_key"]

_FORMAT_VERSION = 1
_KEY = re.compile(r"[A-Za-z0-9._-]{1,200}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_READABLE_KEY_CHARS = 150


def checkpoint_key(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """A filesystem- and object-store-safe checkpoint name for one task instance.

    The name is readable (unsafe characters become ``_``) and ends with a hash of the
    exact ids, so distinct task instances never share a name.

    :param dag_id: the DAG id.
    :param run_id: the DAG run id (may contain ``:``, ``+`` and other unsafe characters).
    :param task_id: the task id.
    :param map_index: the mapped task's index; -1 when not mapped.
    """
    readable = "__".join(_UNSAFE.sub("_", str(part)) for part in (dag_id, run_id, task_id, map_index))
    digest = hashlib.sha256(json.dumps([dag_id, run_id, task_id, map_index]).encode()).hexdigest()[:16]
    return f"{readable[:_READABLE_KEY_CHARS]}.{digest}"


class ResumePlan(NamedTuple):
    """What a new try does with a previous try's checkpoint.

    :param skip: batch indices acknowledged before: do not send them again.
    :param in_doubt: batch indices sent before without an acknowledgement.
    :param reason: why the previous checkpoint was discarded (a warning for the log), or
        None if there was none or it was used.
    """

    skip: set[int]
    in_doubt: set[int]
    reason: str | None


@dataclass
class Checkpoint:
    """Progress of one load.

    :param fingerprint: fingerprint of the input the batches were cut from.
    :param settings: batch settings the indices depend on (e.g. ``max_rows``, ``max_bytes``).
    :param started: indices of batches sent at least once.
    :param acked: indices of batches the API acknowledged.
    """

    fingerprint: str
    settings: dict[str, Any]
    started: set[int] = field(default_factory=set)
    acked: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        # Compare settings as they will read back from JSON (tuples become lists, keys strings).
        self.settings = _as_json(self.settings)

    def in_doubt(self) -> set[int]:
        """Batches sent but never acknowledged."""
        return self.started - self.acked

    def resume_plan(self, fingerprint: str, settings: dict[str, Any]) -> ResumePlan:
        """Decide how a new try with this input and these settings uses this checkpoint.

        :param fingerprint: the new try's input fingerprint.
        :param settings: the new try's batch settings.
        """
        if fingerprint != self.fingerprint:
            return ResumePlan(set(), set(), "the input changed since the previous try; starting over")
        settings = _as_json(settings)
        if settings != self.settings:
            return ResumePlan(
                set(),
                set(),
                f"the batch settings changed since the previous try ({self.settings} -> {settings}); starting over",
            )
        return ResumePlan(set(self.acked), self.in_doubt(), None)

    def to_json(self) -> bytes:
        """Serialise compactly: index sets become ``[first, last]`` ranges."""
        return json.dumps(
            {
                "version": _FORMAT_VERSION,
                "fingerprint": self.fingerprint,
                "settings": self.settings,
                "started": _to_ranges(self.started),
                "acked": _to_ranges(self.acked),
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Checkpoint:
        """Read what :meth:`to_json` wrote.

        :param data: the file content.
        :raises CheckpointError: the content is not a checkpoint of a known version.
        """
        try:
            doc = json.loads(data)
            if doc.get("version") != _FORMAT_VERSION:
                raise CheckpointError(f"unknown checkpoint version {doc.get('version')!r}")
            return cls(
                fingerprint=str(doc["fingerprint"]),
                settings=dict(doc["settings"]),
                started=_from_ranges(doc["started"]),
                acked=_from_ranges(doc["acked"]),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"not a valid checkpoint ({exc})") from None


class CheckpointStore:
    """Checkpoint files in one folder (see :class:`~airflow_provider_monetate.storage.Folder`).

    Each save replaces the file atomically, so a crash mid-write leaves the previous version.
    Saves are not fsynced (see ``Folder.create``): a retried task recovers from a crashed
    process, for which the atomic rename is enough.

    :param directory: a local directory (created if missing) or an object storage path.
    """

    def __init__(self, directory: Any) -> None:
        self._folder = Folder(directory)

    def load(self, key: str) -> Checkpoint | None:
        """Read a checkpoint.

        :param key: the checkpoint's name, e.g. from :func:`checkpoint_key`.
        :return: the checkpoint, or None if there is none.
        :raises CheckpointError: the file exists but cannot be read as a checkpoint; delete
            it to start over (at the risk of resending what was already delivered).
        """
        name = _file_name(key)
        data = self._folder.read(name)
        if data is None:
            return None
        try:
            return Checkpoint.from_json(data)
        except CheckpointError as exc:
            raise CheckpointError(
                f"checkpoint {name} in {self._folder.location} is unusable: {exc}. Delete it to start the "
                "load over, which may resend rows the previous try delivered."
            ) from None

    def save(self, key: str, checkpoint: Checkpoint) -> None:
        """Write a checkpoint, replacing any previous one atomically.

        :param key: the checkpoint's name.
        :param checkpoint: what to write.
        """
        self.save_encoded(key, checkpoint.to_json())

    def save_encoded(self, key: str, data: bytes) -> None:
        """Write a checkpoint already encoded with :meth:`Checkpoint.to_json`.

        :param key: the checkpoint's name.
        :param data: the encoded checkpoint.
        """
        self._folder.write(_file_name(key), data, durable=False)

    def delete(self, key: str) -> None:
        """Remove a checkpoint, e.g. once every batch is acknowledged. Missing is fine.

        :param key: the checkpoint's name.
        """
        self._folder.delete(_file_name(key))

    def begin(self, key: str, fingerprint: str, settings: dict[str, Any]) -> Progress:
        """Start (or resume) a load: read the previous checkpoint, plan, and save the new one.

        :param key: the checkpoint's name, e.g. from :func:`checkpoint_key`.
        :param fingerprint: the input's fingerprint.
        :param settings: the batch settings batch indices depend on.
        :return: the load's :class:`Progress`; its ``plan`` says what to skip.
        """
        previous = self.load(key)
        if previous is None:
            plan, checkpoint = ResumePlan(set(), set(), None), Checkpoint(fingerprint, settings)
        else:
            plan = previous.resume_plan(fingerprint, settings)
            checkpoint = previous if plan.reason is None else Checkpoint(fingerprint, settings)
        self.save(key, checkpoint)
        return Progress(self, key, checkpoint, plan)


class Progress:
    """A running load's checkpoint, shared by the threads that send its batches.

    A start is persisted before the call returns: mark a batch started *before* sending it,
    so a crash mid-request leaves it in doubt rather than forgotten. Acknowledgements ride
    along with the next start (or :meth:`flush`): one write per batch instead of two, and a
    crash loses at most the acks since the last start, which only puts those batches in
    doubt. Writes are serialised; a thread whose change a later write already carried skips
    its own write.

    :param store: where the checkpoint lives.
    :param key: the checkpoint's name.
    :param checkpoint: the state to start from.
    :param plan: the resume plan the state came with.
    """

    def __init__(self, store: CheckpointStore, key: str, checkpoint: Checkpoint, plan: ResumePlan) -> None:
        self.key = key
        self.plan = plan
        self._store = store
        self._checkpoint = checkpoint
        self._state_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._version = 0
        self._written = 0

    def mark_started(self, index: int) -> None:
        """Record that batch ``index`` is about to be sent.

        :param index: the batch index.
        """
        self._update(self._checkpoint.started, index)

    def mark_acked(self, index: int) -> None:
        """Record that the API acknowledged batch ``index`` (persisted with the next write).

        :param index: the batch index.
        """
        with self._state_lock:
            if index not in self._checkpoint.acked:
                self._checkpoint.acked.add(index)
                self._version += 1

    def mark_not_sent(self, index: int) -> None:
        """Record that batch ``index`` failed in a way that proves nothing was processed (a 429 or
        503 outage, a refused connection, a 4xx): it is not in doubt, only unsent (persisted with
        the next write).

        :param index: the batch index.
        """
        with self._state_lock:
            if index in self._checkpoint.started and index not in self._checkpoint.acked:
                self._checkpoint.started.discard(index)
                self._version += 1

    def flush(self) -> None:
        """Persist acknowledgements not yet written (e.g. before a failed try ends)."""
        with self._state_lock:
            version = self._version
        self._persist(version)

    def in_doubt(self) -> set[int]:
        """Batches sent but not (yet) acknowledged."""
        with self._state_lock:
            return self._checkpoint.in_doubt()

    def snapshot(self) -> Checkpoint:
        """A copy of the current state."""
        with self._state_lock:
            current = self._checkpoint
            return Checkpoint(current.fingerprint, current.settings, set(current.started), set(current.acked))

    def finish(self) -> None:
        """Delete the checkpoint once the load has completed."""
        self._store.delete(self.key)

    def _update(self, indices: set[int], index: int) -> None:
        with self._state_lock:
            if index in indices:
                return
            indices.add(index)
            self._version += 1
            version = self._version
        self._persist(version)

    def _persist(self, version: int) -> None:
        with self._write_lock:
            if self._written >= version:
                return
            with self._state_lock:
                data = self._checkpoint.to_json()
                latest = self._version
            self._store.save_encoded(self.key, data)
            self._written = latest


def _file_name(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ConfigurationError(f"checkpoint key {key!r} must be 1-200 of A-Z a-z 0-9 . _ - (see checkpoint_key())")
    return f"{key}.json"


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True))


def _to_ranges(indices: set[int]) -> list[list[int]]:
    ranges: list[list[int]] = []
    for index in sorted(indices):
        if ranges and ranges[-1][1] == index - 1:
            ranges[-1][1] = index
        else:
            ranges.append([index, index])
    return ranges


def _from_ranges(ranges: list[list[int]]) -> set[int]:
    return {index for first, last in ranges for index in range(int(first), int(last) + 1)}
