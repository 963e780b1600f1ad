"""Proof of deletion: an append-only ledger of erasure requests and their confirmations.

The ledger answers an auditor's questions ("when did we ask Monetate to erase C42, and when
did Monetate confirm it gone?") long after the DAG runs are forgotten. Every record is one
JSON object about one customer in one system::

    {"customer_id": "C42", "id_hash": null, "system": "monetate", "status": "confirmed",
     "delete_request_time": "2024-05-01T09:30:00.000000Z", "submitted_at": "2024-05-01T10:00:03.120000Z",
     "confirmed_at": "2024-05-03T03:00:00.000000Z", "dataset": "gdpr_deletions",
     "dag_id": "erase_customers", "run_id": "manual__2024-05-01", "recorded_at": "..."}

``status`` is ``submitted`` (the deletion was sent) or ``confirmed`` (the system reports the
customer gone); a customer's latest record is its current state. With ``hash_ids=True``,
``customer_id`` holds the SHA-256 of the ID (``id_hash: "sha256"``) instead of the ID.

Layout: the ledger is a directory, local or in object storage, of JSON Lines part files.
Each write adds one new part, named so that names sort in time order; no part is ever
changed. Object stores cannot append to an object and concurrent local appends can
interleave, so "one new part per write" is what makes the ledger append-only on both,
without locks.

The same module keeps the working files behind the ledger: the submitted-IDs file (the
rows a submission posted) and the deletion sensor's confirmation state. Unlike the ledger,
those hold raw customer IDs, because they are needed to act on.

No Airflow imports: object storage locations arrive as ``ObjectStoragePath`` objects.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import tempfile
import uuid
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from airflow_provider_monetate.monetate_rows import to_utc_iso
from airflow_provider_monetate.record_sources import RecordSource

__all__ = [
    "ACQUIA_CDP",
    "CONFIRMED",
    "MONETATE",
    "SUBMITTED",
    "DeletionLedger",
    "DeletionWatch",
    "ErasedIds",
    "Folder",
    "LedgerEntry",
    "hash_id",
    "read_submitted_ids",
    "utc_now_iso",
]

MONETATE = "monetate"
ACQUIA_CDP = "acquia_cdp"
SUBMITTED = "submitted"
CONFIRMED = "confirmed"
STATUSES = (SUBMITTED, CONFIRMED)
NOT_FOUND = "NOT_FOUND"  # Monetate's status for an ID that is gone

_PART_SUFFIX = ".jsonl"
_STATE_VERSION = 1


def utc_now_iso() -> str:
    """Now as UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, the format of every ledger timestamp."""
    return to_utc_iso(datetime.now(timezone.utc))


def hash_id(customer_id: str) -> str:
    """The SHA-256 (hex) of a customer ID, as a hashed ledger stores it.

    A plain hash pseudonymises: anyone holding a candidate ID can test it, which is what an
    audit needs; it does not make guessable IDs (sequential numbers) secret.
    """
    return hashlib.sha256(customer_id.encode()).hexdigest()


class Folder:
    """A directory on local disk or in object storage, written one whole file at a time.

    :param location: a local path, or a path object with ``/``, ``open`` and ``iterdir``
        (an Airflow ``ObjectStoragePath``); ``file://`` storage paths are treated as local.
    """

    def __init__(self, location: Any) -> None:
        self._local: Path | None = None
        self._remote: Any = None
        # Storage paths carry a protocol; on Airflow 2 they are also PathLike, with a URL as
        # their fspath, so the protocol is checked first.
        protocol = getattr(location, "protocol", None)
        if protocol is None and isinstance(location, (str, os.PathLike)):
            text = os.fspath(location)
            if "://" in text:
                raise TypeError(f"{text!r} is a URI: pass it as an ObjectStoragePath, or a local path")
            self._local = Path(text).expanduser()
        elif protocol in ("", "file", "local") and isinstance(getattr(location, "path", None), str):
            self._local = Path(location.path)
        elif callable(getattr(location, "__truediv__", None)) and callable(getattr(location, "open", None)):
            self._remote = location
        else:
            raise TypeError(f"cannot use a {type(location).__name__} as a directory; pass a path")
        self.location = str(location)

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

    @contextlib.contextmanager
    def create(self, name: str) -> Iterator[IO[bytes]]:
        """Write a file that appears whole or not at all (replacing any previous one).

        Locally the data goes to a temporary file renamed into place on success; an object
        store publishes an object only once its upload completes.
        """
        if self._remote is not None:
            with (self._remote / name).open("wb") as file:
                yield file
            return
        self._local.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self._local)
        try:
            with os.fdopen(handle, "wb") as file:
                yield file
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self._local / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(temporary)
            raise

    def delete(self, name: str) -> None:
        """Remove a file; a missing one is fine."""
        with contextlib.suppress(FileNotFoundError):
            if self._local is not None:
                (self._local / name).unlink()
            else:
                (self._remote / name).unlink()


@dataclass(frozen=True)
class LedgerEntry:
    """One event about one customer in one system.

    :param customer_id: the raw customer ID (the ledger hashes it when asked to).
    :param system: where the deletion happened: ``monetate``, ``acquia_cdp``, ...
    :param status: ``submitted`` or ``confirmed``.
    :param delete_request_time: when the person asked to be erased (UTC ISO-8601).
    :param submitted_at: when the deletion was sent to the system.
    :param confirmed_at: when the system reported the customer gone (``confirmed`` only).
    :param dataset: the Monetate privacy dataset, or the CDP entity, when there is one.
    :param dag_id: the DAG that did it.
    :param run_id: the DAG run that did it.
    """

    customer_id: str
    system: str
    status: str
    delete_request_time: str | None = None
    submitted_at: str | None = None
    confirmed_at: str | None = None
    dataset: str | None = None
    dag_id: str | None = None
    run_id: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if not self.system:
            raise ValueError("system is required, e.g. 'monetate' or 'acquia_cdp'")
        if not self.customer_id:
            raise ValueError("customer_id is required")


class ErasedIds:
    """Membership test for raw customer IDs against a ledger's plain and hashed records."""

    def __init__(self, plain: set[str], hashed: set[str]) -> None:
        self._plain = plain
        self._hashed = hashed

    def __contains__(self, customer_id: object) -> bool:
        if not isinstance(customer_id, str):
            return False
        return customer_id in self._plain or (bool(self._hashed) and hash_id(customer_id) in self._hashed)

    def __len__(self) -> int:
        return len(self._plain) + len(self._hashed)


class DeletionLedger:
    """The append-only proof-of-deletion ledger at one location.

    Writing, e.g. from an Acquia CDP deletion task::

        DeletionLedger(path).record_submitted(ids, system="acquia_cdp", delete_request_time=when)

    Reading, for an audit::

        ledger = DeletionLedger(path)
        ledger.confirmed_at("C42")          # when Monetate confirmed C42 gone, or None
        list(ledger.records(customer_id="C42"))
        ledger.erased_ids(system="monetate")

    :param location: the ledger directory: a local path or an ``ObjectStoragePath``.
    :param hash_ids: store the SHA-256 of each customer ID instead of the ID (reading
        handles plain and hashed records either way).
    """

    def __init__(self, location: Any, *, hash_ids: bool = False) -> None:
        self._folder = Folder(location)
        self.hash_ids = hash_ids
        self.location = self._folder.location

    def stored_id(self, customer_id: str) -> str:
        """How this ledger writes (and logs should show) a customer ID."""
        return hash_id(customer_id) if self.hash_ids else customer_id

    # -- writing ---------------------------------------------------------------------------

    def append(self, entries: Iterable[LedgerEntry]) -> int:
        """Write the entries as one new part file; return how many were written.

        Streams: memory does not grow with the number of entries. Nothing is written for none.
        """
        recorded_at = utc_now_iso()
        stamp = recorded_at.replace("-", "").replace(":", "")
        name = f"{stamp}-{uuid.uuid4().hex[:12]}{_PART_SUFFIX}"
        iterator = iter(entries)
        first = next(iterator, None)
        if first is None:
            return 0
        count = 0
        with self._folder.create(name) as file:
            for entry in itertools.chain((first,), iterator):
                file.write(self._encode(entry, recorded_at))
                count += 1
        return count

    def record_submitted(
        self,
        customer_ids: Iterable[str],
        *,
        system: str,
        delete_request_time: str | None,
        submitted_at: str | None = None,
        dataset: str | None = None,
        dag_id: str | None = None,
        run_id: str | None = None,
    ) -> int:
        """Record that deletions were sent to ``system`` (one part file for all the IDs).

        :param customer_ids: the raw IDs that were sent.
        :param system: ``monetate``, ``acquia_cdp``, ...
        :param delete_request_time: when the people asked (UTC ISO-8601), the same for all.
        :param submitted_at: when they were sent; default now.
        :return: how many records were written.
        """
        sent = submitted_at or utc_now_iso()
        return self.append(
            LedgerEntry(cid, system, SUBMITTED, delete_request_time, sent, None, dataset, dag_id, run_id)
            for cid in customer_ids
        )

    def _encode(self, entry: LedgerEntry, recorded_at: str) -> bytes:
        record = asdict(entry)
        record["customer_id"] = self.stored_id(entry.customer_id)
        record["id_hash"] = "sha256" if self.hash_ids else None
        record["recorded_at"] = recorded_at
        return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    # -- reading ---------------------------------------------------------------------------

    def records(self, customer_id: str | None = None, system: str | None = None) -> Iterator[dict[str, Any]]:
        """Every record, oldest part first; optionally only one customer's or one system's.

        :param customer_id: a raw ID; matched against hashed records by its hash.
        """
        hashed = hash_id(customer_id) if customer_id is not None else None
        for name in self._folder.names():
            if not name.endswith(_PART_SUFFIX):
                continue
            with self._folder.path(name).open("rb") as file:
                for line in file:
                    if not line.strip():
                        continue
                    record = json.loads(line)
                    if system is not None and record.get("system") != system:
                        continue
                    if customer_id is not None:
                        wanted = hashed if record.get("id_hash") else customer_id
                        if record.get("customer_id") != wanted:
                            continue
                    yield record

    def confirmed_at(self, customer_id: str, system: str | None = None) -> str | None:
        """When ``customer_id`` was first confirmed gone (in ``system``, or any), or ``None``."""
        times = [
            r["confirmed_at"] for r in self.records(customer_id, system)
            if r.get("status") == CONFIRMED and r.get("confirmed_at")
        ]
        return min(times, default=None)

    def erased_ids(self, system: str | None = None) -> set[str]:
        """The IDs with a deletion submitted or confirmed, as stored (hashes for hashed records)."""
        return {r["customer_id"] for r in self.records(system=system)}

    def erased(self, system: str | None = None) -> ErasedIds:
        """Like :meth:`erased_ids`, as a membership test that takes raw IDs, hashed ledger or not."""
        plain: set[str] = set()
        hashed: set[str] = set()
        for record in self.records(system=system):
            (hashed if record.get("id_hash") else plain).add(record["customer_id"])
        return ErasedIds(plain, hashed)


def read_submitted_ids(location: Any) -> dict[str, str | None]:
    """The submitted-IDs file: ``{customer_id: delete_request_time}``, in submission order.

    :param location: the NDJSON file a submission wrote (local path or storage path).
    """
    return {
        record["customer_id"]: record.get("delete_request_time")
        for _, record in RecordSource(location, "ndjson").iter()
    }


class DeletionWatch:
    """The deletion sensor's memory between pokes, kept in a small JSON file.

    In reschedule mode (and across retries, and when a triggerer restarts) the sensor's
    instance state is lost, so which IDs Monetate already reported ``NOT_FOUND``, and the
    last status of the others, live in ``<work_dir>/<key>.state.json``. Each poke then
    asks only about the IDs not yet confirmed.

    Confirmations go to the ledger before the state file is saved: a crash in between
    re-confirms those IDs on the next poke (a duplicate ledger record, which readers
    tolerate) rather than losing their proof.

    :param work_dir: the folder for the state file (local path or storage path).
    :param key: the sensor task instance's key (see ``checkpoint.checkpoint_key``).
    :param ledger: where confirmations are recorded.
    :param provenance: fields copied into each confirmation record: ``dataset``,
        ``submitted_at``, ``dag_id``, ``run_id``.
    """

    def __init__(self, work_dir: Any, key: str, ledger: DeletionLedger, provenance: Mapping[str, Any]) -> None:
        self._folder = Folder(work_dir)
        self._name = f"{key}.state.json"
        self.ledger = ledger
        self._provenance = dict(provenance)
        raw = self._folder.read(self._name)
        state = json.loads(raw) if raw else {}
        if state and state.get("version") != _STATE_VERSION:
            raise ValueError(f"{self.path} is not a deletion sensor state file of a known version")
        self.started_at: str = state.get("started_at") or utc_now_iso()
        self.confirmed: dict[str, str] = state.get("confirmed") or {}
        self.last_status: dict[str, str] = state.get("last_status") or {}

    @property
    def path(self) -> str:
        return str(self._folder.path(self._name))

    def pending(self, customer_ids: Iterable[str]) -> list[str]:
        """The IDs not yet confirmed gone, in the given order."""
        return [cid for cid in customer_ids if cid not in self.confirmed]

    def observe(self, statuses: Mapping[str, str], targets: Mapping[str, str | None], at: str) -> list[str]:
        """Take one round of statuses: record new confirmations in the ledger, then save.

        :param statuses: ``{customer_id: PENDING | FOUND | NOT_FOUND}`` for the IDs checked.
        :param targets: ``{customer_id: delete_request_time}`` of every ID watched.
        :param at: when the round ran (the confirmation time of IDs found gone).
        :return: the IDs confirmed gone in this round.
        """
        newly = [cid for cid, status in statuses.items() if status == NOT_FOUND and cid not in self.confirmed]
        provenance = self._provenance
        self.ledger.append(
            LedgerEntry(
                cid, MONETATE, CONFIRMED, targets.get(cid), provenance.get("submitted_at"), at,
                provenance.get("dataset"), provenance.get("dag_id"), provenance.get("run_id"),
            )
            for cid in newly
        )
        for cid, status in statuses.items():
            if status == NOT_FOUND:
                self.confirmed.setdefault(cid, at)
                self.last_status.pop(cid, None)
            else:
                self.last_status[cid] = status
        self.save()
        return newly

    def stragglers(self, customer_ids: Iterable[str]) -> list[tuple[str, str]]:
        """``(customer_id, last status)`` of the IDs not confirmed (``UNCHECKED`` if never answered)."""
        return [(cid, self.last_status.get(cid, "UNCHECKED")) for cid in self.pending(customer_ids)]

    def progress(self, customer_ids: Collection[str]) -> str:
        """One log line: ``Monetate confirmed 3 of 5 customer ID(s) gone; waiting for 1 FOUND, 1 PENDING``."""
        waiting = Counter(status for _, status in self.stragglers(customer_ids))
        text = f"Monetate confirmed {len(customer_ids) - waiting.total()} of {len(customer_ids)} customer ID(s) gone"
        if waiting:
            text += "; waiting for " + ", ".join(f"{n} {status}" for status, n in sorted(waiting.items()))
        return text

    def describe_stragglers(self, customer_ids: Iterable[str], limit: int = 20) -> str:
        """``C7 (FOUND), C9 (PENDING) and 18 more``, IDs shown as the ledger stores them."""
        stragglers = self.stragglers(customer_ids)
        shown = ", ".join(f"{self.ledger.stored_id(cid)} ({status})" for cid, status in stragglers[:limit])
        more = len(stragglers) - limit
        return shown + (f" and {more} more" if more > 0 else "")

    def overdue_warning(self, customer_ids: Collection[str]) -> str:
        """What to log once the expected completion time has passed."""
        return (
            f"Monetate has not confirmed {len(self.pending(customer_ids))} of {len(customer_ids)} customer ID(s) "
            f"gone by the expected completion time: {self.describe_stragglers(customer_ids)}. Its nightly batches "
            "usually finish within 48 hours; still waiting until the sensor's timeout."
        )

    def save(self) -> None:
        state = {
            "version": _STATE_VERSION,
            "started_at": self.started_at,
            "confirmed": self.confirmed,
            "last_status": self.last_status,
        }
        with self._folder.create(self._name) as file:
            file.write(json.dumps(state, separators=(",", ":")).encode())

    def finish(self) -> None:
        """Delete the state file once every ID is confirmed (it holds raw customer IDs)."""
        self._folder.delete(self._name)
