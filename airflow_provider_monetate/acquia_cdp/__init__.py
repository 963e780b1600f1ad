"""Acquia CDP: environments and token limits, payload rules, soft deletes, the webtag key, and ``tokens``.

* ``_environments``: CS, UAT and PROD and their token limits (5, 3, 3);
* ``_entities``: collection keys, entity names, upsert keys (overridable per entity:
  :class:`~._entities.EntityNaming`), ``SourceSystemID`` and ``KFK_0``;
* ``_epoch``: timestamps as epoch seconds or milliseconds;
* ``_payload``: :class:`EntityRules`, what an ingested record must look like;
* ``_deletions``: :class:`DeletionRules`, customers turned into ``DeleteFlag`` soft deletes;
* ``_webtag``: :func:`webtag_access_key` and the tracker calls' key and gate for tenants on
  the ``a1webtag`` scheme;
* ``tokens/``: keeping bearer tokens alive within the limits.

No Airflow imports; the Airflow side is in ``hooks``, ``operators`` and ``sensors``.
"""

from __future__ import annotations

from airflow_provider_monetate.acquia_cdp._deletions import DeletionRules
from airflow_provider_monetate.acquia_cdp._environments import ENVIRONMENTS, TOKEN_LIMITS, token_limit
from airflow_provider_monetate.acquia_cdp._payload import EntityRules
from airflow_provider_monetate.acquia_cdp._webtag import webtag_access_key, webtag_key_matches

__all__ = [
    "ENVIRONMENTS",
    "TOKEN_LIMITS",
    "DeletionRules",
    "EntityRules",
    "token_limit",
    "webtag_access_key",
    "webtag_key_matches",
]
