"""AcquiaCdpHook: bearer-token management, DW Tracker ingestion and data erasure for Acquia CDP."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from airflow_provider_monetate.acquia_cdp._environments import environment_name
from airflow_provider_monetate.acquia_cdp._epoch import parse_timestamp_unit
from airflow_provider_monetate.acquia_cdp._webtag import WEBTAG_SCHEME, WebtagAccess, account_scheme
from airflow_provider_monetate.acquia_cdp.tokens._state import earliest_expiry
from airflow_provider_monetate.acquia_cdp.tokens._store import VariableTokenStore, load_store
from airflow_provider_monetate.exceptions import (
    ApiError,
    ConfigurationError,
    MonetateProviderError,
    UnexpectedResponseError,
)
from airflow_provider_monetate.hooks._acquia_cdp_erasure import ErasureCalls
from airflow_provider_monetate.hooks._base import ConnectionProblems, ProviderHook
from airflow_provider_monetate.http import ApiSession, ErrorHints, checked_base_url, json_or_empty
from airflow_provider_monetate.lineage import LineageDataset, cdp_entity_dataset

__all__ = ["AcquiaCdpHook", "CdpToken"]


@dataclass(frozen=True)
class CdpToken:
    """A bearer token and its remaining life. ``repr`` never shows the token itself.

    :param expires_in: what CDP reported: the seconds left, or (another reading of the seed)
        always the lifetime, 15,599,999 s.
    :param expires_at: when the token expires: the earlier of ``checked_at + expires_in`` and
        the expiry the token state tracks, when the token came from the store.
    :param checked_at: when CDP answered.
    """

    token: str = field(repr=False)
    expires_in: int
    expires_at: float
    checked_at: float | None = None

    @property
    def days_left(self) -> float:
        """Days left by ``expires_at`` (by ``expires_in`` when ``checked_at`` is unknown)."""
        if self.checked_at is None:
            return self.expires_in / 86400
        return (self.expires_at - self.checked_at) / 86400


@dataclass(frozen=True)
class _Settings:
    """A checked Acquia CDP connection (no secret in it)."""

    host: str
    auth_host: str
    tenant_id: str
    environment: str
    scheme: str
    timestamp_unit: str


_WEBTAG_REFUSED = (
    "Acquia CDP refused the webtag access key (scheme=a1webtag): the token it is made from is invalid, expired "
    "or was replaced, or this machine's UTC date is wrong. The call was not retried and no further call was "
    "sent, because Acquia warns that failed access-key attempts block the account, and repeated ones block it "
    "completely: verify the token (test the connection, or run the token rotation DAG) before running again")
_WEBTAG_FORBIDDEN = (
    "Acquia CDP forbade the call with the webtag access key (scheme=a1webtag): the webtag user may be blocked "
    "after failed access-key attempts, or may not write to this tenant. The call was not retried and no further "
    "call was sent, because repeated attempts can turn a block into a complete one: ask Acquia before running again")


class _BearerCredential:
    """``Authorization: Bearer <token>``; after a 401 the token is read again from its source,
    because the rotation DAG may have replaced it since this task started."""

    def __init__(self, hook: AcquiaCdpHook) -> None:
        self._hook = hook
        self._lock = threading.Lock()
        self._token: str | None = None

    def header(self) -> str:
        if self._token is None:
            with self._lock:
                if self._token is None:
                    self._token = self._hook.get_token()
        return "Bearer " + self._token

    def renew(self, rejected: str) -> None:
        with self._lock:
            if self._token is None or "Bearer " + self._token == rejected:
                self._token = self._hook.get_token()


class AcquiaCdpHook(ErasureCalls, ProviderHook):
    """Talk to Acquia CDP: token management on the auth host, ingestion and data erasure on the API host.

    Connection: host = API (tracker) host; login/password = integration user (Basic, used only
    to create or wipe tokens). Extras: ``auth_host``, ``tenant_id``, ``environment`` (CS, UAT,
    PROD), ``scheme`` (``a1user``, the default: tracker calls send the bearer token; ``a1webtag``:
    they send the day's access key in the query instead), ``token`` or ``token_variable``,
    ``source_system_id``, ``timestamp_unit``. The hosts, tenant, environment and timestamp unit are
    checked before the first call (:attr:`settings`), every problem reported at once.

    :param acquia_cdp_conn_id: the Airflow connection id.
    :param token_store: where the current bearer token lives (a ``TokenStore``, a Variable name, or
        ``{"class": ..., "kwargs": ...}``, see ``load_store``); by default the Variable named by
        the ``token_variable`` extra, else the static ``token`` extra.
    :param kwargs: ``timeout``, ``retry`` (a :class:`~airflow_provider_monetate.http.RetryPolicy`)
        and ``pool_size``, as for every hook of this provider.
    """

    conn_name_attr = "acquia_cdp_conn_id"
    default_conn_name = "acquia_cdp_default"
    conn_type = "acquia_cdp"
    hook_name = "Acquia CDP"

    def __init__(self, acquia_cdp_conn_id: str = default_conn_name, *, token_store: Any = None, **kwargs) -> None:
        super().__init__(acquia_cdp_conn_id, **kwargs)
        # A name or a {"class": ...} spec is resolved here; a store object is used as it is.
        self._token_store = load_store(token_store) if isinstance(token_store, str | dict) else token_store

    # -- connection ----------------------------------------------------------------------

    @cached_property
    def settings(self) -> _Settings:
        """The connection, checked once before any call; every problem is reported at once.

        The bearer token and the login/password are not checked here: each is needed by some
        calls only, which check it before sending.

        :raises ConfigurationError: listing each field that is wrong and how to fix it.
        """
        conn, extras = self._conn, self._extras
        problems = ConnectionProblems("Acquia CDP", self.acquia_cdp_conn_id)
        host = auth_host = None
        if not conn.host:
            problems.add("host", "missing: set it to the CDP API (tracker) host, e.g. https://api7-green.agilone.com.")
        else:
            host = problems.check("host", checked_base_url, conn.host, conn.port, "")
        if extras.get("auth_host"):
            auth_host = problems.check("auth_host", checked_base_url, extras["auth_host"], None, "")
        tenant_id = str(extras.get("tenant_id") or "").strip()
        if not tenant_id:
            problems.add("tenant_id", "missing: set the extra 'tenant_id' to the CDP tenant id supplied by Acquia.")
        environment = problems.check("environment", environment_name, extras.get("environment"))
        unit = problems.check("timestamp_unit", parse_timestamp_unit, extras.get("timestamp_unit"))
        scheme = problems.check("scheme", account_scheme, extras.get("scheme"))
        problems.raise_if_any()
        return _Settings(host, auth_host or host, tenant_id, environment, scheme, unit)

    @property
    def tenant_id(self) -> str:
        return self.settings.tenant_id

    @property
    def environment(self) -> str:
        return self.settings.environment

    @property
    def scheme(self) -> str:
        """``a1user`` (integration user: bearer token) or ``a1webtag`` (webtag service user: access key)."""
        return self.settings.scheme

    @property
    def source_system_id(self) -> str | None:
        return self._extras.get("source_system_id") or None

    @property
    def timestamp_unit(self) -> str:
        return self.settings.timestamp_unit

    @cached_property
    def token_store(self):
        """The store the bearer token is read from (``None`` for a static ``token`` extra)."""
        if self._token_store is not None:
            return self._token_store
        variable = self._extras.get("token_variable")
        if variable:
            return VariableTokenStore(variable)
        return None

    @property
    def static_token(self) -> str | None:
        """The ``token`` extra: a hand-set token, used while the token store holds none."""
        return self._extras.get("token") or None

    def get_token(self) -> str:
        """The current bearer token: from the token store when configured (the rotation DAG keeps it
        current), else from the ``token`` extra, which also serves until the store holds a token."""
        store = self.token_store
        state = store.read() if store is not None else None
        token = (state.token if state else None) or self.static_token
        where = f"token store {store!r} or the 'token' extra" if store is not None else "the 'token' extra"
        if not token:
            raise ConfigurationError(
                f"No Acquia CDP bearer token in {where} of connection {self.acquia_cdp_conn_id!r}: set the "
                "'token' extra, or 'token_variable' and run the token rotation DAG."
            )
        self.hold(token)
        return token

    def _bearer(self, token: str) -> str:
        self.hold(token)  # a token passed in (by the rotation) is held before it is sent
        return "Bearer " + token

    def _basic(self) -> str:
        if not self._conn.login or not self._conn.password:
            raise ConfigurationError(
                f"Connection {self.acquia_cdp_conn_id!r} needs login and password (the integration user) "
                "to create or wipe tokens."
            )
        raw = base64.b64encode(f"{self._conn.login}:{self._conn.password}".encode()).decode()
        self.hold(self._conn.password, raw)
        return "Basic " + raw

    def _session(self, host: str, role: str, webtag: bool = False) -> ApiSession:
        not_found = (f"Not found: check the {role} host and tenant_id of connection {self.acquia_cdp_conn_id!r} "
                     "(dataset/tenant not found)")
        if webtag:  # no Authorization header, nothing to renew: the key travels in the query
            return self.session("Acquia CDP", host, None, ErrorHints(
                unauthorized=_WEBTAG_REFUSED, forbidden=_WEBTAG_FORBIDDEN, not_found=not_found))
        return self.session(
            "Acquia CDP",
            host,
            _BearerCredential(self),
            ErrorHints(
                unauthorized="The bearer token is invalid, expired or was replaced by a newer one: run "
                "the token rotation DAG or verify the token in the connection",
                forbidden="Acquia CDP refused the token for this tenant; check tenant_id and the "
                "integration user's permissions. Retrying will not help",
                not_found=not_found,
            ),
        )

    @cached_property
    def api(self) -> ApiSession:
        """Session on the API (tracker) host; for ``a1webtag``, one that sends no ``Authorization``."""
        return self._session(self.settings.host, "API", webtag=self.scheme == WEBTAG_SCHEME)

    @cached_property
    def webtag(self) -> WebtagAccess:
        """The access key of ``a1webtag`` tracker calls, one a UTC day, and the gate a refusal closes."""
        return WebtagAccess(self.get_token, hold=self.hold)

    @cached_property
    def auth_api(self) -> ApiSession:
        """Session on the token-management (auth) host (the API host when no ``auth_host`` is set)."""
        return self._session(self.settings.auth_host, "auth")

    # -- token management ------------------------------------------------------------------

    def _token_call(self, method: str, authorization: str, action: str | None = None,
                    retry_ambiguous: bool = True) -> dict:
        params = {"scheme": self.scheme}
        if action:
            params = {"action": action, **params}
        response = self.auth_api.request(
            method, "/token", params=params, authorization=authorization, retry_ambiguous=retry_ambiguous
        )
        return json_or_empty(response)

    def _result(self, body: dict, token: str | None = None, tracked_expires_at: float | None = None) -> CdpToken:
        value = body.get("access_token") or token
        if not value:
            raise UnexpectedResponseError("Acquia CDP's token response had no access_token.")
        self.hold(value)
        now = time.time()
        reported = body.get("expires_in")
        expires_in = int(reported or 0)
        expires_at = earliest_expiry(tracked_expires_at, int(reported) if reported else None, now)
        return CdpToken(token=value, expires_in=expires_in, expires_at=now if expires_at is None else expires_at,
                        checked_at=now)

    def create_token(self) -> CdpToken:
        """Create a token (Basic). Each create counts against the environment's token limit and,
        per Acquia, invalidates earlier tokens; it is therefore never repeated automatically.

        :raises ApiError: as mapped; a refusal for the limit may be any 4xx (see
            ``acquia_cdp.tokens._hook_api.is_limit_refusal``), a 429 after the retry budget.
        """
        body = self._token_call("POST", self._basic(), "create", retry_ambiguous=False)
        return self._result(body)

    def verify_token(self, token: str | None = None) -> CdpToken:
        """Verify a token (``GET /token`` with Bearer) and read its ``expires_in``.

        Without ``token``, the stored token is verified and its :attr:`CdpToken.days_left` is the
        smaller of CDP's figure and the expiry the token state tracks: CDP's ``expires_in`` may be
        the fixed lifetime rather than the seconds left. A token passed in is reported as CDP says.

        :raises ApiError: 401 or 403 (CDP's documents leave open which) when the token is invalid.
        """
        if token is not None:
            return self._result(self._token_call("GET", self._bearer(token)), token)
        token = self.get_token()
        return self._result(self._token_call("GET", self._bearer(token)), token, self._tracked_expiry(token))

    def _tracked_expiry(self, token: str) -> float | None:
        """The expiry the token state tracks for ``token`` (``None`` when it tracks another or none)."""
        store = self.token_store
        state = store.read() if store is not None else None
        return state.local_expires_at if state is not None and state.token == token else None

    def extend_token(self, token: str | None = None) -> CdpToken:
        """Extend a token's validity, then report its new remaining life as CDP says."""
        token = token or self.get_token()
        body = self._token_call("POST", self._bearer(token), "extend")
        if not body.get("expires_in"):
            body = self._token_call("GET", self._bearer(token))
        return self._result(body, token)

    def delete_token(self, token: str | None = None) -> None:
        """Delete one token (``DELETE /token`` with that token as Bearer)."""
        self._token_call("DELETE", self._bearer(token or self.get_token()))

    def wipe_tokens(self) -> dict:
        """Delete every token of the integration user (``DELETE /token`` with Basic): starts a new cycle."""
        return self._token_call("DELETE", self._basic())

    # -- ingestion -------------------------------------------------------------------------

    def entity_dataset(self, collection: str) -> LineageDataset:
        """One of the tenant's collections (``customers``, ...) as lineage names it."""
        return cdp_entity_dataset(self.settings.host, self.tenant_id, collection)

    def post_entities(
        self, payload: dict[str, list[dict]] | None = None, *, body: bytes | None = None,
        retry_ambiguous: bool = True, collections: Sequence[str] = (),
    ) -> dict:
        """Send entity arrays to the DW Tracker (``POST /v2/{tenant}/dw/tracker?scheme=``).

        ``a1user``: ``Authorization: Bearer <token>``; a 401 re-reads the token once. ``a1webtag``:
        ``?scheme=a1webtag&accessKey=<key of the UTC day>`` and no ``Authorization``; a 401 or 403
        is never retried and stops every later call of this hook (see :class:`WebtagAccess`),
        because Acquia warns that failed access-key attempts block the account.

        :param payload: ``{"customers": [...], "events": [...], ...}`` of flat records; or
            ``body``, the same already encoded.
        :param retry_ambiguous: resend after a timeout or dropped connection. Keyed entities
            upsert, so a repeat is harmless; events have no key and may duplicate.
        :param collections: the collections ``body`` holds, for lineage (a ``payload`` names its own).
        """
        if (payload is None) == (body is None):
            raise ConfigurationError("post_entities takes either payload or body.")
        kwargs = {"json": payload} if payload is not None else {"data": body}
        path = f"/v2/{self.tenant_id}/dw/tracker"
        if self.scheme == WEBTAG_SCHEME:
            with self.webtag.call() as query:
                response = self.api.request("POST", path, params=query, retry_ambiguous=retry_ambiguous, **kwargs)
        else:
            response = self.api.request("POST", path, params={"scheme": self.scheme},
                                        retry_ambiguous=retry_ambiguous, **kwargs)
        for collection in payload or collections:
            self.report_output(self.entity_dataset(collection))
        return json_or_empty(response)

    # -- connection test -------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection and the token's presence, then verify the token and report how
        many days it has left. Always ``(ok, message)``; the message never holds a secret."""
        try:
            settings = self.settings  # every connection problem, before any call
            self.get_token()
            result = self.verify_token()
        except ApiError as exc:
            if exc.status == 401:
                return False, (
                    "The bearer token is invalid or expired (it may have been replaced by a newer one): "
                    "set a valid token or run the token rotation DAG."
                )
            return False, self.redactor.redact(str(exc))
        except MonetateProviderError as exc:
            return False, self.redactor.redact(str(exc))
        except Exception as exc:  # the UI must get a message, whatever went wrong
            return False, self.redactor.redact(f"{type(exc).__name__}: {exc}")
        return True, (f"Token valid for {result.days_left:.1f} more days ({settings.environment}, "
                      f"tenant {settings.tenant_id}).")
