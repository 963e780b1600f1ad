"""Proof of deletion: an append-only ledger of erasure requests and their confirmations.

The ledger answers an auditor's questions ("when did we ask Monetate to erase C42, and when
did Monetate confirm it gone?") long after the DAG runs are forgotten. Every record is one
JSON object about one customer in one system::

    {"customer_id": "C42", "id_hash": null, "system": "monetate", "status": "confirmed",
     "delete_request_time": "2024-05-01T09:30:00.000000Z", "submitted_at": "2024-05-01T10:00:03.120000Z",
     "confirmed_at": "2024-05-03T03:00:00.000000Z", "dataset": "gdpr_deletions",
     "dag_id": "erase_customers", "run_id": "manual__2024-05-01", "recorded_at": "..."}

``status`` is one of (a customer's latest record in a system is its current state there):

* ``submitted``: the deletion was sent to the system (for Acquia CDP's erasure API: accepted);
* ``pending``: the system says an erasure of the customer is already pending (CDP's
  ``pendingForDataErasure``);
* ``confirmed``: the system held the customer (Monetate answered ``FOUND`` or ``PENDING`` for
  exactly this ID, before or after the submission), then reported it gone (``NOT_FOUND``);
* ``not_held``: there was nothing to erase: Monetate answered ``NOT_FOUND`` for the ID when
  asked before the submission (the request was still sent, so that Monetate purges the ID if
  it ever sees it);
* ``gone_unverified``: Monetate answered ``NOT_FOUND`` at the first look after the submission,
  without the pre-check, so whether it ever held the customer is unknown;
* ``failed``: the system did not accept the request (CDP's ``failedToAccept``): ask again;
* ``reappeared``: the system holds the customer again after its erasure was confirmed (found by
  re-verification: something sent it again).

``confirmed_at`` is when the system said so (for all but ``submitted``). With ``hash_ids=True``,
``customer_id`` holds the SHA-256 of the ID (``id_hash: "sha256"``) instead of the ID.
``request_id`` names the erasure request of the register (``_register``) the record belongs to,
``reference`` the system's own reference for the call (CDP's ``eventId``).

Layout: the ledger is a directory, local or in object storage, of JSON Lines part files.
Each write adds one new part, named so that names sort in time order; no part is ever
changed. Object stores cannot append to an object and concurrent local appends can
interleave, so "one new part per write" is what makes the ledger append-only on both,
without locks. Every part is a hash chain linked to the parts before it (``_chain``), so
:meth:`DeletionLedger.verify` names the first entry edited, inserted or removed, whatever
the number of writers. A location without any part is no ledger (:meth:`DeletionLedger.has_parts`):
readers that rely on it, such as ``exclude_erased``, refuse it rather than read it as
"nobody was erased". Part files are created ``0600`` locally (``storage.Folder.create``).

The working files behind the ledger (the submitted-IDs file and the deletion sensor's
state, which hold raw customer IDs because they are needed to act on) are in ``_watch``.

No Airflow imports: object storage locations arrive as ``ObjectStoragePath`` objects.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.monetate._rows import to_utc_iso
from airflow_provider_monetate.monetate.privacy._chain import LINK, ChainCheck, ChainedParts
from airflow_provider_monetate.storage import Folder

MONETATE = "monetate"
ACQUIA_CDP = "acquia_cdp"
SUBMITTED = "submitted"
PENDING = "pending"
CONFIRMED = "confirmed"
NOT_HELD = "not_held"
GONE_UNVERIFIED = "gone_unverified"
FAILED = "failed"
REAPPEARED = "reappeared"
STATUSES = (SUBMITTED, PENDING, CONFIRMED, NOT_HELD, GONE_UNVERIFIED, FAILED, REAPPEARED)
#: The outcomes that end the wait for a customer: Monetate holds nothing about it any more.
SETTLED = (CONFIRMED, NOT_HELD, GONE_UNVERIFIED)

_PART_SUFFIX = ".jsonl"
# ``<recorded_at without - and :>-<12 hex>.jsonl``, e.g. ``20240501T100003.120000Z-0123456789ab.jsonl``:
# what tells a ledger part from any other JSON Lines file (a rejects report, say).
_PART_NAME = re.compile(r"\d{8}T\d{6}(?:\.\d+)?Z-[0-9a-f]{12}\.jsonl")


def utc_now_iso() -> str:
    """Now as UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, the format of every ledger timestamp."""
    return to_utc_iso(datetime.now(timezone.utc))


def new_part_name(recorded_at: str, kind: str = "") -> str:
    """``[<kind>-]<recorded_at without - and :>-<12 hex>.jsonl``: names sort in time order."""
    stamp = recorded_at.replace("-", "").replace(":", "")
    return f"{kind + '-' if kind else ''}{stamp}-{uuid.uuid4().hex[:12]}{_PART_SUFFIX}"


def hash_id(customer_id: str) -> str:
    """The SHA-256 (hex) of a customer ID, as a hashed ledger stores it.

    A plain hash pseudonymises: anyone holding a candidate ID can test it, which is what an
    audit needs; it does not make guessable IDs (sequential numbers) secret.
    """
    return hashlib.sha256(customer_id.encode()).hexdigest()


@dataclass(frozen=True)
class LedgerEntry:
    """One event about one customer in one system.

    :param customer_id: the raw customer ID (the ledger hashes it when asked to).
    :param system: where the deletion happened: ``monetate``, ``acquia_cdp``, ...
    :param status: one of :data:`STATUSES` (see the module).
    :param delete_request_time: when the person asked to be erased (UTC ISO-8601).
    :param submitted_at: when the deletion was sent to the system.
    :param confirmed_at: when the system reported the customer gone, or not held (all but ``submitted``).
    :param dataset: the Monetate privacy dataset, or the CDP entity, when there is one.
    :param dag_id: the DAG that did it.
    :param run_id: the DAG run that did it.
    :param request_id: the erasure request (register) it belongs to, if any.
    :param reference: the system's reference for the call, e.g. CDP's ``eventId``.
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
    request_id: str | None = None
    reference: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ConfigurationError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if not self.system:
            raise ConfigurationError("system is required, e.g. 'monetate' or 'acquia_cdp'")
        if not self.customer_id:
            raise ConfigurationError("customer_id is required")


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
        self._chain = ChainedParts(self._folder)
        self.hash_ids = hash_ids
        self.location = self._folder.location

    def stored_id(self, customer_id: str) -> str:
        """How this ledger writes (and logs should show) a customer ID."""
        return hash_id(customer_id) if self.hash_ids else customer_id

    # -- writing ---------------------------------------------------------------------------

    def append(self, entries: Iterable[LedgerEntry]) -> int:
        """Write the entries as one new part file, chained (``_chain``); return how many were written.

        Streams: memory does not grow with the number of entries. Nothing is written for none.
        Safe from many threads and processes at once.
        """
        recorded_at = utc_now_iso()
        return self._chain.write(new_part_name(recorded_at), (self._record(e, recorded_at) for e in entries))

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
        request_id: str | None = None,
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
            LedgerEntry(cid, system, SUBMITTED, delete_request_time, sent, None, dataset, dag_id, run_id, request_id)
            for cid in customer_ids
        )

    def _record(self, entry: LedgerEntry, recorded_at: str) -> dict[str, Any]:
        record = asdict(entry)
        record["customer_id"] = self.stored_id(entry.customer_id)
        record["id_hash"] = "sha256" if self.hash_ids else None
        record["recorded_at"] = recorded_at
        return record

    def verify(self) -> ChainCheck:
        """Check that no entry of the folder (ledger and request register) was edited, inserted or
        removed since it was written: :attr:`ChainCheck.problem` names the first one that does not
        fit, by part and line. Reads every part."""
        return self._chain.verify()

    # -- reading ---------------------------------------------------------------------------

    def has_parts(self) -> bool:
        """Whether a ledger is there: at least one part file at the location.

        ``False`` when the location does not exist, is empty, or holds only other files (a
        mistyped path pointing at a rejects folder, say). Reading such a location gives no
        records, which a caller cannot tell from "nobody was erased"; ask this first.
        """
        return any(_PART_NAME.fullmatch(name) for name in self._folder.names())

    def records(self, customer_id: str | None = None, system: str | None = None) -> Iterator[dict[str, Any]]:
        """Every record, oldest part first; optionally only one customer's or one system's.

        :param customer_id: a raw ID; matched against hashed records by its hash.
        """
        hashed = hash_id(customer_id) if customer_id is not None else None
        for name in self._folder.names():
            if not _PART_NAME.fullmatch(name):
                continue
            with self._folder.path(name).open("rb") as file:
                for line in file:
                    if not line.strip():
                        continue
                    record = json.loads(line)
                    if LINK in record:  # a part's chain link, not an entry
                        continue
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

    def unconfirmed(self, customer_ids: Iterable[str], system: str | None = None,
                    settled: Iterable[str] = (CONFIRMED,)) -> list[str]:
        """The given raw IDs with no ``confirmed`` record (in ``system``, or any), in the given order.

        Reads the ledger once; memory grows with the IDs given, not with the ledger. Plain and
        hashed records both count.

        :param settled: the statuses that count; :data:`SETTLED` for "the wait is over" (confirmed,
            not held, or gone unverified).
        """
        wanted = list(dict.fromkeys(customer_ids))
        plain = set(wanted)
        counted = set(settled)
        by_hash = {hash_id(cid): cid for cid in wanted}
        confirmed: set[str] = set()
        for record in self.records(system=system):
            if record.get("status") not in counted:
                continue
            stored = record.get("customer_id")
            raw = by_hash.get(stored) if record.get("id_hash") else (stored if stored in plain else None)
            if raw is not None:
                confirmed.add(raw)
        return [cid for cid in wanted if cid not in confirmed]

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
