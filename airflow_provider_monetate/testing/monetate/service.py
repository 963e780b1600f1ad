"""Monetate Auth API, Data API and Consumer Data Privacy API: the URL table and its handlers.

Paths (all with the trailing slash the spec uses)::

    GET   /api/auth/v0/refresh/?ttl=                           monetate.auth
    GET   /api/data/v1/{shortname}/{env}/schema/                monetate.schema
    POST  /api/data/v1/{shortname}/{env}/schema/                monetate.schema
    GET   /api/data/v1/{shortname}/{env}/schema/{name}/         monetate.schema
    PATCH /api/data/v1/{shortname}/{env}/schema/{name}/         monetate.schema
    GET   /api/data/v1/{shortname}/{env}/schematype/[{type}/]   monetate.schema
    GET   /api/data/v1/{shortname}/{env}/upload/{name}/         monetate.upload
    POST  /api/data/v1/{shortname}/{env}/data/{name}/           monetate.data
    GET   /api/data/v1/{shortname}/{env}/data/{name}/?id=       monetate.record
    GET   /api/data/v1/{shortname}/{env}/customer-data-privacy/{name}/?id=   monetate.privacy_status

The rules live next door (``auth``, ``schema``, ``state``); this module turns requests into
calls on them and answers in the envelope of ``envelope``. It also holds the methods the
:class:`~airflow_provider_monetate.testing.server.Emulator` offers for setup and inspection.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from airflow_provider_monetate.testing import routes
from airflow_provider_monetate.testing.clock import Clock
from airflow_provider_monetate.testing.monetate import privacy
from airflow_provider_monetate.testing.monetate.auth import ApiToken, AuthError, MonetateAuth
from airflow_provider_monetate.testing.monetate.envelope import envelope, error_response, fail
from airflow_provider_monetate.testing.monetate.schema import (
    PRIVACY_TYPE,
    SCHEMA_TYPES,
    TYPE_FIELDS,
    SchemaError,
    is_iso8601,
    validate_new_schema,
    validate_patch,
)
from airflow_provider_monetate.testing.monetate.state import Account, Dataset
from airflow_provider_monetate.testing.readings import Readings
from airflow_provider_monetate.testing.wire import Handler, Request, Resolved, Response

__all__ = ["DEFAULT_BATCH_HOUR", "DEFAULT_ENVIRONMENTS", "RECORD_READS_PER_SECOND", "MonetateService"]

_AUTH_PATH = "/api/auth/v0/refresh/"
_DATA_PATH = re.compile(r"/api/data/v1/(?P<shortname>[^/]+)/(?P<env>[^/]+)/(?P<rest>.*)")
# (pattern on the part after {env}/, route name, {method: handler attribute name})
_DATA_ROUTES = (
    (re.compile(r"schema/"), routes.MONETATE_SCHEMA, {"GET": "list_schemas", "POST": "create_schema"}),
    (re.compile(r"schema/(?P<name>[^/]+)/"), routes.MONETATE_SCHEMA, {"GET": "get_schema", "PATCH": "patch_schema"}),
    (re.compile(r"schematype/"), routes.MONETATE_SCHEMA, {"GET": "list_types"}),
    (re.compile(r"schematype/(?P<type>[^/]+)/"), routes.MONETATE_SCHEMA, {"GET": "get_type"}),
    (re.compile(r"upload/(?P<name>[^/]+)/"), routes.MONETATE_UPLOAD, {"GET": "upload_history"}),
    (re.compile(r"data/(?P<name>[^/]+)/"), routes.MONETATE_DATA, {"POST": "post_rows"}),
    (re.compile(r"data/(?P<name>[^/]+)/"), routes.MONETATE_RECORD, {"GET": "get_record"}),
    (re.compile(r"customer-data-privacy/(?P<name>[^/]+)/"), routes.MONETATE_PRIVACY_STATUS, {"GET": "privacy"}),
)
DEFAULT_ENVIRONMENTS = ("production",)
DEFAULT_BATCH_HOUR = 2.0
RECORD_READS_PER_SECOND = 1.0


def _flag(request: Request, name: str) -> bool:
    return (request.query.get(name) or "").lower() in ("true", "1", "yes")


def _schema_rows(body: Any) -> list:
    """The rows of a Send Data body ``{"schema_rows": [...], "_sent_time"?}``; 400 for any other shape."""
    if not isinstance(body, dict) or not isinstance(body.get("schema_rows"), list):
        raise fail(400, [{"field": "schema_rows", "message": "Body must be an object with a schema_rows list."}])
    sent = body.get("_sent_time")
    if sent is not None and not is_iso8601(sent):
        raise fail(400, [{"field": "_sent_time", "message": "_sent_time must be an ISO-8601 date-time."}])
    return body["schema_rows"]


class MonetateService:
    """The Monetate APIs: the URL table and handlers over ``auth`` and the accounts' ``state``.

    :param clock: the emulator clock.
    """

    def __init__(self, clock: Clock, readings: Readings | None = None) -> None:
        self.clock = clock
        self.readings = readings if readings is not None else Readings()
        self.auth = MonetateAuth(clock, self.readings)
        self.lock = threading.RLock()
        self.accounts: dict[tuple[str, str], Account] = {}
        self.environments: tuple[str, ...] = DEFAULT_ENVIRONMENTS
        self.batch_hour = DEFAULT_BATCH_HOUR

    # --- routing ---------------------------------------------------------------------

    def resolve(self, method: str, path: str) -> Resolved | None:
        """Find the route for a request; ``None`` when the path is not a Monetate path."""
        if path == _AUTH_PATH:
            return routes.MONETATE_AUTH, self._only(method, "GET", self.refresh), {}
        match = _DATA_PATH.fullmatch(path)
        if match is None:
            return None
        params = {"shortname": match["shortname"], "env": match["env"]}
        rest = match["rest"]
        allowed: set[str] = set()
        matched_route = None
        for pattern, route, methods in _DATA_ROUTES:
            sub = pattern.fullmatch(rest)
            if sub is None:
                continue
            allowed.update(methods)
            matched_route = matched_route or route
            if method in methods:
                return route, getattr(self, methods[method]), {**params, **sub.groupdict()}
        if allowed:
            return matched_route, self._not_allowed(allowed), params
        return None, self._not_found, params

    def _only(self, method: str, allowed: str, handler: Handler) -> Handler:
        return handler if method == allowed else self._not_allowed({allowed})

    @staticmethod
    def _not_allowed(allowed: set[str]) -> Handler:
        def handler(request: Request, params: dict) -> Response:
            return error_response(405, f"Method {request.method} not allowed; use {', '.join(sorted(allowed))}.")

        return handler

    def _not_found(self, request: Request, params: dict) -> Response:
        return self.not_found(request.path)

    def not_found(self, path: str) -> Response:
        """A Monetate 404 for a path no route matches."""
        return error_response(404, f"No such endpoint: {path}")

    @staticmethod
    def error(status: int, message: str, headers: dict | None = None) -> Response:
        """A Monetate error envelope (for injected faults)."""
        return error_response(status, message, headers)

    # --- auth ------------------------------------------------------------------------

    def refresh(self, request: Request, params: dict) -> Response:
        """``GET /api/auth/v0/refresh/``: exchange a signed JWT for a token."""
        try:
            token = self.auth.mint(request.header("Authorization"), request.query.get("ttl"))
        except AuthError as exc:
            errors = [{"field": exc.field, "message": exc.message}] if exc.field else exc.message
            raise fail(exc.status, errors) from None
        data = {
            "token": token.value,
            "issued_at": token.issued_at,
            "expires_in": round(token.expires_at - token.issued_at),
            "expires_at": token.expires_at,
        }
        return Response(200, envelope(200, data), auth_calls=1)

    def _account(self, request: Request, params: dict) -> Account:
        """Authenticate the token, then find the account; runs any due privacy batch."""
        try:
            token: ApiToken = self.auth.check(request.header("Authorization"))
        except AuthError as exc:
            raise fail(exc.status, exc.message) from None
        shortname, env = params["shortname"], params["env"]
        if shortname not in self.auth.shortnames():
            raise fail(404, f"Unknown retailer shortname {shortname!r}.")
        if env not in self.environments:
            raise fail(404, f"Unknown environment {env!r}.")
        if token.shortname != shortname:
            # Tokens are bound to the retailer account of their API user (Consumer Data
            # Access docs: another retailer's token gets 401).
            raise fail(401, "This token does not belong to this retailer account.")
        account = self.accounts.get((shortname, env))
        if account is None:
            account = self.accounts[(shortname, env)] = Account()
        account.run_due_batches(self.clock.now(), self.batch_hour)
        return account

    @staticmethod
    def _dataset(account: Account, name: str) -> Dataset:
        dataset = account.datasets.get(name)
        if dataset is None:
            raise fail(404, f"Schema {name!r} does not exist.")
        return dataset

    @staticmethod
    def _body(request: Request) -> Any:
        try:
            return request.json()
        except ValueError as exc:
            raise fail(400, f"Request body is not valid JSON: {exc}") from None

    # --- schema ----------------------------------------------------------------------

    def list_schemas(self, request: Request, params: dict) -> Response:
        with self.lock:
            account = self._account(request, params)
            rc, lu = _flag(request, "row_count"), _flag(request, "latest_upload")
            data = [d.describe(rc, lu) for d in account.datasets.values()]
        return Response(200, envelope(200, data, count=len(data)))

    def create_schema(self, request: Request, params: dict) -> Response:
        body = self._body(request)
        with self.lock:
            account = self._account(request, params)
            try:
                schema = validate_new_schema(body, set(account.datasets))
            except SchemaError as exc:
                raise fail(400, exc.errors) from None
            dataset = account.datasets[schema["name"]] = Dataset(schema, self.clock.now())
            return Response(201, envelope(201, dataset.describe()))

    def get_schema(self, request: Request, params: dict) -> Response:
        with self.lock:
            dataset = self._dataset(self._account(request, params), params["name"])
            data = dataset.describe(_flag(request, "row_count"), _flag(request, "latest_upload"))
        return Response(200, envelope(200, data))

    def patch_schema(self, request: Request, params: dict) -> Response:
        body = self._body(request)
        with self.lock:
            dataset = self._dataset(self._account(request, params), params["name"])
            try:
                what, value = validate_patch(dataset.schema, body)
            except SchemaError as exc:
                raise fail(400, exc.errors) from None
            if what == "fields":
                dataset.set_fields(value)
            else:
                dataset.schema["named_identifier"] = value
            return Response(200, envelope(200, {what: value}))

    def list_types(self, request: Request, params: dict) -> Response:
        with self.lock:
            self._account(request, params)
        data = [{"name": t, "fields": TYPE_FIELDS.get(t, {})} for t in SCHEMA_TYPES]
        return Response(200, envelope(200, data, count=len(data)))

    def get_type(self, request: Request, params: dict) -> Response:
        with self.lock:
            self._account(request, params)
        if params["type"] not in SCHEMA_TYPES:
            raise fail(404, f"Unknown schema type {params['type']!r}.")
        return Response(200, envelope(200, {"name": params["type"], "fields": TYPE_FIELDS.get(params["type"], {})}))

    # --- data ------------------------------------------------------------------------

    def post_rows(self, request: Request, params: dict) -> Response:
        """``POST data/{name}/``: validate every row; store all or nothing.

        A privacy dataset takes the body shape and request times its readings say (``privacy``).
        """
        body = self._body(request)
        with self.lock:
            account = self._account(request, params)
            dataset = self._dataset(account, params["name"])
            rows = privacy.posted_rows(body, self.readings) if dataset.is_privacy else _schema_rows(body)
            errors = dataset.validator.errors(rows)
            if dataset.is_privacy:
                errors += privacy.check_request_times(rows, self.readings)
            if errors:
                raise fail(400, errors)
            now = self.clock.now()
            dataset.store(dataset.validator.stored(rows, self.readings), now)
            if dataset.is_privacy:
                ids = [row["customer_id"] for row in rows]
                account.submit_privacy(ids, now, any_submitted=privacy.queues_any_submitted(self.readings))
                return privacy.posted_response(body, rows, self.readings)
            if privacy.purges_erased_ids(self.readings) and dataset.validator.identifier:
                account.purge_again([str(row.get(dataset.validator.identifier)) for row in rows], now)
        return Response(201, envelope(201, {"schema_rows": rows}), rows=len(rows))

    def get_record(self, request: Request, params: dict) -> Response:
        """``GET data/{name}/?id=``: manual spot check, at most one per second per account."""
        with self.lock:
            account = self._account(request, params)
            now = self.clock.now()
            last = account.last_record_read
            if last is not None and 0 <= now - last < 1 / RECORD_READS_PER_SECOND:
                raise fail(429, "Too many requests: at most 1 record read per second.", {"Retry-After": "1"})
            account.last_record_read = now
            dataset = self._dataset(account, params["name"])
            record_id = request.query.get("id")
            if not record_id:
                raise fail(400, [{"field": "id", "message": "The id query parameter is required."}])
            rows = dataset.find(record_id)
        if not rows:
            raise fail(404, f"No record with id {record_id!r} in {params['name']!r}.")
        return Response(200, envelope(200, {"schema_rows": rows}))

    def upload_history(self, request: Request, params: dict) -> Response:
        with self.lock:
            dataset = self._dataset(self._account(request, params), params["name"])
            data = [dict(u) for u in reversed(dataset.uploads)]
        return Response(200, envelope(200, data, count=len(data)))

    # --- privacy ---------------------------------------------------------------------

    def privacy(self, request: Request, params: dict) -> Response:
        """``GET customer-data-privacy/{name}/?id=``: PENDING, FOUND or NOT_FOUND, as the readings say."""
        with self.lock:
            account = self._account(request, params)
            dataset = account.datasets.get(params["name"])
            if dataset is None or not dataset.is_privacy:
                raise fail(404, f"{params['name']!r} is not a {PRIVACY_TYPE} dataset.")
            customer_id = request.query.get("id")
            if not customer_id:
                raise fail(400, [{"field": "id", "message": "The id query parameter is required."}])
            return privacy.status_response(account, customer_id, self.readings)

    # --- setup and inspection (the Emulator's methods) -------------------------------

    def configure(self, environments: Any = None, nightly_batch_hour: Any = None) -> None:
        """Change the accepted environments and/or the nightly batch hour (UTC)."""
        if environments is not None:
            if (
                isinstance(environments, str)
                or not environments
                or not all(isinstance(e, str) and e for e in environments)
            ):
                raise ValueError("environments must be a non-empty list of names")
            self.environments = tuple(environments)
        if nightly_batch_hour is not None:
            hour = float(nightly_batch_hour)
            if not 0 <= hour < 24:
                raise ValueError("nightly_batch_hour must be in [0, 24)")
            self.batch_hour = hour

    def config(self) -> dict:
        """``environments`` and ``nightly_batch_hour``."""
        return {"environments": list(self.environments), "nightly_batch_hour": self.batch_hour}

    def account_for_admin(self, shortname: str, environment: str) -> Account:
        """An account for inspection, with due batches applied.

        :raises KeyError: no data was ever created for it.
        """
        account = self.accounts.get((shortname, environment))
        if account is None:
            if shortname in self.auth.shortnames():
                return Account()
            raise KeyError(f"unknown shortname {shortname!r}")
        account.run_due_batches(self.clock.now(), self.batch_hour)
        return account

    def rows(self, shortname: str, dataset: str, environment: str = "production") -> list[dict]:
        """Copies of the stored rows of a dataset.

        :raises KeyError: unknown shortname or dataset.
        """
        with self.lock:
            account = self.account_for_admin(shortname, environment)
            if dataset not in account.datasets:
                raise KeyError(f"unknown dataset {dataset!r} for {shortname!r}")
            return [dict(r) for r in account.datasets[dataset].rows.values()]

    def privacy_status(self, shortname: str, customer_id: str, environment: str = "production") -> str:
        """PENDING, FOUND or NOT_FOUND, as the status endpoint would say now."""
        with self.lock:
            return self.account_for_admin(shortname, environment).privacy_status(customer_id)

    def reset(self, users: bool = False) -> None:
        """Forget accounts, tokens and switches (and users, if asked)."""
        with self.lock:
            self.accounts.clear()
            self.auth.reset(users=users)
            self.environments = DEFAULT_ENVIRONMENTS
            self.batch_hour = DEFAULT_BATCH_HOUR

