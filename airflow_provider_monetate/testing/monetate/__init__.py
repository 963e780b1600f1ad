"""The Monetate APIs: Auth (JWT -> token), Data (schemas, rows, upload history) and
Consumer Data Privacy (deletion requests and their status).

Modules, one concern each:

* ``auth``: API users, public keys, JWT verification, opaque tokens.
* ``schema``: schema definition rules and row validation (pure functions).
* ``state``: account state: datasets and their rows, privacy requests, the nightly batch.
* ``privacy``: the privacy post's body and request times, and the status answers, under the
  readings of the documents' open points.
* ``envelope``: the ``{"meta", "data"}`` response envelope and its error form.
* ``service``: the URL table and the handlers (:class:`MonetateService`).
"""

from __future__ import annotations

from airflow_provider_monetate.testing.monetate.service import MonetateService

__all__ = ["MonetateService"]
