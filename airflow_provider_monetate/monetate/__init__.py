"""Monetate: authentication, datasets and their row rules, and customer erasure (``privacy``).

* ``_auth``: the RSA private key, the signed JWT and the process-wide token cache;
* ``_datasets``: dataset (schema) definitions checked before sending, and the Data API's
  enums (:data:`DATA_TYPES`, :data:`SCHEMA_TYPES`, :data:`PRIVACY_TYPE`);
* ``_rows``: :class:`RowRules`, each row checked and normalised against a dataset's schema;
* ``privacy/``: deletion statuses, the proof-of-deletion ledger, the sensor's working files.

No Airflow imports; the Airflow side is in ``hooks``, ``operators``, ``sensors`` and ``triggers``.
"""

from __future__ import annotations

from airflow_provider_monetate.monetate._auth import MonetateToken
from airflow_provider_monetate.monetate._datasets import DATA_TYPES, PRIVACY_TYPE, SCHEMA_TYPES
from airflow_provider_monetate.monetate._rows import RowRules, to_utc_iso

__all__ = ["DATA_TYPES", "PRIVACY_TYPE", "SCHEMA_TYPES", "MonetateToken", "RowRules", "to_utc_iso"]
