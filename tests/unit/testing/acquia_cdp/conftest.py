"""Fixtures for the Acquia CDP service tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def cdp_token(emulator) -> str:
    """A CDP bearer token of the standard user (tenant 1234), issued without an HTTP call."""
    return emulator.issue_cdp_token()
