"""Acquia CDP DW tracker: flat payload rules, storage keyed by Source{Entity}Number, KFK_0, DeleteFlag."""

from __future__ import annotations

import pytest


@pytest.fixture
def token(emulator) -> str:  # overrides the Monetate token fixture for this module
    return emulator.issue_cdp_token()


def _customer(number: str, **attrs) -> dict:
    return {"SourceSystemID": "crm", "SourceCustomerNumber": number, **attrs}


def test_accepts_flat_collections_and_reports_counts(emulator, cdp, token):
    body = {
        "customers": [_customer("C-1", Email="a@example.com"), _customer("C-2")],
        "transactions": [{"SourceSystemID": "pos", "SourceTransactionNumber": "T-9", "Total": 40.0}],
        "events": [{"SourceSystemID": "esp", "Type": "emailClick", "EventTimeStamp": 1735689600000}],
    }
    response = cdp.track(body, token)
    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "received": {"customers": 2, "transactions": 1, "events": 1}}
    assert [c["SourceCustomerNumber"] for c in emulator.cdp_records("1234", "customers")] == ["C-1", "C-2"]
    assert emulator.cdp_records("1234", "Transaction")[0]["Total"] == 40.0
    assert len(emulator.cdp_records("1234", "events")) == 1
    assert emulator.counters()["cdp.tracker"]["rows_received"] == 4


@pytest.mark.parametrize(
    ("record", "path"),
    [
        ({"Address": {"City": "Boston"}}, "customers[3].Address"),
        ({"Tags": ["a", "b"]}, "customers[3].Tags"),
        ({"Email": ""}, "customers[3].Email"),
    ],
)
def test_nested_values_and_empty_strings_are_422_naming_the_path(emulator, cdp, token, record, path):
    customers = [_customer(f"C-{i}") for i in range(3)] + [_customer("C-3", **record)]
    response = cdp.track({"customers": customers}, token)
    assert response.status_code == 422
    body = response.json()
    assert body["errorCode"] == "INVALID_PAYLOAD"
    assert path in body["userMessage"]
    assert [e["path"] for e in body["additionalInfo"]["errors"]] == [path]
    assert emulator.cdp_records("1234", "customers") == []  # nothing stored


def test_null_values_are_fine(cdp, token):
    assert cdp.track({"customers": [_customer("C-1", Email=None)]}, token).status_code == 200


@pytest.mark.parametrize(
    "body",
    [["customers"], {"customers": {"SourceCustomerNumber": "C-1"}}, {"customers": ["C-1"]}],
    ids=["array-body", "object-not-array", "array-of-strings"],
)
def test_envelope_shape_violations_are_422(cdp, token, body):
    assert cdp.track(body, token).status_code == 422


def test_keyed_entity_needs_its_key(cdp, token):
    response = cdp.track({"customers": [{"SourceSystemID": "crm", "Email": "a@example.com"}]}, token)
    assert response.status_code == 422
    assert response.json()["additionalInfo"]["errors"][0]["path"] == "customers[0].SourceCustomerNumber"


def test_malformed_json_is_400(cdp, token):
    response = cdp.track(None, token, raw=b'{"customers": [')
    assert response.status_code == 400
    assert response.json()["errorCode"] == "MALFORMED_JSON"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type_is_415(cdp, token, content_type):
    response = cdp.track({"customers": [_customer("C-1")]}, token, content_type=content_type)
    assert response.status_code == 415


def test_content_type_with_charset_is_accepted(cdp, token):
    response = cdp.track({"customers": [_customer("C-1")]}, token, content_type="application/json; charset=utf-8")
    assert response.status_code == 200


def test_tenant_and_token_checks(emulator, cdp, token):
    body = {"customers": [_customer("C-1")]}
    assert cdp.track(body, token, tenant="9999").status_code == 404
    assert cdp.track(body, "not-a-token").status_code == 401
    login, _ = emulator.create_cdp_user(environment="PROD", tenant_id="5678")
    other_tenant_token = emulator.issue_cdp_token(login)
    response = cdp.track(body, other_tenant_token)
    assert response.status_code == 403
    assert response.json()["errorCode"] == "FORBIDDEN"
    assert cdp.track(body, other_tenant_token, tenant="5678").status_code == 200
    assert emulator.cdp_records("1234", "customers") == []


def test_missing_source_system_id_becomes_kfk0_and_is_counted(emulator, cdp, token):
    body = {
        "customers": [{"SourceCustomerNumber": "C-1"}, _customer("C-2")],
        "events": [{"Type": "emailOpen", "SourceSystemID": None}],
    }
    assert cdp.track(body, token).status_code == 200
    customers = {c["SourceCustomerNumber"]: c for c in emulator.cdp_records("1234", "customers")}
    assert customers["C-1"]["SourceSystemID"] == "KFK_0"
    assert customers["C-2"]["SourceSystemID"] == "crm"
    assert emulator.cdp_records("1234", "events")[0]["SourceSystemID"] == "KFK_0"
    stats = emulator.cdp_stats()
    assert stats["kfk0_records"] == 2
    assert stats["kfk0_by_tenant"] == {"1234": 2}


def test_keyed_upsert_merges_latest_non_null(emulator, cdp, token):
    cdp.track({"customers": [_customer("C-1", Email="old@example.com", FirstName="Ana")]}, token)
    cdp.track({"customers": [_customer("C-1", Email="new@example.com", FirstName=None, LastName="Lee")]}, token)
    assert emulator.cdp_records("1234", "customers") == [
        _customer("C-1", Email="new@example.com", FirstName="Ana", LastName="Lee")
    ]


def test_events_are_appended(emulator, cdp, token):
    event = {"SourceSystemID": "esp", "Type": "emailOpen"}
    cdp.track({"events": [event]}, token)
    cdp.track({"events": [event]}, token)
    assert len(emulator.cdp_records("1234", "events")) == 2


def test_delete_flag_soft_deletes(emulator, cdp, token):
    cdp.track({"customers": [_customer("C-1", Email="a@example.com"), _customer("C-2")]}, token)
    response = cdp.track({"customers": [_customer("C-1", DeleteFlag=True)]}, token)
    assert response.status_code == 200
    customers = {c["SourceCustomerNumber"]: c for c in emulator.cdp_records("1234", "customers")}
    assert customers["C-1"]["DeleteFlag"] is True
    assert customers["C-1"]["Email"] == "a@example.com"  # kept, only flagged
    assert "DeleteFlag" not in customers["C-2"]
    assert emulator.cdp_stats()["soft_deleted"] == {"1234": {"Customer": 1}}


def test_delete_flag_must_be_boolean(cdp, token):
    assert cdp.track({"customers": [_customer("C-1", DeleteFlag="true")]}, token).status_code == 422


@pytest.mark.parametrize(
    ("collection", "key"),
    [
        ("customers", "SourceCustomerNumber"),
        ("transactions", "SourceTransactionNumber"),
        ("transactionItems", "SourceTransactionItemNumber"),
        ("PetInfo", "SourcePetInfoNumber"),
        ("Address", "SourceAddressNumber"),
        ("CustomerAddressXref", "SourceCustomerAddressXrefNumber"),
    ],
)
def test_entity_keys(emulator, cdp, token, collection, key):
    record = {"SourceSystemID": "crm", key: "K-1", "Note": "first"}
    assert cdp.track({collection: [record]}, token).status_code == 200
    assert cdp.track({collection: [{**record, "Note": "second"}]}, token).status_code == 200
    stored = emulator.cdp_records("1234", collection)
    assert stored == [{**record, "Note": "second"}]


def test_tracker_needs_a1user_scheme(emulator, cdp, token):
    import requests

    response = requests.post(
        f"{emulator.url}/v2/1234/dw/tracker",
        params={"scheme": "a1webtag"},
        json={"customers": []},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 400


def test_customer_keyed_by_uuid_when_it_has_no_number(emulator, cdp, token):
    deleted = {"SourceSystemID": "crm", "UUID": "u-1", "DeleteFlag": True}
    assert cdp.track({"customers": [deleted]}, token).status_code == 200
    assert emulator.cdp_records("1234", "customers")[0]["UUID"] == "u-1"
    assert cdp.track({"customers": [{"SourceSystemID": "crm", "Email": "a@b.c"}]}, token).status_code == 422
