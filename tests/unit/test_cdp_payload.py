"""Acquia CDP payload rules: flatness, SourceSystemID, timestamps, empty strings, deletions."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_monetate.cdp_payload import (
    KNOWN_TIMESTAMP_FIELDS,
    DeletionRules,
    EntityRules,
    custom_entity_deletions,
    entity_name,
    key_field,
    merge_units,
    nested_path,
    parse_timestamp_unit,
    to_epoch,
)

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# The span in which epoch numbers are accepted in both units (see cdp_payload._EPOCH_SPANS).
FIRST, LAST = datetime(1973, 3, 4, tzinfo=timezone.utc), datetime(2286, 11, 19, tzinfo=timezone.utc)

names = st.text(st.characters(categories=["Lu", "Ll", "Nd"]), min_size=1, max_size=12).filter(
    lambda n: n.lower() not in {"sourcesystemid", "deleteflag", "sourcecustomernumber"}
    and n not in KNOWN_TIMESTAMP_FIELDS and n.lower() not in {f.lower() for f in KNOWN_TIMESTAMP_FIELDS}
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=3)), max_leaves=8)
nested = st.one_of(st.lists(json_values, max_size=3), st.dictionaries(names, json_values, max_size=3))
flat_records = st.dictionaries(names, scalars, max_size=8)
moments = st.datetimes(min_value=FIRST.replace(tzinfo=None), max_value=LAST.replace(tzinfo=None),
                       timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=5, minutes=30)),
                                                  timezone(timedelta(hours=-8))]))


def customers(**kwargs) -> EntityRules:
    return EntityRules("customers", **{"source_system_id": "crm", **kwargs})


def exact_epoch(moment: datetime, unit: str) -> int:
    """Floor of the moment in ``unit``, in integer arithmetic (no float rounding)."""
    delta = moment - EPOCH
    micros = (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds
    return micros // (10**6 if unit == "s" else 10**3)


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


def test_keys_follow_the_entity_and_events_have_none():
    assert [entity_name(c) for c in ("customers", "transactionItems", "events", "Address", "PetInfo")] == [
        "Customer", "TransactionItem", "Event", "Address", "PetInfo"]
    assert key_field("Transaction") == "SourceTransactionNumber" and key_field("Event") is None
    _, [rejection] = EntityRules("transactions", source_system_id="pos").normalize(1, {"Total": 4})
    assert rejection.field == "SourceTransactionNumber" and "upserts" in rejection.reason
    assert EntityRules("PetInfo", source_system_id="x").key_field == "SourcePetInfoNumber"
    assert EntityRules("customers").resend_safe and not EntityRules("events").resend_safe


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
    _, rejections = customers().normalize(1, {"SourceCustomerNumber": "C", "Score": math.nan,
                                              "Birthday": date(1990, 1, 1), "Blob": b"x"})
    reasons = {r.field: r.reason for r in rejections}
    assert "finite" in reasons["Score"] and "timestamp_fields" in reasons["Birthday"] and "bytes" in reasons["Blob"]
    # Listed in timestamp_fields, the same date is converted.
    row, _ = customers(timestamp_fields=["Birthday"]).normalize(1, {"SourceCustomerNumber": "C",
                                                                    "Birthday": date(1990, 1, 1)})
    assert row["Birthday"] == 631152000


# -- timestamps ----------------------------------------------------------------------------

@given(moments, st.sampled_from(["s", "ms"]))
def test_datetimes_convert_exactly_to_the_unit(moment, unit):
    expected = exact_epoch(moment, unit)
    assert to_epoch(moment, unit) == expected
    assert to_epoch(moment.isoformat(), unit) == expected
    assert to_epoch(pendulum.instance(moment), unit) == expected
    naive_utc = moment.astimezone(timezone.utc).replace(tzinfo=None)
    assert to_epoch(naive_utc, unit) == expected  # naive means UTC


@given(moments, st.sampled_from(["s", "ms"]))
def test_converted_values_pass_again_unchanged_and_fail_in_the_other_unit(moment, unit):
    value = to_epoch(moment, unit)
    assert to_epoch(value, unit) == value
    assert to_epoch(str(value), unit) == value
    with pytest.raises(ValueError, match="-digit epoch number"):
        to_epoch(value, "ms" if unit == "s" else "s")


@given(st.integers(10**12, 10**13 - 1))
def test_thirteen_digits_where_seconds_are_expected_is_an_error(value):
    with pytest.raises(ValueError, match=r"13-digit .* seconds .* looks like milliseconds"):
        to_epoch(value, "s")
    assert to_epoch(value, "ms") == value


@given(st.integers(10**9, 10**10 - 1))
def test_ten_digits_where_milliseconds_are_expected_is_an_error(value):
    with pytest.raises(ValueError, match=r"10-digit .* milliseconds .* looks like seconds"):
        to_epoch(value, "ms")
    assert to_epoch(value, "s") == value


def test_timestamp_inputs_and_refusals():
    assert to_epoch("2024-05-01T12:00:00Z", "s") == 1714564800
    assert to_epoch("2024-05-01T14:00:00+02:00", "ms") == 1714564800000
    assert to_epoch("20240501T120000Z", "s") == 1714564800  # basic format, read by pendulum
    assert to_epoch(date(2024, 5, 1), "s") == 1714521600
    assert to_epoch(1714564800.5, "s") == 1714564800.5 and to_epoch(Decimal("1714564800.0"), "s") == 1714564800
    assert to_epoch("", "s") is None and to_epoch(None, "ms") is None
    for bad in ("20240501", 20240501, -1, "yesterday", "12:00", math.inf):
        with pytest.raises(ValueError):
            to_epoch(bad, "s")
    for bad in (True, [1714564800], object()):
        with pytest.raises(TypeError):
            to_epoch(bad, "s")


def test_timestamp_fields_are_converted_in_records():
    rules = EntityRules("transactionItems", source_system_id="pos", unit="ms", timestamp_fields=["PromisedDate"])
    row, rejections = rules.normalize(1, {"SourceTransactionItemNumber": "T-1-1", "InvoiceDate": "2024-05-01",
                                          "ShipDate": "", "PromisedDate": datetime(2024, 5, 3, tzinfo=timezone.utc)})
    assert rejections == []
    assert row["InvoiceDate"] == 1714521600000 and row["ShipDate"] is None and row["PromisedDate"] == 1714694400000
    _, [rejection] = EntityRules("events", source_system_id="esp").normalize(9, {"EventTimeStamp": 1714564800000})
    assert rejection.field == "EventTimeStamp" and "looks like milliseconds" in rejection.reason


def test_timestamp_unit_names():
    assert [parse_timestamp_unit(u) for u in (None, "", "s", "seconds", "MS", "milliseconds")] == [
        "s", "s", "s", "s", "ms", "ms"]
    with pytest.raises(ValueError, match=r"'s' .* or 'ms'"):
        parse_timestamp_unit("us")


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
