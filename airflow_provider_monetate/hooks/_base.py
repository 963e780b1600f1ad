"""What both hooks share: the connection and its extras, the HTTP settings, the connection form,
the secrets a hook holds, and how a connection's problems are reported.

A hook subclass sets Airflow's ``conn_name_attr``, ``default_conn_name``, ``conn_type`` and
``hook_name``; its connection form comes from ``_provider_info`` by ``conn_type``, and it builds
its sessions with :meth:`ProviderHook.session`, so every session gets the same timeouts, retry
budget, pool and :class:`~airflow_provider_monetate.http.Redactor`.

Invariants:

* every secret a hook reads or mints goes through :meth:`ProviderHook.hold`: masked in Airflow's
  logs and redacted from every error message of every session of that hook, from then on;
* a subclass checks its whole connection once (:class:`ConnectionProblems`), before any call,
  and reports every problem at once;
* a hook tells Airflow 3's hook lineage collector once of each dataset it writes
  (:meth:`ProviderHook.report_output`); lineage never fails a call.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from airflow_provider_monetate._compat import BaseHook, hook_lineage_collector, mask_secret
from airflow_provider_monetate._provider_info import CONNECTION_TYPES, form_widgets, ui_field_behaviour
from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.http import ApiSession, Credential, ErrorHints, Redactor, RetryPolicy
from airflow_provider_monetate.lineage import LineageDataset

CONNECT_TIMEOUT = 10.0


class ConnectionProblems:
    """Every problem of one connection, one line per field, raised together before any call.

    :param service: ``Monetate`` or ``Acquia CDP``.
    :param conn_id: the connection id.
    """

    def __init__(self, service: str, conn_id: str) -> None:
        self.service = service
        self.conn_id = conn_id
        self.problems: dict[str, ConfigurationError] = {}

    def add(self, field: str, message: str) -> None:
        """Record ``field``'s problem (the first one only: one message per field)."""
        self.problems.setdefault(field, ConfigurationError(message))

    def check(self, field: str, read: Callable[..., Any], *args: Any) -> Any:
        """``read(*args)``, or ``None`` with its :class:`ConfigurationError` recorded for ``field``."""
        try:
            return read(*args)
        except ConfigurationError as exc:
            self.problems.setdefault(field, exc)
            return None

    def raise_if_any(self) -> None:
        """Raise one error listing every problem; its class is theirs when they share one
        (a key problem alone stays a ``PrivateKeyError``), else :class:`ConfigurationError`."""
        if not self.problems:
            return
        lines = "\n".join(f"- {field}: {error}" for field, error in self.problems.items())
        classes = {type(error) for error in self.problems.values()}
        cls = classes.pop() if len(classes) == 1 else ConfigurationError
        raise cls(f"{self.service} connection {self.conn_id!r} cannot be used; nothing was sent. "
                  f"Fix {', '.join(self.problems)}:\n{lines}")


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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Airflow < 3.2 looks for the form methods in the hook class's own ``__dict__`` only;
        # inherited ones would leave the connection form without its extra fields.
        for name in ("get_ui_field_behaviour", "get_connection_form_widgets"):
            if name not in cls.__dict__:
                setattr(cls, name, classmethod(getattr(ProviderHook, name).__func__))

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
        self.hold(conn.password)
        return conn

    @cached_property
    def redactor(self) -> Redactor:
        """Every secret this hook has held, redacted from all its sessions' error messages."""
        return Redactor()

    @cached_property
    def _masked(self) -> set[str]:
        return set()

    def hold(self, *secrets: str | None) -> None:
        """Mask ``secrets`` in Airflow's logs (once each: in a task, a mask is a message to the
        supervisor) and redact them from every error message of this hook's sessions."""
        for secret in secrets:
            if secret and secret not in self._masked:
                self._masked.add(secret)
                mask_secret(secret)
        self.redactor.add(*secrets)

    @cached_property
    def _extras(self) -> dict[str, Any]:
        return self._conn.extra_dejson

    @cached_property
    def _reported(self) -> set[LineageDataset]:
        return set()

    def report_output(self, dataset: LineageDataset) -> None:
        """Tell Airflow 3's hook lineage collector that this hook writes to ``dataset`` (once per hook)."""
        if dataset in self._reported:
            return
        self._reported.add(dataset)
        try:
            collector = hook_lineage_collector()
            if collector is not None:
                collector.add_output_asset(context=self, uri=dataset.uri)
        except Exception:
            self.log.debug("Hook lineage for %s not recorded", dataset.uri, exc_info=True)

    def session(self, service: str, base: str, credential: Credential | None, hints: ErrorHints) -> ApiSession:
        """An :class:`ApiSession` with this hook's timeouts, retry budget and pool size."""
        return ApiSession(service, base, credential=credential, hints=hints, timeout=(CONNECT_TIMEOUT, self.timeout),
                          retry=self.retry, pool_size=self.pool_size, redactor=self.redactor)
