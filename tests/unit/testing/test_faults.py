"""Fault injection: status, drop, slow, latency; per route, FIFO, '*' and over HTTP."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_monetate.testing import EmulatorAdminError, EmulatorClient
from tests.unit.testing.helpers import ATTRIBUTE_FIELDS

ROWS = [{"customer_id": "C1", "points": 1}]


@pytest.fixture
def attrs(api):
    api.create_schema("attrs", ATTRIBUTE_FIELDS)
    return api


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_status_fault_uses_monetate_envelope_and_stores_nothing(emulator, attrs, status):
    emulator.inject("monetate.data", "status", status=status, retry_after=7 if status in (429, 503) else None)
    response = attrs.post_rows("attrs", ROWS)
    assert response.status_code == status
    assert response.json()["meta"]["code"] == status
    assert response.json()["data"] is None
    if status in (429, 503):
        assert response.headers["Retry-After"] == "7"
    else:
        assert "Retry-After" not in response.headers
    assert emulator.monetate_rows("testshop", "attrs") == []
    assert attrs.post_rows("attrs", ROWS).status_code == 201  # one-shot


def test_status_fault_uses_cdp_envelope(emulator, cdp):
    emulator.inject("cdp.token", "status", status=503, retry_after=2)
    response = cdp.create()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.json()["errorCode"] == "SERVICE_UNAVAILABLE"
    assert emulator.cdp_stats()["users"][emulator.cdp_login]["created_in_cycle"] == 0
    assert cdp.create().status_code == 200


def test_count_and_fifo_order(emulator, attrs):
    emulator.inject("monetate.data", "status", count=2, status=500)
    emulator.inject("monetate.data", "drop")
    assert [attrs.post_rows("attrs", ROWS).status_code for _ in range(2)] == [500, 500]
    with pytest.raises(requests.ConnectionError):
        attrs.post_rows("attrs", ROWS)
    assert attrs.post_rows("attrs", ROWS).status_code == 201
    assert emulator.faults.snapshot() == []


def test_faults_only_hit_their_route(emulator, attrs):
    emulator.inject("monetate.upload", "status", status=500)
    assert attrs.post_rows("attrs", ROWS).status_code == 201
    assert attrs.get("upload/attrs/").status_code == 500


def test_drop_closes_connection_without_storing(emulator, attrs):
    emulator.inject("monetate.data", "drop")
    with pytest.raises(requests.ConnectionError):
        attrs.post_rows("attrs", ROWS)
    assert emulator.monetate_rows("testshop", "attrs") == []
    counters = emulator.counters()["monetate.data"]
    assert (counters["requests"], counters["dropped"], counters["statuses"]) == (1, 1, {})
    assert emulator.requests()[-1]["fault"] == "drop"
    assert attrs.post_rows("attrs", ROWS).status_code == 201


def test_slow_answer_exceeds_client_timeout_but_the_write_lands(emulator, attrs):
    emulator.inject("monetate.data", "slow", seconds=0.6)
    with pytest.raises(requests.Timeout):
        attrs.session.post(attrs.base + "data/attrs/", json={"schema_rows": ROWS}, timeout=0.2)
    # The server processed the request before stalling: a blind retry duplicates rows.
    assert len(emulator.monetate_rows("testshop", "attrs")) == 1
    assert attrs.post_rows("attrs", ROWS).status_code == 201
    assert emulator.requests()[-1]["fault"] is None  # one-shot: the next call is not slowed


def test_latency_applies_until_cleared(emulator, cdp, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(emulator.emulator, "sleep", waits.append)
    emulator.inject("cdp.token", "latency", seconds=0.2)
    token = cdp.create().json()["access_token"]
    for _ in range(2):
        assert cdp.verify(token).status_code == 200
    assert waits == [0.2, 0.2, 0.2]  # the create and both verifies
    emulator.clear_faults()
    cdp.verify(token)
    assert waits == [0.2, 0.2, 0.2]


def test_wildcard_route(emulator, attrs, cdp):
    emulator.inject("*", "status", count=2, status=502)
    assert attrs.get("schema/").status_code == 502
    assert cdp.create().status_code == 502
    assert cdp.create().status_code == 200


def test_auth_route_fault(emulator, mint):
    emulator.inject("monetate.auth", "status", status=500)
    assert mint().status_code == 500
    assert mint().status_code == 200
    assert emulator.counters()["monetate.auth"]["auth_calls"] == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"route": "monetate.nope", "kind": "status"},
        {"route": "monetate.data", "kind": "explode"},
        {"route": "monetate.data", "kind": "latency"},
        {"route": "monetate.data", "kind": "status", "status": 200},
        {"route": "monetate.data", "kind": "drop", "count": 0},
        {"route": "monetate.data", "kind": "drop", "retry_after": 3},
    ],
)
def test_invalid_faults_rejected(emulator, kwargs):
    with pytest.raises(ValueError):
        emulator.inject(**kwargs)
    client = EmulatorClient(emulator.url)
    with pytest.raises(EmulatorAdminError) as info:
        client.inject(**kwargs)
    assert info.value.status == 400


def test_faults_over_http(emulator, attrs):
    client = EmulatorClient(emulator.url)
    active = client.inject("monetate.data", "status", count=3, status=429, retry_after=1)
    assert active == [
        {"route": "monetate.data", "kind": "status", "count": 3, "status": 429, "seconds": None, "retry_after": 1}
    ]
    assert attrs.post_rows("attrs", ROWS).status_code == 429
    assert client.faults()[0]["count"] == 2
    client.clear_faults()
    assert client.faults() == []
    assert attrs.post_rows("attrs", ROWS).status_code == 201
