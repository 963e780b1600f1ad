"""Acquia CDP entity vocabulary: collection keys name entities, keyed entities upsert by Source{Entity}Number."""

from __future__ import annotations

import pytest

from airflow_provider_monetate.acquia_cdp._entities import EntityNaming, entity_name, key_field
from airflow_provider_monetate.acquia_cdp._payload import EntityRules
from airflow_provider_monetate.exceptions import ConfigurationError


def test_keys_follow_the_entity_and_events_have_none():
    assert [entity_name(c) for c in ("customers", "transactionItems", "events", "Address", "PetInfo")] == [
        "Customer", "TransactionItem", "Event", "Address", "PetInfo"]
    assert key_field("Transaction") == "SourceTransactionNumber" and key_field("Event") is None
    _, [rejection] = EntityRules("transactions", source_system_id="pos").normalize(1, {"Total": 4})
    assert rejection.field == "SourceTransactionNumber" and "upserts" in rejection.reason
    assert EntityRules("PetInfo", source_system_id="x").key_field == "SourcePetInfoNumber"
    assert EntityRules("customers").resend_safe and not EntityRules("events").resend_safe


def test_a_standard_collection_spelled_otherwise_names_the_expected_spelling():
    from airflow_provider_monetate.acquia_cdp._entities import collection_misspelling

    for given, expected in [("customer", "customers"), ("Customers", "customers"), ("CUSTOMER", "customers"),
                            ("event", "events"), ("Events", "events"), ("transaction", "transactions"),
                            ("transactionitems", "transactionItems"), ("TransactionItem", "transactionItems"),
                            ("address", "Address"), ("Addresses", "Address"),
                            ("customerAddressXrefs", "CustomerAddressXref")]:
        assert collection_misspelling(given) == expected, given
    for fine in ("customers", "transactions", "transactionItems", "events", "Address", "CustomerAddressXref",
                 "PetInfo", "petInfos", "Stores", "customers2"):
        assert collection_misspelling(fine) is None, fine


# -- issue 12: plurals, key columns and collection names per entity -----------------------------


@pytest.mark.parametrize(("collection", "entity"), [
    ("customers", "Customer"), ("transactions", "Transaction"), ("transactionItems", "TransactionItem"),
    ("events", "Event"), ("Address", "Address"), ("addresses", "Address"), ("CustomerAddressXref",
    "CustomerAddressXref"), ("customerAddressXrefs", "CustomerAddressXref"), ("PetInfo", "PetInfo"),
    ("categories", "Category"), ("boxes", "Box"), ("matches", "Match"), ("wishes", "Wish"), ("classes", "Class"),
    ("statuses", "Status"), ("Status", "Status"), ("Analysis", "Analysis"), ("Stores", "Store"),
    ("stores", "Store"), ("Sales", "Sale"), ("houses", "House"), ("causes", "Cause"), ("buses", "Bus"),
    ("Address2", "Address2"), ("sizes", "Size"),
])
def test_entity_names_follow_english_plurals(collection, entity):
    assert entity_name(collection) == entity
    assert key_field(entity_name(collection)) in (None, f"Source{entity}Number")


def test_addresses_are_keyed_by_source_address_number():
    assert key_field(entity_name("addresses")) == "SourceAddressNumber"


def test_key_columns_and_collection_names_are_overridable_per_entity():
    naming = EntityNaming(collection_names={"Address": "addresses", "customers": "Customers"},
                          key_fields={"PetInfo": "SourcePetNumber"})
    assert naming.collection("Address") == "addresses" and naming.collection("customers") == "Customers"
    assert naming.collection("PetInfo") == "PetInfo"
    assert naming.key_field("PetInfo") == "SourcePetNumber"
    assert naming.key_field("customers") == "SourceCustomerNumber" and naming.key_field("events") is None
    naming.check(["customers", "Address", "PetInfo"])  # every override names one of them


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"key_fields": {"PetInfo": ""}}, r"key_fields\['PetInfo'\] must be a non-empty attribute name"),
    ({"key_fields": {"PetInfo": "Source Pet"}}, "attribute name"),
    ({"key_fields": {"events": "SourceEventNumber"}}, "events have no key"),
    ({"collection_names": {"customers": ""}}, r"collection_names\['customers'\]"),
    ({"collection_names": {"customers": "a b"}}, "collection key"),
    ({"collection_names": {"customers": "events"}}, "already"),
    ({"collection_names": {"customers": "Customers", "Address": "Customers"}}, "same collection key"),
    ({"key_fields": ["SourcePetNumber"]}, "key_fields must be a dict"),
])
def test_bad_overrides_are_configuration_errors(kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        EntityNaming(**kwargs)


def test_an_override_for_an_entity_the_task_does_not_send_is_refused():
    with pytest.raises(ConfigurationError, match=r"key_fields names 'PetInfos'.*PetInfo"):
        EntityNaming(key_fields={"PetInfos": "SourcePetNumber"}).check(["customers", "PetInfo"])
