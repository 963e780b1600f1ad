from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from unittest import mock

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_monetate.monetate import _rows as monetate_rows
from airflow_provider_monetate.monetate._rows import Rejection, RowRules, to_utc_iso

EVENT_SCHEMA = {
    "name": "loyalty_events",
    "type": "event",
    "fields": {
        "event_id": {"data_type": "STRING", "unique_key": True},
        "customer_id": {"data_type": "STRING", "identifier": True},
        "occurred_at": {"data_type": "DATETIME", "event_time": True},
        "points": {"data_type": "NUMBER"},
        "tiers": {"data_type": "MULTI_STRING"},
        "opted_in": {"data_type": "BOOLEAN"},
        "category": {"data_type": "GOOGLE_PRODUCT_CATEGORY"},
        "region": {"data_type": "STRING", "required": True},
    },
}
VALID = {"event_id": "e-1", "customer_id": "C42", "region": "EU"}
MONETATE_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


@pytest.fixture
def rules():
    return RowRules.from_schema(EVENT_SCHEMA)


def value_of(rules, field, value):
    row, rejections = rules.normalize(1, {**VALID, field: value})
    assert rejections == [], rejections
    return row.get(field, "<omitted>")


def reason_for(rules, field, value):
    row, rejections = rules.normalize(9, {**VALID, field: value})
    assert row is None
    (rejection,) = rejections
    assert (rejection.row_number, rejection.field) == (9, field)
    return rejection.reason


# --- schema ---------------------------------------------------------------------------


def test_schema_roles(rules):
    assert rules.identifier_field == "customer_id"
    assert rules.unique_key_field == "event_id"
    assert rules.has_unique_key


def test_schema_without_unique_key():
    rules = RowRules.from_schema({"type": "attribute", "fields": {"id": {"data_type": "STRING", "identifier": True}}})
    assert rules.unique_key_field is None
    assert not rules.has_unique_key


def test_privacy_dataset_with_empty_fields_implies_its_columns():
    rules = RowRules.from_schema({"name": "gdpr", "type": "customer_data_privacy", "fields": {}})
    assert rules.identifier_field == "customer_id"
    row, rejections = rules.normalize(1, {"customer_id": " C42 ", "delete_request_time": "2024-05-01T09:30:00Z"})
    assert rejections == []
    assert row == {"customer_id": "C42", "delete_request_time": "2024-05-01T09:30:00.000000Z"}
    row, rejections = rules.normalize(2, {"customer_id": "C43"})
    assert row is None
    assert rejections == [Rejection(2, "delete_request_time", "missing required field")]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"a": {"data_type": "TEXT"}}, "field 'a' has data_type 'TEXT'"),
        ({"a": {}}, "field 'a' has data_type None"),
        (
            {"a": {"data_type": "STRING", "identifier": True}, "b": {"data_type": "STRING", "identifier": True}},
            "at most one identifier",
        ),
    ],
)
def test_invalid_schemas(fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        RowRules.from_schema({"type": "attribute", "fields": fields})


def test_invalid_unknown_fields_option():
    with pytest.raises(ValueError, match="unknown_fields"):
        RowRules.from_schema(EVENT_SCHEMA, unknown_fields="keep")


def test_data_type_is_case_insensitive():
    rules = RowRules({"n": {"data_type": "number"}})
    assert rules.normalize(1, {"n": "7"}) == ({"n": 7}, [])


# --- a valid row ----------------------------------------------------------------------


def test_valid_row_is_normalised(rules):
    row, rejections = rules.normalize(
        5,
        {
            "event_id": " e-1 ",
            "customer_id": 42,
            "occurred_at": "2024-05-01T14:00:00+02:00",
            "points": "25",
            "tiers": ["gold", "vip"],
            "opted_in": "TRUE",
            "category": 166,
            "region": "EU",
        },
    )
    assert rejections == []
    assert row == {
        "event_id": "e-1",
        "customer_id": "42",
        "occurred_at": "2024-05-01T12:00:00.000000Z",
        "points": 25,
        "tiers": "gold,vip",
        "opted_in": True,
        "category": "166",
        "region": "EU",
    }


def test_none_and_missing_optional_fields_are_omitted(rules):
    row, rejections = rules.normalize(1, {**VALID, "points": None, "tiers": [], "opted_in": "  "})
    assert rejections == []
    assert row == {"event_id": "e-1", "customer_id": "C42", "region": "EU"}


# --- STRING / GOOGLE_PRODUCT_CATEGORY ---------------------------------------------------


@pytest.mark.parametrize("field", ["region", "category"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [("  gold \n", "gold"), (7, "7"), (2.5, "2.5"), (Decimal("10.10"), "10.10"), ("   ", "<omitted>")],
)
def test_string_values(field, value, expected):
    rules = RowRules.from_schema(EVENT_SCHEMA)
    if expected == "<omitted>" and field == "region":
        assert reason_for(rules, field, value) == "missing required field"
    else:
        assert value_of(rules, field, value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (True, "expected a string, got bool"),
        ({"k": "v"}, "expected a string, got dict"),
        (["a"], "expected a string, got list"),
        (float("nan"), "expected a string, got float"),
    ],
)
def test_string_rejections(rules, value, reason):
    assert reason_for(rules, "category", value) == reason


# --- MULTI_STRING ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["gold", "vip"], "gold,vip"),
        (("gold", " vip "), "gold,vip"),
        (['15" screen', "Sale"], '15" screen,Sale'),  # a quote inside an item is read alike by every server
        (["gold", "", None, "  ", 3], "gold,3"),
        (" gold,vip ", "gold,vip"),
        ([], "<omitted>"),
        ([""], "<omitted>"),
    ],
)
def test_multi_string_values(rules, value, expected):
    assert value_of(rules, "tiers", value) == expected


def test_multi_string_rejections(rules):
    assert reason_for(rules, "tiers", ["gold", {"x": 1}]) == "item 2: expected a string, got dict"
    assert reason_for(rules, "tiers", 5) == "expected a list of strings or a comma-separated string, got int"


# A comma inside an item, a leading quote or a trailing backslash: Monetate's servers may read
# them as the catalog's quoting, as backslash escaping, or not at all (emulator reading
# monetate.multi_string_commas). By default such a value is a rejection, never a guess.
_CHOOSE = "choose multi_string_commas='quote' or 'backslash' for the way your Monetate account splits it"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (["gold", "Clothing, Women"], f"item 2 contains a comma, which Monetate may read as a separator: {_CHOOSE}"),
        (['"Sale"', "gold"], f"item 1 starts with a double quote, which Monetate may read as quoting: {_CHOOSE}"),
        (["gold", "a\\"], f"item 2 ends with a backslash, which Monetate may read as escaping the next comma: "
                          f"{_CHOOSE}"),
        ("gold,a\\,b", f"item 2 ends with a backslash, which Monetate may read as escaping the next comma: "
                       f"{_CHOOSE}"),
        ('"Clothing, Women",Sale', f"item 1 starts with a double quote, which Monetate may read as quoting: "
                                   f"{_CHOOSE}"),
    ],
)
def test_a_multi_string_item_each_server_may_split_differently_is_rejected_by_default(rules, value, reason):
    assert reason_for(rules, "tiers", value) == reason


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("quote", ["Clothing, Women", "Sale"], '"Clothing, Women",Sale'),
        ("quote", ['15" screen', '"Sale"', "a\\"], '"15"" screen","""Sale""",a\\'),
        ("quote", ["gold", "vip"], "gold,vip"),
        ("quote", '"Clothing, Women",Sale', '"Clothing, Women",Sale'),  # a string is already in the form chosen
        ("backslash", ["Clothing, Women", "Sale"], "Clothing\\, Women,Sale"),
        ("backslash", ['"Sale"', "gold"], '"Sale",gold'),
        ("backslash", " Clothing\\, Women,Sale ", "Clothing\\, Women,Sale"),
    ],
)
def test_multi_string_commas_encodes_items_the_way_the_task_chose(option, value, expected):
    rules = RowRules.from_schema(EVENT_SCHEMA, multi_string_commas=option)
    assert value_of(rules, "tiers", value) == expected


def test_backslash_escaping_cannot_carry_an_item_ending_with_a_backslash():
    rules = RowRules.from_schema(EVENT_SCHEMA, multi_string_commas="backslash")
    assert reason_for(rules, "tiers", ["a\\", "b"]) == (
        "item 1 ends with a backslash, which backslash escaping would read as escaping the next comma: "
        "choose multi_string_commas='quote', or remove the backslash")


def test_an_unknown_multi_string_commas_option_is_refused():
    with pytest.raises(ValueError, match=r"multi_string_commas must be 'reject', 'quote' or 'backslash', got 'csv'"):
        RowRules.from_schema(EVENT_SCHEMA, multi_string_commas="csv")


@pytest.mark.parametrize("option", ["reject", "backslash"])
def test_multi_string_reasons_never_contain_the_value(option):
    rules = RowRules.from_schema(EVENT_SCHEMA, multi_string_commas=option)
    _, rejections = rules.normalize(1, {**VALID, "tiers": ["jane, doe@example.com\\", "x"]})
    (rejection,) = rejections
    assert rejection.field == "tiers" and "jane" not in rejection.reason and "example" not in rejection.reason


# --- NUMBER ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3),
        (-2.5, -2.5),
        (Decimal("4"), 4),
        (Decimal("4.25"), 4.25),
        (Decimal("1E+2"), 100),
        ("42", 42),
        (" -7 ", -7),
        ("+3.5", 3.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("10.", 10.0),
        ("", "<omitted>"),
    ],
)
def test_number_values(rules, value, expected):
    result = value_of(rules, "points", value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (True, "expected a number, got bool"),
        (float("nan"), "expected a finite number, got NaN or infinity"),
        (float("-inf"), "expected a finite number, got NaN or infinity"),
        (Decimal("NaN"), "expected a finite number, got NaN or infinity"),
        ("nan", "expected a number, got str with pattern 'aaa'"),
        ("1e999", "expected a number, got str with pattern '9a999'"),
        ("1_000", "expected a number, got str with pattern '9_999'"),
        ("1,234.50", "expected a number, got str with pattern '9,999.99'"),
        ([1], "expected a number, got list"),
    ],
)
def test_number_rejections(rules, value, reason):
    assert reason_for(rules, "points", value) == reason


# --- BOOLEAN --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        (" False ", False),
        ("1", True),
        ("0", False),
        (1, True),
        (0, False),
    ],
)
def test_boolean_values(rules, value, expected):
    assert value_of(rules, "opted_in", value) is expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("yes", "expected a boolean (true/false or 1/0), got str with pattern 'aaa'"),
        (2, "expected a boolean (true/false or 1/0), got int"),
        (1.0, "expected a boolean (true/false or 1/0), got float"),
    ],
)
def test_boolean_rejections(rules, value, reason):
    assert reason_for(rules, "opted_in", value) == reason


# --- DATETIME -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000000Z"),
        ("2024-05-01T12:00:00.000145Z", "2024-05-01T12:00:00.000145Z"),
        ("2024-05-01T12:00:00.5+00:00", "2024-05-01T12:00:00.500000Z"),
        ("2024-05-01T00:30:00+02:00", "2024-04-30T22:30:00.000000Z"),
        ("2024-05-01T12:00:00-0530", "2024-05-01T17:30:00.000000Z"),
        ("2024-05-01 12:00:00", "2024-05-01T12:00:00.000000Z"),  # naive = UTC
        ("2024-05-01T12:00", "2024-05-01T12:00:00.000000Z"),
        (" 2024-05-01 ", "2024-05-01T00:00:00.000000Z"),
        ("20240501T120000Z", "2024-05-01T12:00:00.000000Z"),
        ("2024-05-01T12:00:00.123456789Z", "2024-05-01T12:00:00.123456Z"),
        ("2024-12-31T23:59:59.999999-01:00", "2025-01-01T00:59:59.999999Z"),
        (datetime(2024, 5, 1, 12, 0, 0, 7), "2024-05-01T12:00:00.000007Z"),
        (datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=-4))), "2024-05-01T16:00:00.000000Z"),
        (pendulum.datetime(2024, 5, 1, 12, tz="Europe/Paris"), "2024-05-01T10:00:00.000000Z"),
        (date(2024, 5, 1), "2024-05-01T00:00:00.000000Z"),
        (pendulum.date(2024, 5, 1), "2024-05-01T00:00:00.000000Z"),
    ],
)
def test_datetime_values(rules, value, expected):
    assert value_of(rules, "occurred_at", value) == expected
    assert to_utc_iso(value) == expected


def test_datetime_24_00_rolled_over_by_the_parser_is_not_sliced():
    # Newer Pythons may read "24:00" as the next midnight; the output must follow the parser.
    with mock.patch.object(monetate_rows, "parse_iso_datetime", return_value=datetime(2024, 5, 2)):
        assert to_utc_iso("2024-05-01T24:00:00") == "2024-05-02T00:00:00.000000Z"


def test_datetime_empty_string_is_omitted(rules):
    assert value_of(rules, "occurred_at", "  ") == "<omitted>"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (1714564800, "expected an ISO-8601 datetime, got int"),
        (1714564800.5, "expected an ISO-8601 datetime, got float"),
        (True, "expected an ISO-8601 datetime, got bool"),
        ("05/01/2024", "expected an ISO-8601 datetime, got str with pattern '99/99/9999'"),
        ("now", "expected an ISO-8601 datetime, got str with pattern 'aaa'"),
        ("12:00", "expected an ISO-8601 datetime, got str with pattern '99:99'"),
        ("2024-02-30T00:00:00Z", "expected an ISO-8601 datetime, got str with pattern '9999-99-99a99:99:99a'"),
        ("2024-05-01T24:00:00Z", "expected an ISO-8601 datetime, got str with pattern '9999-99-99a99:99:99a'"),
        (
            "0001-01-01T00:00:00+01:00",
            "expected an ISO-8601 datetime, got str with pattern '9999-99-99a99:99:99+99:99'",
        ),
    ],
)
def test_datetime_rejections(rules, value, reason):
    assert reason_for(rules, "occurred_at", value) == reason


def test_long_bad_values_are_cut_in_the_reason(rules):
    reason = reason_for(rules, "occurred_at", "x" * 500)
    assert reason.endswith("...'")
    assert len(reason) < 100


def test_to_utc_iso_errors():
    with pytest.raises(TypeError, match="got int"):
        to_utc_iso(1714564800)
    with pytest.raises(ValueError, match="pattern 'aaaaaaaaa'"):
        to_utc_iso("yesterday")


aware_datetimes = st.datetimes(
    min_value=datetime(1900, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.timezones() | st.builds(timezone, st.integers(-23 * 60, 23 * 60).map(lambda m: timedelta(minutes=m))),
)


@given(aware_datetimes)
def test_to_utc_iso_is_the_same_instant_in_monetate_format(moment):
    text = to_utc_iso(moment)
    assert MONETATE_DATETIME.fullmatch(text)
    # Subtraction, not ==: aware datetimes in a DST gap never compare equal across zones.
    assert datetime.fromisoformat(text.replace("Z", "+00:00")) - moment == timedelta(0)
    assert text == moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@given(aware_datetimes, st.sampled_from(["T", " "]), st.booleans())
def test_string_and_object_forms_agree(moment, separator, use_z):
    text = moment.isoformat(sep=separator)
    if use_z and moment.utcoffset() == timedelta(0):
        text = text.replace("+00:00", "Z")
    assert to_utc_iso(text) == to_utc_iso(moment)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9999, 12, 31)))
def test_naive_values_are_taken_as_utc(moment):
    expected = moment.replace(tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert to_utc_iso(moment) == to_utc_iso(moment.isoformat()) == expected


# --- required fields ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["<absent>", None, "", "   "])
def test_missing_identifier_unique_key_and_required_fields(rules, value):
    row = {"event_id": value, "customer_id": value, "region": value}
    row = {k: v for k, v in row.items() if v != "<absent>"}
    result, rejections = rules.normalize(3, row)
    assert result is None
    assert sorted(rejections, key=lambda r: r.field) == [
        Rejection(3, "customer_id", "missing required identifier"),
        Rejection(3, "event_id", "missing required unique key"),
        Rejection(3, "region", "missing required field"),
    ]


def test_invalid_identifier_is_reported_once(rules):
    _, rejections = rules.normalize(1, {**VALID, "customer_id": {"id": 1}})
    assert rejections == [Rejection(1, "customer_id", "expected a string, got dict")]


def test_every_problem_of_a_row_is_reported(rules):
    row, rejections = rules.normalize(1, {**VALID, "points": "many", "opted_in": "maybe", "extra": 1})
    assert row is None
    assert {r.field for r in rejections} == {"points", "opted_in", "extra"}


# --- unknown fields -------------------------------------------------------------------


def test_unknown_field_rejected_by_default(rules):
    assert reason_for(rules, "email", "a@b.c") == "unknown field (not in the dataset schema)"


def test_unknown_fields_dropped_and_counted():
    rules = RowRules.from_schema(EVENT_SCHEMA, unknown_fields="drop")
    for number in range(3):
        row, rejections = rules.normalize(number, {**VALID, "email": "a@b.c", "zip": None if number else "1"})
        assert rejections == []
        assert row == {"event_id": "e-1", "customer_id": "C42", "region": "EU"}
    assert rules.dropped_fields == {"email": 3, "zip": 3}


# --- privacy of reasons ---------------------------------------------------------------


@pytest.mark.parametrize("field", ["points", "opted_in", "occurred_at", "customer_id", "tiers"])
def test_reasons_never_contain_the_value(rules, field):
    secret = "jane.doe@example.com"
    value = [secret, {"x": secret}] if field == "tiers" else {"x": secret} if field == "customer_id" else secret
    _, rejections = rules.normalize(1, {**VALID, field: value})
    assert rejections
    for rejection in rejections:
        assert "jane" not in rejection.reason and "example" not in rejection.reason


def test_rejection_is_frozen():
    rejection = Rejection(1, "f", "r")
    with pytest.raises(dataclasses.FrozenInstanceError):
        rejection.reason = "other"  # type: ignore[misc]


# --- fast path ------------------------------------------------------------------------

_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.decimals(allow_nan=True),
    st.text(max_size=6), st.sampled_from(["", " x ", "C42", "true", "1", "2024-05-01T12:00:00Z",
                                          "2024-05-01 12:00:00.5+02:00", "2024-05-01T24:00:00Z", "12:00"]),
    st.datetimes(), aware_datetimes, st.lists(st.text(max_size=3), max_size=3),
)

_multi_string_values = st.one_of(
    st.text(alphabet=' ,"\\ab', max_size=6), st.lists(st.text(alphabet=' ,"\\ab', max_size=4), max_size=3),
)


@given(st.dictionaries(st.sampled_from([*EVENT_SCHEMA["fields"], "unknown"]), _values, max_size=4),
       st.sampled_from(["reject", "drop"]))
def test_fast_path_agrees_with_the_general_path(changes, unknown_fields):
    # normalize() takes common types through a per-field table and falls back to the general
    # path for anything else; both must give the same row and the same rejections.
    rules = RowRules.from_schema(EVENT_SCHEMA, unknown_fields=unknown_fields)
    row = {**VALID, **changes}
    assert rules.normalize(3, row) == rules._normalize_each(3, row)


@given(st.dictionaries(st.just("tiers"), _multi_string_values, max_size=1),
       st.sampled_from(["reject", "quote", "backslash"]))
def test_fast_path_agrees_with_the_general_path_for_every_multi_string_option(changes, option):
    rules = RowRules.from_schema(EVENT_SCHEMA, multi_string_commas=option)
    row = {**VALID, **changes}
    assert rules.normalize(3, row) == rules._normalize_each(3, row)


EDGE_VALUES = [
    None, True, False, 0, 1, -7, 2**70, 1.5, float("nan"), float("inf"), Decimal("2.50"), Decimal("NaN"), "", "  ",
    " x ", "C42", "true", "0", "12", "1e3", "2024-05-01T12:00:00Z", "2024-05-01T12:00:00.123Z",
    "2024-05-01 12:00:00+02:00", "2024-05-01T12:00:00-00:00", "20240501T120000Z", "2024-05-01T24:00:00Z",
    "2024-05-01", "12:00", datetime(2024, 5, 1, 12), datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2))),
    pendulum.datetime(2024, 5, 1, 12, tz="Europe/Paris"), date(2024, 5, 1), ["a", "b,c"], [], {"a": 1},
]


@pytest.mark.parametrize("field", [*EVENT_SCHEMA["fields"], "unknown"])
def test_fast_path_agrees_on_edge_values(field):
    rules = RowRules.from_schema(EVENT_SCHEMA)
    for value in EDGE_VALUES:
        row = {**VALID, field: value}
        assert rules.normalize(3, row) == rules._normalize_each(3, row), (field, value)


# --- trimmed spaces are counted, per field (issue 13, item 10) ----------------------------


def test_values_with_spaces_trimmed_are_counted_per_field(rules):
    rows = [
        {**VALID, "event_id": " e-1", "region": "EU ", "tiers": [" gold", "silver"], "category": "\tShoes"},
        {**VALID, "customer_id": "C1", "tiers": "a,b"},                 # nothing to trim
        {**VALID, "region": "EU", "category": "   "},                  # blank: left out, and counted
        {**VALID, "points": "  12 ", "opted_in": " true"},             # not STRING-like: not counted
    ]
    out = [rules.normalize(n, row)[0] for n, row in enumerate(rows, 1)]
    assert out[0]["event_id"] == "e-1" and out[0]["tiers"] == "gold,silver" and "category" not in out[2]
    assert rules.values_trimmed == {"event_id": 1, "region": 1, "tiers": 1, "category": 2}


def test_a_rejected_row_counts_no_trimmed_value(rules):
    assert rules.normalize(1, {**VALID, "event_id": " e-1 ", "points": "many"})[0] is None
    assert rules.normalize(2, {"event_id": " e-2", "customer_id": "C1"})[0] is None  # required region missing
    assert rules.values_trimmed == {}


@given(st.dictionaries(st.sampled_from([*EVENT_SCHEMA["fields"], "unknown"]), _values, max_size=4))
def test_fast_and_general_paths_count_trimming_alike(changes):
    fast, general = RowRules.from_schema(EVENT_SCHEMA), RowRules.from_schema(EVENT_SCHEMA)
    row = {**VALID, **changes}
    fast.normalize(3, row)
    general._normalize_each(3, row)
    assert fast.values_trimmed == general.values_trimmed
