"""Monetate account state: datasets (schema + rows + upload history) and privacy requests.

Plain objects, no HTTP and no locking: ``MonetateService`` holds its lock around them.
"""

from __future__ import annotations

import itertools
import math
from datetime import datetime, timezone
from typing import Any

from airflow_provider_monetate.testing.monetate.schema import PRIVACY_TYPE, RowValidator

__all__ = ["DAY", "Account", "Dataset", "describe_status", "iso", "next_batch_after"]

DAY = 86_400
_schema_ids = itertools.count(1)


def iso(epoch: float) -> str:
    """UTC ISO-8601 with microseconds and ``Z``, the format of the spec's examples."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def next_batch_after(submitted_at: float, batch_hour: float) -> float:
    """The first nightly batch time strictly after ``submitted_at``.

    :param submitted_at: epoch seconds.
    :param batch_hour: UTC hour of day the batch runs (may be fractional).
    """
    candidate = math.floor(submitted_at / DAY) * DAY + batch_hour * 3600
    return candidate if candidate > submitted_at else candidate + DAY


class Dataset:
    """One schema and its rows.

    Rows live in a dict: keyed by the unique-key value when the schema has one (so a new
    row with the same key replaces the old one in place), by an insertion counter otherwise.

    :param schema: the validated schema (``name``, ``fields``, ...).
    :param created_at: emulator time of creation.
    """

    def __init__(self, schema: dict, created_at: float) -> None:
        self.schema = {**schema, "id": next(_schema_ids), "created_date": iso(created_at)}
        self.rows: dict[Any, dict] = {}
        self.uploads: list[dict] = []  # oldest first; reversed when listed
        self._seq = itertools.count()
        self.validator = RowValidator(self.schema["fields"])

    @property
    def name(self) -> str:
        return self.schema["name"]

    @property
    def is_privacy(self) -> bool:
        return self.schema.get("type") == PRIVACY_TYPE

    def set_fields(self, fields: dict) -> None:
        """Replace the field definitions (after a validated PATCH)."""
        self.schema["fields"] = fields
        self.validator = RowValidator(fields)

    def store(self, rows: list[dict], now: float) -> None:
        """Upsert (unique key) or append already-validated rows and record an upload."""
        key = self.validator.unique_key
        if key is None:
            seq = self._seq
            self.rows.update((next(seq), row) for row in rows)
        else:
            self.rows.update((row[key], row) for row in rows)
        # The real API documents only *file* uploads in upload history; the emulator also
        # records API posts so that clients can see something (the notes call this unverified).
        stamp = iso(now)
        self.uploads.append(
            {
                "status": "COMPLETE",
                "upload_time": stamp,
                "import_start_time": stamp,
                "import_end_time": stamp,
                "validation_errors": [],
                "validation_warnings": [],
            }
        )

    def find(self, value: str) -> list[dict]:
        """Rows whose identifier or unique key equals ``value``."""
        ident, key = self.validator.identifier, self.validator.unique_key
        return [r for r in self.rows.values() if r.get(ident) == value or (key and r.get(key) == value)]

    def has_identifier(self, value: str) -> bool:
        ident = self.validator.identifier
        return any(r.get(ident) == value for r in self.rows.values())

    def remove_identifiers(self, ids: set[str]) -> int:
        """Delete every row whose identifier is in ``ids``; return how many."""
        ident = self.validator.identifier
        doomed = [k for k, r in self.rows.items() if r.get(ident) in ids]
        for k in doomed:
            del self.rows[k]
        return len(doomed)

    def describe(self, row_count: bool = False, latest_upload: bool = False) -> dict:
        """The schema as the API returns it, with the optional extras."""
        out = dict(self.schema)
        if row_count:
            out["row_count"] = len(self.rows)
        if latest_upload:
            last = self.uploads[-1] if self.uploads else None
            out["last_file_upload"] = (
                None
                if last is None
                else {
                    "status": last["status"],
                    "upload_time": last["upload_time"],
                    "import_start_time": last["import_start_time"],
                    "import_end_time": last["import_end_time"],
                    "validation_error": "",
                }
            )
        return out


class Account:
    """A retailer account in one environment: its datasets and pending privacy requests."""

    def __init__(self) -> None:
        self.datasets: dict[str, Dataset] = {}
        self.pending: dict[str, float] = {}  # customer_id -> submitted_at (emulator time)
        self.erased: set[str] = set()  # IDs a nightly batch removed: Monetate held them once
        self.last_record_read: float | None = None
        self._next_due = math.inf
        self._due_hour: float | None = None

    def submit_privacy(self, customer_ids: list[str], now: float, any_submitted: bool = False) -> None:
        """Register deletion requests (an ID already pending keeps its first submission).

        :param any_submitted: queue every ID (``PENDING`` until the batch); otherwise only the IDs
            this account holds, as the seed's "found ... and is pending removal" says.
        """
        for cid in customer_ids:
            if any_submitted or cid in self.pending or self.holds(cid):
                self.pending.setdefault(cid, now)
        self._due_hour = None  # recompute the next due time on the next check

    def purge_again(self, customer_ids: list[str], now: float) -> None:
        """Queue the erased IDs among ``customer_ids`` for purging again (they were sent again)."""
        again = [cid for cid in customer_ids if cid in self.erased]
        for cid in again:
            self.pending.setdefault(cid, now)
        if again:
            self._due_hour = None

    def run_due_batches(self, now: float, batch_hour: float) -> None:
        """Apply every nightly batch that has run by ``now`` (lazy; cheap when none is due).

        :param now: emulator time.
        :param batch_hour: UTC hour of the nightly batch.
        """
        if not self.pending:
            return
        if self._due_hour != batch_hour:
            self._next_due = min(next_batch_after(t, batch_hour) for t in self.pending.values())
            self._due_hour = batch_hour
        if now < self._next_due:
            return
        done = {cid for cid, t in self.pending.items() if next_batch_after(t, batch_hour) <= now}
        for cid in done:
            del self.pending[cid]
        self.erased |= done
        for dataset in self.datasets.values():
            dataset.remove_identifiers(done)
        self._due_hour = None

    def holds(self, customer_id: str) -> bool:
        """Whether a dataset holds data about the customer (a privacy dataset's requests are not data)."""
        return any(d.has_identifier(customer_id) for d in self.datasets.values() if not d.is_privacy)

    def ever_held(self, customer_id: str) -> bool:
        """Whether the account holds, queued or erased the customer: "never held" is the opposite."""
        return customer_id in self.pending or customer_id in self.erased or self.holds(customer_id)

    def privacy_status(self, customer_id: str) -> str:
        """PENDING (queued, batch not run), FOUND (held in a dataset) or NOT_FOUND."""
        if customer_id in self.pending:
            return "PENDING"
        if self.holds(customer_id):
            return "FOUND"
        return "NOT_FOUND"


def describe_status(customer_id: str, status: str) -> str:
    """Human-readable ``description`` for a privacy status."""
    return {
        "PENDING": f"The customer_id {customer_id} has been found and is pending removal.",
        "FOUND": f"The customer_id {customer_id} has been found within Monetate's data stores.",
        "NOT_FOUND": f"The customer_id {customer_id} has not been found within Monetate's data stores.",
    }[status]
