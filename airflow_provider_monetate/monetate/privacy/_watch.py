"""The deletion sensor's working files: the submitted-IDs file and the confirmation state.

Unlike the ledger (``_ledger``), these hold raw customer IDs, because they are needed to act
on; the state file is deleted once every ID is confirmed. No Airflow imports.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from airflow_provider_monetate.exceptions import StateFileError
from airflow_provider_monetate.loading._sources import RecordSource
from airflow_provider_monetate.monetate.privacy._ledger import (
    CONFIRMED,
    MONETATE,
    DeletionLedger,
    LedgerEntry,
    utc_now_iso,
)
from airflow_provider_monetate.monetate.privacy._status import DeletionStatus
from airflow_provider_monetate.storage import Folder

__all__ = ["DeletionWatch", "read_submitted_ids"]

_STATE_VERSION = 1


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
    :param key: the sensor task instance's key (see ``loading._checkpoints.checkpoint_key``).
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
            raise StateFileError(f"{self.path} is not a deletion sensor state file of a known version")
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
        gone = DeletionStatus.terminal_states()
        newly = [cid for cid, status in statuses.items() if status in gone and cid not in self.confirmed]
        provenance = self._provenance
        self.ledger.append(
            LedgerEntry(
                cid, MONETATE, CONFIRMED, targets.get(cid), provenance.get("submitted_at"), at,
                provenance.get("dataset"), provenance.get("dag_id"), provenance.get("run_id"),
            )
            for cid in newly
        )
        for cid, status in statuses.items():
            if status in gone:
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
