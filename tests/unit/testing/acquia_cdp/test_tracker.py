"""Acquia CDP DW tracker storage: records keyed by Source{Entity}Number (or a customer's UUID),
latest non-null values kept, events appended, KFK_0 filing, DeleteFlag soft deletes."""

from __future__ import annotations

import pytest

from tests.unit.testing.helpers import customer


def test_accepts_flat_collections_and_reports_counts(emulator, cdp, cdp_token):
    body = {
        "customers": [customer("C-1", Email="a@example.com"), customer("C-2")],
        "transactions": [{"SourceSystemID": "pos", "SourceTransactionNumber": "T-9", "Total": 40.0}],
        "events": [{"SourceSystemID": "esp", "Type": "emailClick", "EventTimeStamp": 1735689600000}],
    }
    response = cdp.track(body, cdp_token)
    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "received": {"customers": 2, "transactions": 1, "events": 1}}
    assert [c["SourceCustomerNumber"] for c in emulator.cdp_records("1234", "customers")] == ["C-1", "C-2"]
    assert emulator.cdp_records("1234", "Transaction")[0]["Total"] == 40.0
    assert len(emulator.cdp_records("1234", "events")) == 1
    assert emulator.counters()["cdp.tracker"]["rows_received"] == 4


def test_missing_source_system_id_becomes_kfk0_and_is_counted(emulator, cdp, cdp_token):
    body = {
        "customers": [{"SourceCustomerNumber": "C-1"}, customer("C-2")],
        "events": [{"Type": "emailOpen", "SourceSystemID": None}],
    }
    assert cdp.track(body, cdp_token).status_code == 200
    customers = {c["SourceCustomerNumber"]: c for c in emulator.cdp_records("1234", "customers")}
    assert customers["C-1"]["SourceSystemID"] == "KFK_0"
    assert customers["C-2"]["SourceSystemID"] == "crm"
    assert emulator.cdp_records("1234", "events")[0]["SourceSystemID"] == "KFK_0"
    stats = emulator.cdp_stats()
    assert stats["kfk0_records"] == 2
    assert stats["kfk0_by_tenant"] == {"1234": 2}


def test_keyed_upsert_merges_latest_non_null(emulator, cdp, cdp_token):
    cdp.track({"customers": [customer("C-1", Email="old@example.com", FirstName="Ana")]}, cdp_token)
    cdp.track({"customers": [customer("C-1", Email="new@example.com", FirstName=None, LastName="Lee")]}, cdp_token)
    assert emulator.cdp_records("1234", "customers") == [
        customer("C-1", Email="new@example.com", FirstName="Ana", LastName="Lee")
    ]


def test_events_are_appended(emulator, cdp, cdp_token):
    event = {"SourceSystemID": "esp", "Type": "emailOpen"}
    cdp.track({"events": [event]}, cdp_token)
    cdp.track({"events": [event]}, cdp_token)
    assert len(emulator.cdp_records("1234", "events")) == 2


def test_delete_flag_soft_deletes(emulator, cdp, cdp_token):
    cdp.track({"customers": [customer("C-1", Email="a@example.com"), customer("C-2")]}, cdp_token)
    response = cdp.track({"customers": [customer("C-1", DeleteFlag=True)]}, cdp_token)
    assert response.status_code == 200
    customers = {c["SourceCustomerNumber"]: c for c in emulator.cdp_records("1234", "customers")}
    assert customers["C-1"]["DeleteFlag"] is True
    assert customers["C-1"]["Email"] == "a@example.com"  # kept, only flagged
    assert "DeleteFlag" not in customers["C-2"]
    assert emulator.cdp_stats()["soft_deleted"] == {"1234": {"Customer": 1}}


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
def test_entity_keys(emulator, cdp, cdp_token, collection, key):
    record = {"SourceSystemID": "crm", key: "K-1", "Note": "first"}
    assert cdp.track({collection: [record]}, cdp_token).status_code == 200
    assert cdp.track({collection: [{**record, "Note": "second"}]}, cdp_token).status_code == 200
    stored = emulator.cdp_records("1234", collection)
    assert stored == [{**record, "Note": "second"}]


def test_customer_keyed_by_uuid_when_it_has_no_number(emulator, cdp, cdp_token):
    deleted = {"SourceSystemID": "crm", "UUID": "u-1", "DeleteFlag": True}
    assert cdp.track({"customers": [deleted]}, cdp_token).status_code == 200
    assert emulator.cdp_records("1234", "customers")[0]["UUID"] == "u-1"
    assert cdp.track({"customers": [{"SourceSystemID": "crm", "Email": "a@b.c"}]}, cdp_token).status_code == 422


def test_a_tenant_may_key_a_custom_entity_by_a_column_of_its_own(emulator, cdp, cdp_token):
    emulator.cdp.set_entity_key("PetInfo", "SourcePetNumber")
    record = {"SourceSystemID": "crm", "SourcePetNumber": "P-1", "Species": "cat"}
    assert cdp.track({"PetInfo": [record]}, cdp_token).status_code == 200
    assert cdp.track({"PetInfo": [{**record, "Species": "dog"}]}, cdp_token).status_code == 200
    assert emulator.cdp_records("1234", "PetInfo") == [{**record, "Species": "dog"}]
    response = cdp.track({"PetInfo": [{"SourceSystemID": "crm", "SourcePetInfoNumber": "P-2"}]}, cdp_token)
    assert response.status_code == 422 and "SourcePetNumber is required" in response.json()["userMessage"]
    emulator.reset()
    assert cdp.track({"PetInfo": [{"SourceSystemID": "crm", "SourcePetInfoNumber": "P-2"}]},
                     emulator.issue_cdp_token()).status_code == 200  # the configuration went with the reset


def test_addresses_are_stored_under_the_address_entity(emulator, cdp, cdp_token):
    emulator.set_reading("cdp.address_collections", "plural_collections")
    record = {"SourceSystemID": "crm", "SourceAddressNumber": "A-1"}
    assert cdp.track({"addresses": [record]}, cdp_token).status_code == 200
    assert emulator.cdp_records("1234", "Address") == [record] == emulator.cdp_records("1234", "addresses")
