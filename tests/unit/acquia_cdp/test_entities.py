"""Acquia CDP entity vocabulary: collection keys name entities, keyed entities upsert by Source{Entity}Number."""

from __future__ import annotations

from airflow_provider_monetate.acquia_cdp._entities import entity_name, key_field
from airflow_provider_monetate.acquia_cdp._payload import EntityRules


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
