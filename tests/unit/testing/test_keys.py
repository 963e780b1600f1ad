"""RSA key pairs and the JWTs Monetate's refresh endpoint expects."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from airflow_provider_monetate.testing import generate_key_pair, public_key_pem_of, sign_jwt


@pytest.fixture(scope="module")
def keys():
    return generate_key_pair()


def test_key_pair_pem_forms(keys):
    assert keys.private_key_pem.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert keys.public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")  # SPKI
    assert public_key_pem_of(keys.private_key_pem) == keys.public_key_pem


def test_public_key_of_an_encrypted_private_key(keys):
    key = serialization.load_pem_private_key(keys.private_key_pem.encode(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    ).decode()
    assert public_key_pem_of(encrypted, passphrase="pw") == keys.public_key_pem


@pytest.mark.parametrize("algorithm", ["RS256", "RS384", "RS512"])
def test_sign_jwt_claims_and_algorithm(keys, algorithm):
    token = sign_jwt(keys.private_key_pem, "api-me", algorithm, scope="x")
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    claims = jwt.decode(token, keys.public_key_pem, algorithms=[algorithm])
    assert claims["username"] == "api-me" and claims["scope"] == "x"
    assert claims["iat"] == pytest.approx(time.time(), abs=5)
    assert jwt.decode(sign_jwt(keys.private_key_pem, "u", iat=1.0), options={"verify_signature": False})["iat"] == 1.0
