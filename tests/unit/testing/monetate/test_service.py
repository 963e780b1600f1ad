"""Monetate service: the URL table and its handlers (routing, envelopes, body shapes, the
rate-limited spot check, the privacy status endpoint's errors, route names)."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_monetate.testing import sign_jwt
from tests.unit.testing.helpers import TIMEOUT, DataApi, event_row, refresh


def test_post_rows_echoes_and_stores(emulator, keyed):
    rows = [event_row(1), event_row(2)]
    response = keyed.post("data/events/", {"schema_rows": rows, "_sent_time": "2024-05-01T12:06:00.000000Z"})
    assert response.status_code == 201
    assert response.json() == {"meta": {"code": 201, "errors": [], "warnings": []}, "data": {"schema_rows": rows}}
    assert emulator.monetate_rows("testshop", "events") == rows
    assert emulator.counters()["monetate.data"]["rows_received"] == 2


@pytest.mark.parametrize("body", [[], {"rows": []}, {"schema_rows": {"a": 1}}, "text"])
def test_body_shape_rejected(keyed, body):
    response = keyed.post("data/events/", body)
    assert response.status_code == 400
    assert response.json()["meta"]["errors"]


def test_bad_sent_time_rejected(keyed):
    response = keyed.post("data/events/", {"schema_rows": [event_row()], "_sent_time": "now"})
    assert response.status_code == 400
    assert response.json()["meta"]["errors"][0]["field"] == "_sent_time"


def test_unknown_dataset_is_404(api):
    assert api.post_rows("ghost", [{"a": "b"}]).status_code == 404


def test_spot_check_reads_one_record_and_is_rate_limited(emulator, keyed):
    keyed.post_rows("events", [event_row(1), event_row(2)])
    first = keyed.get("data/events/", params={"id": "e-1"})
    assert first.status_code == 200
    assert first.json()["data"]["schema_rows"] == [event_row(1)]
    limited = keyed.get("data/events/", params={"id": "C2"})
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert limited.json()["meta"]["code"] == 429
    emulator.clock.advance(1.01)
    by_identifier = keyed.get("data/events/", params={"id": "C2"})
    assert by_identifier.status_code == 200
    assert by_identifier.json()["data"]["schema_rows"][0]["event_id"] == "e-2"
    assert emulator.counters()["monetate.record"]["statuses"] == {200: 2, 429: 1}


def test_spot_check_missing_id_and_unknown_id(emulator, keyed):
    assert keyed.get("data/events/").status_code == 400
    emulator.clock.advance(2)
    assert keyed.get("data/events/", params={"id": "nobody"}).status_code == 404


def test_method_not_allowed(keyed):
    assert keyed.session.delete(keyed.base + "data/events/", timeout=TIMEOUT).status_code == 405


def test_unknown_shortname_or_environment_is_404(emulator, token):
    assert DataApi(emulator.url, token, shortname="nosuchshop").get("schema/").status_code == 404
    assert DataApi(emulator.url, token, environment="staging").get("schema/").status_code == 404
    emulator.configure(environments=["production", "staging"])
    assert DataApi(emulator.url, token, environment="staging").get("schema/").status_code == 200


def test_token_bound_to_its_retailer_account(emulator, other_keys):
    emulator.add_monetate_user("api-other", other_keys.public_key_pem, "othershop")
    other = refresh(emulator.url, "JWT " + sign_jwt(other_keys.private_key_pem, "api-other")).json()["data"]["token"]
    assert DataApi(emulator.url, other, shortname="othershop").get("schema/").status_code == 200
    assert DataApi(emulator.url, other, shortname="testshop").get("schema/").status_code == 401


def test_paths_need_the_trailing_slash(emulator, api):
    url = f"{emulator.url}/api/data/v1/testshop/production/schema"
    response = requests.get(url, headers={"Authorization": api.session.headers["Authorization"]}, timeout=TIMEOUT)
    assert response.status_code == 404


def test_status_endpoint_errors(shop):
    assert shop.get("customer-data-privacy/ghost/", params={"id": "C1"}).status_code == 404
    assert shop.get("customer-data-privacy/customers/", params={"id": "C1"}).status_code == 404  # wrong type
    missing = shop.get("customer-data-privacy/gdpr/")
    assert missing.status_code == 400
    assert missing.json()["meta"]["errors"][0]["field"] == "id"


def test_status_endpoint_requires_token(emulator, shop):
    url = f"{emulator.url}/api/data/v1/testshop/production/customer-data-privacy/gdpr/?id=C1"
    assert requests.get(url, timeout=TIMEOUT).status_code == 401
    assert emulator.counters()["monetate.privacy_status"]["statuses"] == {401: 1}


def test_schema_route_counters(emulator, api):
    api.get("schema/")
    api.get("schematype/")
    assert emulator.counters()["monetate.schema"]["requests"] == 2
