"""Monetate auth: the RSA private key, the signed JWT, and the process-wide token cache.

Monetate exchanges a JWT (claims ``username`` and ``iat``, signed RS256/384/512 with the API
user's private key) for a short-lived opaque token at ``GET /api/auth/v0/refresh/?ttl=``.
A fresh JWT is signed for every attempt of an exchange (the server checks ``iat`` against its
clock, so a JWT must not age across retries); tokens are cached per connection and shared by
every thread of the process, and renewed ahead of their expiry.
"""

from __future__ import annotations

import re
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from airflow_provider_monetate.exceptions import ConfigurationError, PrivateKeyError

ALGORITHMS = ("RS256", "RS384", "RS512")
# The prose says 900..43200, the schema 600..43200 (the emulator's reading monetate.ttl_range): only
# 900..43200 holds under both readings, and a value outside it is refused rather than changed (a
# setting is never silently altered).
TTL_MIN, TTL_MAX, TTL_DEFAULT = 900, 43200, 3600
# Where the key may be set; exactly one of them.
KEY_SOURCES = ("password", "private_key", "private_key_path")


def check_ttl(value: object) -> int:
    """Token lifetime in seconds from the ``token_ttl`` extra: a whole number in 900..43200.

    ``3600``, ``"3600"`` and ``"3600.0"`` all mean 3600; anything else is refused, never clamped.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return TTL_DEFAULT
    ttl = _whole_number(value)
    if ttl is None:
        raise ConfigurationError(
            f"{value!r} is not a whole number of seconds: give an integer from {TTL_MIN} to {TTL_MAX}, "
            f"or leave it out for {TTL_DEFAULT}."
        )
    if not TTL_MIN <= ttl <= TTL_MAX:
        raise ConfigurationError(
            f"{ttl} is outside {TTL_MIN}..{TTL_MAX} seconds, the lifetimes Monetate documents (its schema "
            f"also allows 600..{TTL_MIN - 1}, its prose does not): give a value in {TTL_MIN}..{TTL_MAX}, "
            f"or leave it out for {TTL_DEFAULT}."
        )
    return ttl


def _whole_number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def key_pem(password: str | None, private_key: str | None, private_key_path: str | None) -> str:
    """The PEM text from the one place it is set (see :data:`KEY_SOURCES`).

    :raises PrivateKeyError: set in several places (one would be ignored), or the file cannot be read.
    """
    given = [name for name, value in zip(KEY_SOURCES, (password, private_key, private_key_path), strict=True) if value]
    if len(given) > 1:
        raise PrivateKeyError(
            f"the key is set in {' and '.join(given)}: keep exactly one of {', '.join(KEY_SOURCES)} "
            "(the others would be ignored)."
        )
    if private_key_path:
        path = Path(private_key_path).expanduser()
        try:
            return path.read_text()
        except OSError as exc:
            raise PrivateKeyError(f"Cannot read the Monetate private key file {path}: {exc.strerror}.") from None
    return password or private_key or ""


def check_algorithm(algorithm: str | None) -> str:
    """Return the algorithm upper-cased, or fail: Monetate accepts only RS256/RS384/RS512."""
    normalized = (algorithm or ALGORITHMS[0]).upper()
    if normalized not in ALGORITHMS:
        raise ConfigurationError(
            f"Unsupported JWT algorithm {algorithm!r}: Monetate accepts only {', '.join(ALGORITHMS)}."
        )
    return normalized


_ONE_LINE_PEM = re.compile(r"(-----BEGIN ([A-Z0-9 ]+)-----)(.*?)(-----END \2-----)", re.S)
# An encrypted PKCS#1 key's headers; the IV is hex, 8 bytes for DES ciphers and 16 for the others.
_ENCRYPTED_HEADERS = re.compile(r"\s*Proc-Type:\s*4,ENCRYPTED\s*DEK-Info:\s*([A-Z0-9-]+),")


def restore_line_breaks(text: str) -> str:
    """A PEM block whose line breaks were lost, laid out again; any other text unchanged.

    Airflow's connection form holds the key in a one-line password input, and a browser pastes
    multi-line text there with each line break turned into a space (Chrome) or dropped. The
    headers of an encrypted PKCS#1 key (``Proc-Type``, ``DEK-Info``) get their own lines back,
    and the base64 body is re-wrapped at 64 characters.
    """
    match = _ONE_LINE_PEM.fullmatch(text.strip())
    if "\n" in text.strip() or not match:
        return text
    begin, _label, body, end = match.groups()
    headers: list[str] = []
    encrypted = _ENCRYPTED_HEADERS.match(body)
    if encrypted:
        cipher = encrypted.group(1)
        iv_end = encrypted.end() + (16 if cipher.startswith("DES") else 32)
        headers = ["Proc-Type: 4,ENCRYPTED", f"DEK-Info: {cipher},{body[encrypted.end():iv_end]}", ""]
        body = body[iv_end:]
    return "\n".join([begin, *headers, *textwrap.wrap("".join(body.split()), 64), end]) + "\n"


def load_private_key(pem: str | bytes, passphrase: str | None = None) -> RSAPrivateKey:
    """Parse a PKCS#1 or PKCS#8 PEM RSA private key, with one clear error per failure mode.

    :param pem: the PEM text; literal ``\\n`` sequences (JSON env vars) are accepted, and so is
        a key pasted into a one-line field, its line breaks lost (see :func:`restore_line_breaks`).
    :param passphrase: for an encrypted key.
    """
    text = pem.decode() if isinstance(pem, bytes) else pem
    if "\\n" in text and "\n" not in text.strip():
        text = text.replace("\\n", "\n")
    text = restore_line_breaks(text).strip()
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


def build_jwt(username: str, key: RSAPrivateKey, algorithm: str, now: float | None = None) -> str:
    """Sign the JWT Monetate expects: exactly the claims ``username`` and ``iat``.

    :param now: the signing time, epoch seconds; default the wall clock (:func:`time.time`).
    """
    issued_at = time.time() if now is None else now
    return jwt.encode({"username": username, "iat": int(issued_at)}, key, algorithm=algorithm)


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
