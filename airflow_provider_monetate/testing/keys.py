"""RSA key pairs and signed JWTs for Monetate API users (tests, demo, CLI).

Key generation takes tens of milliseconds; generate once and reuse.
"""

from __future__ import annotations

import functools
import time
from typing import Any, NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["KeyPair", "generate_key_pair", "public_key_pem_of", "sign_jwt"]


class KeyPair(NamedTuple):
    """PEM texts of an RSA key pair (PKCS#8 private key, SPKI public key)."""

    private_key_pem: str
    public_key_pem: str


def generate_key_pair(bits: int = 2048) -> KeyPair:
    """Generate a fresh RSA key pair.

    :param bits: key size.
    :return: the PEM texts.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return KeyPair(private_pem, public_key_pem_of(private_pem))


def public_key_pem_of(private_key_pem: str, passphrase: str | None = None) -> str:
    """The SPKI public key PEM that matches a private key PEM.

    :param private_key_pem: PKCS#1 or PKCS#8 PEM text.
    :param passphrase: passphrase of an encrypted private key.
    """
    key = serialization.load_pem_private_key(
        private_key_pem.encode(), password=passphrase.encode() if passphrase else None
    )
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign_jwt(private_key_pem: str, username: str, algorithm: str = "RS256", iat: float | None = None, **claims) -> str:
    """A JWT as Monetate's refresh endpoint expects (``username`` + ``iat`` claims).

    :param private_key_pem: the API user's private key.
    :param username: the API user name.
    :param algorithm: RS256, RS384 or RS512 (anything else is rejected by the emulator).
    :param iat: issued-at time; defaults to the real wall clock (as real clients do).
    :param claims: extra claims.
    """
    import jwt

    payload = {"username": username, "iat": time.time() if iat is None else iat, **claims}
    return jwt.encode(payload, _load_private_key(private_key_pem), algorithm=algorithm)


@functools.lru_cache(maxsize=16)
def _load_private_key(private_key_pem: str) -> Any:
    # Loading a PEM runs RSA consistency checks (~30 ms); tests sign many JWTs per key.
    return serialization.load_pem_private_key(private_key_pem.encode(), password=None)
