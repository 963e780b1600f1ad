"""Customer erasure through Monetate's Consumer Data Privacy API, and the proof that it happened.

* ``_status``: :class:`DeletionStatus` (``PENDING``, ``FOUND``, ``NOT_FOUND``, and ``UNKNOWN``
  for an integer code nothing explains) and how a status answer is read;
* ``_submission``: how deletions are posted: the body shape and request-time format Monetate
  takes (found by the first post, or chosen), and the IDs as text;
* ``_ledger``: :class:`DeletionLedger`, the append-only proof-of-deletion ledger (also written
  by the Acquia CDP deletion operator), :class:`LedgerEntry`, and the statuses ``submitted``,
  ``confirmed``, ``not_held``, ``gone_unverified``;
* ``_watch``: the deletion sensor's working files (submitted IDs, confirmation state), the
  receipt check that proves them, and their retention.

Reading the ledger for an audit::

    from airflow_provider_monetate.monetate.privacy import DeletionLedger

    DeletionLedger("/data/deletion_ledger").confirmed_at("C42")
"""

from __future__ import annotations

from airflow_provider_monetate.monetate.privacy._ledger import (
    ACQUIA_CDP,
    CONFIRMED,
    GONE_UNVERIFIED,
    MONETATE,
    NOT_HELD,
    SETTLED,
    SUBMITTED,
    DeletionLedger,
    ErasedIds,
    LedgerEntry,
    hash_id,
)
from airflow_provider_monetate.monetate.privacy._status import DeletionStatus

__all__ = [
    "ACQUIA_CDP",
    "CONFIRMED",
    "GONE_UNVERIFIED",
    "MONETATE",
    "NOT_HELD",
    "SETTLED",
    "SUBMITTED",
    "DeletionLedger",
    "DeletionStatus",
    "ErasedIds",
    "LedgerEntry",
    "hash_id",
]
