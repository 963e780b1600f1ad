"""Acquia CDP integration users and their tokens: create, verify, extend, delete, wipe; sessions.

What the documents leave open about tokens is a reading (``testing.readings``), one per point,
declared here; together they make one coherent model:

* ``cdp.expires_in``: what a verify reports. ``fixed`` (default): always the lifetime,
  15,599,999 s, as the seed's sentence reads; ``countdown``: the seconds the token has left.
* ``cdp.token_limit``: what a create does once the environment's limit (CS 5, UAT 3, PROD 3)
  is reached. ``invalidate`` (default, the seed: a create "replaces and invalidates the old
  ones"): never refused, older tokens die as ``cdp.token_invalidation`` says.
  ``refuse_400|403|409|429``: the create after ``limit`` creates since the last wipe is
  refused with that status, each with its own body (no document names a code; the 400 says
  ``TOKEN_LIMIT_EXCEEDED``, the 429 has no body). Creates since the last wipe are the strictest
  count (never below the number of active tokens), so a client right under it is right under
  an active-token count too.
* ``cdp.token_invalidation``: which older tokens a create that is not refused invalidates.
  ``all_previous`` (default, the seed: "only the newest token being valid") or
  ``evict_oldest`` (they stay valid; the oldest dies only when the active count would pass
  the limit). ``configure(invalidation=...)`` sets this reading.
* ``cdp.token_extend``: ``add`` (default, the seed: "by another 180 days") adds the extend
  period to the expiry; ``reset`` sets it to now plus the period.
* ``cdp.invalid_token_status``: what ``/token`` answers a Bearer token that is unknown,
  expired, deleted or replaced: ``401`` (default, the one documented answer: logout's
  ``INVALID_TOKEN``) or ``403``.

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
from airflow_provider_monetate.testing.readings import Readings, declare
from airflow_provider_monetate.testing.wire import ApiError, Response

__all__ = [
    "DEFAULT_TOKEN_LIMITS",
    "EXPIRES_IN",
    "INVALIDATION_MODES",
    "INVALID_TOKEN_STATUS",
    "SCHEME",
    "SESSION_LIFETIME",
    "TOKEN_EXTEND",
    "TOKEN_INVALIDATION",
    "TOKEN_LIFETIME",
    "TOKEN_LIMIT",
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

EXPIRES_IN = declare(
    "cdp.expires_in",
    ("fixed", "countdown"),
    "Seed (acquia-cdp-api): the 180-day lifespan 'is explicitly reflected in the \"expires_in\" attribute "
    "as 15599999 seconds in the JSON response from a GET request to verify authentication access'. "
    "fixed (default, the literal reading: the sentence gives one value for every verify and never says it "
    "counts down): every verify reports 15599999. countdown (the OAuth habit): the seconds the token has "
    "left, 15599999 only when fresh. No document shows the verify of an older or extended token.",
)
TOKEN_LIMIT = declare(
    "cdp.token_limit",
    ("invalidate", "refuse_400", "refuse_403", "refuse_409", "refuse_429"),
    "Seed: 'Each environment has a limit on active bearer tokens' (CS 5, UAT and PROD 3) and 'When you "
    "create a new token, it replaces and invalidates the old ones, with only the newest token being valid'. "
    "invalidate (default, the seed): a create is never refused; older tokens die as cdp.token_invalidation "
    "says. The seed's scenarios ('consuming three bearer tokens over 3 years ... wipe all the three bearer "
    "tokens ... restart the cycle') also read as a budget of creates that a wipe restores: refuse_<status> "
    "refuses the create after <limit> creates since the last wipe with that status. No document names a "
    "status or an error code: each reading answers its own body (TOKEN_LIMIT_EXCEEDED is the 400's only, "
    "the 429 has none).",
)
TOKEN_INVALIDATION = declare(
    "cdp.token_invalidation",
    INVALIDATION_MODES,
    "Which older tokens a create invalidates. Seed: 'only the newest token being valid' (all_previous, "
    "default). Notes (acquia-cdp-api 2.1, A1): 'CDP disables previously used tokens', not saying whether all "
    "or only the oldest beyond the cap die (evict_oldest: older tokens stay valid; the oldest dies when the "
    "active count would pass the limit). Also set by configure(invalidation=...).",
)
TOKEN_EXTEND = declare(
    "cdp.token_extend",
    ("add", "reset"),
    "Seed: extend 'prolongs token's validity beyond the initial expiration', and its scenario 'Extend the "
    "first bearer token's validity by another 180 days' (add, default: the period is added to the expiry). "
    "Notes 2.1: 'How far it extends is not stated ... most likely it resets to the full policy lifetime' "
    "(reset: the expiry becomes now plus the period).",
)
INVALID_TOKEN_STATUS = declare(
    "cdp.invalid_token_status",
    ("401", "403"),
    "What a /token call with a Bearer token (verify, extend, delete) answers when that token is unknown, "
    "expired, deleted or replaced by a newer create. The one documented answer for an invalid token is "
    "logout's 401 INVALID_TOKEN (notes 2.4, A8): 401 (default). Nothing says verify answers the same; 403 is "
    "what many APIs answer for a known but revoked credential.",
)


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
    :param readings: the readings in force (shared with the service; see the module docstring).
    """

    def __init__(self, clock: Clock, readings: Readings | None = None) -> None:
        self.clock = clock
        self.readings = readings if readings is not None else Readings()
        self.users: dict[str, CdpUser] = {}
        self.tokens: dict[str, CdpToken] = {}
        self.sessions: dict[str, CdpToken] = {}
        self.set_defaults()

    def set_defaults(self) -> None:
        """The default switches: the documented extend period and limits (readings reset apart)."""
        self.extend_seconds = TOKEN_LIFETIME
        self.token_limits = dict(DEFAULT_TOKEN_LIMITS)

    @property
    def invalidation(self) -> str:
        """The ``cdp.token_invalidation`` reading in force."""
        return self.readings.get(TOKEN_INVALIDATION.name)

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

    def bearer(self, credential: str, pool: dict[str, CdpToken] | None = None, status: int = 401) -> CdpToken:
        """A live token by value (from ``pool``, default the bearer tokens).

        :param status: the answer for a token that is not live (``token_status`` for ``/token`` calls).
        :raises ApiError: ``status`` ``INVALID_TOKEN``: unknown, expired, deleted or replaced.
        """
        token = (self.tokens if pool is None else pool).get(credential)
        if token is None or not token.valid or self.clock.now() >= token.expires_at:
            raise fail(status, "INVALID_TOKEN", "Invalid token", "The token is unknown, expired, deleted or replaced.")
        return token

    def token_status(self) -> int:
        """What ``/token`` answers a Bearer token that is not live (``cdp.invalid_token_status``)."""
        return int(self.readings.get(INVALID_TOKEN_STATUS.name))

    def expires_in(self, token: CdpToken) -> int:
        """The ``expires_in`` a verify reports (``cdp.expires_in``): the lifetime, or the seconds left."""
        if self.readings.get(EXPIRES_IN.name) == "fixed":
            return TOKEN_LIFETIME
        return max(0, int(token.expires_at - self.clock.now()))

    def live(self, user: CdpUser) -> list[CdpToken]:
        """The user's valid, unexpired tokens, oldest first."""
        now = self.clock.now()
        return [t for t in user.tokens if t.valid and now < t.expires_at]

    def create(self, user: CdpUser) -> CdpToken:
        """Create a token as ``cdp.token_limit`` and ``cdp.token_invalidation`` say.

        :raises ApiError: the ``refuse_<status>`` reading's refusal, once the cycle's creates reach the limit.
        """
        limit = self.limit(user)
        refusal = self.readings.get(TOKEN_LIMIT.name)
        if refusal != "invalidate" and user.created_in_cycle >= limit:
            raise _refused(int(refusal.removeprefix("refuse_")), user, limit)
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
        """Prolong a token by the configured extend period, as ``cdp.token_extend`` says."""
        if self.readings.get(TOKEN_EXTEND.name) == "reset":
            token.expires_at = self.clock.now() + self.extend_seconds
        else:
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
        """Change the invalidation reading (``cdp.token_invalidation``), the extend period or the limits."""
        if invalidation is not None:
            if invalidation not in INVALIDATION_MODES:
                raise ValueError(f"invalidation must be one of {', '.join(INVALIDATION_MODES)}")
            self.readings.set(TOKEN_INVALIDATION.name, invalidation)
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
        """The switches: ``invalidation`` (the reading in force), ``extend_seconds``, ``token_limits``."""
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


def _refused(status: int, user: CdpUser, limit: int) -> ApiError:
    """The refusal of a create past the limit under ``refuse_<status>``: no document gives one, so
    each status answers its own body, worded differently (the 429 has none)."""
    where = f"environment {user.environment}"
    if status == 400:
        return fail(400, "TOKEN_LIMIT_EXCEEDED",
                    f"Token limit {limit} for {where} reached in this cycle; wipe all tokens (DELETE /token with "
                    "Basic credentials) to start a new cycle.",
                    f"created_in_cycle={user.created_in_cycle} limit={limit} cycle={user.cycle}")
    if status == 403:
        return fail(403, "FORBIDDEN", f"Maximum number of bearer tokens ({limit}) reached for this user in {where}.")
    if status == 409:
        return fail(409, "CONFLICT", f"The bearer token quota of {where} is used up.")
    return ApiError(Response(status))
