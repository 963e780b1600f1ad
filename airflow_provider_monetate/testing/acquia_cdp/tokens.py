"""Acquia CDP integration users and their tokens: create, verify, extend, delete, wipe; sessions.

Token limits are counted per *cycle*: each environment allows N creates (CS 5, UAT 3,
PROD 3) until the user wipes all tokens, which starts a new cycle. Which earlier tokens a
create invalidates is configurable (``invalidation``): ``all_previous`` (the seed: "only
the newest token being valid") or ``evict_oldest`` (earlier tokens stay valid; the oldest
is evicted only when the active count would exceed the limit, a safety net that the
per-cycle create limit normally makes unreachable).

Session tokens (``/authentication?action=login``) live here too, apart from bearer tokens.
Not thread-safe: ``CdpService`` holds its lock around every call.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_monetate.testing.acquia_cdp.envelope import fail
from airflow_provider_monetate.testing.clock import Clock

__all__ = [
    "DEFAULT_TOKEN_LIMITS",
    "INVALIDATION_MODES",
    "SCHEME",
    "SESSION_LIFETIME",
    "TOKEN_LIFETIME",
    "CdpToken",
    "CdpUser",
    "TokenRegistry",
]

TOKEN_LIFETIME = 15_599_999  # "expires_in" of a fresh token per the seed (about 180 days)
SESSION_LIFETIME = 3600  # /authentication login tokens; not documented, kept short
# Written apart from the provider's: the emulator checks the documents, not our reading of them.
DEFAULT_TOKEN_LIMITS = {"CS": 5, "UAT": 3, "PROD": 3}
INVALIDATION_MODES = ("all_previous", "evict_oldest")
SCHEME = "a1user"  # the only account scheme the emulator serves (the provider's default, named apart)


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


class TokenRegistry:
    """Users, bearer tokens (limits and invalidation) and session tokens.

    :param clock: the emulator clock (token creation and expiry).
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.users: dict[str, CdpUser] = {}
        self.tokens: dict[str, CdpToken] = {}
        self.sessions: dict[str, CdpToken] = {}
        self.set_defaults()

    def set_defaults(self) -> None:
        """The default switches: ``all_previous``, the documented extend period and limits."""
        self.invalidation = "all_previous"
        self.extend_seconds = TOKEN_LIFETIME
        self.token_limits = dict(DEFAULT_TOKEN_LIMITS)

    # --- users -----------------------------------------------------------------------

    def add_user(self, login: str, password: str, environment: str, tenant_id: str) -> None:
        """Register an integration user.

        :raises ValueError: unknown environment or empty login/password/tenant.
        """
        if environment not in self.token_limits:
            raise ValueError(f"environment must be one of {', '.join(self.token_limits)}")
        if not login or not password or not str(tenant_id):
            raise ValueError("login, password and tenant_id are required")
        self.users[login] = CdpUser(login, password, environment, str(tenant_id))

    def basic_user(self, credential: str) -> CdpUser:
        """The user named by a Basic credential (base64 ``login:password``).

        :raises ApiError: 401 ``INVALID_CREDENTIALS``.
        """
        try:
            login, _, password = base64.b64decode(credential, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            login = password = ""
        user = self.users.get(login)
        if user is None or user.password != password:
            raise fail(401, "INVALID_CREDENTIALS", "Invalid user name or password.")
        return user

    def owner(self, token: CdpToken) -> CdpUser:
        """The user a token belongs to."""
        return self.users[token.login]

    def tenants(self) -> set[str]:
        """Every tenant some user may write to."""
        return {u.tenant_id for u in self.users.values()}

    def limit(self, user: CdpUser) -> int:
        """Creates allowed per cycle in the user's environment."""
        return self.token_limits.get(user.environment, 3)

    # --- bearer tokens ---------------------------------------------------------------

    def bearer(self, credential: str, pool: dict[str, CdpToken] | None = None) -> CdpToken:
        """A live token by value (from ``pool``, default the bearer tokens).

        :raises ApiError: 401 ``INVALID_TOKEN``: unknown, expired, deleted or replaced.
        """
        token = (self.tokens if pool is None else pool).get(credential)
        if token is None or not token.valid or self.clock.now() >= token.expires_at:
            raise fail(401, "INVALID_TOKEN", "Invalid token", "The token is unknown, expired, deleted or replaced.")
        return token

    def live(self, user: CdpUser) -> list[CdpToken]:
        """The user's valid, unexpired tokens, oldest first."""
        now = self.clock.now()
        return [t for t in user.tokens if t.valid and now < t.expires_at]

    def create(self, user: CdpUser) -> CdpToken:
        """Create a token under the cycle limit and the invalidation reading.

        :raises ApiError: 400 ``TOKEN_LIMIT_EXCEEDED``.
        """
        limit = self.limit(user)
        if user.created_in_cycle >= limit:
            raise fail(
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

    def extend(self, token: CdpToken) -> None:
        """Prolong a token by the configured extend period."""
        token.expires_at += self.extend_seconds

    def wipe(self, user: CdpUser) -> int:
        """Delete every token of ``user`` and start a new cycle; return how many were valid."""
        count = len(self.live(user))
        for token in user.tokens:
            token.valid = False
            self.tokens.pop(token.value, None)
        user.tokens.clear()
        user.created_in_cycle = 0
        user.cycle += 1
        return count

    # --- sessions --------------------------------------------------------------------

    def open_session(self, user: CdpUser) -> CdpToken:
        """A new session token for ``user`` (``/authentication?action=login``)."""
        now = self.clock.now()
        session = CdpToken(str(uuid.uuid4()), user.login, now, now + SESSION_LIFETIME)
        self.sessions[session.value] = session
        return session

    def session(self, credential: str) -> CdpToken:
        """A live session token by value.

        :raises ApiError: 401 ``INVALID_TOKEN``.
        """
        return self.bearer(credential, self.sessions)

    # --- switches, inspection --------------------------------------------------------

    def expire_all(self) -> int:
        """Make every live bearer and session token expire now; return how many."""
        now = self.clock.now()
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
        """The switches: ``invalidation``, ``extend_seconds``, ``token_limits``."""
        return {
            "invalidation": self.invalidation,
            "extend_seconds": self.extend_seconds,
            "token_limits": dict(self.token_limits),
        }

    def user_stats(self) -> dict[str, dict]:
        """Per user: environment, tenant, limit, cycle, creates (cycle and total), active tokens."""
        return {
            u.login: {
                "environment": u.environment,
                "tenant_id": u.tenant_id,
                "limit": self.limit(u),
                "cycle": u.cycle,
                "created_in_cycle": u.created_in_cycle,
                "created_total": u.created_total,
                "active_tokens": len(self.live(u)),
            }
            for u in self.users.values()
        }

    def reset(self, users: bool = False) -> None:
        """Forget tokens, sessions and switches; forget users too if asked, else restart their cycles."""
        self.tokens.clear()
        self.sessions.clear()
        self.set_defaults()
        if users:
            self.users.clear()
        for user in self.users.values():
            user.tokens.clear()
            user.cycle, user.created_in_cycle, user.created_total = 1, 0, 0
