from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_monetate.loading._batches import ENVELOPE_OVERHEAD, RowTooLargeError, encode_row, iter_batches


def numbered(rows, start=1):
    return list(enumerate(rows, start))


def test_encode_row_is_compact_utf8():
    assert encode_row({"name": "Zoë €", "n": [1, 2.5], "ok": True, "none": None}) == (
        '{"name":"Zoë €","n":[1,2.5],"ok":true,"none":null}'.encode()
    )


def test_batches_split_by_rows():
    rows = [{"i": i} for i in range(1234)]
    batches = list(iter_batches(numbered(rows), max_rows=500))
    assert [b.index for b in batches] == [0, 1, 2]
    assert [b.rows_count for b in batches] == [500, 500, 234]
    assert (batches[1].first_row, batches[1].last_row, batches[1].rows_count) == (501, 1000, 500)
    assert (batches[2].first_row, batches[2].last_row) == (1001, 1234)
    assert batches[1].describe() == "batch 1 (rows 501-1000)"


def test_single_row_batch_description():
    (batch,) = iter_batches([(42, {"a": 1})])
    assert batch.describe() == "batch 0 (row 42)"


def test_batches_keep_gaps_in_row_numbers():
    # Rejected rows leave gaps; messages must still name the right rows.
    (batch,) = iter_batches([(3, {"a": 1}), (7, {"a": 2}), (8, {"a": 3})])
    assert (batch.first_row, batch.last_row, batch.rows_count) == (3, 8, 3)
    assert batch.describe() == "batch 0 (rows 3-8)"


def test_batches_split_by_bytes_and_every_body_fits():
    rows = [{"id": i, "pad": "x" * (i % 97)} for i in range(2000)]
    max_bytes = 4096
    batches = list(iter_batches(numbered(rows), max_rows=10_000, max_bytes=max_bytes))
    assert len(batches) > 10
    sent = []
    for batch, following in zip(batches, [*batches[1:], None], strict=True):
        body = batch.body(extra={"_sent_time": "2024-05-01T12:06:00.000000Z"})
        assert len(body) <= len(batch.payload) + ENVELOPE_OVERHEAD <= max_bytes
        if following is not None:  # the batch closed only because the next row did not fit
            next_row = encode_row(rows[following.first_row - 1])
            assert len(batch.payload) + 1 + len(next_row) + ENVELOPE_OVERHEAD > max_bytes
        sent.extend(json.loads(body)["schema_rows"])
    assert sent == rows


def test_body_is_the_schema_rows_document():
    rows = [{"customer_id": "C1", "points": 3}, {"customer_id": "C2", "tags": "a\\,b,c", "name": "Zoë"}]
    (batch,) = iter_batches(numbered(rows))
    assert json.loads(batch.body()) == {"schema_rows": rows}
    assert json.loads(batch.body(extra={"_sent_time": "T"})) == {"schema_rows": rows, "_sent_time": "T"}
    assert json.loads(batch.body(key="customers")) == {"customers": rows}
    assert batch.body() == b'{"schema_rows":[' + b",".join(encode_row(r) for r in rows) + b"]}"


def test_a_group_too_large_for_one_request_is_cut_to_fit():
    rows = [{"id": i, "pad": "x" * 300} for i in range(500)]
    batches = list(iter_batches(numbered(rows), max_rows=500, max_bytes=20_000))
    assert len(batches) > 1 and [b.index for b in batches] == list(range(len(batches)))
    assert all(len(b.body()) <= 20_000 for b in batches)
    assert [r for b in batches for r in json.loads(b.body())["schema_rows"]] == rows


def test_body_refuses_extra_fields_that_clash_with_the_key():
    (batch,) = iter_batches([(1, {"a": 1})])
    with pytest.raises(ValueError, match="schema_rows"):
        batch.body(extra={"schema_rows": []})


def test_oversized_single_row_names_the_row():
    rows = [(1, {"a": "small"}), (2, {"a": "x" * 2000}), (3, {"a": "small"})]
    batches = iter_batches(rows, max_bytes=1000)
    with pytest.raises(RowTooLargeError) as info:
        list(batches)
    assert info.value.row_number == 2
    assert "row 2" in str(info.value) and "1000-byte" in str(info.value)


def test_row_that_fits_exactly_is_accepted():
    row = {"a": "x" * 100}
    size = len(encode_row(row)) + 50
    (batch,) = iter_batches([(1, row)], max_bytes=size, envelope_overhead=50)
    assert len(batch.payload) + 50 == size


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [1.0, float("-inf")], object()])
def test_unencodable_row_names_the_row(value):
    with pytest.raises(ValueError, match="row 2 cannot be encoded as JSON"):
        list(iter_batches([(1, {"a": 1}), (2, {"a": value})]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_rows": 0}, "max_rows"), ({"max_bytes": 100, "envelope_overhead": 100}, "max_bytes")],
)
def test_invalid_limits(kwargs, message):
    with pytest.raises(ValueError, match=message):
        list(iter_batches([(1, {"a": 1})], **kwargs))


def test_no_rows_no_batches():
    assert list(iter_batches([])) == []


def test_batches_are_stable_for_the_same_input_and_limits():
    rows = numbered([{"i": i, "s": "y" * (i % 13)} for i in range(777)])
    first = [(b.index, b.first_row, b.last_row, b.payload) for b in iter_batches(rows, max_rows=50, max_bytes=900)]
    again = [(b.index, b.first_row, b.last_row, b.payload) for b in iter_batches(rows, max_rows=50, max_bytes=900)]
    assert first == again


def test_batching_is_lazy():
    def rows():
        yield 1, {"a": 1}
        yield 2, {"a": 2}
        raise AssertionError("read past the first batch")

    first = next(iter_batches(rows(), max_rows=2))
    assert (first.first_row, first.last_row) == (1, 2)


row_values = st.none() | st.booleans() | st.integers() | st.text(max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.dictionaries(st.text(max_size=5), row_values, max_size=4), max_size=60),
    max_rows=st.integers(1, 20),
    max_bytes=st.integers(ENVELOPE_OVERHEAD + 1200, ENVELOPE_OVERHEAD + 4000),  # any one row fits
)
def test_batches_preserve_rows_and_respect_limits(rows, max_rows, max_bytes):
    batches = list(iter_batches(numbered(rows), max_rows=max_rows, max_bytes=max_bytes))
    assert [b.index for b in batches] == list(range(len(batches)))
    assert [(b.first_row, b.last_row) for b in batches] == [
        (sum(c.rows_count for c in batches[:i]) + 1, sum(c.rows_count for c in batches[: i + 1]))
        for i in range(len(batches))]
    assert [r for b in batches for r in json.loads(b.body())["schema_rows"]] == rows
    for batch in batches:
        assert 1 <= batch.rows_count <= max_rows
        assert len(batch.body()) <= len(batch.payload) + ENVELOPE_OVERHEAD <= max_bytes


# --- rows that can never be sent are rejections naming row and field (issue 13, item 10) ----


def test_an_integer_beyond_64_bits_is_encoded_exactly():
    (batch,) = iter_batches([(1, {"a": 2**70}), (2, {"a": -(2**80)})])
    assert batch.payload == b'{"a":1180591620717411303424},{"a":-1208925819614629174706176}'


def test_an_encoder_without_big_integers_falls_back_to_exact_json(monkeypatch):
    from airflow_provider_monetate.loading import _batches

    def refuse_big_ints(value):
        raise OverflowError("can't serialize ints < -2**63 or > 2**64 - 1")

    monkeypatch.setattr(_batches, "_msgspec_encode", refuse_big_ints)
    assert encode_row({"a": 2**70, "b": "Zoë"}) == '{"a":1180591620717411303424,"b":"Zoë"}'.encode()


@pytest.mark.parametrize(
    ("value", "reason"),
    [("x\ud800y", "lone surrogate"), (float("nan"), "NaN or infinity"), (object(), "object")],
)
def test_a_row_that_cannot_be_encoded_is_rejected_naming_row_and_field(value, reason):
    rejected = []
    rows = [(1, {"a": 1}), (2, {"a": 2, "bad": value}), (3, {"a": 3})]
    batches = list(iter_batches(rows, reject=rejected.extend))
    assert [(b.first_row, b.last_row, b.rows_count) for b in batches] == [(1, 3, 2)]
    assert batches[0].payload == b'{"a":1},{"a":3}'
    [rejection] = rejected
    assert (rejection.row_number, rejection.field) == (2, "bad") and reason in rejection.reason
    assert "\ud800" not in rejection.reason


def test_without_a_reject_callback_an_unencodable_row_names_row_and_field():
    with pytest.raises(ValueError, match=r"row 2 cannot be encoded as JSON: field 'bad': .*lone surrogate") as info:
        list(iter_batches([(1, {"a": 1}), (2, {"bad": "\udfff"})]))
    assert "\udfff" not in str(info.value)


def test_a_field_name_that_cannot_be_encoded_is_rejected_without_the_name():
    rejected = []
    assert list(iter_batches([(1, {"x\ud800": 1})], reject=rejected.extend)) == []
    [rejection] = rejected
    assert rejection.field is None and "field name" in rejection.reason


def test_a_row_too_large_for_any_request_is_rejected_with_its_size_and_the_limit():
    rejected = []
    rows = [(1, {"a": "small"}), (2, {"a": "x" * 2000}), (3, {"a": "small"})]
    batches = list(iter_batches(rows, max_bytes=1000, reject=rejected.extend))
    assert [b.rows_count for b in batches] == [2]
    [rejection] = rejected
    assert rejection.row_number == 2 and rejection.field is None
    assert "2264 bytes" in rejection.reason and "1000-byte request limit" in rejection.reason
    assert "max_batch_bytes" in rejection.reason


def test_on_batch_sees_exactly_the_rows_of_each_batch():
    seen = []
    rows = [(n, {"a": "x" * (300 if n == 4 else 10)}) for n in range(1, 9)]
    batches = list(iter_batches(rows, max_rows=5, max_bytes=600, reject=lambda r: None, on_batch=seen.append))
    assert [[n for n, _ in pairs] for pairs in seen] == [
        list(range(b.first_row, b.last_row + 1)) for b in batches]
    assert [len(pairs) for pairs in seen] == [b.rows_count for b in batches]


def test_rows_encoded_one_by_one_in_one_call_with_an_optional_prefix():
    from airflow_provider_monetate.loading._batches import encode_lines

    rows = [{"a": 1, "text": "two\nlines"}, {"b": [1, 2]}]
    assert encode_lines(rows) == [encode_row(row) for row in rows]
    assert encode_lines(rows, prefix=b"salt") == [b"salt" + encode_row(row) for row in rows]
    assert encode_lines([{"a": float("nan")}, {"b": 2}], prefix=b"s") == [b"s", b's{"b":2}']  # cannot be sent
    assert encode_lines([]) == []
