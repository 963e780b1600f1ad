"""Fixtures for the Monetate service tests: an event dataset, and a shop for the privacy tests."""

from __future__ import annotations

import pytest

from tests.unit.testing.helpers import ATTRIBUTE_FIELDS, KEYED_FIELDS, FreshTokenApi, epoch


@pytest.fixture
def keyed(api):
    """The Data API session with an ``event`` dataset ``events`` (``KEYED_FIELDS``: a unique key)."""
    api.create_schema("events", KEYED_FIELDS, "event")
    return api


@pytest.fixture
def shop(emulator, mint):
    """An account with customers C1..C3 in an attribute dataset and a privacy dataset ``gdpr``;
    the clock at 2030-01-10 10:00 UTC; a fresh token per call."""
    emulator.clock.set(epoch("2030-01-10T10:00:00"))
    api = FreshTokenApi(emulator, mint)
    api.create_schema("customers", ATTRIBUTE_FIELDS)
    api.create_schema("gdpr", {}, "customer_data_privacy")
    rows = [{"customer_id": c, "points": 1} for c in ("C1", "C2", "C3")]
    assert api.post_rows("customers", rows).status_code == 201
    return api
