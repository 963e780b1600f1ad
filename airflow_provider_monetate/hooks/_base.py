"""What both hooks share: the connection and its extras, the HTTP settings, the connection form.

A hook subclass sets Airflow's ``conn_name_attr``, ``default_conn_name``, ``conn_type`` and
``hook_name``; its connection form comes from ``_provider_info`` by ``conn_type``, and it builds
its sessions with :meth:`ProviderHook.session`, so every session gets the same timeouts, retry
budget and pool.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow_provider_monetate._compat import BaseHook, mask_secret
from airflow_provider_monetate._provider_info import CONNECTION_TYPES, form_widgets, ui_field_behaviour
from airflow_provider_monetate.http import ApiSession, Credential, ErrorHints, RetryPolicy

CONNECT_TIMEOUT = 10.0


class ProviderHook(BaseHook):
    """Base of the provider's hooks.

    :param conn_id: the Airflow connection id, kept under the subclass's ``conn_name_attr``.
    :param timeout: read timeout in seconds for every call (connecting times out after 10 s).
    :param retry: retry budget for throttling, server errors and network failures.
    :param pool_size: pooled connections; match the number of concurrent callers.
    """

    def __init__(self, conn_id: str, *, timeout: float = 60.0, retry: RetryPolicy | None = None,
                 pool_size: int = 16, **kwargs) -> None:
        super().__init__(**kwargs)
        setattr(self, self.conn_name_attr, conn_id)
        self.timeout = timeout
        self.retry = retry
        self.pool_size = pool_size

    @classmethod
    def _form(cls) -> dict[str, Any]:
        return next(form for form in CONNECTION_TYPES if form["connection-type"] == cls.conn_type)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return ui_field_behaviour(cls._form()["ui-field-behaviour"])

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        return form_widgets(cls._form()["conn-fields"])

    @property
    def conn_id(self) -> str:
        """The connection id (also available under ``conn_name_attr``)."""
        return getattr(self, self.conn_name_attr)

    @cached_property
    def _conn(self):
        conn = self.get_connection(self.conn_id)
        if conn.password:
            mask_secret(conn.password)
        return conn

    @cached_property
    def _extras(self) -> dict[str, Any]:
        return self._conn.extra_dejson

    def session(self, service: str, base: str, credential: Credential | None, hints: ErrorHints) -> ApiSession:
        """An :class:`ApiSession` with this hook's timeouts, retry budget and pool size."""
        return ApiSession(service, base, credential=credential, hints=hints, timeout=(CONNECT_TIMEOUT, self.timeout),
                          retry=self.retry, pool_size=self.pool_size)
