"""Monetate schema rules: schema definitions (create/get/list/patch, schema types) and the
row rules every posted row is checked against."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_monetate.testing import EmulatorClient
from airflow_provider_monetate.testing.monetate.schema import (
    MultiString,
    is_iso8601,
    multi_string_values,
    split_multi_string,
)
from airflow_provider_monetate.testing.readings import readings_of
from tests.unit.testing.helpers import ATTRIBUTE_FIELDS, KEYED_FIELDS, event_row

IDENT = {"customer_id": {"data_type": "STRING", "identifier": True}}


def _errors_for(response, field_prefix: str) -> list[dict]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["data"] is None
    return [e for e in body["meta"]["errors"] if (e.get("field") or "").startswith(field_prefix)]


def test_create_echoes_schema_with_id_and_created_date(api):
    response = api.post("schema/", {"name": "loyalty", "type": "attribute", "fields": ATTRIBUTE_FIELDS})
    assert response.status_code == 201
    body = response.json()
    assert body["meta"]["code"] == 201
    data = body["data"]
    assert data["name"] == "loyalty"
    assert data["type"] == "attribute"
    assert data["fields"] == ATTRIBUTE_FIELDS
    assert isinstance(data["id"], int)
    assert data["created_date"].endswith("Z")
    fetched = api.get("schema/loyalty/")
    assert fetched.status_code == 200
    assert fetched.json()["data"] == data


def test_get_missing_schema_is_404(api):
    response = api.get("schema/nothing_here/")
    assert response.status_code == 404
    assert response.json()["meta"]["code"] == 404


def test_list_schemas_with_row_count_and_latest_upload(api):
    api.create_schema("a_one", ATTRIBUTE_FIELDS)
    api.create_schema("b_two", ATTRIBUTE_FIELDS)
    assert api.post_rows("a_one", [{"customer_id": "c1"}, {"customer_id": "c2"}]).status_code == 201
    plain = api.get("schema/").json()
    assert [s["name"] for s in plain["data"]] == ["a_one", "b_two"]
    assert plain["meta"]["count"] == 2
    assert "row_count" not in plain["data"][0]
    extra = api.get("schema/", params={"row_count": "true", "latest_upload": "true"}).json()["data"]
    assert extra[0]["row_count"] == 2
    assert extra[0]["last_file_upload"]["status"] == "COMPLETE"
    assert extra[1]["row_count"] == 0
    assert extra[1]["last_file_upload"] is None


@pytest.mark.parametrize("name", ["1starts_with_digit", "has-hyphen", "has space", "_underscore_first", "x" * 65, ""])
def test_invalid_schema_names_rejected(api, name):
    response = api.post("schema/", {"name": name, "type": "attribute", "fields": IDENT})
    assert _errors_for(response, "name")


def test_64_character_name_accepted(api):
    api.create_schema("N" * 64, IDENT)


def test_duplicate_name_rejected(api):
    api.create_schema("dupe", IDENT)
    assert _errors_for(api.post("schema/", {"name": "dupe", "type": "attribute", "fields": IDENT}), "name")


def test_unknown_type_rejected(api):
    assert _errors_for(api.post("schema/", {"name": "t", "type": "table", "fields": IDENT}), "type")


def test_unknown_data_type_rejected(api):
    fields = {**IDENT, "amount": {"data_type": "FLOAT"}}
    errors = _errors_for(api.post("schema/", {"name": "t", "type": "attribute", "fields": fields}), "fields.amount")
    assert errors[0]["field"] == "fields.amount.data_type"


def test_forty_fields_allowed_forty_one_rejected(api):
    fields = {**IDENT, **{f"f{i}": {"data_type": "STRING"} for i in range(39)}}
    api.create_schema("forty", fields)
    fields["f39"] = {"data_type": "STRING"}
    assert _errors_for(api.post("schema/", {"name": "forty_one", "type": "attribute", "fields": fields}), "fields")


@pytest.mark.parametrize(
    "fields",
    [
        {"a": {"data_type": "STRING"}},  # no identifier
        {"a": {"data_type": "STRING", "identifier": True}, "b": {"data_type": "STRING", "identifier": True}},
        {"a": {"data_type": "NUMBER", "identifier": True}},  # identifier must be STRING
        {**IDENT, "k1": {"data_type": "STRING", "unique_key": True}, "k2": {"data_type": "STRING", "unique_key": True}},
        {**IDENT, "k": {"data_type": "NUMBER", "unique_key": True}},  # unique_key must be STRING
        {**IDENT, "x": {"data_type": "STRING", "identifier": "yes"}},  # flags are booleans
        {**IDENT, "x": {"data_type": "STRING", "searchable": True}},  # unknown attribute
        {},
    ],
    ids=[
        "no-identifier",
        "two-identifiers",
        "number-identifier",
        "two-unique-keys",
        "number-unique-key",
        "non-bool-flag",
        "unknown-attribute",
        "no-fields",
    ],
)
def test_field_rules(api, fields):
    assert _errors_for(api.post("schema/", {"name": "t", "type": "attribute", "fields": fields}), "fields")


def test_event_schema_needs_exactly_one_datetime_event_time(api):
    no_time = {"name": "ev", "type": "event", "fields": IDENT}
    assert _errors_for(api.post("schema/", no_time), "fields")
    string_time = {**IDENT, "at": {"data_type": "STRING", "event_time": True}}
    assert _errors_for(api.post("schema/", {"name": "ev", "type": "event", "fields": string_time}), "fields")
    api.create_schema("ev", KEYED_FIELDS, "event")


def test_body_must_be_an_object(api):
    assert api.post("schema/", ["not", "an", "object"]).status_code == 400
    response = api.session.post(api.base + "schema/", data=b"{nope", timeout=10)
    assert response.status_code == 400


def test_privacy_type_allows_empty_fields_and_supplies_columns(api):
    data = api.create_schema("gdpr", {}, "customer_data_privacy")
    assert data["fields"]["customer_id"]["data_type"] == "STRING"
    assert data["fields"]["customer_id"]["identifier"] is True
    assert data["fields"]["delete_request_time"]["data_type"] == "DATETIME"


def test_privacy_type_accepts_extra_fields(api):
    data = api.create_schema("gdpr2", {"note": {"data_type": "STRING"}}, "customer_data_privacy")
    assert set(data["fields"]) == {"note", "customer_id", "delete_request_time"}


def test_patch_adds_fields(api):
    api.create_schema("p", ATTRIBUTE_FIELDS)
    response = api.patch("schema/p/", {"fields": {"tier": {"data_type": "STRING"}}})
    assert response.status_code == 200
    assert set(response.json()["data"]["fields"]) == {"customer_id", "points", "tier"}
    assert "tier" in api.get("schema/p/").json()["data"]["fields"]
    assert api.post_rows("p", [{"customer_id": "c", "tier": "gold"}]).status_code == 201


def test_patch_named_identifier(api):
    api.create_schema("p", ATTRIBUTE_FIELDS)
    response = api.patch("schema/p/", {"named_identifier": "email_hash"})
    assert response.status_code == 200
    assert response.json()["data"] == {"named_identifier": "email_hash"}
    assert api.get("schema/p/").json()["data"]["named_identifier"] == "email_hash"


@pytest.mark.parametrize(
    "body",
    [
        {"fields": {"points": {"data_type": "STRING"}}},  # existing field
        {"fields": {"x": {"data_type": "STRING"}}, "named_identifier": "n"},  # both
        {},  # neither
        {"fields": {"other": {"data_type": "STRING", "identifier": True}}},  # second identifier
        {"named_identifier": "has space"},
    ],
    ids=["existing-field", "both", "neither", "second-identifier", "bad-named-identifier"],
)
def test_patch_rejections(api, body):
    api.create_schema("p", ATTRIBUTE_FIELDS)
    assert api.patch("schema/p/", body).status_code == 400
    assert api.get("schema/p/").json()["data"]["fields"] == ATTRIBUTE_FIELDS


def test_patch_missing_schema_is_404(api):
    assert api.patch("schema/ghost/", {"named_identifier": "x"}).status_code == 404


def test_schema_types(api):
    listed = api.get("schematype/").json()["data"]
    names = [t["name"] for t in listed]
    assert "customer_data_privacy" in names and "event" in names
    privacy = api.get("schematype/customer_data_privacy/").json()["data"]
    assert set(privacy["fields"]) == {"customer_id", "delete_request_time"}
    assert api.get("schematype/nonsense/").status_code == 404


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("customer_id", ""),
        ("customer_id", " C1"),
        ("customer_id", "C1\n"),
        ("customer_id", 42),
        ("tiers", ""),
        ("tiers", ["gold", "vip"]),
        ("points", "10"),
        ("points", True),
        ("occurred_at", "yesterday"),
        ("occurred_at", "2024-13-01T00:00:00Z"),
        ("occurred_at", 1714564800),
        ("vip", "true"),
        ("vip", 1),
        ("event_id", None),
        ("customer_id", None),
        ("surprise", "field"),
    ],
)
def test_invalid_value_names_row_and_field_and_stores_nothing(emulator, keyed, field, value):
    rows = [event_row(0), event_row(1), event_row(2, **{field: value})]
    response = keyed.post_rows("events", rows)
    assert response.status_code == 400
    body = response.json()
    assert body["data"] is None
    assert {"row": 2, "field": field} == {k: body["meta"]["errors"][0][k] for k in ("row", "field")}
    assert body["meta"]["errors"][0]["message"]
    assert emulator.monetate_rows("testshop", "events") == []
    assert keyed.get("upload/events/").json()["data"] == []


def test_missing_required_fields_reported(keyed):
    response = keyed.post_rows("events", [{"points": 1}])
    errors = {e["field"] for e in response.json()["meta"]["errors"]}
    assert errors == {"event_id", "customer_id"}


def test_every_bad_row_is_reported(keyed):
    response = keyed.post_rows("events", [event_row(0, points="x"), event_row(1), event_row(2, vip="no"), "not a row"])
    assert [(e["row"], e["field"]) for e in response.json()["meta"]["errors"]] == [(0, "points"), (2, "vip"), (3, None)]


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-01",
        "2024-05-01T12:00:00Z",
        "2024-05-01T12:00:00.000145Z",
        "2024-05-01T12:00:00+02:00",
        "2024-05-01 12:00",
    ],
)
def test_iso8601_variants_accepted(keyed, value):
    assert keyed.post_rows("events", [event_row(1, occurred_at=value)]).status_code == 201


def test_optional_fields_may_be_absent_or_null(keyed):
    rows = [{"event_id": "e", "customer_id": "c", "occurred_at": "2024-05-01"}, event_row(2, points=None)]
    assert keyed.post_rows("events", rows).status_code == 201


@pytest.mark.emulator_readings({"monetate.privacy_body": "schema_rows"})  # flat bodies: test_service.py
def test_privacy_rows_need_both_columns(shop):
    response = shop.post_rows("gdpr", [{"customer_id": "C1"}])
    assert response.status_code == 400
    assert response.json()["meta"]["errors"][0] == {
        "row": 0,
        "field": "delete_request_time",
        "message": "delete_request_time is required.",
    }


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2024-02-29", True),
        ("2023-02-29", False),  # not a calendar date
        ("2024-05-01T24:00:00Z", False),
        ("2024-05-01T12:00:00,5+0200", True),
        ("2024-05-01T12:00:00Zjunk", False),
        (20240501, False),
    ],
)
def test_is_iso8601(value, valid):
    assert is_iso8601(value) is valid


# --- how a MULTI_STRING is split: an open point (issue 12, item 6) ------------------------------

@pytest.mark.parametrize(
    ("value", "quoted", "backslash", "every_comma"),
    [
        ("gold,vip", ["gold", "vip"], ["gold", "vip"], ["gold", "vip"]),
        ('"Clothing, Women",Sale', ["Clothing, Women", "Sale"], ['"Clothing', ' Women"', "Sale"],
         ['"Clothing', ' Women"', "Sale"]),
        ("Clothing\\, Women,Sale", ["Clothing\\", " Women", "Sale"], ["Clothing, Women", "Sale"],
         ["Clothing\\", " Women", "Sale"]),
        ('"15"" screen",x', ['15" screen', "x"], ['"15"" screen"', "x"], ['"15"" screen"', "x"]),
    ],
)
def test_a_multi_string_is_split_as_the_reading_says(value, quoted, backslash, every_comma):
    expected = {"quoted": quoted, "backslash": backslash, "every_comma": every_comma}
    assert {reading: split_multi_string(value, reading) for reading in expected} == expected


@given(st.text(alphabet=st.characters(blacklist_characters='"\\\r\n'), min_size=1))
def test_text_without_quotes_backslashes_or_line_breaks_is_split_alike_under_every_reading(value):
    # Why the emulator stores such a MULTI_STRING as its plain text: no reading could split it otherwise.
    assert {tuple(split_multi_string(value, r)) for r in readings_of("monetate.multi_string_commas")} == {
        multi_string_values(value)}


@pytest.mark.parametrize("value", ["", '"a,b",c', "a\\,b", "a\nb"])
def test_text_a_reading_could_split_otherwise_is_stored_with_its_values(value):
    from airflow_provider_monetate.testing.monetate.schema import RowValidator
    from airflow_provider_monetate.testing.readings import Readings

    (row,) = RowValidator({"tags": {"data_type": "MULTI_STRING"}}).stored([{"tags": value}], Readings())
    assert isinstance(row["tags"], MultiString) and row["tags"] == value
    assert multi_string_values(row["tags"]) == tuple(split_multi_string(value, "quoted"))


def test_the_catalog_quoting_is_the_default_reading_of_multi_string_commas(emulator):
    assert readings_of("monetate.multi_string_commas") == ("quoted", "backslash", "every_comma")
    assert emulator.readings.get("monetate.multi_string_commas") == "quoted"


@pytest.mark.parametrize(
    ("reading", "stored"),
    [("quoted", ["Clothing, Women", "Sale"]), ("backslash", ['"Clothing', ' Women"', "Sale"]),
     ("every_comma", ['"Clothing', ' Women"', "Sale"])],
)
def test_the_server_stores_the_values_of_a_multi_string_as_the_reading_splits_them(emulator, keyed, reading, stored):
    emulator.set_reading("monetate.multi_string_commas", reading)
    response = keyed.post_rows("events", [event_row(1, tiers='"Clothing, Women",Sale'), event_row(2, tiers=None)])
    assert response.status_code == 201
    first, second = emulator.monetate_rows("testshop", "events")
    assert multi_string_values(first["tiers"]) == tuple(stored) and second["tiers"] is None
    # the record GET and the admin API answer the text as posted, a string as in the spec's examples
    assert keyed.get("data/events/", params={"id": "e-1"}).json()["data"]["schema_rows"][0]["tiers"] == (
        '"Clothing, Women",Sale')
    assert EmulatorClient(emulator.url).monetate_rows("testshop", "events")[0]["tiers"] == '"Clothing, Women",Sale'
