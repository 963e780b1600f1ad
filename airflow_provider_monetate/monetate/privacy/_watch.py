"""The deletion sensor's working files, and the receipt that vouches for them.

* the **submitted-IDs file** (``<submit task key>.ids.ndjson``): one ``{customer_id,
  delete_request_time, held?}`` line per ID the submit task posted, published only when the
  whole submission succeeded; ``held`` is what the submit task's pre-check saw (``true``:
  Monetate answered FOUND or PENDING; ``false``: NOT_FOUND, nothing to erase; absent: not
  asked). The receipt carries the file's ``count`` and SHA-256 (``ids_sha256``), so a sensor
  never confirms IDs that were not submitted (:func:`check_receipt`, :func:`read_submitted`);
* the **sensor state** (``<sensor key>.state.json``, :class:`DeletionWatch`): which IDs are
  settled and how (``confirmed``, ``not_held``, ``gone_unverified``), which were seen held, the
  last status of the others.

Unlike the ledger (``_ledger``), these hold raw customer IDs, because they are needed to act
on. Retention: the state file is deleted once every ID is confirmed, and the IDs file once
the ledger holds every ID's confirmation (:func:`delete_submitted_ids`). No Airflow imports.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_monetate.exceptions import ReceiptError, StateFileError
from airflow_provider_monetate.loading._sources import RecordSource
from airflow_provider_monetate.monetate.privacy._ledger import (
    CONFIRMED,
    GONE_UNVERIFIED,
    MONETATE,
    NOT_HELD,
    DeletionLedger,
    LedgerEntry,
    utc_now_iso,
)
from airflow_provider_monetate.monetate.privacy._status import DeletionStatus
from airflow_provider_monetate.storage import Folder, remove_file

__all__ = ["DeletionWatch", "Submitted", "check_receipt", "delete_submitted_ids", "read_submitted",
           "read_submitted_ids"]

_STATE_VERSION = 2
_RETENTION_HINT = (
    "The deletion sensor deletes the IDs file once the ledger holds every ID's confirmation; if a sensor "
    "already succeeded on this receipt, its per-ID report is in the same folder. Otherwise the file is on "
    "another machine's disk: put work_dir on storage every worker and the triggerer read (an s3:// URI)."
)
#: How the sensor's messages name each outcome.
_OUTCOME_WORDS = {NOT_HELD: "not held (nothing to erase)", GONE_UNVERIFIED: "gone at the first look (unverified)"}


def check_receipt(receipt: Mapping[str, Any], *, privacy_dataset: str | None, task_id: str) -> None:
    """Refuse a receipt that does not prove a submission, before anything is asked of Monetate.

    A receipt proves a submission when it is not a dry run and names the IDs file with its
    ``count`` and ``ids_sha256`` (checked against the file by :func:`read_submitted_ids`).

    :param receipt: the submit task's return value.
    :param privacy_dataset: the dataset the sensor was given, if any; it must be the receipt's.
    :param task_id: names the sensor in the messages.
    :raises ReceiptError: saying what is missing or wrong, and what to do.
    """
    where = f"{task_id}: the receipt"
    if receipt.get("dry_run"):
        raise ReceiptError(f"{where} is from a dry run (dry_run=True): nothing was submitted, so there is nothing "
                           "to wait for and no deletion to confirm. Run the submit task without dry_run.")
    if not receipt.get("ids_path"):
        raise ReceiptError(
            f"{where} has no ids_path: it does not say which IDs were submitted, so no status could prove their "
            "deletion. Pass the submit task's output unchanged (receipt=submit.output), or customer_ids= for a "
            "short list of IDs."
        )
    sha256, count = receipt.get("ids_sha256"), receipt.get("count")
    if not isinstance(sha256, str) or len(sha256) != 64:
        raise ReceiptError(f"{where} has no ids_sha256 fingerprint of its IDs file, so the file cannot be shown to "
                           "be the one submitted. Pass the output of MonetateSubmitDeletionsOperator unchanged.")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ReceiptError(f"{where} has no count of the IDs submitted (got {type(count).__name__}). Pass the "
                           "output of MonetateSubmitDeletionsOperator unchanged.")
    dataset = receipt.get("dataset")
    if privacy_dataset and dataset and privacy_dataset != dataset:
        raise ReceiptError(
            f"{where} is for privacy dataset {dataset!r}, but privacy_dataset={privacy_dataset!r}: the IDs were "
            f"posted to {dataset!r}, so statuses from {privacy_dataset!r} would prove nothing. Drop "
            "privacy_dataset= (the receipt's is used) or pass the receipt of a submission to that dataset."
        )


@dataclass
class Submitted:
    """What a submitted-IDs file says.

    :param times: ``{customer_id: delete_request_time}``, in submission order.
    :param held: ``{customer_id: held?}`` for the IDs the submit task's pre-check got an answer for.
    """

    times: dict[str, str | None] = field(default_factory=dict)
    held: dict[str, bool] = field(default_factory=dict)


def read_submitted(location: Any, *, sha256: str | None = None, count: int | None = None) -> Submitted:
    """The submitted-IDs file, checked against the receipt's fingerprint and count when given.

    :param location: the NDJSON file a submission wrote (local path or storage path).
    :param sha256: the receipt's ``ids_sha256``: the file must hash to it.
    :param count: the receipt's ``count``: the file must hold that many IDs.
    :raises ReceiptError: a receipt was given (``sha256``) and the file is missing or does not match it.
    """
    digest = hashlib.sha256()
    submitted = Submitted()
    try:
        for _, record in RecordSource(location, "ndjson").iter(hash_into=digest):
            submitted.times[record["customer_id"]] = record.get("delete_request_time")
            if isinstance(record.get("held"), bool):
                submitted.held[record["customer_id"]] = record["held"]
    except FileNotFoundError:
        if sha256 is None:
            raise
        raise ReceiptError(f"The submitted-IDs file {location} named by the receipt does not exist. "
                           f"{_RETENTION_HINT}") from None
    if sha256 is not None and digest.hexdigest() != sha256:
        raise ReceiptError(
            f"The submitted-IDs file {location} does not match the receipt: its fingerprint (sha256) differs from "
            "the receipt's ids_sha256, so it was changed or replaced after the submission. Nothing was confirmed; "
            "run the submit task again to get a receipt for what is submitted."
        )
    if count is not None and len(submitted.times) != count:
        raise ReceiptError(
            f"The submitted-IDs file {location} does not match the receipt: the receipt's count is {count}, the "
            f"file holds {len(submitted.times)} ID(s). Nothing was confirmed; pass the submit task's output unchanged."
        )
    return submitted


def read_submitted_ids(
    location: Any, *, sha256: str | None = None, count: int | None = None
) -> dict[str, str | None]:
    """The submitted-IDs file as ``{customer_id: delete_request_time}`` (see :func:`read_submitted`)."""
    return read_submitted(location, sha256=sha256, count=count).times


def delete_submitted_ids(location: Any) -> None:
    """Delete a submitted-IDs file (raw IDs) once the ledger proves every deletion; missing is fine."""
    remove_file(location)


class DeletionWatch:
    """The deletion sensor's memory between pokes, kept in a small JSON file.

    In reschedule mode (and across retries, and when a triggerer restarts) the sensor's
    instance state is lost, so which IDs are settled and how, which were seen held, and the
    last status of the others live in ``<work_dir>/<key>.state.json``. Each poke then asks
    only about the IDs not yet settled.

    An ID is settled ``confirmed`` only when Monetate answered ``NOT_FOUND`` for exactly that ID
    after it was seen held (``FOUND`` or ``PENDING``, by the submit task's pre-check or by an
    earlier round); ``NOT_FOUND`` for an ID never seen held is ``gone_unverified``; an ID the
    pre-check found not held is ``not_held`` from the start (:meth:`take_precheck`).

    Outcomes go to the ledger before the state file is saved: a crash in between records them
    again on the next poke (a duplicate ledger record, which readers tolerate) rather than
    losing their proof.

    :param work_dir: the folder for the state file (local path or storage path).
    :param key: the sensor task instance's key (see ``loading._checkpoints.checkpoint_key``).
    :param ledger: where outcomes are recorded.
    :param provenance: fields copied into each ledger record: ``dataset``, ``submitted_at``,
        ``dag_id``, ``run_id``, ``request_id``.
    """

    def __init__(self, work_dir: Any, key: str, ledger: DeletionLedger, provenance: Mapping[str, Any]) -> None:
        self._folder = Folder(work_dir)
        self._name = f"{key}.state.json"
        self.ledger = ledger
        self._provenance = dict(provenance)
        raw = self._folder.read(self._name)
        state = json.loads(raw) if raw else {}
        if state and state.get("version") not in (1, _STATE_VERSION):
            raise StateFileError(f"{self.path} is not a deletion sensor state file of a known version")
        self.started_at: str = state.get("started_at") or utc_now_iso()
        #: ``{customer_id: [outcome, when]}`` of the IDs whose wait is over.
        self.settled: dict[str, list[str]] = state.get("settled") or {
            cid: [CONFIRMED, at] for cid, at in (state.get("confirmed") or {}).items()  # version 1
        }
        self.seen: set[str] = set(state.get("seen") or ())
        self.last_status: dict[str, str] = state.get("last_status") or {}

    @property
    def path(self) -> str:
        return str(self._folder.path(self._name))

    def take_precheck(self, held: Mapping[str, bool], at: str) -> None:
        """What the submit task's pre-check saw: held IDs count as seen; the others are ``not_held``.

        The submit task wrote their ``not_held`` ledger records, so none is written here.
        """
        for cid, was_held in held.items():
            if was_held:
                self.seen.add(cid)
            elif cid not in self.settled:
                self.settled[cid] = [NOT_HELD, at]

    def pending(self, customer_ids: Iterable[str]) -> list[str]:
        """The IDs not yet settled, in the given order."""
        return [cid for cid in customer_ids if cid not in self.settled]

    def observe(self, statuses: Mapping[str, str], targets: Mapping[str, str | None], at: str) -> list[str]:
        """Take one round of statuses: record new outcomes in the ledger, then save.

        :param statuses: ``{customer_id: PENDING | FOUND | NOT_FOUND | UNKNOWN}`` for the IDs checked.
        :param targets: ``{customer_id: delete_request_time}`` of every ID watched.
        :param at: when the round ran (the time of the outcomes found in it).
        :return: the IDs settled in this round.
        """
        gone, held = DeletionStatus.terminal_states(), DeletionStatus.held_states()
        newly = {cid: CONFIRMED if cid in self.seen else GONE_UNVERIFIED
                 for cid, status in statuses.items() if status in gone and cid not in self.settled}
        provenance = self._provenance
        self.ledger.append(
            LedgerEntry(
                cid, MONETATE, outcome, targets.get(cid), provenance.get("submitted_at"), at,
                provenance.get("dataset"), provenance.get("dag_id"), provenance.get("run_id"),
                provenance.get("request_id"),
            )
            for cid, outcome in newly.items()
        )
        for cid, status in statuses.items():
            if cid in newly:
                self.settled[cid] = [newly[cid], at]
                self.last_status.pop(cid, None)
            elif cid not in self.settled:
                self.last_status[cid] = status
                if status in held:
                    self.seen.add(cid)
        self.save()
        return list(newly)

    def outcome(self, customer_id: str) -> str | None:
        """``confirmed``, ``not_held``, ``gone_unverified``, or ``None`` while waiting."""
        settled = self.settled.get(customer_id)
        return settled[0] if settled else None

    def stragglers(self, customer_ids: Iterable[str]) -> list[tuple[str, str]]:
        """``(customer_id, last status)`` of the IDs not settled (``UNCHECKED`` if never answered)."""
        return [(cid, self.last_status.get(cid, "UNCHECKED")) for cid in self.pending(customer_ids)]

    def progress(self, customer_ids: Collection[str]) -> str:
        """One log line: ``Monetate confirmed 3 of 5 customer ID(s) gone; 1 not held (nothing to erase);
        waiting for 1 PENDING``."""
        outcomes = Counter(self.outcome(cid) for cid in customer_ids)
        waiting = Counter(status for _, status in self.stragglers(customer_ids))
        text = f"Monetate confirmed {outcomes[CONFIRMED]} of {len(customer_ids)} customer ID(s) gone"
        text += "".join(f"; {outcomes[o]} {words}" for o, words in _OUTCOME_WORDS.items() if outcomes[o])
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

    def summary(self, customer_ids: Collection[str], inline_max: int) -> dict[str, Any]:
        """Counts per outcome, first and last confirmation, and (up to ``inline_max`` IDs) each ID's outcome."""
        outcomes = Counter(self.outcome(cid) for cid in customer_ids)
        times = [self.settled[cid][1] for cid in customer_ids if self.outcome(cid) == CONFIRMED]
        summary: dict[str, Any] = {
            "total": len(customer_ids), "confirmed": outcomes[CONFIRMED], "not_held": outcomes[NOT_HELD],
            "gone_unverified": outcomes[GONE_UNVERIFIED],
            "first_confirmed_at": min(times, default=None), "last_confirmed_at": max(times, default=None),
        }
        if len(customer_ids) <= inline_max:
            stored = self.ledger.stored_id
            summary["customers"] = {stored(cid): self.settled[cid][1] for cid in customer_ids if cid in self.settled}
            summary["outcomes"] = {stored(cid): self.settled[cid][0] for cid in customer_ids if cid in self.settled}
        return summary

    def write_report(self, folder: Any, name: str, customer_ids: Iterable[str]) -> str:
        """One JSON line per ID: ``customer_id`` (as the ledger stores it), ``status`` (Monetate's last
        answer), ``outcome`` and ``confirmed_at`` (when it was settled); returns the file's location."""
        folder = Folder(folder)
        with folder.create(name) as file:
            for cid in customer_ids:
                outcome, at = self.settled.get(cid) or (None, None)
                line = {"customer_id": self.ledger.stored_id(cid),
                        "status": "NOT_FOUND" if outcome else self.last_status.get(cid, "UNCHECKED"),
                        "outcome": outcome, "confirmed_at": at}
                file.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
        return str(folder.path(name))

    def save(self) -> None:
        state = {
            "version": _STATE_VERSION,
            "started_at": self.started_at,
            "settled": self.settled,
            "seen": sorted(self.seen),
            "last_status": self.last_status,
        }
        with self._folder.create(self._name) as file:
            file.write(json.dumps(state, separators=(",", ":")).encode())

    def finish(self) -> None:
        """Delete the state file once every ID is settled (it holds raw customer IDs)."""
        self._folder.delete(self._name)
