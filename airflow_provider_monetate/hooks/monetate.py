"""MonetateHook: JWT -> token auth, the Data API and the Consumer Data Privacy status API."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from airflow_provider_monetate.exceptions import (
    ApiError,
    ApiNotFoundError,
    ConfigurationError,
    MonetateProviderError,
    UnexpectedResponseError,
)
from airflow_provider_monetate.hooks._base import ConnectionProblems, ProviderHook
from airflow_provider_monetate.http import ApiSession, ErrorHints, checked_base_url
from airflow_provider_monetate.lineage import LineageDataset, monetate_dataset
from airflow_provider_monetate.monetate import _auth as monetate_auth
from airflow_provider_monetate.monetate._datasets import PRIVACY_TYPE
from airflow_provider_monetate.monetate.privacy._status import DeletionStatus, parse_deletion_status, read_not_found

__all__ = ["MonetateHook"]

DEFAULT_HOST = "https://api.monetate.net"
_PATH_SEGMENT = re.compile(r"[^/?#\s]+")
AUTH_PATH = "/api/auth/v0/refresh/"


class _SpotCheckThrottle:
    """At most one single-record GET per second per process, as Monetate requires."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._last = 0.0

    def wait(self, clock=time.monotonic, sleep=time.sleep) -> None:
        with self._lock:
            delay = self._last + self.interval - clock()
            if delay > 0:
                sleep(delay)
            self._last = clock()


SPOT_CHECK_THROTTLE = _SpotCheckThrottle()


class _MonetateCredential:
    """``Authorization: Token <token>`` from the process-wide cache; re-minted after a 401."""

    def __init__(self, hook: MonetateHook) -> None:
        self._hook = hook

    def header(self) -> str:
        return "Token " + monetate_auth.TOKEN_CACHE.get(self._hook.cache_key, self._hook.mint_token).token

    def renew(self, rejected: str) -> None:
        monetate_auth.TOKEN_CACHE.replace(
            self._hook.cache_key, rejected.removeprefix("Token "), self._hook.mint_token
        )


@dataclass(frozen=True)
class _Settings:
    """A checked Monetate connection. ``repr`` never shows the key."""

    host: str
    username: str
    shortname: str
    environment: str
    algorithm: str
    ttl: int
    private_key: Any = field(repr=False)


class MonetateHook(ProviderHook):
    """Talk to the Monetate Auth, Data and Consumer Data Privacy APIs.

    The connection holds the API base URL (host, scheme and host only), the API username (login)
    and the PEM RSA private key (exactly one of password, the ``private_key`` or the
    ``private_key_path`` extra). Extras: ``shortname``, ``environment`` (default ``production``),
    ``algorithm`` (RS256/384/512), ``token_ttl`` (900..43200 s, refused outside),
    ``private_key_passphrase``. The whole connection is checked before the first call
    (:attr:`settings`), and every problem is reported at once.

    :param monetate_conn_id: the Airflow connection id.
    :param kwargs: ``timeout``, ``retry`` (a :class:`~airflow_provider_monetate.http.RetryPolicy`)
        and ``pool_size``, as for every hook of this provider.
    """

    conn_name_attr = "monetate_conn_id"
    default_conn_name = "monetate_default"
    conn_type = "monetate"
    hook_name = "Monetate"

    def __init__(self, monetate_conn_id: str = default_conn_name, **kwargs) -> None:
        super().__init__(monetate_conn_id, **kwargs)

    # -- connection ----------------------------------------------------------------------

    @cached_property
    def settings(self) -> _Settings:
        """The connection, checked once before any call; every problem is reported at once.

        :raises ConfigurationError: listing each field that is wrong and how to fix it
            (a :class:`PrivateKeyError` when the key is the only problem).
        """
        conn, extras = self._conn, self._extras
        problems = ConnectionProblems("Monetate", self.monetate_conn_id)
        host = problems.check("host", checked_base_url, conn.host, conn.port, DEFAULT_HOST)
        if not conn.login:
            problems.add("login", "missing: set it to the Monetate API username (Settings > API Keys).")
        shortname = extras.get("shortname") or extras.get("retailer_shortname")
        if not shortname:
            problems.add("shortname", "missing: set the extra 'shortname', the retailer shortname in "
                         "/api/data/v1/<shortname>/... (Monetate support can tell you yours).")
        environment = extras.get("environment") or "production"
        for name, value in (("shortname", shortname), ("environment", environment)):
            if value and not _PATH_SEGMENT.fullmatch(str(value)):
                problems.add(name, f"{value!r} is not one path segment (no '/', '?', '#' or spaces).")
        algorithm = problems.check("algorithm", monetate_auth.check_algorithm, extras.get("algorithm"))
        ttl = problems.check("token_ttl", monetate_auth.check_ttl, extras.get("token_ttl"))
        key = problems.check("private key", self._read_private_key)
        problems.raise_if_any()
        return _Settings(host, conn.login, shortname, environment, algorithm, ttl, key)

    def _read_private_key(self):
        extras = self._extras
        pem = monetate_auth.key_pem(self._conn.password, extras.get("private_key"), extras.get("private_key_path"))
        passphrase = extras.get("private_key_passphrase")
        self.hold(pem, passphrase)
        if pem:
            self.redactor.add_pem(pem)
        return monetate_auth.load_private_key(pem, passphrase)

    @property
    def host(self) -> str:
        return self.settings.host

    @property
    def username(self) -> str:
        return self.settings.username

    @property
    def shortname(self) -> str:
        return self.settings.shortname

    @property
    def data_path(self) -> str:
        """``/api/data/v1/{shortname}/{environment}``: the root of every Data API path."""
        return f"/api/data/v1/{self.settings.shortname}/{self.settings.environment}"

    @property
    def algorithm(self) -> str:
        return self.settings.algorithm

    @property
    def ttl(self) -> int:
        return self.settings.ttl

    @property
    def private_key(self):
        """The RSA private key, parsed once when the connection is checked."""
        return self.settings.private_key

    @cached_property
    def cache_key(self) -> tuple:
        return (self.monetate_conn_id, self.host, self.username, self.ttl)

    @cached_property
    def api(self) -> ApiSession:
        return self.session(
            "Monetate",
            self.host,
            _MonetateCredential(self),
            ErrorHints(
                unauthorized="Monetate rejected the credentials: check the API username, that the public "
                "key uploaded to Monetate matches this private key, and this machine's clock",
                forbidden="The API key was deactivated in Monetate (Settings > API Keys); "
                "activate it or upload a new public key. Retrying will not help",
                not_found=f"Not found: the dataset does not exist, or the shortname/environment in "
                f"connection {self.monetate_conn_id!r} is wrong",
            ),
        )

    # -- auth ----------------------------------------------------------------------------

    #: The wall clock a JWT's ``iat`` is read from; a test may replace it on a hook.
    jwt_clock: Callable[[], float] = staticmethod(lambda: time.time())  # time.time looked up at each call

    def build_jwt(self) -> str:
        """A freshly signed JWT (``username`` + ``iat``); never cached, never logged."""
        token = monetate_auth.build_jwt(self.username, self.private_key, self.algorithm, self.jwt_clock())
        self.hold(token)
        return token

    def mint_token(self) -> monetate_auth.MonetateToken:
        """Exchange a JWT for an API token (``GET /api/auth/v0/refresh/?ttl=``).

        The JWT is signed again for every attempt: retries may span minutes, and the server
        refuses a JWT whose ``iat`` is too far from its clock with a 401 that is not retried.
        """
        response = self.api.request(
            "GET", AUTH_PATH, params={"ttl": self.ttl}, authorization=lambda: "JWT " + self.build_jwt()
        )
        data = response.json().get("data") or {}
        if not data.get("token"):
            raise UnexpectedResponseError("Monetate's token response had no data.token.")
        self.hold(data["token"])
        now = time.time()
        return monetate_auth.MonetateToken(
            token=data["token"],
            issued_at=float(data.get("issued_at") or now),
            expires_in=int(data.get("expires_in") or self.ttl),
            expires_at=float(data.get("expires_at") or now + self.ttl),
        )

    def get_token(self) -> monetate_auth.MonetateToken:
        """The cached API token for this connection, minted when absent or near expiry."""
        token = monetate_auth.TOKEN_CACHE.get(self.cache_key, self.mint_token)
        self.hold(token.token)  # another hook of this process may have minted it
        return token

    # -- Data API --------------------------------------------------------------------------

    def _data(self, method: str, path: str, **kwargs) -> Any:
        response = self.api.request(method, f"{self.data_path}/{path}", **kwargs)
        return response.json().get("data")

    def list_schemas(self, *, row_count: bool = False, latest_upload: bool = False) -> list[dict]:
        """All active datasets (schemas) of the account."""
        params = {k: "true" for k, on in (("row_count", row_count), ("latest_upload", latest_upload)) if on}
        return self._data("GET", "schema/", params=params or None) or []

    def get_schema(self, name: str) -> dict:
        """One dataset's schema; raises :class:`ApiNotFoundError` when it does not exist."""
        return self._data("GET", f"schema/{name}/")

    def find_schema(self, name: str) -> dict | None:
        """One dataset's schema, or ``None`` when it does not exist."""
        try:
            return self.get_schema(name)
        except ApiNotFoundError:
            return None

    def create_schema(self, schema: dict) -> dict:
        """Create a dataset (``POST schema/``); the body is the Monetate Schema object."""
        return self._data("POST", "schema/", json=schema, retry_ambiguous=False)

    def patch_schema(
        self, name: str, *, fields: dict | None = None, named_identifier: str | None = None
    ) -> dict:
        """Add fields to a dataset, or set its identifier name (the API takes one or the other)."""
        if (fields is None) == (named_identifier is None):
            raise ConfigurationError("patch_schema takes either fields or named_identifier, not both.")
        body = {"fields": fields} if fields is not None else {"named_identifier": named_identifier}
        return self._data("PATCH", f"schema/{name}/", json=body)

    def list_schema_types(self) -> list[dict]:
        return self._data("GET", "schematype/") or []

    def get_schema_type(self, schema_type: str) -> dict:
        return self._data("GET", f"schematype/{schema_type}/")

    def upload_history(self, name: str) -> list[dict]:
        """Upload history of a dataset, newest first (documented for file uploads)."""
        return self._data("GET", f"upload/{name}/") or []

    def dataset_lineage(self, name: str) -> LineageDataset:
        """Dataset ``name`` as lineage names it."""
        return monetate_dataset(self.host, self.data_path, name)

    def post_rows(
        self, name: str, rows: list[dict] | None = None, *, body: bytes | None = None,
        retry_ambiguous: bool = False,
    ) -> int:
        """Post rows to a dataset (``POST data/{name}/`` with ``{"schema_rows": [...]}``).

        :param rows: the rows; or pass ``body``, an already encoded ``{"schema_rows": [...]}``.
        :param retry_ambiguous: resend after a timeout or a dropped connection. Only safe when
            the dataset has a ``unique_key`` (the repeat then upserts the same records).
        :return: HTTP status of the accepted call (201).
        """
        if (rows is None) == (body is None):
            raise ConfigurationError("post_rows takes either rows or body.")
        kwargs = {"json": {"schema_rows": rows}} if rows is not None else {"data": body}
        response = self.api.request(
            "POST", f"{self.data_path}/data/{name}/", retry_ambiguous=retry_ambiguous, **kwargs
        )
        self.report_output(self.dataset_lineage(name))
        return response.status_code

    def get_record(self, name: str, record_id: str) -> Any:
        """Read ONE record, for manual spot-checks only.

        Monetate limits this endpoint to one request per second and forbids it in automation,
        tests and health checks; calls from this process are throttled to 1/s.
        """
        SPOT_CHECK_THROTTLE.wait()
        return self._data("GET", f"data/{name}/", params={"id": record_id})

    def deletion_status(self, privacy_dataset: str, customer_id: str) -> tuple[DeletionStatus, str]:
        """Status of one customer's deletion (``GET customer-data-privacy/{dataset}/?id=``).

        The status may come as a name or as an integer code (read from its description, see
        ``monetate.privacy._status``). A 404 is read as ``NOT_FOUND`` (the seed lists 404 among the
        endpoint's answers: an ID Monetate never held) once the dataset is known to be a privacy
        dataset that exists; otherwise it is the :class:`ApiNotFoundError` it was.
        """
        try:
            data = self._data("GET", f"customer-data-privacy/{privacy_dataset}/", params={"id": customer_id})
        except ApiNotFoundError as error:
            if not self.is_privacy_dataset(privacy_dataset):
                raise
            return read_not_found(error.messages)
        return parse_deletion_status(data, customer_id)

    def is_privacy_dataset(self, name: str) -> bool:
        """Whether ``name`` is a ``customer_data_privacy`` dataset that exists; asked once per hook and name."""
        # Set on first use (dict.setdefault is atomic): the status calls of a round ask from many threads.
        known = self.__dict__.setdefault("_privacy_datasets", {})
        with self.__dict__.setdefault("_privacy_datasets_lock", threading.Lock()):
            if name not in known:
                schema = self.find_schema(name)
                known[name] = schema is not None and schema.get("type", PRIVACY_TYPE) == PRIVACY_TYPE
            return known[name]

    # -- connection test -------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection, mint a token and list the datasets (never the rate-limited
        single-record GET). Always ``(ok, message)``; the message never holds a secret."""
        try:
            self.settings  # noqa: B018 - every connection problem, before any call
            token = self.get_token()
            schemas = self.list_schemas()
        except (MonetateProviderError, ApiError) as exc:
            return False, self.redactor.redact(str(exc))
        except Exception as exc:  # the UI must get a message, whatever went wrong
            return False, self.redactor.redact(f"{type(exc).__name__}: {exc}")
        return True, (
            f"Authenticated as {self.username}; token valid for {token.expires_in}s; "
            f"{len(schemas)} dataset(s) under {self.data_path}."
        )
