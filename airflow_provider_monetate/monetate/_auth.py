"""Monetate auth: the RSA private key, the signed JWT, and the process-wide token cache.

Monetate exchanges a JWT (claims ``username`` and ``iat``, signed RS256/384/512 with the API
user's private key) for a short-lived opaque token at ``GET /api/auth/v0/refresh/?ttl=``.
A fresh JWT is signed for every exchange; tokens are cached per connection and shared by
every thread of the process, and renewed ahead of their expiry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from airflow_provider_monetate.exceptions import ConfigurationError, PrivateKeyError

ALGORITHMS = ("RS256", "RS384", "RS512")
# The prose says 900..43200, the schema 600..43200: within 900..43200 both readings hold.
TTL_MIN, TTL_MAX, TTL_DEFAULT = 900, 43200, 3600


def clamp_ttl(value: object) -> int:
    """Token lifetime in seconds, clamped to 900..43200 (both documented bounds hold)."""
    if value in (None, ""):
        return TTL_DEFAULT
    try:
        ttl = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ConfigurationError(f"token_ttl must be a whole number of seconds, got {type(value).__name__}") from None
    return max(TTL_MIN, min(TTL_MAX, ttl))


def check_algorithm(algorithm: str | None) -> str:
    """Return the algorithm upper-cased, or fail: Monetate accepts only RS256/RS384/RS512."""
    normalized = (algorithm or ALGORITHMS[0]).upper()
    if normalized not in ALGORITHMS:
        raise ConfigurationError(
            f"Unsupported JWT algorithm {algorithm!r}: Monetate accepts only {', '.join(ALGORITHMS)}."
        )
    return normalized


def load_private_key(pem: str | bytes, passphrase: str | None = None) -> RSAPrivateKey:
    """Parse a PKCS#1 or PKCS#8 PEM RSA private key, with one clear error per failure mode.

    :param pem: the PEM text; literal ``\\n`` sequences (JSON env vars) are accepted.
    :param passphrase: for an encrypted key.
    """
    text = pem.decode() if isinstance(pem, bytes) else pem
    if "\\n" in text and "\n" not in text.strip():
        text = text.replace("\\n", "\n")
    text = text.strip()
    if not text:
        raise PrivateKeyError("No Monetate private key: set the connection password or the private_key_path extra.")
    if "PUBLIC KEY-----" in text:
        raise PrivateKeyError(
            "The connection holds a PUBLIC key where the PRIVATE key belongs. Upload the public key "
            "to Monetate (Settings > API Keys) and put the matching private key in the connection."
        )
    if "PRIVATE KEY-----" not in text:
        raise PrivateKeyError(
            "The Monetate private key is not PEM text: expected '-----BEGIN PRIVATE KEY-----' (PKCS#8) "
            "or '-----BEGIN RSA PRIVATE KEY-----' (PKCS#1)."
        )
    password = passphrase.encode() if passphrase else None
    try:
        key = serialization.load_pem_private_key(text.encode(), password=password)
    except TypeError:
        if password is None:
            raise PrivateKeyError(
                "The Monetate private key is encrypted: set the private_key_passphrase extra."
            ) from None
        raise PrivateKeyError("A passphrase was given but the Monetate private key is not encrypted.") from None
    except ValueError:
        if password is not None and "ENCRYPTED" in text:
            raise PrivateKeyError("Wrong private_key_passphrase for the Monetate private key.") from None
        raise PrivateKeyError(
            "The Monetate private key is malformed: the PEM block could not be decoded."
        ) from None
    if not isinstance(key, RSAPrivateKey):
        raise PrivateKeyError(f"The Monetate private key must be RSA, not {type(key).__name__}.")
    return key


def build_jwt(username: str, key: RSAPrivateKey, algorithm: str) -> str:
    """Sign the JWT Monetate expects: exactly the claims ``username`` and ``iat`` (now)."""
    return jwt.encode({"username": username, "iat": int(time.time())}, key, algorithm=algorithm)


@dataclass(frozen=True)
class MonetateToken:
    """A minted API token. ``repr`` never shows the token itself."""

    token: str = field(repr=False)
    issued_at: float
    expires_in: int
    expires_at: float


class TokenCache:
    """Tokens per connection key, shared by threads; one mint at a time per key."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tokens: dict[tuple, tuple[MonetateToken, float]] = {}
        self._locks: dict[tuple, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, key: tuple) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, key: tuple, mint: Callable[[], MonetateToken]) -> MonetateToken:
        """The cached token for ``key``, minting a new one when absent or about to expire."""
        cached = self._tokens.get(key)
        if cached and self._clock() < cached[1]:
            return cached[0]
        with self._lock(key):
            cached = self._tokens.get(key)
            if cached and self._clock() < cached[1]:
                return cached[0]
            return self._store(key, mint())

    def replace(self, key: tuple, rejected: str, mint: Callable[[], MonetateToken]) -> MonetateToken:
        """Mint again after ``rejected`` drew a 401, unless another thread already did."""
        with self._lock(key):
            cached = self._tokens.get(key)
            if cached and cached[0].token != rejected and self._clock() < cached[1]:
                return cached[0]
            return self._store(key, mint())

    def _store(self, key: tuple, token: MonetateToken) -> MonetateToken:
        # Renew ahead of expires_at: 10% of the lifetime, at most 5 minutes early. The lifetime
        # (expires_at - issued_at) is applied to the local clock, so a server clock skewed either
        # way can neither keep a dead token nor cause a mint on every call.
        lifetime = token.expires_at - token.issued_at if token.expires_at > token.issued_at else token.expires_in
        margin = min(300.0, lifetime * 0.1)
        self._tokens[key] = (token, self._clock() + lifetime - margin)
        return token

    def clear(self) -> None:
        with self._guard:
            self._tokens.clear()


TOKEN_CACHE = TokenCache()
