"""Acquia CDP token management (auth host) and DW tracker ingestion (API host).

Paths::

    POST   /token?action=create&scheme=a1user   Basic   create a token          cdp.token
    GET    /token?scheme=a1user                 Bearer  verify that token       cdp.token
                                                Basic   the newest valid token
    POST   /token?action=extend&scheme=a1user   Bearer  extend that token       cdp.token
    DELETE /token?scheme=a1user                 Bearer  delete that token       cdp.token
                                                Basic   wipe all, new cycle
    POST   /authentication?action=login|logout                                  cdp.auth
    POST   /v2/{tenant_id}/dw/tracker?scheme=a1user   Bearer                    cdp.tracker

Token limits are counted per *cycle*: each environment allows N creates (CS 5, UAT 3,
PROD 3) until the user wipes all tokens, which starts a new cycle. Which earlier tokens a
create invalidates is configurable (``invalidation``): ``all_previous`` (the seed: "only
the newest token being valid") or ``evict_oldest`` (earlier tokens stay valid; the oldest
is evicted only when the active count would exceed the limit, a safety net that the
per-cycle create limit normally makes unreachable).
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_monetate.testing import routes
from airflow_provider_monetate.testing.cdp_payload import (
    DEFAULT_SOURCE_SYSTEM_ID,
    entity_name,
    key_field,
    payload_errors,
    record_key,
)
from airflow_provider_monetate.testing.clock import Clock
from airflow_provider_monetate.testing.wire import ApiError, Request, Response

TOKEN_LIFETIME = 15_599_999  # "expires_in" of a fresh token per the seed (about 180 days)
SESSION_LIFETIME = 3600  # /authentication login tokens; not documented, kept short
DEFAULT_TOKEN_LIMITS = {"CS": 5, "UAT": 3, "PROD": 3}
INVALIDATION_MODES = ("all_previous", "evict_oldest")
SCHEME = "a1user"
_TRACKER_PATH = re.compile(r"/v2/(?P<tenant>[^/]+)/dw/tracker")


def cdp_error(
    status: int,
    code: str,
    user_message: str,
    developer_message: str | None = None,
    additional_info: Any = None,
    headers: dict | None = None,
) -> Response:
    """A response with the CDP error envelope.

    :param status: HTTP status.
    :param code: ``errorCode`` (``INVALID_TOKEN``, ``TOKEN_LIMIT_EXCEEDED``, ...).
    :param user_message: readable explanation.
    :param developer_message: technical detail (defaults to ``code``).
    :param additional_info: structured detail (e.g. the list of payload errors).
    :param headers: extra headers.
    """
    body = {
        "errorCode": code,
        "userMessage": user_message,
        "developerMessage": developer_message or code,
        "linkToErrorDoc": None,
        "linkToResourceDoc": None,
        "additionalInfo": additional_info,
    }
    return Response(status, body, headers or {})


def _fail(status: int, code: str, message: str, developer: str | None = None, info: Any = None) -> ApiError:
    return ApiError(cdp_error(status, code, message, developer, info))


@dataclass
class CdpToken:
    """A bearer token (from /token) or a session token (from /authentication)."""

    value: str
    login: str
    created_at: float
    expires_at: float
    valid: bool = True


@dataclass
class CdpUser:
    """An integration user: its tokens and its position in the current token cycle."""

    login: str
    password: str
    environment: str
    tenant_id: str
    scheme: str = SCHEME
    cycle: int = 1
    created_in_cycle: int = 0
    created_total: int = 0
    tokens: list[CdpToken] = field(default_factory=list)


class CdpService:
    """State and handlers for the Acquia CDP APIs.

    :param clock: the emulator clock.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.users: dict[str, CdpUser] = {}
        self.tokens: dict[str, CdpToken] = {}
        self.sessions: dict[str, CdpToken] = {}
        self.records: dict[str, dict[str, Any]] = {}  # tenant -> entity -> {key: record} | [events]
        self.kfk0: dict[str, int] = {}
        self._set_defaults()

    def _set_defaults(self) -> None:
        self.invalidation = "all_previous"
        self.extend_seconds = TOKEN_LIFETIME
        self.token_limits = dict(DEFAULT_TOKEN_LIMITS)

    # --- routing ---------------------------------------------------------------------

    def resolve(self, method: str, path: str):
        """Find the route for a request; ``None`` when the path is not a CDP path."""
        if path == "/token":
            handler = {"POST": self.token_post, "GET": self.token_get, "DELETE": self.token_delete}.get(method)
            return routes.CDP_TOKEN, handler or self._not_allowed, {}
        if path == "/authentication":
            return routes.CDP_AUTH, self.authentication if method == "POST" else self._not_allowed, {}
        match = _TRACKER_PATH.fullmatch(path)
        if match:
            return routes.CDP_TRACKER, self.tracker if method == "POST" else self._not_allowed, match.groupdict()
        return None

    @staticmethod
    def _not_allowed(request: Request, params: dict) -> Response:
        return cdp_error(405, "METHOD_NOT_ALLOWED", f"Method {request.method} is not allowed here.")

    # --- credentials -----------------------------------------------------------------

    def _credentials(self, request: Request) -> tuple[str, str]:
        scheme, _, value = (request.header("Authorization") or "").partition(" ")
        return scheme.lower(), value.strip()

    def _basic_user(self, credential: str) -> CdpUser:
        try:
            login, _, password = base64.b64decode(credential, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            login = password = ""
        user = self.users.get(login)
        if user is None or user.password != password:
            raise _fail(401, "INVALID_CREDENTIALS", "Invalid user name or password.")
        return user

    def _bearer_token(self, credential: str, pool: dict[str, CdpToken] | None = None) -> CdpToken:
        token = (self.tokens if pool is None else pool).get(credential)
        if token is None or not token.valid or self.clock.now() >= token.expires_at:
            raise _fail(401, "INVALID_TOKEN", "Invalid token", "The token is unknown, expired, deleted or replaced.")
        return token

    def _check_scheme(self, request: Request, user: CdpUser | None = None) -> None:
        scheme = request.query.get("scheme")
        expected = user.scheme if user else SCHEME
        if scheme != expected:
            raise _fail(400, "INVALID_SCHEME", f"The scheme query parameter must be {expected!r}.")

    def _verify_body(self, token: CdpToken) -> dict:
        remaining = max(0, int(token.expires_at - self.clock.now()))
        return {"access_token": token.value, "token_type": "bearer", "expires_in": remaining, "userType": "CLIENT"}

    # --- /token ----------------------------------------------------------------------

    def token_post(self, request: Request, params: dict) -> Response:
        """``action=create`` (Basic) or ``action=extend`` (Bearer)."""
        action = request.query.get("action")
        kind, credential = self._credentials(request)
        with self.lock:
            if action == "create":
                if kind != "basic":
                    raise _fail(401, "INVALID_CREDENTIALS", "Creating a token needs Basic credentials.")
                user = self._basic_user(credential)
                self._check_scheme(request, user)
                token = self.create_token(user)
                body = {"access_token": token.value, "token_type": "bearer", "expires_in": TOKEN_LIFETIME}
                return Response(200, body, auth_calls=1)
            if action == "extend":
                if kind != "bearer":
                    raise _fail(401, "INVALID_TOKEN", "Extending a token needs that token as Bearer.")
                token = self._bearer_token(credential)
                self._check_scheme(request, self.users[token.login])
                token.expires_at += self.extend_seconds
                return Response(200, self._verify_body(token))
        raise _fail(400, "INVALID_ACTION", "The action query parameter must be 'create' or 'extend'.")

    def token_get(self, request: Request, params: dict) -> Response:
        """Verify a Bearer token, or (Basic) return the user's newest valid token."""
        kind, credential = self._credentials(request)
        with self.lock:
            if kind == "basic":
                user = self._basic_user(credential)
                self._check_scheme(request, user)
                now = self.clock.now()
                live = [t for t in user.tokens if t.valid and now < t.expires_at]
                if not live:
                    raise _fail(401, "INVALID_TOKEN", "No valid token exists for this user.")
                return Response(200, self._verify_body(live[-1]))
            if kind != "bearer":
                raise _fail(401, "INVALID_TOKEN", "Invalid token", "Send Authorization: Bearer <token>.")
            token = self._bearer_token(credential)
            self._check_scheme(request, self.users[token.login])
            return Response(200, self._verify_body(token))

    def token_delete(self, request: Request, params: dict) -> Response:
        """Bearer: delete that token. Basic: wipe all the user's tokens and start a new cycle."""
        kind, credential = self._credentials(request)
        with self.lock:
            if kind == "basic":
                user = self._basic_user(credential)
                self._check_scheme(request, user)
                return Response(200, {"status": "wiped", "count": self.wipe(user)})
            if kind != "bearer":
                raise _fail(401, "INVALID_TOKEN", "Invalid token", "Send Authorization: Bearer <token>.")
            token = self._bearer_token(credential)
            self._check_scheme(request, self.users[token.login])
            token.valid = False
            return Response(200, {"status": "deleted"})

    def create_token(self, user: CdpUser) -> CdpToken:
        """Create a token under the cycle limit and the invalidation reading.

        :raises ApiError: 400 ``TOKEN_LIMIT_EXCEEDED``.
        """
        limit = self.token_limits.get(user.environment, 3)
        if user.created_in_cycle >= limit:
            raise _fail(
                400,
                "TOKEN_LIMIT_EXCEEDED",
                f"Token limit {limit} for environment {user.environment} reached in this cycle; "
                "wipe all tokens (DELETE /token with Basic credentials) to start a new cycle.",
                f"created_in_cycle={user.created_in_cycle} limit={limit} cycle={user.cycle}",
            )
        now = self.clock.now()
        active = [t for t in user.tokens if t.valid and now < t.expires_at]
        if self.invalidation == "all_previous":
            for old in active:
                old.valid = False
        else:
            for old in active[: max(0, len(active) + 1 - limit)]:
                old.valid = False
        token = CdpToken(str(uuid.uuid4()), user.login, now, now + TOKEN_LIFETIME)
        user.tokens.append(token)
        user.created_in_cycle += 1
        user.created_total += 1
        self.tokens[token.value] = token
        return token

    def wipe(self, user: CdpUser) -> int:
        """Delete every token of ``user`` and start a new cycle; return how many were valid."""
        now = self.clock.now()
        count = sum(1 for t in user.tokens if t.valid and now < t.expires_at)
        for token in user.tokens:
            token.valid = False
            self.tokens.pop(token.value, None)
        user.tokens.clear()
        user.created_in_cycle = 0
        user.cycle += 1
        return count

    # --- /authentication -------------------------------------------------------------

    def authentication(self, request: Request, params: dict) -> Response:
        """``action=login`` (Basic) -> session token; ``action=logout`` (Bearer)."""
        action = request.query.get("action")
        kind, credential = self._credentials(request)
        with self.lock:
            if action == "login":
                if kind != "basic":
                    raise _fail(401, "INVALID_CREDENTIALS", "Login needs Basic credentials.")
                user = self._basic_user(credential)
                now = self.clock.now()
                session = CdpToken(str(uuid.uuid4()), user.login, now, now + SESSION_LIFETIME)
                self.sessions[session.value] = session
                body = {"access_token": session.value, "token_type": "bearer", "expires_in": SESSION_LIFETIME}
                return Response(200, body, auth_calls=1)
            if action == "logout":
                session = self._bearer_token(credential, self.sessions) if kind == "bearer" else None
                if session is None:
                    raise _fail(401, "INVALID_TOKEN", "Invalid token")
                session.valid = False
                return Response(200, {"status": "ok"})
        raise _fail(400, "INVALID_ACTION", "The action query parameter must be 'login' or 'logout'.")

    # --- tracker ---------------------------------------------------------------------

    def tracker(self, request: Request, params: dict) -> Response:
        """Ingest flat records; all-or-nothing."""
        tenant = params["tenant"]
        if request.query.get("scheme") != SCHEME:
            raise _fail(400, "INVALID_SCHEME", f"The emulator's tracker accepts scheme={SCHEME} only.")
        kind, credential = self._credentials(request)
        with self.lock:
            if kind != "bearer":
                raise _fail(401, "INVALID_TOKEN", "Invalid token", "Send Authorization: Bearer <token>.")
            token = self._bearer_token(credential)
            if tenant not in {u.tenant_id for u in self.users.values()}:
                raise _fail(404, "TENANT_NOT_FOUND", f"Unknown tenant {tenant}.")
            if self.users[token.login].tenant_id != tenant:
                raise _fail(403, "FORBIDDEN", f"This token does not grant access to tenant {tenant}.")
        content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise _fail(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json.")
        try:
            body = request.json()
        except ValueError as exc:
            raise _fail(400, "MALFORMED_JSON", "The JSON payload is malformed.", str(exc)) from None
        errors = payload_errors(body)
        if errors:
            first = errors[0]
            raise _fail(422, "INVALID_PAYLOAD", f"{first['path']}: {first['message']}", None, {"errors": errors})
        with self.lock:
            received = {collection: self._store(tenant, collection, records) for collection, records in body.items()}
        return Response(200, {"status": "accepted", "received": received}, rows=sum(received.values()))

    def _store(self, tenant: str, collection: str, records: list[dict]) -> int:
        entity = entity_name(collection)
        key = key_field(entity)
        store = self.records.setdefault(tenant, {})
        for record in records:
            if record.get("SourceSystemID") is None:
                # The real system's default: the hazard the seed warns about.
                record = {**record, "SourceSystemID": DEFAULT_SOURCE_SYSTEM_ID}
                self.kfk0[tenant] = self.kfk0.get(tenant, 0) + 1
            if key is None:
                store.setdefault(entity, []).append(dict(record))
                continue
            keyed = store.setdefault(entity, {})
            value = record_key(entity, record)
            existing = keyed.get(value)
            if existing is None:
                keyed[value] = dict(record)
            else:  # CDP keeps the latest non-null value per attribute
                existing.update((k, v) for k, v in record.items() if v is not None)
        return len(records)

    # --- admin -----------------------------------------------------------------------

    def add_user(self, login: str, password: str, environment: str, tenant_id: str) -> None:
        """Register an integration user.

        :raises ValueError: unknown environment or empty login/password/tenant.
        """
        if environment not in self.token_limits:
            raise ValueError(f"environment must be one of {', '.join(self.token_limits)}")
        if not login or not password or not str(tenant_id):
            raise ValueError("login, password and tenant_id are required")
        with self.lock:
            self.users[login] = CdpUser(login, password, environment, str(tenant_id))

    def issue_token(self, login: str) -> str:
        """Create a token for ``login`` as ``POST /token?action=create`` would (limits apply).

        :raises KeyError: unknown user.
        :raises ValueError: the cycle's token limit is reached.
        """
        with self.lock:
            user = self.users[login]
            try:
                return self.create_token(user).value
            except ApiError as exc:
                raise ValueError(exc.response.body["userMessage"]) from None

    def expire_tokens(self) -> int:
        """Make every live bearer and session token expire now; return how many."""
        now = self.clock.now()
        with self.lock:
            live = [t for t in [*self.tokens.values(), *self.sessions.values()] if t.valid and t.expires_at > now]
            for token in live:
                token.expires_at = now
        return len(live)

    def configure(self, invalidation: Any = None, extend_seconds: Any = None, token_limits: Any = None) -> None:
        """Change the invalidation reading, the extend period or the per-environment limits."""
        if invalidation is not None:
            if invalidation not in INVALIDATION_MODES:
                raise ValueError(f"invalidation must be one of {', '.join(INVALIDATION_MODES)}")
            self.invalidation = invalidation
        if extend_seconds is not None:
            if isinstance(extend_seconds, bool) or int(extend_seconds) <= 0:
                raise ValueError("extend_seconds must be a positive integer")
            self.extend_seconds = int(extend_seconds)
        if token_limits is not None:
            limits = {str(k): int(v) for k, v in dict(token_limits).items()}
            if any(v < 1 for v in limits.values()):
                raise ValueError("token limits must be positive")
            self.token_limits = {**self.token_limits, **limits}

    def config(self) -> dict:
        return {
            "invalidation": self.invalidation,
            "extend_seconds": self.extend_seconds,
            "token_limits": dict(self.token_limits),
        }

    def records_of(self, tenant_id: str, entity: str) -> list[dict]:
        """Copies of stored records (soft-deleted ones included, with ``DeleteFlag: true``).

        :param tenant_id: the tenant.
        :param entity: entity or collection name (``customers`` or ``Customer``).
        """
        with self.lock:
            stored = self.records.get(str(tenant_id), {}).get(entity_name(entity), [])
            values = stored.values() if isinstance(stored, dict) else stored
            return [dict(r) for r in values]

    def stats(self) -> dict:
        """KFK_0 counts, token usage per user and cycle, record counts, soft deletes."""
        with self.lock:
            now = self.clock.now()
            users = {
                u.login: {
                    "environment": u.environment,
                    "tenant_id": u.tenant_id,
                    "limit": self.token_limits.get(u.environment, 3),
                    "cycle": u.cycle,
                    "created_in_cycle": u.created_in_cycle,
                    "created_total": u.created_total,
                    "active_tokens": sum(1 for t in u.tokens if t.valid and now < t.expires_at),
                }
                for u in self.users.values()
            }
            counts: dict[str, dict[str, int]] = {}
            deleted: dict[str, dict[str, int]] = {}
            for tenant, entities in self.records.items():
                for entity, stored in entities.items():
                    values = list(stored.values()) if isinstance(stored, dict) else stored
                    counts.setdefault(tenant, {})[entity] = len(values)
                    flagged = sum(1 for r in values if r.get("DeleteFlag") is True)
                    if flagged:
                        deleted.setdefault(tenant, {})[entity] = flagged
            return {
                "kfk0_records": sum(self.kfk0.values()),
                "kfk0_by_tenant": dict(self.kfk0),
                "tokens_created": sum(u.created_total for u in self.users.values()),
                "active_tokens": sum(u["active_tokens"] for u in users.values()),
                "users": users,
                "records": counts,
                "soft_deleted": deleted,
                "invalidation": self.invalidation,
            }

    def reset(self, users: bool = False) -> None:
        with self.lock:
            self.tokens.clear()
            self.sessions.clear()
            self.records.clear()
            self.kfk0.clear()
            self._set_defaults()
            if users:
                self.users.clear()
            for user in self.users.values():
                user.tokens.clear()
                user.cycle, user.created_in_cycle, user.created_total = 1, 0, 0
