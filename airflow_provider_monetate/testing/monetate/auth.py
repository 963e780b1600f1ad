"""Monetate Auth API: API users, public keys, JWT verification and opaque tokens."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from airflow_provider_monetate.testing.clock import Clock
from airflow_provider_monetate.testing.readings import Readings, declare

__all__ = [
    "ALGORITHMS",
    "IAT_SKEW_SECONDS",
    "TTL_DEFAULT",
    "TTL_MAX",
    "TTL_MIN",
    "TTL_PROSE_MIN",
    "TTL_RANGE",
    "ApiKey",
    "ApiToken",
    "ApiUser",
    "AuthError",
    "MonetateAuth",
]

# Written apart from the provider's: the emulator checks the documents, not our reading of them.
ALGORITHMS = ("RS256", "RS384", "RS512")
# Skew allowed on the JWT ``iat`` claim, against the REAL wall clock (see ``testing.clock``).
IAT_SKEW_SECONDS = 60
# Written apart from the provider's too. The schema's minimum is 600, the prose's "15 minutes"
# 900 (TTL_RANGE says which holds); both say at most "12 hours" and a default of 1 hour.
TTL_DEFAULT, TTL_MIN, TTL_MAX = 3600, 600, 43200
TTL_PROSE_MIN = 900

TTL_RANGE = declare(
    "monetate.ttl_range",
    ("schema", "prose"),
    "The Auth spec's ttl parameter schema says minimum 600, maximum 43200; its prose says 'valid values are "
    "in the inclusive range of 15 minutes to 12 hours' (900..43200), and it lists no 400 for /refresh/. "
    "'schema': 600..43200 is minted; 'prose': 600..899 is answered 400 naming ttl. Either way a value outside "
    "600..43200 is answered 400. The provider is indifferent: it sends only 900..43200, valid under both, and "
    "refuses any other token_ttl before anything is sent (never clamps it).",
)

_key_ids = itertools.count(1)


class AuthError(Exception):
    """Authentication failed.

    :param status: 400, 401 or 403.
    :param message: what went wrong, for ``meta.errors``.
    :param field: request field at fault (``ttl``), if any.
    """

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


@dataclass
class ApiKey:
    """A public key uploaded for an API user; deactivating it revokes its tokens."""

    public_key: Any
    key_id: int
    active: bool = True


@dataclass
class ApiUser:
    """A Monetate API user, bound to one retailer account (``shortname``)."""

    username: str
    shortname: str
    key: ApiKey


@dataclass
class ApiToken:
    """An opaque token minted by ``/refresh/``."""

    value: str
    username: str
    shortname: str
    key: ApiKey
    issued_at: float
    expires_at: float


class MonetateAuth:
    """Users, keys and tokens; thread-safe.

    :param clock: the emulator clock (token issue/expiry times).
    :param readings: the readings in force (:data:`TTL_RANGE`).
    """

    def __init__(self, clock: Clock, readings: Readings | None = None) -> None:
        self._clock = clock
        self._readings = readings if readings is not None else Readings()
        #: The real wall clock the JWT ``iat`` is checked against (see ``testing.clock``). A test
        #: may replace it, with the signer's clock and the emulator's sleep, to let minutes pass
        #: without waiting; :meth:`reset` puts :func:`time.time` back.
        self.wall_clock: Callable[[], float] = time.time
        self._lock = threading.Lock()
        self.users: dict[str, ApiUser] = {}
        self.tokens: dict[str, ApiToken] = {}
        self._shortnames: frozenset[str] = frozenset()

    def add_user(self, username: str, public_key_pem: str, shortname: str) -> None:
        """Register (or re-key) an API user.

        :param username: API user name (the JWT ``username`` claim).
        :param public_key_pem: RSA public key, SPKI (``BEGIN PUBLIC KEY``) or PKCS#1 PEM.
        :param shortname: retailer shortname the user's tokens are bound to.
        :raises ValueError: the key is not an RSA public key PEM.
        """
        if not username or not shortname:
            raise ValueError("username and shortname are required")
        key = load_pem_public_key(public_key_pem.encode())
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("the public key must be an RSA key")
        with self._lock:
            self.users[username] = ApiUser(username, shortname, ApiKey(key, next(_key_ids)))
            self._shortnames = frozenset(u.shortname for u in self.users.values())

    def deactivate_key(self, username: str) -> None:
        """Deactivate the user's public key: its tokens and refreshes now get 403.

        :raises KeyError: unknown user.
        """
        with self._lock:
            self.users[username].key.active = False

    def shortnames(self) -> frozenset[str]:
        """Retailer shortnames that have at least one API user."""
        return self._shortnames

    def mint(self, authorization: str | None, ttl: str | None) -> ApiToken:
        """Verify a ``JWT <jwt>`` header and mint a token.

        :param authorization: the ``Authorization`` header value.
        :param ttl: the raw ``ttl`` query parameter, if given.
        :raises AuthError: 401 bad JWT, 403 deactivated key, 400 bad ttl.
        """
        scheme, _, assertion = (authorization or "").partition(" ")
        if scheme != "JWT" or not assertion.strip():
            raise AuthError(401, "Authorization header must be 'JWT <signed jwt>'.")
        user = self._verify(assertion.strip())
        seconds = _parse_ttl(ttl, TTL_PROSE_MIN if self._readings.get(TTL_RANGE.name) == "prose" else TTL_MIN)
        now = self._clock.now()
        value = f"1.{secrets.token_urlsafe(14)}.{secrets.token_urlsafe(32)}"
        token = ApiToken(value, user.username, user.shortname, user.key, now, now + seconds)
        with self._lock:
            self.tokens[value] = token
        return token

    def _verify(self, assertion: str) -> ApiUser:
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthError(401, f"Malformed JWT: {exc}") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise AuthError(401, f"JWT algorithm {alg!r} is not accepted; use RS256, RS384 or RS512.")
        user = self.users.get(unverified.get("username")) if isinstance(unverified, dict) else None
        if user is None:
            raise AuthError(401, "Unknown API user in the JWT 'username' claim.")
        try:
            claims = jwt.decode(
                assertion,
                user.key.public_key,
                algorithms=[alg],
                options={"verify_iat": False, "verify_aud": False, "verify_iss": False},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(401, f"JWT verification failed: {exc}") from None
        iat = claims.get("iat")
        if isinstance(iat, bool) or not isinstance(iat, int | float):
            raise AuthError(401, "JWT 'iat' claim is missing or not a number.")
        if abs(self.wall_clock() - iat) > IAT_SKEW_SECONDS:
            raise AuthError(401, f"JWT 'iat' is more than {IAT_SKEW_SECONDS} s from the current time.")
        if not user.key.active:
            raise AuthError(403, "The public key for this API user has been deactivated.")
        return user

    def check(self, authorization: str | None) -> ApiToken:
        """Authenticate a Data API call (``Token <token>``).

        :param authorization: the ``Authorization`` header value.
        :return: the token record.
        :raises AuthError: 401 missing/unknown/expired/wrong scheme, 403 revoked.
        """
        scheme, _, value = (authorization or "").partition(" ")
        if scheme != "Token" or not value.strip():
            raise AuthError(401, "Authorization header must be 'Token <token>'.")
        token = self.tokens.get(value.strip())
        if token is None:
            raise AuthError(401, "Invalid token.")
        if self._clock.now() >= token.expires_at:
            raise AuthError(401, "Token has expired.")
        if not token.key.active:
            raise AuthError(403, "Token revoked: its public key has been deactivated.")
        return token

    def expire_tokens(self) -> int:
        """Make every live token expire now; return how many."""
        now = self._clock.now()
        with self._lock:
            live = [t for t in self.tokens.values() if t.expires_at > now]
            for token in live:
                token.expires_at = now
        return len(live)

    def reset(self, users: bool = False) -> None:
        """Forget tokens (and users, if asked)."""
        with self._lock:
            self.tokens.clear()
            self.wall_clock = time.time
            if users:
                self.users.clear()
                self._shortnames = frozenset()


def _parse_ttl(raw: str | None, minimum: int) -> int:
    if raw is None:
        return TTL_DEFAULT
    try:
        ttl = int(raw)
    except ValueError:
        ttl = None
    if ttl is None or not minimum <= ttl <= TTL_MAX:
        raise AuthError(400, f"ttl must be an integer between {minimum} and {TTL_MAX} seconds.", "ttl")
    return ttl
