"""Monetate service: the URL table and its handlers (routing, envelopes, body shapes, the
rate-limited spot check, the privacy status endpoint's errors, route names)."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_monetate.testing import sign_jwt
from airflow_provider_monetate.testing.monetate.privacy import STATUS_CODES
from airflow_provider_monetate.testing.monetate.state import describe_status
from airflow_provider_monetate.testing.readings import readings_of
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


# -- the privacy readings (issue 12): every open point of the documents, each reading enforced -----

ASKED = "2030-01-10T09:59:00.000000Z"
FLAT = {"customer_id": "C1", "delete_request_time": ASKED}
LISTED = {"schema_rows": [FLAT, {"customer_id": "C2", "delete_request_time": ASKED}]}


@pytest.mark.parametrize("reading", readings_of("monetate.privacy_body"))
def test_a_privacy_post_takes_only_the_body_shape_of_its_reading(emulator, shop, reading):
    emulator.set_reading("monetate.privacy_body", reading)
    taken, refused = (FLAT, LISTED) if reading == "flat" else (LISTED, FLAT)
    response = shop.post("data/gdpr/", refused)
    assert response.status_code == 400
    assert response.json()["meta"]["errors"][0]["field"] == ("customer_id" if reading == "flat" else "schema_rows")
    assert emulator.monetate_rows("testshop", "gdpr") == []  # a 400 processed nothing
    assert emulator.privacy_status("testshop", "C1") == "FOUND"
    response = shop.post("data/gdpr/", taken)
    assert response.status_code == 201
    assert response.json()["data"] == taken
    assert emulator.privacy_status("testshop", "C1") == "PENDING"


@pytest.mark.parametrize("body", [[FLAT], {**FLAT, "schema_rows": []}, {"delete_request_time": ASKED}])
def test_the_flat_reading_takes_exactly_one_object(emulator, shop, body):
    response = shop.post("data/gdpr/", body)
    assert response.status_code == 400 and emulator.monetate_rows("testshop", "gdpr") == []


def test_the_flat_reading_still_checks_the_columns(emulator, shop):
    response = shop.post("data/gdpr/", {"customer_id": "C1"})
    assert response.status_code == 400
    assert response.json()["meta"]["errors"][0]["field"] == "delete_request_time"


def test_other_datasets_take_schema_rows_whatever_the_privacy_reading(emulator, keyed):
    for reading in readings_of("monetate.privacy_body"):
        emulator.set_reading("monetate.privacy_body", reading)
        assert keyed.post_rows("events", [event_row(1)]).status_code == 201
        assert keyed.post("data/events/", event_row(2)).status_code == 400


@pytest.mark.parametrize(("reading", "value", "taken"), [
    ("iso8601", "2030-01-10", True), ("iso8601", ASKED, True),
    ("date", "2030-01-10", True), ("date", ASKED, False), ("date", "2030-01-10T09:59:00Z", False),
    ("datetime", "2030-01-10", False), ("datetime", ASKED, True), ("datetime", "2030-01-10T09:59", True),
    ("iso8601", "10/01/2030", False), ("date", "2030-02-30", False),
])
def test_delete_request_time_as_its_reading_says(emulator, shop, reading, value, taken):
    emulator.set_reading("monetate.privacy_time", reading)
    response = shop.post("data/gdpr/", {"customer_id": "C1", "delete_request_time": value})
    assert response.status_code == (201 if taken else 400), response.text
    if not taken:
        assert response.json()["meta"]["errors"][0]["field"] == "delete_request_time"
        assert emulator.privacy_status("testshop", "C1") == "FOUND"


def _answer(shop, customer_id):
    response = shop.get("customer-data-privacy/gdpr/", params={"id": customer_id})
    return response.status_code, response.json()


@pytest.mark.parametrize("reading", readings_of("monetate.privacy_status_type"))
def test_the_status_is_a_string_or_an_integer_code(emulator, shop, reading):
    emulator.set_reading("monetate.privacy_status_type", reading)
    shop.post("data/gdpr/", FLAT)
    answers = {cid: _answer(shop, cid)[1]["data"] for cid in ("C1", "C2", "never")}
    expected = {"C1": "PENDING", "C2": "FOUND", "never": "NOT_FOUND"}
    for cid, data in answers.items():
        status = expected[cid]
        assert data["status"] == (STATUS_CODES[status] if reading == "integer" else status)
        assert type(data["status"]) is (int if reading == "integer" else str)
        assert data["description"] == describe_status(cid, status)  # the seed's words, in every reading


@pytest.mark.parametrize("reading", readings_of("monetate.privacy_unknown_id"))
def test_an_id_never_held_is_not_found_or_a_404_with_a_body(emulator, shop, reading):
    emulator.set_reading("monetate.privacy_unknown_id", reading)
    code, body = _answer(shop, "never")
    if reading == "404":
        assert code == 404 and body["data"] is None
        assert body["meta"]["errors"] == [{"message": describe_status("never", "NOT_FOUND")}]
    else:
        assert (code, body["data"]["status"]) == (200, "NOT_FOUND")
    shop.post("data/gdpr/", FLAT)
    assert _answer(shop, "C1")[1]["data"]["status"] == "PENDING"
    emulator.clock.advance(86400)
    assert _answer(shop, "C1")[0] == 200  # an ID Monetate erased answers NOT_FOUND, as the seed says
    assert _answer(shop, "C1")[1]["data"]["status"] == "NOT_FOUND"
    assert _answer(shop, "never")[0] == (404 if reading == "404" else 200)


@pytest.mark.parametrize("reading", readings_of("monetate.privacy_pending"))
def test_pending_for_held_ids_only_or_for_any_submitted_id(emulator, shop, reading):
    emulator.set_reading("monetate.privacy_pending", reading)
    shop.post("data/gdpr/", {"customer_id": "ghost", "delete_request_time": ASKED})
    shop.post("data/gdpr/", FLAT)
    assert emulator.privacy_status("testshop", "C1") == "PENDING"
    assert emulator.privacy_status("testshop", "ghost") == ("PENDING" if reading == "any_submitted" else "NOT_FOUND")
