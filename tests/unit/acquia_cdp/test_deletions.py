"""Acquia CDP soft deletes: only keys, SourceSystemID and DeleteFlag; addresses and custom entities on request."""

from __future__ import annotations

import pytest

from airflow_provider_monetate.acquia_cdp._deletions import DeletionRules, custom_entity_deletions, merge_units
from airflow_provider_monetate.acquia_cdp._entities import EntityNaming

# -- deletions -----------------------------------------------------------------------------

def test_a_deletion_sends_only_the_key_the_system_and_the_flag():
    rules = DeletionRules(source_system_id="crm")
    unit, _ = rules.normalize(1, {"SourceCustomerNumber": "C-1", "Email": "a@b.c", "SourceAddressNumber": "A-1"})
    assert unit == {"customers": [{"SourceCustomerNumber": "C-1", "SourceSystemID": "crm", "DeleteFlag": True}]}
    unit, _ = rules.normalize(2, {"UUID": "6f1c", "SourceSystemID": "web"})
    assert unit == {"customers": [{"UUID": "6f1c", "SourceSystemID": "web", "DeleteFlag": True}]}


def test_a_deletion_without_an_identifier_or_a_source_system_is_refused():
    unit, [rejection] = DeletionRules(source_system_id="crm").normalize(7, {"Email": "a@b.c", "UUID": ""})
    assert unit is None and rejection.row_number == 7 and "SourceCustomerNumber or UUID" in rejection.reason
    rules = DeletionRules()
    unit, [rejection] = rules.normalize(8, {"SourceCustomerNumber": "C-1"})
    assert unit is None and "KFK_0" in rejection.reason and rules.missing_source_system_id == 1
    unit, [rejection] = DeletionRules(source_system_id="crm").normalize(9, {"SourceCustomerNumber": {"a": 1}})
    assert unit is None and rejection.field == "SourceCustomerNumber"


def test_addresses_ride_with_their_customer_when_asked():
    rules = DeletionRules(source_system_id="crm", delete_addresses=True)
    unit, _ = rules.normalize(1, {"SourceCustomerNumber": "C-1", "SourceAddressNumber": "A-1",
                                  "SourceCustomerAddressXrefNumber": "X-1"})
    flags = {"SourceSystemID": "crm", "DeleteFlag": True}
    assert unit == {
        "customers": [{"SourceCustomerNumber": "C-1", **flags}],
        "CustomerAddressXref": [{"SourceCustomerAddressXrefNumber": "X-1", "SourceCustomerNumber": "C-1",
                                 "SourceAddressNumber": "A-1", **flags}],
        "Address": [{"SourceAddressNumber": "A-1", **flags}],
    }
    assert rules.normalize(2, {"SourceCustomerNumber": "C-2"})[0] == {
        "customers": [{"SourceCustomerNumber": "C-2", **flags}]}
    assert dict(rules.records) == {"customers": 2, "CustomerAddressXref": 1, "Address": 1}


def test_custom_entities_need_explicit_numbers_and_must_be_custom():
    units = custom_entity_deletions({"PetInfo": ["PET-1", "PET-2"]}, "crm")
    assert units[1] == {"PetInfo": [{"SourcePetInfoNumber": "PET-2", "SourceSystemID": "crm", "DeleteFlag": True}]}
    for bad in ({"PetInfo": []}, {"PetInfo": None}, {"PetInfo": ["PET-1", ""]}, {"PetInfo": "PET-1"}):
        with pytest.raises(ValueError, match="SourcePetInfoNumber"):
            custom_entity_deletions(bad, "crm")
    for standard in ("transactions", "transactionItems", "events", "customers", "Address"):
        with pytest.raises(ValueError, match="not a custom entity"):
            custom_entity_deletions({standard: ["1"]}, "crm")


def test_units_merge_into_one_payload_per_collection():
    a = {"customers": [{"SourceCustomerNumber": "1"}], "Address": [{"SourceAddressNumber": "A"}]}
    b = {"customers": [{"SourceCustomerNumber": "2"}]}
    assert merge_units([a, b]) == {"customers": [{"SourceCustomerNumber": "1"}, {"SourceCustomerNumber": "2"}],
                                   "Address": [{"SourceAddressNumber": "A"}]}


# -- identifiers: no KFK_0, no blank key (issue 13, item 11) ------------------------------------

@pytest.mark.parametrize(("record", "field", "reason"), [
    ({"SourceCustomerNumber": "   "}, "SourceCustomerNumber", "is blank"),
    ({"SourceCustomerNumber": True}, "SourceCustomerNumber", "got bool"),
    ({"UUID": " \t"}, "UUID", "is blank"),
    ({"SourceCustomerNumber": "C-1", "SourceSystemID": "KFK_0"}, "SourceSystemID", "KFK_0 is CDP's default"),
    ({"SourceCustomerNumber": "C-1", "SourceSystemID": "  "}, "SourceSystemID", "is blank"),
])
def test_a_deletion_row_with_a_blank_or_default_identifier_is_refused(record, field, reason):
    unit, [rejection] = DeletionRules(source_system_id="crm").normalize(4, record)
    assert unit is None and (rejection.row_number, rejection.field) == (4, field) and reason in rejection.reason


@pytest.mark.parametrize("collection", ["Customers", "customer", "addresses", "events", "TransactionItems"])
def test_standard_entities_are_refused_as_custom_entities_whatever_their_spelling(collection):
    with pytest.raises(ValueError, match="is not a custom entity"):
        custom_entity_deletions({collection: ["X-1"]}, "crm")


# -- issue 12: the address collections and key columns are guesses, so they can be set ------------

def test_address_collections_and_keys_follow_the_naming():
    naming = EntityNaming(collection_names={"Address": "addresses", "CustomerAddressXref": "customerAddressXrefs",
                                            "customers": "Customers"},
                          key_fields={"Address": "SourceAddrNumber"})
    rules = DeletionRules(source_system_id="crm", delete_addresses=True, naming=naming)
    unit, rejections = rules.normalize(1, {"SourceCustomerNumber": "C-1", "SourceAddrNumber": "A-1",
                                           "SourceCustomerAddressXrefNumber": "X-1"})
    flags = {"SourceSystemID": "crm", "DeleteFlag": True}
    assert rejections == []
    assert unit == {
        "Customers": [{"SourceCustomerNumber": "C-1", **flags}],
        "customerAddressXrefs": [{"SourceCustomerAddressXrefNumber": "X-1", "SourceCustomerNumber": "C-1",
                                  "SourceAddrNumber": "A-1", **flags}],
        "addresses": [{"SourceAddrNumber": "A-1", **flags}],
    }
    assert rules.customer_ids(unit) == ["C-1"]


def test_the_customer_key_column_can_be_set():
    rules = DeletionRules(source_system_id="crm", naming=EntityNaming(key_fields={"customers": "CustomerId"}))
    unit, _ = rules.normalize(1, {"CustomerId": "C-9"})
    assert unit == {"customers": [{"CustomerId": "C-9", "SourceSystemID": "crm", "DeleteFlag": True}]}
    unit, _ = rules.normalize(2, {"UUID": "u-2"})
    assert rules.customer_ids(unit) == ["u-2"]
    _, [rejection] = rules.normalize(3, {"SourceCustomerNumber": "C-9"})
    assert rejection.field == "CustomerId" and "CustomerId or UUID" in rejection.reason


def test_custom_entity_keys_follow_the_naming():
    naming = EntityNaming(key_fields={"PetInfo": "SourcePetNumber"}, collection_names={"PetInfo": "pets"})
    units = custom_entity_deletions({"PetInfo": ["PET-1"]}, "crm", naming)
    assert units == [{"pets": [{"SourcePetNumber": "PET-1", "SourceSystemID": "crm", "DeleteFlag": True}]}]
