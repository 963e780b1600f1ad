"""HTTP for both APIs: one retry policy and classifier, shared by a sync and an async client.

* :class:`RetryPolicy` is the one name for DAG authors: both hooks take ``retry=RetryPolicy(...)``.
* :class:`ApiSession` (``requests``) serves the hooks; :class:`AsyncApiClient` (``httpx``) serves
  the triggers. Both only translate their library's results and perform the step the shared
  policy decides, so a status or a failure is handled alike on both paths
  (``tests/unit/http/test_equivalence.py`` runs every case through both).
* :class:`Redactor` holds the credentials redacted from every error message (a hook shares one
  with all its sessions; each client adds every ``Authorization`` it sends).
* :class:`ErrorHints` is the advice a hook attaches to 401/403/404 errors; :func:`base_url`,
  :func:`checked_base_url` (a connection's host refused when it has a path), :data:`USER_AGENT`
  and :func:`one_connection_client` are what hooks and triggers need to address the API;
  :func:`json_or_empty` reads a success answer's body.

Inside (not imported from outside this package except by its tests):

* ``_policy``: :class:`RetryPolicy`, ``Outcome``, ``classify``, ``Attempts``: pure decisions;
* ``_errors``: status -> exception table, error messages with the credential redacted;
* ``_transport``: what a ``requests``/``httpx`` response or exception means to the policy;
* ``_session`` and ``_async_client``: the two clients.

The errors raised are in :mod:`airflow_provider_monetate.exceptions`.
"""

from __future__ import annotations

from airflow_provider_monetate.http._async_client import AsyncApiClient, AsyncCredential, one_connection_client
from airflow_provider_monetate.http._errors import ErrorHints, Redactor
from airflow_provider_monetate.http._policy import RetryPolicy
from airflow_provider_monetate.http._session import ApiSession, Credential
from airflow_provider_monetate.http._transport import USER_AGENT, base_url, checked_base_url, json_or_empty

__all__ = [
    "USER_AGENT",
    "ApiSession",
    "AsyncApiClient",
    "AsyncCredential",
    "Credential",
    "ErrorHints",
    "Redactor",
    "RetryPolicy",
    "base_url",
    "checked_base_url",
    "json_or_empty",
    "one_connection_client",
]
