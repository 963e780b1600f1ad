"""Fixtures for the emulator's own tests: real HTTP against the pytest-plugin emulator.

``emulator`` and ``monetate_emulator`` come from the provider's pytest plugin (the
``pytest11`` entry point); these build on them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from airflow_provider_monetate.testing import generate_key_pair, sign_jwt
from tests.unit.testing.helpers import CdpApi, DataApi, refresh


@pytest.fixture(scope="session")
def other_keys():
    """A key pair no user registered (for forged-signature tests)."""
    return generate_key_pair()


@pytest.fixture
def mint(emulator) -> Callable[..., requests.Response]:
    """Call /refresh/ with a JWT signed by the test user's key (overridable)."""

    def _mint(ttl=None, username=None, private_key_pem=None, algorithm="RS256", iat=None, scheme="JWT"):
        jwt_text = sign_jwt(
            private_key_pem or emulator.private_key_pem, username or emulator.monetate_username, algorithm, iat
        )
        return refresh(emulator.url, f"{scheme} {jwt_text}", ttl)

    return _mint


@pytest.fixture
def token(mint) -> str:
    """A Monetate API token for the test user."""
    response = mint()
    assert response.status_code == 200, response.text
    return response.json()["data"]["token"]


@pytest.fixture
def api(emulator, token) -> DataApi:
    """A Data API session for ``testshop``/``production``."""
    return DataApi(emulator.url, token)


@pytest.fixture
def cdp(emulator):
    """Small CDP client helpers bound to the emulator."""
    return CdpApi(emulator)
