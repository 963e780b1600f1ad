"""Consumer Data Privacy: submissions via a customer_data_privacy dataset and the status endpoint."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from emulator_helpers import ATTRIBUTE_FIELDS, DataApi


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


class FreshTokenApi(DataApi):
    """Mints a new token per call: these tests jump the clock past token lifetimes."""

    def __init__(self, emulator, mint):
        super().__init__(emulator.url, "unused")
        self._mint = mint

    def _refresh(self):
        self.session.headers["Authorization"] = "Token " + self._mint().json()["data"]["token"]

    def get(self, path, **kwargs):
        self._refresh()
        return super().get(path, **kwargs)

    def post(self, path, body, **kwargs):
        self._refresh()
        return super().post(path, body, **kwargs)


@pytest.fixture
def shop(emulator, mint):
    """An account with customers C1..C3 in an attribute dataset and a privacy dataset."""
    emulator.clock.set(_epoch("2030-01-10T10:00:00"))
    api = FreshTokenApi(emulator, mint)
    api.create_schema("customers", ATTRIBUTE_FIELDS)
    api.create_schema("gdpr", {}, "customer_data_privacy")
    rows = [{"customer_id": c, "points": 1} for c in ("C1", "C2", "C3")]
    assert api.post_rows("customers", rows).status_code == 201
    return api


def _status(api, customer_id, dataset="gdpr"):
    response = api.get(f"customer-data-privacy/{dataset}/", params={"id": customer_id})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["meta"] == {"code": 200, "errors": [], "warnings": []}
    assert customer_id in body["data"]["description"]
    return body["data"]["status"]


def _submit(api, *ids, when="2030-01-10T09:59:00.000000Z"):
    rows = [{"customer_id": c, "delete_request_time": when} for c in ids]
    response = api.post_rows("gdpr", rows)
    assert response.status_code == 201, response.text


def test_found_and_not_found_before_any_request(shop):
    assert _status(shop, "C1") == "FOUND"
    assert _status(shop, "never-seen") == "NOT_FOUND"


def test_pending_until_the_next_nightly_batch_then_not_found_and_removed(emulator, shop):
    _submit(shop, "C1")
    assert _status(shop, "C1") == "PENDING"
    assert emulator.privacy_status("testshop", "C1") == "PENDING"
    emulator.clock.set(_epoch("2030-01-11T01:59:00"))  # the next batch is 2030-01-11 02:00 UTC
    assert _status(shop, "C1") == "PENDING"
    assert len(emulator.monetate_rows("testshop", "customers")) == 3
    emulator.clock.set(_epoch("2030-01-11T02:00:01"))
    assert _status(shop, "C1") == "NOT_FOUND"
    remaining = emulator.monetate_rows("testshop", "customers")
    assert sorted(r["customer_id"] for r in remaining) == ["C2", "C3"]
    assert emulator.monetate_rows("testshop", "gdpr") == []  # removed from every dataset
    assert _status(shop, "C2") == "FOUND"


def test_batch_runs_lazily_for_any_call(emulator, shop):
    _submit(shop, "C2")
    emulator.clock.advance(2 * 86400)
    # No status call in between: the spot check already sees the deletion.
    assert shop.get("data/customers/", params={"id": "C2"}).status_code == 404


def test_submission_just_before_batch_time_is_processed_that_night(emulator, shop):
    emulator.clock.set(_epoch("2030-01-11T01:30:00"))
    _submit(shop, "C3")
    emulator.clock.set(_epoch("2030-01-11T02:00:00.5"))
    assert _status(shop, "C3") == "NOT_FOUND"


def test_batch_hour_is_configurable(emulator, shop):
    emulator.configure(nightly_batch_hour=23)
    _submit(shop, "C1")
    emulator.clock.set(_epoch("2030-01-10T22:59:00"))
    assert _status(shop, "C1") == "PENDING"
    emulator.clock.set(_epoch("2030-01-10T23:00:01"))
    assert _status(shop, "C1") == "NOT_FOUND"


def test_unknown_id_submitted_is_pending_then_not_found(emulator, shop):
    _submit(shop, "ghost")
    assert _status(shop, "ghost") == "PENDING"
    emulator.clock.advance(86400)
    assert _status(shop, "ghost") == "NOT_FOUND"


def test_customer_seen_again_after_deletion_is_found(emulator, shop):
    _submit(shop, "C1")
    emulator.clock.advance(86400)
    assert _status(shop, "C1") == "NOT_FOUND"
    shop.post_rows("customers", [{"customer_id": "C1"}])
    assert _status(shop, "C1") == "FOUND"


def test_privacy_rows_need_both_columns(shop):
    response = shop.post_rows("gdpr", [{"customer_id": "C1"}])
    assert response.status_code == 400
    assert response.json()["meta"]["errors"][0] == {
        "row": 0,
        "field": "delete_request_time",
        "message": "delete_request_time is required.",
    }


def test_status_endpoint_errors(shop):
    assert shop.get("customer-data-privacy/ghost/", params={"id": "C1"}).status_code == 404
    assert shop.get("customer-data-privacy/customers/", params={"id": "C1"}).status_code == 404  # wrong type
    missing = shop.get("customer-data-privacy/gdpr/")
    assert missing.status_code == 400
    assert missing.json()["meta"]["errors"][0]["field"] == "id"


def test_status_endpoint_requires_token(emulator, shop):
    import requests

    url = f"{emulator.url}/api/data/v1/testshop/production/customer-data-privacy/gdpr/?id=C1"
    assert requests.get(url, timeout=10).status_code == 401
    assert emulator.counters()["monetate.privacy_status"]["statuses"] == {401: 1}
