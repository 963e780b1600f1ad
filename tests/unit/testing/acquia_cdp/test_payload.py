"""Acquia CDP tracker payload rules: flat records only, no empty strings, keys required,
DeleteFlag boolean; a violation is a 422 naming its path, and nothing is stored."""

from __future__ import annotations

import pytest

from airflow_provider_monetate.testing.acquia_cdp.payload import (
    MAX_PAYLOAD_ERRORS,
    entity_name,
    key_field,
    payload_errors,
    record_key,
)
from airflow_provider_monetate.testing.readings import Readings, readings_of
from tests.unit.testing.helpers import customer


@pytest.mark.parametrize(
    ("record", "path"),
    [
        ({"Address": {"City": "Boston"}}, "customers[3].Address"),
        ({"Tags": ["a", "b"]}, "customers[3].Tags"),
        ({"Email": ""}, "customers[3].Email"),
    ],
)
def test_nested_values_and_empty_strings_are_422_naming_the_path(emulator, cdp, cdp_token, record, path):
    customers = [customer(f"C-{i}") for i in range(3)] + [customer("C-3", **record)]
    response = cdp.track({"customers": customers}, cdp_token)
    assert response.status_code == 422
    body = response.json()
    assert body["errorCode"] == "INVALID_PAYLOAD"
    assert path in body["userMessage"]
    assert [e["path"] for e in body["additionalInfo"]["errors"]] == [path]
    assert emulator.cdp_records("1234", "customers") == []  # nothing stored


def test_null_values_are_fine(cdp, cdp_token):
    assert cdp.track({"customers": [customer("C-1", Email=None)]}, cdp_token).status_code == 200


@pytest.mark.parametrize(
    "body",
    [["customers"], {"customers": {"SourceCustomerNumber": "C-1"}}, {"customers": ["C-1"]}],
    ids=["array-body", "object-not-array", "array-of-strings"],
)
def test_envelope_shape_violations_are_422(cdp, cdp_token, body):
    assert cdp.track(body, cdp_token).status_code == 422


def test_keyed_entity_needs_its_key(cdp, cdp_token):
    response = cdp.track({"customers": [{"SourceSystemID": "crm", "Email": "a@example.com"}]}, cdp_token)
    assert response.status_code == 422
    assert response.json()["additionalInfo"]["errors"][0]["path"] == "customers[0].SourceCustomerNumber"


def test_delete_flag_must_be_boolean(cdp, cdp_token):
    assert cdp.track({"customers": [customer("C-1", DeleteFlag="true")]}, cdp_token).status_code == 422


@pytest.mark.parametrize(
    ("collection", "entity", "key"),
    [
        ("customers", "Customer", "SourceCustomerNumber"),
        ("transactionItems", "TransactionItem", "SourceTransactionItemNumber"),
        ("Address", "Address", "SourceAddressNumber"),  # a double "ss" is not a plural
        ("addresses", "Address", "SourceAddressNumber"),  # issue 12: was SourceAddresseNumber
        ("customerAddressXrefs", "CustomerAddressXref", "SourceCustomerAddressXrefNumber"),
        ("categories", "Category", "SourceCategoryNumber"),
        ("statuses", "Status", "SourceStatusNumber"),
        ("PetInfo", "PetInfo", "SourcePetInfoNumber"),
        ("events", "Event", None),  # keyless
    ],
)
def test_entity_names_and_keys(collection, entity, key):
    assert entity_name(collection) == entity
    assert key_field(entity) == key


def test_record_key_number_first_then_a_customers_uuid():
    assert record_key("Customer", {"SourceCustomerNumber": 7, "UUID": "u"}) == "7"
    assert record_key("Customer", {"UUID": "u"}) == "UUID:u"
    assert record_key("Transaction", {"UUID": "u"}) is None
    assert record_key("Event", {"Type": "open"}) is None


def test_payload_errors_are_capped_and_not_an_object_is_one_error():
    body = {"customers": [{"Email": ""} for _ in range(MAX_PAYLOAD_ERRORS)]}
    assert len(payload_errors(body)) == MAX_PAYLOAD_ERRORS
    assert payload_errors([]) == [{"path": "$", "message": "The payload must be a JSON object of entity collections."}]
    assert payload_errors({"": []})[0]["message"] == "Entity collection names must be non-empty."


# -- collection spellings and identifiers the tracker refuses (issue 13, item 11) ----------------

@pytest.mark.parametrize(("collection", "expected"), [
    ("customer", "customers"), ("Customers", "customers"), ("event", "events"), ("Events", "events"),
    ("transactionitems", "transactionItems"), ("addresses", "Address"),
])
def test_a_standard_collection_spelled_otherwise_is_422_naming_the_spelling(emulator, cdp, cdp_token, collection,
                                                                              expected):
    response = cdp.track({collection: [customer("C-1", Type="emailOpen")]}, cdp_token)
    assert response.status_code == 422
    [error] = response.json()["additionalInfo"]["errors"]
    assert error["path"] == collection and repr(expected) in error["message"]
    assert emulator.cdp_stats()["records"] == {}


def test_standard_spellings_and_custom_entities_are_accepted(cdp, cdp_token):
    body = {"customers": [customer("C-1")], "events": [{"SourceSystemID": "crm", "Type": "emailOpen"}],
            "PetInfo": [{"SourceSystemID": "crm", "SourcePetInfoNumber": "P-1"}]}
    assert cdp.track(body, cdp_token).status_code == 200


@pytest.mark.parametrize(("attrs", "path", "message"), [
    ({"SourceCustomerNumber": True}, "customers[0].SourceCustomerNumber", "string or a number"),
    ({"SourceCustomerNumber": "   "}, "customers[0].SourceCustomerNumber", "is required"),
    ({"SourceSystemID": "KFK_0"}, "customers[0].SourceSystemID", "KFK_0"),
    ({"SourceSystemID": " "}, "customers[0].SourceSystemID", "blank"),
    ({"SourceOrganizationNumber": False}, "customers[0].SourceOrganizationNumber", "string or a number"),
])
def test_boolean_or_blank_identifiers_and_an_explicit_kfk0_are_422(emulator, cdp, cdp_token, attrs, path, message):
    response = cdp.track({"customers": [customer("C-1", **attrs)]}, cdp_token)
    assert response.status_code == 422
    [error] = response.json()["additionalInfo"]["errors"]
    assert error["path"] == path and message in error["message"]
    assert emulator.cdp_records("1234", "customers") == []


def test_payload_rules_do_not_import_the_provider():
    import ast
    import inspect

    from airflow_provider_monetate.testing.acquia_cdp import payload

    imported = [node.module for node in ast.walk(ast.parse(inspect.getsource(payload)))
                if isinstance(node, ast.ImportFrom)]
    assert not [m for m in imported if m and m.startswith("airflow_provider_monetate") and ".testing" not in m]


# -- issue 12: rules no document states are readings ---------------------------------------------

def errors_under(body, **chosen):
    readings = Readings()
    readings.set_many({f"cdp.{name}": value for name, value in chosen.items()})
    return payload_errors(body, readings)


@pytest.mark.parametrize("reading", readings_of("cdp.collection_case"))
def test_a_capitalised_standard_collection_under_each_reading(emulator, cdp, cdp_token, reading):
    emulator.set_reading("cdp.collection_case", reading)
    response = cdp.track({"Customers": [customer("C-1")]}, cdp_token)  # as the seed's own example writes it
    assert response.status_code == (422 if reading == "as_defined" else 200)
    assert len(emulator.cdp_records("1234", "customers")) == (0 if reading == "as_defined" else 1)


@pytest.mark.parametrize("reading", readings_of("cdp.address_collections"))
def test_the_address_collection_keys_under_each_reading(emulator, cdp, cdp_token, reading):
    emulator.set_reading("cdp.address_collections", reading)
    expected, other = (("Address", "addresses") if reading == "entity_names" else ("addresses", "Address"))
    record = {"SourceSystemID": "crm", "SourceAddressNumber": "A-1", "DeleteFlag": True}
    assert cdp.track({expected: [record]}, cdp_token).status_code == 200
    response = cdp.track({other: [record]}, cdp_token)
    assert response.status_code == 422 and repr(expected) in response.json()["userMessage"]
    assert emulator.cdp_records("1234", "Address") == [record]


@pytest.mark.parametrize("reading", readings_of("cdp.event_delete_flag"))
def test_a_delete_flag_on_an_event_under_each_reading(emulator, cdp, cdp_token, reading):
    emulator.set_reading("cdp.event_delete_flag", reading)
    response = cdp.track({"events": [{"SourceSystemID": "esp", "Type": "emailOpen", "DeleteFlag": True}]}, cdp_token)
    if reading == "refused":
        assert response.status_code == 422 and "Event entity has no DeleteFlag" in response.json()["userMessage"]
        assert emulator.cdp_records("1234", "events") == []
    else:  # accepted, and deletes nothing: the Event entity has no DeleteFlag
        assert response.status_code == 200
        assert emulator.cdp_records("1234", "events") == [{"SourceSystemID": "esp", "Type": "emailOpen"}]
        assert emulator.cdp_stats()["soft_deleted"] == {}


@pytest.mark.parametrize(("value", "refused_under"), [
    (1714564800, set()),                                   # seconds
    ("16189320000", set()),                                # the seed's own example: a digit string
    (1714564800123, {"seconds_only"}),                     # 13 digits: milliseconds
    ("2024-05-01T12:00:00Z", {"seconds_or_millis", "seconds_only"}),  # not an epoch value
    (-5, {"seconds_or_millis", "seconds_only"}),
    (True, {"seconds_or_millis", "seconds_only"}),
    (None, set()),
])
@pytest.mark.parametrize("reading", readings_of("cdp.epoch_values"))
def test_system_timestamps_under_each_reading(reading, value, refused_under):
    body = {"events": [{"SourceSystemID": "esp", "Type": "emailOpen", "EventTimeStamp": value}],
            "transactionItems": [{"SourceSystemID": "pos", "SourceTransactionItemNumber": "I-1", "ShipDate": value}]}
    errors = errors_under(body, epoch_values=reading)
    if reading in refused_under:
        assert [e["path"] for e in errors] == ["events[0].EventTimeStamp", "transactionItems[0].ShipDate"]
    else:
        assert errors == []


def test_only_system_timestamps_are_checked():
    body = {"customers": [customer("C-1", BirthDate="1990-05-01", Note="2024-05-01T12:00:00Z")]}
    assert errors_under(body, epoch_values="seconds_only") == []


def test_an_epoch_refusal_through_the_tracker(emulator, cdp, cdp_token):
    emulator.set_reading("cdp.epoch_values", "seconds_only")
    event = {"SourceSystemID": "esp", "Type": "emailOpen", "EventTimeStamp": 1714564800123}
    response = cdp.track({"events": [event]}, cdp_token)
    assert response.status_code == 422 and "milliseconds" in response.json()["userMessage"]
