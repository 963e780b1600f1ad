"""The Acquia CDP APIs: token management on the auth host, DW tracker ingestion on the API host.

Modules, one concern each:

* ``tokens``: integration users, bearer tokens (create, verify, extend, delete, wipe; the
  per-environment limits and the invalidation reading) and session tokens.
* ``payload``: the tracker's payload rules (pure functions).
* ``tracker``: stored records: upserts by key, KFK_0 filing, soft deletes.
* ``webtag``: webtag service users' access keys on the tracker, refusals and blocks.
* ``erasure``: the GDPR/CCPA data erasure API: the weekly limit, erasures that take time.
* ``envelope``: the CDP error envelope.
* ``service``: the URL table and the handlers (:class:`CdpService`).
"""

from __future__ import annotations

from airflow_provider_monetate.testing.acquia_cdp.service import CdpService

__all__ = ["CdpService"]
