"""The private key as Airflow's connection form delivers it: pasted into a one-line password field."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from airflow_provider_monetate.exceptions import PrivateKeyError
from airflow_provider_monetate.monetate._auth import load_private_key, restore_line_breaks

PASSPHRASE = "s3cret-passphrase"


def _pem(keypair, form: str) -> str:
    if form == "encrypted_pkcs1":  # the legacy OpenSSL form, with Proc-Type and DEK-Info headers
        return keypair.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        ).decode()
    return getattr(keypair, form)


@pytest.mark.parametrize("form", ["pkcs8", "pkcs1", "encrypted", "encrypted_pkcs1"])
@pytest.mark.parametrize("separator", [" ", ""], ids=["line-breaks-as-spaces", "line-breaks-dropped"])
def test_a_key_pasted_into_the_one_line_password_field_is_read(keypair, form, separator):
    # Chrome pastes multi-line text into an <input> with each line break turned into a space;
    # an encrypted PKCS#1 key pasted so was refused as "Wrong private_key_passphrase".
    pem = _pem(keypair, form)
    pasted = separator.join(pem.strip().splitlines())
    assert "\n" not in pasted
    assert restore_line_breaks(pasted) == pem
    passphrase = PASSPHRASE if form.startswith("encrypted") else None
    key = load_private_key(pasted, passphrase)
    assert key.private_numbers() == keypair.key.private_numbers()


@pytest.mark.parametrize(
    "text",
    ["", "just some text", "-----BEGIN PRIVATE KEY----- abc -----END RSA PRIVATE KEY-----",
     "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"],
)
def test_text_that_is_not_one_flattened_pem_block_is_left_as_it_is(text):
    assert restore_line_breaks(text) == text


def test_a_flattened_key_with_a_broken_body_still_gets_the_malformed_error():
    with pytest.raises(PrivateKeyError, match="malformed"):
        load_private_key("-----BEGIN PRIVATE KEY----- not base64!! -----END PRIVATE KEY-----")
