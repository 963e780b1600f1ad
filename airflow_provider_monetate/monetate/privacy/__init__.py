"""Customer erasure through Monetate's Consumer Data Privacy API, and the proof that it happened.

* ``_status``: :class:`DeletionStatus` (``PENDING``, ``FOUND``, ``NOT_FOUND``, and ``UNKNOWN``
  for an integer code nothing explains) and how a status answer is read;
* ``_submission``: how deletions are posted: the body shape and request-time format Monetate
  takes (found by the first post, or chosen), and the IDs as text;
* ``_ledger``: :class:`DeletionLedger`, the append-only proof-of-deletion ledger (also written
  by the Acquia CDP deletion operator), :class:`LedgerEntry`, and the statuses ``submitted``,
  ``confirmed``, ``not_held``, ``gone_unverified``;
* ``_watch``: the deletion sensor's working files (submitted IDs, confirmation state), the
  receipt check that proves them, and their retention;
* ``_chain``: tamper evidence: every ledger part a hash chain linked to the parts before it,
  safe with concurrent writers; ``DeletionLedger.verify()`` names the first entry that does not fit;
* ``_register`` (:class:`ErasureRegister`), ``_requests`` (:class:`ErasureRequest`, the regimes
  and their deadlines), ``_deadlines`` (the deadline guard's decision) and ``_export`` (the
  auditors' CSV / JSON Lines): the erasure request register beside the ledger;
* ``_mass_deletion``: the guard against mass deletion; ``_reverify``: which erased customers
  to ask about again.

Reading the ledger for an audit::

    from airflow_provider_monetate.monetate.privacy import DeletionLedger

    DeletionLedger("/data/deletion_ledger").confirmed_at("C42")
    DeletionLedger("/data/deletion_ledger").verify()              # no entry edited since written
    ErasureRegister("/data/deletion_ledger").export("audit.csv")  # CCPA record keeping
"""

from __future__ import annotations

from airflow_provider_monetate.monetate.privacy._chain import ChainCheck
from airflow_provider_monetate.monetate.privacy._deadlines import DeadlineCheck, check_deadlines
from airflow_provider_monetate.monetate.privacy._ledger import (
    ACQUIA_CDP,
    CONFIRMED,
    FAILED,
    GONE_UNVERIFIED,
    MONETATE,
    NOT_HELD,
    PENDING,
    REAPPEARED,
    SETTLED,
    SUBMITTED,
    DeletionLedger,
    ErasedIds,
    LedgerEntry,
    hash_id,
)
from airflow_provider_monetate.monetate.privacy._register import ErasureRegister
from airflow_provider_monetate.monetate.privacy._requests import ErasureRequest, regime_of
from airflow_provider_monetate.monetate.privacy._status import DeletionStatus

__all__ = [
    "ACQUIA_CDP",
    "CONFIRMED",
    "FAILED",
    "GONE_UNVERIFIED",
    "MONETATE",
    "NOT_HELD",
    "PENDING",
    "REAPPEARED",
    "SETTLED",
    "SUBMITTED",
    "ChainCheck",
    "DeadlineCheck",
    "DeletionLedger",
    "DeletionStatus",
    "ErasedIds",
    "ErasureRegister",
    "ErasureRequest",
    "LedgerEntry",
    "check_deadlines",
    "hash_id",
    "regime_of",
]
