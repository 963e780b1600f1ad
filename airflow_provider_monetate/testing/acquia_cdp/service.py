"""Acquia CDP token management (auth host) and DW tracker ingestion (API host): the URL
table, its handlers, and the methods the emulator offers for setup and inspection.

Paths::

    POST   /token?action=create&scheme=a1user   Basic   create a token          cdp.token
    GET    /token?scheme=a1user                 Bearer  verify that token       cdp.token
                                                Basic   the newest valid token
    POST   /token?action=extend&scheme=a1user   Bearer  extend that token       cdp.token
    DELETE /token?scheme=a1user                 Bearer  delete that token       cdp.token
                                                Basic   wipe all, new cycle
    POST   /authentication?action=login|logout                                  cdp.auth
    POST   /v2/{tenant_id}/dw/tracker?scheme=a1user   Bearer                    cdp.tracker
    POST   /v2/{tenant_id}/dw/tracker?scheme=a1webtag&accessKey=<key>           cdp.tracker
    POST   /v2/{tenant_id}/dw/dataerasure[?failOnNotFound=]  Bearer (session)     cdp.erasure

The rules live next door: token limits and invalidation in ``tokens``, payload rules in
``payload``, webtag access keys in ``webtag``, storage in ``tracker``, data erasure in
``erasure``; errors use the envelope
of ``envelope``. The tracker takes the two schemes the documents name: ``a1user`` (an
integration user's Bearer token) and ``a1webtag`` (a webtag service user's access key, no
``Authorization``); each user has one, and a token is taken only with its user's scheme.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from airflow_provider_monetate.testing import routes
from airflow_provider_monetate.testing.acquia_cdp.envelope import FAULT_CODES, cdp_error, fail
from airflow_provider_monetate.testing.acquia_cdp.erasure import ErasureDesk
from airflow_provider_monetate.testing.acquia_cdp.payload import payload_errors
from airflow_provider_monetate.testing.acquia_cdp.tokens import (
    SCHEME,
    SESSION_LIFETIME,
    TOKEN_LIFETIME,
    CdpToken,
    CdpUser,
    TokenRegistry,
)
from airflow_provider_monetate.testing.acquia_cdp.tracker import RecordStore
from airflow_provider_monetate.testing.acquia_cdp.webtag import WEBTAG_SCHEME, WebtagGuard
from airflow_provider_monetate.testing.clock import Clock
from airflow_provider_monetate.testing.readings import Readings
from airflow_provider_monetate.testing.wire import ApiError, Request, Resolved, Response

__all__ = ["CdpService"]

_TRACKER_PATH = re.compile(r"/v2/(?P<tenant>[^/]+)/dw/tracker")
_ERASURE_PATH = re.compile(r"/v2/(?P<tenant>[^/]+)/dw/dataerasure")
_SCHEMES = (SCHEME, WEBTAG_SCHEME)  # the integration user's and the webtag service user's
_SEND_BEARER = "Send Authorization: Bearer <token>."
_ActionHandler = Callable[[Request, str, str], Response]  # (request, credential kind, credential)


class CdpService:
    """The Acquia CDP APIs: one lock around users and tokens (``tokens``) and records (``records``).

    :param clock: the emulator clock.
    """

    def __init__(self, clock: Clock, readings: Readings | None = None) -> None:
        self.clock = clock
        self.readings = readings if readings is not None else Readings()
        self.lock = threading.RLock()
        self.tokens = TokenRegistry(clock, self.readings)
        self.records = RecordStore()
        self.webtag = WebtagGuard(clock, self.readings, self.tokens)
        self.erasure = ErasureDesk(clock, self.readings, self.records)

    # --- routing ---------------------------------------------------------------------

    def resolve(self, method: str, path: str) -> Resolved | None:
        """Find the route for a request; ``None`` when the path is not a CDP path."""
        if path == "/token":
            handler = {"POST": self.token_post, "GET": self.token_get, "DELETE": self.token_delete}.get(method)
            return routes.CDP_TOKEN, handler or self._not_allowed, {}
        if path == "/authentication":
            return routes.CDP_AUTH, self.authentication if method == "POST" else self._not_allowed, {}
        match = _TRACKER_PATH.fullmatch(path)
        if match:
            return routes.CDP_TRACKER, self.tracker if method == "POST" else self._not_allowed, match.groupdict()
        match = _ERASURE_PATH.fullmatch(path)
        if match:
            return routes.CDP_ERASURE, self.data_erasure if method == "POST" else self._not_allowed, match.groupdict()
        return None

    @staticmethod
    def _not_allowed(request: Request, params: dict) -> Response:
        return cdp_error(405, "METHOD_NOT_ALLOWED", f"Method {request.method} is not allowed here.")

    @staticmethod
    def not_found(path: str) -> Response:
        """A CDP 404 for a path no route matches."""
        return cdp_error(404, "NOT_FOUND", f"No such endpoint: {path}")

    @staticmethod
    def error(status: int, message: str, headers: dict | None = None) -> Response:
        """A CDP error envelope (for injected faults), its ``errorCode`` taken from the status."""
        return cdp_error(status, FAULT_CODES.get(status, f"E{status}"), message, headers=headers)

    # --- credentials -----------------------------------------------------------------

    @staticmethod
    def _credentials(request: Request) -> tuple[str, str]:
        scheme, _, value = (request.header("Authorization") or "").partition(" ")
        return scheme.lower(), value.strip()

    @staticmethod
    def _check_scheme(request: Request, user: CdpUser | None = None) -> None:
        scheme = request.query.get("scheme")
        expected = user.scheme if user else SCHEME
        if scheme != expected:
            raise fail(400, "INVALID_SCHEME", f"The scheme query parameter must be {expected!r}.")

    def _basic(self, kind: str, credential: str, message: str) -> CdpUser:
        """The Basic-authenticated user (``message`` when the credential is not Basic)."""
        if kind != "basic":
            raise fail(401, "INVALID_CREDENTIALS", message)
        return self.tokens.basic_user(credential)

    def _bearer(
        self,
        request: Request,
        kind: str,
        credential: str,
        message: str = "Invalid token",
        developer: str | None = _SEND_BEARER,
    ) -> CdpToken:
        """The Bearer token, its scheme checked (``message``/``developer`` when the credential is not Bearer)."""
        if kind != "bearer":
            raise fail(401, "INVALID_TOKEN", message, developer)
        token = self.tokens.bearer(credential, status=self.tokens.token_status())
        self._check_scheme(request, self.tokens.owner(token))
        return token

    @staticmethod
    def _issued(token: CdpToken, expires_in: int) -> Response:
        """The answer to a token create or a login (counted as an auth call)."""
        body = {"access_token": token.value, "token_type": "bearer", "expires_in": expires_in}
        return Response(200, body, auth_calls=1)

    def _verify_body(self, token: CdpToken) -> dict:
        expires_in = self.tokens.expires_in(token)  # the cdp.expires_in reading
        return {"access_token": token.value, "token_type": "bearer", "expires_in": expires_in, "userType": "CLIENT"}

    # --- /token ----------------------------------------------------------------------

    def _by_action(self, request: Request, actions: dict[str, _ActionHandler]) -> Response:
        """Run the handler of the ``action`` query parameter under the lock; 400 for any other."""
        handler = actions.get(request.query.get("action") or "")
        if handler is None:
            expected = " or ".join(repr(name) for name in actions)
            raise fail(400, "INVALID_ACTION", f"The action query parameter must be {expected}.")
        kind, credential = self._credentials(request)
        with self.lock:
            return handler(request, kind, credential)

    def token_post(self, request: Request, params: dict) -> Response:
        """``action=create`` (Basic) or ``action=extend`` (Bearer)."""
        return self._by_action(request, {"create": self._create, "extend": self._extend})

    def _create(self, request: Request, kind: str, credential: str) -> Response:
        user = self._basic(kind, credential, "Creating a token needs Basic credentials.")
        self._check_scheme(request, user)
        return self._issued(self.tokens.create(user), TOKEN_LIFETIME)

    def _extend(self, request: Request, kind: str, credential: str) -> Response:
        token = self._bearer(request, kind, credential, "Extending a token needs that token as Bearer.", None)
        self.tokens.extend(token)
        return Response(200, self._verify_body(token))

    def _by_credential(
        self, request: Request, basic: Callable[[CdpUser], Response], bearer: Callable[[CdpToken], Response]
    ) -> Response:
        """Under the lock: ``basic(user)`` for Basic credentials (scheme checked), else ``bearer(token)``."""
        kind, credential = self._credentials(request)
        with self.lock:
            if kind == "basic":
                user = self.tokens.basic_user(credential)
                self._check_scheme(request, user)
                return basic(user)
            return bearer(self._bearer(request, kind, credential))

    def token_get(self, request: Request, params: dict) -> Response:
        """Verify a Bearer token, or (Basic) return the user's newest valid token."""
        return self._by_credential(request, self._newest, lambda token: Response(200, self._verify_body(token)))

    def _newest(self, user: CdpUser) -> Response:
        live = self.tokens.live(user)
        if not live:
            raise fail(401, "INVALID_TOKEN", "No valid token exists for this user.")
        return Response(200, self._verify_body(live[-1]))

    def token_delete(self, request: Request, params: dict) -> Response:
        """Bearer: delete that token. Basic: wipe all the user's tokens and start a new cycle."""
        return self._by_credential(request, self._wipe, self._delete)

    def _wipe(self, user: CdpUser) -> Response:
        return Response(200, {"status": "wiped", "count": self.tokens.wipe(user)})

    @staticmethod
    def _delete(token: CdpToken) -> Response:
        token.valid = False
        return Response(200, {"status": "deleted"})

    # --- /authentication -------------------------------------------------------------

    def authentication(self, request: Request, params: dict) -> Response:
        """``action=login`` (Basic) -> session token; ``action=logout`` (Bearer)."""
        return self._by_action(request, {"login": self._login, "logout": self._logout})

    def _login(self, request: Request, kind: str, credential: str) -> Response:
        user = self._basic(kind, credential, "Login needs Basic credentials.")
        return self._issued(self.tokens.open_session(user), SESSION_LIFETIME)

    def _logout(self, request: Request, kind: str, credential: str) -> Response:
        session = self.tokens.session(credential) if kind == "bearer" else None
        if session is None:
            raise fail(401, "INVALID_TOKEN", "Invalid token")
        session.valid = False
        return Response(200, {"status": "ok"})

    # --- tracker ---------------------------------------------------------------------

    def tracker(self, request: Request, params: dict) -> Response:
        """Ingest flat records; all-or-nothing."""
        tenant = params["tenant"]
        with self.lock:
            self._tracker_access(request, tenant)
        content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise fail(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json.")
        try:
            body = request.json()
        except ValueError as exc:
            raise fail(400, "MALFORMED_JSON", "The JSON payload is malformed.", str(exc)) from None
        errors = payload_errors(body, self.readings, self.records.entity_keys)
        if errors:
            first = errors[0]
            raise fail(422, "INVALID_PAYLOAD", f"{first['path']}: {first['message']}", None, {"errors": errors})
        with self.lock:
            self.erasure.apply_due()  # erasures due by now happen before what this call brings
            received = self.records.ingest(tenant, body)
        return Response(200, {"status": "accepted", "received": received}, rows=sum(received.values()))

    def data_erasure(self, request: Request, params: dict) -> Response:
        """Erase customers (``erasure``): a session token from ``/authentication?action=login`` only."""
        kind, credential = self._credentials(request)
        if (request.header("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
            raise fail(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json.")
        try:
            body = request.json()
        except ValueError as exc:
            raise fail(400, "MALFORMED_JSON", "The JSON payload is malformed.", str(exc)) from None
        with self.lock:
            if kind != "bearer" or credential not in self.tokens.sessions:
                raise fail(401, "INVALID_TOKEN", "Invalid token", "Data erasure takes a session token from "
                           "/authentication?action=login, not a /token bearer token.")
            session = self.tokens.session(credential)
            if params["tenant"] not in self.tokens.tenants():
                raise fail(404, "TENANT_NOT_FOUND", f"Unknown tenant {params['tenant']}.")
            if self.tokens.owner(session).tenant_id != params["tenant"]:
                raise fail(403, "FORBIDDEN", f"This session does not grant access to tenant {params['tenant']}.")
            return self.erasure.erase(params["tenant"], body, request.query.get("failOnNotFound") == "true")

    def _tracker_access(self, request: Request, tenant: str) -> None:
        """Admit a tracker call: its scheme, then its Bearer token or (``a1webtag``) its access key."""
        scheme = request.query.get("scheme")
        if scheme not in _SCHEMES:
            raise fail(400, "INVALID_SCHEME", f"The scheme query parameter must be {SCHEME} (integration user, "
                       f"Authorization: Bearer) or {WEBTAG_SCHEME} (webtag service user, accessKey).")
        if scheme == WEBTAG_SCHEME:
            if tenant not in self.tokens.tenants():
                raise fail(404, "TENANT_NOT_FOUND", f"Unknown tenant {tenant}.")
            self.webtag.admit(request, tenant)
            return
        kind, credential = self._credentials(request)
        if kind != "bearer":
            raise fail(401, "INVALID_TOKEN", "Invalid token", _SEND_BEARER)
        token = self.tokens.bearer(credential)
        if tenant not in self.tokens.tenants():
            raise fail(404, "TENANT_NOT_FOUND", f"Unknown tenant {tenant}.")
        owner = self.tokens.owner(token)
        if owner.scheme != scheme:
            raise fail(400, "INVALID_SCHEME", f"This token is a {owner.scheme} user's: send scheme={owner.scheme}.")
        if owner.tenant_id != tenant:
            raise fail(403, "FORBIDDEN", f"This token does not grant access to tenant {tenant}.")

    # --- setup and inspection (the Emulator's methods) -------------------------------

    def add_user(self, login: str, password: str, environment: str, tenant_id: str, scheme: str = SCHEME) -> None:
        """Register an integration user (``a1user``) or a webtag service user (``a1webtag``).

        :raises ValueError: unknown environment or scheme, or empty login/password/tenant.
        """
        if scheme not in _SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(_SCHEMES)}")
        with self.lock:
            self.tokens.add_user(login, password, environment, tenant_id)
            self.tokens.users[login].scheme = scheme

    def issue_token(self, login: str) -> str:
        """Create a token for ``login`` as ``POST /token?action=create`` would (limits apply).

        :raises KeyError: unknown user.
        :raises ValueError: the cycle's token limit is reached and the ``cdp.token_limit`` reading refuses.
        """
        with self.lock:
            user = self.tokens.users[login]
            try:
                return self.tokens.create(user).value
            except ApiError as exc:
                body = exc.response.body or {}
                raise ValueError(body.get("userMessage") or f"create refused with {exc.response.status}") from None

    def expire_tokens(self) -> int:
        """Make every live bearer and session token expire now; return how many."""
        with self.lock:
            return self.tokens.expire_all()

    def configure(self, invalidation: Any = None, extend_seconds: Any = None, token_limits: Any = None) -> None:
        """Change the invalidation reading, the extend period or the per-environment limits."""
        with self.lock:
            self.tokens.configure(invalidation, extend_seconds, token_limits)

    def config(self) -> dict:
        """``invalidation``, ``extend_seconds`` and ``token_limits``."""
        return self.tokens.config()

    def set_entity_key(self, entity: str, key_field: str) -> None:
        """Configure an entity keyed by ``key_field`` instead of ``Source{Entity}Number``, as a tenant's
        custom entity may be (the seed: "each entity in CDP has its unique SourceEntityNumber column")."""
        with self.lock:
            self.records.entity_keys[entity] = key_field

    def records_of(self, tenant_id: str, entity: str) -> list[dict]:
        """Copies of stored records of one entity (``customers`` or ``Customer``) for a tenant."""
        with self.lock:
            self.erasure.apply_due()
            return self.records.records_of(tenant_id, entity)

    def stats(self) -> dict:
        """KFK_0 counts, token usage per user and cycle, record counts, soft deletes."""
        with self.lock:
            users = self.tokens.user_stats()
            records = self.records.stats()
            return {
                "kfk0_records": records["kfk0_records"],
                "kfk0_by_tenant": records["kfk0_by_tenant"],
                "tokens_created": sum(u.created_total for u in self.tokens.users.values()),
                "active_tokens": sum(u["active_tokens"] for u in users.values()),
                "users": users,
                "records": records["records"],
                "soft_deleted": records["soft_deleted"],
                "webtag": self.webtag.stats(),
                "erasure": self.erasure.stats(),
                "open_sessions": sum(1 for t in self.tokens.sessions.values() if t.valid),
                "invalidation": self.tokens.invalidation,
            }

    def reset(self, users: bool = False) -> None:
        """Forget tokens, records and switches (and users, if asked)."""
        with self.lock:
            self.tokens.reset(users=users)
            self.records.reset()
            self.webtag.reset()
            self.erasure.reset()
