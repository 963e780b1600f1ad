"""Acquia CDP ingestion rules (EntityRules): flatness, SourceSystemID, keys, DeleteFlag, case, timestamps."""

from __future__ import annotations

import math
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_monetate.acquia_cdp._payload import (
    KNOWN_TIMESTAMP_FIELDS,
    EntityRules,
    looks_like_timestamp_name,
    nested_path,
)

names = st.text(st.characters(categories=["Lu", "Ll", "Nd"]), min_size=1, max_size=12).filter(
    lambda n: n.lower() not in {"sourcesystemid", "deleteflag", "sourcecustomernumber", "uuid"}
    and n not in KNOWN_TIMESTAMP_FIELDS and n.lower() not in {f.lower() for f in KNOWN_TIMESTAMP_FIELDS}
    and not looks_like_timestamp_name(n)
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=3)), max_leaves=8)
nested = st.one_of(st.lists(json_values, max_size=3), st.dictionaries(names, json_values, max_size=3))
flat_records = st.dictionaries(names, scalars, max_size=8)


def customers(**kwargs) -> EntityRules:
    return EntityRules("customers", **{"source_system_id": "crm", **kwargs})


# -- flatness ------------------------------------------------------------------------------

@given(flat_records)
def test_flat_records_pass_with_empty_strings_as_null(record):
    record = {"SourceCustomerNumber": "C-1", **record}
    row, rejections = customers().normalize(1, record)
    assert rejections == []
    assert list(row) == [*record, "SourceSystemID"]  # names and order kept exactly
    assert row == {**{k: (None if v == "" else v) for k, v in record.items()}, "SourceSystemID": "crm"}


@given(flat_records, names, nested, st.integers(1, 10**6))
def test_a_nested_value_anywhere_rejects_the_row_naming_its_path(record, name, value, row_number):
    record = {"SourceCustomerNumber": "C-1", **record, name: value}
    row, rejections = customers().normalize(row_number, record)
    assert row is None
    [rejection] = [r for r in rejections if r.field == name]
    assert rejection.row_number == row_number
    assert f"at {nested_path(name, value)}:" in rejection.reason and "flat" in rejection.reason


@given(names, json_values)
def test_nested_path_walks_to_the_first_leaf(name, value):
    path = nested_path(name, value)
    if not isinstance(value, dict | list):
        assert path is None
        return
    assert path.startswith(name)
    # Follow the path: it names real keys/indices down to a scalar or an empty container.
    node, rest = value, path[len(name):]
    while rest and not rest.startswith(" ("):
        if rest.startswith("["):
            index, _, rest = rest[1:].partition("]")
            node = node[int(index)]
        else:
            key = next(k for k in node if rest[1:].startswith(k) and (
                rest[1 + len(k):] == "" or rest[1 + len(k)] in ".[ "))
            node, rest = node[key], rest[1 + len(key):]
    assert not isinstance(node, dict | list) or not node


def test_nested_paths_are_readable():
    assert nested_path("Address", {"City": "Paris", "Zip": "75001"}) == "Address.City"
    assert nested_path("Tags", ["a", "b"]) == "Tags[0]"
    assert nested_path("Lines", [{"Sku": {"Id": 1}}]) == "Lines[0].Sku.Id"
    assert nested_path("Meta", {}) == "Meta (empty object)"
    assert nested_path("Items", []) == "Items (empty array)"


def test_rejections_never_carry_the_value():
    secret = "jane.doe@example.com"
    _, rejections = customers().normalize(3, {"SourceCustomerNumber": "C-1", "Email": {"Work": secret},
                                              "EventTimeStamp": secret})
    assert rejections and all(secret not in r.reason for r in rejections)


# -- keys, SourceSystemID, DeleteFlag, case ------------------------------------------------

def test_source_system_id_is_filled_only_when_absent_or_empty():
    rules = customers()
    assert rules.normalize(1, {"SourceCustomerNumber": "C-1"})[0]["SourceSystemID"] == "crm"
    assert rules.normalize(2, {"SourceCustomerNumber": "C-2", "SourceSystemID": ""})[0]["SourceSystemID"] == "crm"
    assert rules.normalize(3, {"SourceCustomerNumber": "C-3", "SourceSystemID": "pos"})[0]["SourceSystemID"] == "pos"
    assert rules.filled_source_system_id == 2


def test_without_a_default_a_record_without_source_system_id_is_refused_naming_kfk0():
    rules = EntityRules("events")
    row, [rejection] = rules.normalize(4, {"Type": "emailOpen", "EventTimeStamp": 1714564800})
    assert row is None and rejection.field == "SourceSystemID" and "KFK_0" in rejection.reason
    assert rules.missing_source_system_id == 1
    assert rules.normalize(5, {"Type": "emailOpen", "SourceSystemID": "esp"})[0] is not None


def test_delete_flag_is_a_boolean_and_never_on_events():
    rules = customers()
    for given_value, expected in (("true", True), ("FALSE", False), (1, True), (0, False), ("", None)):
        assert rules.normalize(1, {"SourceCustomerNumber": "C", "DeleteFlag": given_value})[0]["DeleteFlag"] is expected
    assert rules.normalize(1, {"SourceCustomerNumber": "C", "DeleteFlag": "yes"})[0] is None
    _, rejections = EntityRules("events", source_system_id="esp").normalize(1, {"Type": "x", "DeleteFlag": False})
    assert [r.field for r in rejections] == ["DeleteFlag"] and "Event entity has no DeleteFlag" in rejections[0].reason


def test_names_that_differ_only_in_case_from_known_fields_are_refused():
    _, rejections = customers().normalize(1, {"SourceCustomerNumber": "C", "sourceSystemId": "crm",
                                              "eventTimestamp": 1714564800, "sourcecustomernumber": "C"})
    assert {r.field for r in rejections} == {"sourceSystemId", "eventTimestamp", "sourcecustomernumber"}
    assert all("case-sensitive" in r.reason for r in rejections)
    # Other attributes keep whatever case they have.
    assert customers().normalize(1, {"SourceCustomerNumber": "C", "email": "a@b.c"})[0]["email"] == "a@b.c"


def test_values_json_cannot_carry_are_refused_or_converted():
    row, _ = customers().normalize(1, {"SourceCustomerNumber": "C", "Total": Decimal("4.50"), "Qty": Decimal(3)})
    assert row["Total"] == 4.5 and row["Qty"] == 3 and type(row["Qty"]) is int
    _, rejections = customers(timestamp_fields=[]).normalize(1, {"SourceCustomerNumber": "C", "Score": math.nan,
                                                                 "Birthday": date(1990, 1, 1), "Blob": b"x"})
    reasons = {r.field: r.reason for r in rejections}
    assert "finite" in reasons["Score"] and "timestamp_fields" in reasons["Birthday"] and "bytes" in reasons["Blob"]
    # Listed in timestamp_fields, the same date is converted.
    row, _ = customers(timestamp_fields=["Birthday"]).normalize(1, {"SourceCustomerNumber": "C",
                                                                    "Birthday": date(1990, 1, 1)})
    assert row["Birthday"] == 631152000


def test_timestamp_fields_are_converted_in_records():
    rules = EntityRules("transactionItems", source_system_id="pos", unit="ms", timestamp_fields=["PromisedDate"])
    row, rejections = rules.normalize(1, {"SourceTransactionItemNumber": "T-1-1", "InvoiceDate": "2024-05-01",
                                          "ShipDate": "", "PromisedDate": datetime(2024, 5, 3, tzinfo=timezone.utc)})
    assert rejections == []
    assert row["InvoiceDate"] == 1714521600000 and row["ShipDate"] is None and row["PromisedDate"] == 1714694400000
    _, [rejection] = EntityRules("events", source_system_id="esp").normalize(9, {"EventTimeStamp": 1714564800000})
    assert rejection.field == "EventTimeStamp" and "looks like milliseconds" in rejection.reason


# -- identifiers: no KFK_0 in a record, no boolean or blank key (issue 13, item 11) --------------

@pytest.mark.parametrize("value", ["KFK_0", " kfk_0 "])
def test_a_record_naming_kfk0_as_its_source_system_is_refused(value):
    rules = customers()
    row, [rejection] = rules.normalize(6, {"SourceCustomerNumber": "C-1", "SourceSystemID": value})
    assert row is None and (rejection.row_number, rejection.field) == (6, "SourceSystemID")
    assert "KFK_0 is CDP's default" in rejection.reason and "name your source system" in rejection.reason
    assert rules.filled_source_system_id == 0


@pytest.mark.parametrize(("value", "reason"), [
    (True, "must be a string or an integer, got bool"), (False, "got bool"), (4.0, "got float"),
    ("   ", "is blank (only whitespace)"), ("\t\n", "is blank"),
])
@pytest.mark.parametrize(("collection", "field"), [
    ("customers", "SourceCustomerNumber"),        # the entity's own key
    ("transactions", "SourceCustomerNumber"),     # a reference to another entity's key
    ("events", "SourceSystemID"),
    ("PetInfo", "SourcePetInfoNumber"),
])
def test_identifiers_must_be_text_or_integers_and_not_blank(collection, field, value, reason):
    record = {"SourceCustomerNumber": "C-1", "SourceTransactionNumber": "T-1", "SourcePetInfoNumber": "P-1",
              "Type": "emailOpen", field: value}
    row, rejections = EntityRules(collection, source_system_id="crm").normalize(8, record)
    assert row is None
    assert [(r.row_number, r.field) for r in rejections] == [(8, field)] and reason in rejections[0].reason


def test_identifiers_that_are_text_or_integers_pass_and_empty_references_are_null():
    rules = EntityRules("transactions", source_system_id="pos")
    row, _ = rules.normalize(1, {"SourceTransactionNumber": 17, "SourceCustomerNumber": "", "SourceSystemID": "web"})
    assert row == {"SourceTransactionNumber": 17, "SourceCustomerNumber": None, "SourceSystemID": "web"}
    assert rules.empty_strings == 1


# -- issue 12: customers by UUID, key columns per entity, timestamp-looking fields -----------------

def test_a_customer_keyed_only_by_uuid_is_accepted():
    rules = customers()
    row, rejections = rules.normalize(1, {"UUID": "6f1c-77", "Email": "a@b.c"})
    assert rejections == [] and row == {"UUID": "6f1c-77", "Email": "a@b.c", "SourceSystemID": "crm"}
    _, [rejection] = rules.normalize(2, {"Email": "a@b.c", "UUID": ""})
    assert rejection.field == "SourceCustomerNumber" and "or UUID" in rejection.reason
    assert rules.upsert_key({"UUID": "u-1"}) != rules.upsert_key({"SourceCustomerNumber": "u-1"})
    assert rules.upsert_key({"UUID": "u-1", "SourceCustomerNumber": "C-1"}) == rules.upsert_key(
        {"SourceCustomerNumber": "C-1"})
    _, [rejection] = rules.normalize(4, {"SourceCustomerNumber": "C-1", "uuid": "u-1"})
    assert rejection.field == "uuid" and "case-sensitive" in rejection.reason
    # Only customers may be named by UUID.
    _, [rejection] = EntityRules("transactions", source_system_id="pos").normalize(3, {"UUID": "u-1"})
    assert rejection.field == "SourceTransactionNumber"


def test_the_key_column_can_be_set_per_entity():
    rules = EntityRules("PetInfo", source_system_id="crm", key_field="SourcePetNumber")
    assert rules.key_field == "SourcePetNumber" and rules.resend_safe
    row, rejections = rules.normalize(1, {"SourcePetNumber": "PET-1", "Species": "cat"})
    assert rejections == [] and row["SourcePetNumber"] == "PET-1"
    _, [rejection] = rules.normalize(2, {"SourcePetInfoNumber": "PET-1"})
    assert rejection.field == "SourcePetNumber" and "upserts PetInfo records by SourcePetNumber" in rejection.reason
    _, [rejection] = rules.normalize(3, {"SourcePetNumber": True})  # a key is an identifier, whatever its name
    assert "got bool" in rejection.reason


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("LastLoginTime", "2024-05-01T12:00:00Z", 1714564800),          # by name
    ("SignupTimeStamp", 1714564800, 1714564800),                     # by name, already epoch
    ("RenewalDate", "2024-05-01", 1714521600),                       # by name
    ("Anniversary", datetime(2024, 5, 1, 12, tzinfo=timezone.utc), 1714564800),  # by value: a datetime
    ("Birthday", date(2024, 5, 1), 1714521600),                      # by value: a date
    ("FirstSeen", "2024-05-01 12:00:00+00:00", 1714564800),          # by value: an ISO string
])
def test_timestamp_looking_fields_are_converted_and_counted(field, value, expected):
    rules = customers()
    row, rejections = rules.normalize(1, {"SourceCustomerNumber": "C-1", field: value})
    assert rejections == [] and row[field] == expected
    assert rules.guessed_timestamps == {field: 1}


def test_known_and_listed_timestamps_are_not_counted_as_guesses():
    rules = EntityRules("transactions", source_system_id="pos", timestamp_fields=["Shipped"])
    row, _ = rules.normalize(1, {"SourceTransactionNumber": "T-1", "TransactionTimeStamp": "2024-05-01T12:00:00Z",
                                 "Shipped": "2024-05-01T12:00:00Z"})
    assert row["TransactionTimeStamp"] == row["Shipped"] == 1714564800 and rules.guessed_timestamps == {}


def test_an_explicit_list_turns_the_guessing_off():
    rules = customers(timestamp_fields=["RenewalDate"])
    row, rejections = rules.normalize(1, {"SourceCustomerNumber": "C-1", "RenewalDate": "2024-05-01",
                                          "LastLoginTime": "2024-05-01T12:00:00Z", "Note": "2024-05-01"})
    assert rejections == [] and row["RenewalDate"] == 1714521600
    assert row["LastLoginTime"] == "2024-05-01T12:00:00Z" and row["Note"] == "2024-05-01"
    assert rules.guessed_timestamps == {}
    _, [rejection] = customers(timestamp_fields=[]).normalize(2, {"SourceCustomerNumber": "C",
                                                                  "Birthday": date.today()})
    assert "not listed in timestamp_fields" in rejection.reason


def test_a_field_named_like_a_timestamp_that_is_not_one_is_refused_naming_the_way_out():
    _, [rejection] = customers().normalize(4, {"SourceCustomerNumber": "C-1", "ValidationDate": "N/A"})
    assert rejection.field == "ValidationDate"
    assert "looks like a timestamp" in rejection.reason and "timestamp_fields=" in rejection.reason
    assert "N/A" not in rejection.reason


def test_text_that_is_not_an_iso_date_is_left_alone():
    rules = customers()
    row, _ = rules.normalize(1, {"SourceCustomerNumber": "C-1", "Code": "2024", "Phone": "2024-555-0100",
                                 "Zip": "20240501"})
    assert (row["Code"], row["Phone"], row["Zip"]) == ("2024", "2024-555-0100", "20240501")
    assert rules.guessed_timestamps == {}
