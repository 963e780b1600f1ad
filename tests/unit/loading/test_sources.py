from __future__ import annotations

import gzip
import hashlib
import io
import json
import pathlib
import tracemalloc
from collections import OrderedDict
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_monetate.exceptions import RecordSourceError
from airflow_provider_monetate.loading import _json_array as json_array
from airflow_provider_monetate.loading._sources import RecordSource


def iter_records(source, format=None):
    """``(row_number, record)`` pairs, as the loaders read them."""
    return RecordSource(source, format).iter()


class FakeStorage:
    """Stands in for ObjectStoragePath: ``protocol``, ``open(mode)``, ``name`` and ``str()``."""

    protocol = "s3"

    def __init__(self, url: str, data: bytes) -> None:
        self.url = url
        self.data = data
        self.opened = 0

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    def open(self, mode: str):
        assert mode == "rb"
        self.opened += 1
        return io.BytesIO(self.data)

    def __str__(self) -> str:
        return self.url


def write(tmp_path: pathlib.Path, name: str, data: bytes | str) -> pathlib.Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


RECORDS = [{"id": "a", "n": 1, "tags": ["x", "y"]}, {"id": "b", "n": 2.5, "nested": {"k": None}}, {"id": "é€"}]
NDJSON = "".join(json.dumps(r) + "\n" for r in RECORDS)
JSON_ARRAY = json.dumps(RECORDS, indent=2)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


# --- NDJSON ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["data.ndjson", "data.jsonl", "DATA.NDJSON", "data.jsonl.gz"])
def test_ndjson_rows_are_numbered_from_one(tmp_path, name):
    data = NDJSON.encode()
    if name.endswith(".gz"):
        data = gzip.compress(data)
    assert list(iter_records(write(tmp_path, name, data))) == list(enumerate(RECORDS, 1))


def test_ndjson_blank_lines_are_skipped_and_not_counted(tmp_path):
    path = write(tmp_path, "d.ndjson", '\n{"a": 1}\n\n   \r\n{"a": 2}\r\n\n')
    assert list(iter_records(path)) == [(1, {"a": 1}), (2, {"a": 2})]


def test_ndjson_last_line_without_newline(tmp_path):
    assert list(iter_records(write(tmp_path, "d.ndjson", '{"a": 1}\n{"a": 2}'))) == [(1, {"a": 1}), (2, {"a": 2})]


def test_ndjson_bom_and_surrounding_whitespace_are_accepted(tmp_path):
    path = write(tmp_path, "d.ndjson", '\ufeff{"a": 1}\n  \t{"a": 2}  \n'.encode())
    assert list(iter_records(path)) == [(1, {"a": 1}), (2, {"a": 2})]


@pytest.mark.parametrize("gz", [False, True])
def test_ndjson_rows_and_lines_are_numbered_alike_through_a_large_file(tmp_path, gz):
    lines = [json.dumps({"i": i, "pad": "x" * 40}) for i in range(30_000)]  # several read buffers
    lines[12_000:12_000] = ["", "   \r"]  # blank lines are not rows
    text = "\n".join(lines)  # and the last line has no newline
    data = gzip.compress(text.encode()) if gz else text.encode()
    rows = list(iter_records(write(tmp_path, "b.ndjson.gz" if gz else "b.ndjson", data)))
    assert len(rows) == 30_000 and all(number == record["i"] + 1 for number, record in rows)
    broken = text.replace('{"i": 20000,', '{"i": 20000', 1)
    with pytest.raises(RecordSourceError, match=r"row 20001: line 20003 is not valid JSON"):
        list(iter_records(write(tmp_path, "c.ndjson", broken)))
    spanning = '{"a":\n1} {"b": 2}\n'  # one object over two lines, then two on one: NDJSON has neither
    with pytest.raises(RecordSourceError, match=r"line 1 is not valid JSON"):
        list(iter_records(write(tmp_path, "d.ndjson", spanning)))


def test_ndjson_data_after_the_object_is_an_error(tmp_path):
    with pytest.raises(RecordSourceError, match=r"row 1: line 1 is not valid JSON \(Extra data"):
        list(iter_records(write(tmp_path, "d.ndjson", '{"a": 1} {"b": 2}\n')))


@settings(max_examples=200, deadline=None)
@given(
    records=st.lists(st.dictionaries(st.text(max_size=10), json_values, max_size=5), max_size=10),
    ensure_ascii=st.booleans(),
    padding=st.sampled_from(["", " ", "\t ", "\r"]),
)
def test_ndjson_round_trips(records, ensure_ascii, padding):
    data = "".join(padding + json.dumps(r, ensure_ascii=ensure_ascii) + padding + "\n" for r in records)
    assert list(iter_records(FakeStorage("mem://r.ndjson", data.encode()))) == list(enumerate(records, 1))


def test_ndjson_malformed_line_names_row_and_line_but_not_content(tmp_path):
    path = write(tmp_path, "d.ndjson", '{"a": 1}\n\n{"email": "secret@example.com", oops}\n{"a": 3}\n')
    with pytest.raises(RecordSourceError) as info:
        list(iter_records(path))
    error = info.value
    assert error.row_number == 2
    assert str(path) in error.source
    assert "row 2" in str(error) and "line 3" in str(error)
    assert "secret" not in str(error)


def test_ndjson_non_object_line_is_an_error_naming_the_row(tmp_path):
    path = write(tmp_path, "d.ndjson", '{"a": 1}\n[1, 2]\n')
    with pytest.raises(RecordSourceError, match=r"row 2: line 2 is a JSON array, expected an object"):
        list(iter_records(path))


def test_ndjson_invalid_utf8_names_the_row(tmp_path):
    path = write(tmp_path, "d.ndjson", b'{"a": 1}\n{"a": "\xff"}\n')
    with pytest.raises(RecordSourceError) as info:
        list(iter_records(path))
    assert info.value.row_number == 2


def test_ndjson_rows_before_an_error_are_delivered(tmp_path):
    path = write(tmp_path, "d.ndjson", '{"a": 1}\nnot json\n')
    rows = iter_records(path)
    assert next(rows) == (1, {"a": 1})
    with pytest.raises(RecordSourceError):
        next(rows)


# --- CSV ------------------------------------------------------------------------------


def test_csv_values_are_strings_and_empty_cells_none(tmp_path):
    path = write(tmp_path, "d.csv", 'id,name,points\r\n1,"Doe, Jane",\r\n2,"multi\nline",7\r\n')
    assert list(iter_records(path)) == [
        (1, {"id": "1", "name": "Doe, Jane", "points": None}),
        (2, {"id": "2", "name": "multi\nline", "points": "7"}),
    ]


def test_csv_header_is_not_a_row_blank_lines_skipped_and_bom_removed(tmp_path):
    path = write(tmp_path, "d.csv", "\ufeffid,v\n\na,1\n\nb,2\n".encode())
    assert list(iter_records(path)) == [(1, {"id": "a", "v": "1"}), (2, {"id": "b", "v": "2"})]


def test_csv_empty_file_and_header_only_have_no_rows(tmp_path):
    assert list(iter_records(write(tmp_path, "e.csv", ""))) == []
    assert list(iter_records(write(tmp_path, "h.csv", "id,v\n"))) == []


@pytest.mark.parametrize("line", ["a,1,extra", "a"])
def test_csv_ragged_row_names_the_row(tmp_path, line):
    path = write(tmp_path, "d.csv", f"id,v\nok,1\n{line}\n")
    with pytest.raises(RecordSourceError, match=r"row 2: has \d cells but the header has 2 columns") as info:
        list(iter_records(path))
    assert info.value.row_number == 2


def test_csv_duplicate_header_is_an_error(tmp_path):
    with pytest.raises(RecordSourceError, match="duplicate column"):
        list(iter_records(write(tmp_path, "d.csv", "id,id\n1,2\n")))


def test_csv_invalid_utf8_is_a_record_source_error(tmp_path):
    with pytest.raises(RecordSourceError, match="not valid UTF-8"):
        list(iter_records(write(tmp_path, "d.csv", b"id\nok\nbad\xff\n")))


def test_csv_gzip(tmp_path):
    path = write(tmp_path, "d.csv.gz", gzip.compress(b"id,v\na,1\n"))
    assert list(iter_records(path)) == [(1, {"id": "a", "v": "1"})]


# --- JSON array -----------------------------------------------------------------------


def test_json_array(tmp_path):
    assert list(iter_records(write(tmp_path, "d.json", JSON_ARRAY))) == list(enumerate(RECORDS, 1))


@pytest.mark.parametrize("text", ["[]", "  [ ]  \n", "\ufeff[]"])
def test_json_empty_array(tmp_path, text):
    assert list(iter_records(write(tmp_path, "d.json", text.encode()))) == []


def test_json_array_gzip(tmp_path):
    path = write(tmp_path, "d.json.gz", gzip.compress(JSON_ARRAY.encode()))
    assert list(iter_records(path)) == list(enumerate(RECORDS, 1))


@pytest.mark.parametrize(
    ("text", "row_number", "message"),
    [
        ('{"a": 1}', None, "expected a JSON array"),
        ('[{"a": 1}, 5]', 2, "row 2: is a JSON number, expected an object"),
        ('[{"a": 1}, {"a": oops}]', 2, "row 2: is not valid JSON"),
        ('[{"a": 1} {"a": 2}]', 1, "row 1: expected ',' or ']'"),
        ('[{"a": 1},]', 2, "row 2: is not valid JSON"),
        ('[{"a": 1}, {"a": 2}', 2, "row 2: the array is not closed"),
        ('[{"a": 1}, {"a": ', 2, "row 2: is not valid JSON"),
        ('[{"a": 1}] [', None, "unexpected data after the closing ']'"),
    ],
)
def test_json_array_errors_name_the_row(tmp_path, text, row_number, message):
    with pytest.raises(RecordSourceError) as info:
        list(iter_records(write(tmp_path, "d.json", text)))
    assert info.value.row_number == row_number
    assert message in str(info.value)


@settings(max_examples=300, deadline=None)
@given(
    records=st.lists(st.dictionaries(st.text(max_size=10), json_values, max_size=5), max_size=12),
    chunk=st.integers(1, 120),
    indent=st.sampled_from([None, 0, 2]),
    ensure_ascii=st.booleans(),
)
def test_json_array_round_trips_whatever_the_chunk_boundaries(records, chunk, indent, ensure_ascii):
    data = json.dumps(records, indent=indent, ensure_ascii=ensure_ascii).encode()
    source = FakeStorage("mem://bucket/records.json", data)
    with mock.patch.object(json_array, "_TEXT_CHUNK", chunk):
        assert list(iter_records(source)) == list(enumerate(records, 1))


def test_json_array_element_size_is_capped(tmp_path):
    # An unclosed string would otherwise pull the rest of the file into memory.
    path = write(tmp_path, "d.json", '[{"a": 1}, {"a": "unclosed' + " padding" * 2000 + "}]")
    with (
        mock.patch.object(json_array, "_MAX_ELEMENT_CHARS", 4096),
        mock.patch.object(json_array, "_TEXT_CHUNK", 512),
        pytest.raises(RecordSourceError, match="row 2: element is larger than"),
    ):
        list(iter_records(path))


def test_json_array_with_big_element_is_read_whole(tmp_path):
    records = [{"id": 1}, {"blob": "x" * 300_000, "more": list(range(1000))}, {"id": 3}]
    with mock.patch.object(json_array, "_TEXT_CHUNK", 1024):
        assert list(iter_records(write(tmp_path, "d.json", json.dumps(records)))) == list(enumerate(records, 1))


def test_json_array_malformed_early_fails_without_reading_the_rest(tmp_path):
    path = tmp_path / "d.json"
    with path.open("w") as f:
        f.write('[{"a": 1}, {"a": nope}')
        for i in range(100_000):
            f.write(f', {{"id": {i}, "pad": "{"p" * 100}"}}')
        f.write("]")
    tracemalloc.start()
    try:
        with pytest.raises(RecordSourceError) as info:
            list(iter_records(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.row_number == 2
    assert peak < path.stat().st_size / 4


# --- gzip, formats and source kinds ---------------------------------------------------


def test_gzip_is_detected_from_magic_bytes_without_gz_suffix(tmp_path):
    path = write(tmp_path, "d.ndjson", gzip.compress(NDJSON.encode()))
    assert [r for _, r in iter_records(path)] == RECORDS


def test_gz_suffix_on_plain_content_still_reads(tmp_path):
    assert [r for _, r in iter_records(write(tmp_path, "d.ndjson.gz", NDJSON))] == RECORDS


def test_truncated_gzip_is_a_record_source_error(tmp_path):
    data = gzip.compress(NDJSON.encode() * 50)
    with pytest.raises(RecordSourceError, match="gzip"):
        list(iter_records(write(tmp_path, "d.ndjson.gz", data[: len(data) // 2])))


def test_format_overrides_the_suffix(tmp_path):
    path = write(tmp_path, "export.txt", "id\n7\n")
    assert list(iter_records(path, format="csv")) == [(1, {"id": "7"})]
    assert list(iter_records(write(tmp_path, "x.json", NDJSON), format="jsonl")) == list(enumerate(RECORDS, 1))


def test_unknown_suffix_names_the_path_and_the_formats(tmp_path):
    path = write(tmp_path, "export.parquet", b"")
    with pytest.raises(ValueError) as info:
        RecordSource(path)
    assert str(path) in str(info.value)
    for accepted in (".ndjson", ".jsonl", ".csv", ".json", "format="):
        assert accepted in str(info.value)


def test_unknown_format_name_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unknown record format 'xml'"):
        RecordSource(tmp_path / "x.csv", format="xml")


def test_storage_object_is_read_through_open(tmp_path):
    storage = FakeStorage("s3://bucket/exports/day.ndjson.gz", gzip.compress(NDJSON.encode()))
    source = RecordSource(storage)
    assert source.describe() == "ndjson file s3://bucket/exports/day.ndjson.gz"
    assert source.rereadable
    assert [r for _, r in source.iter()] == [r for _, r in source.iter()] == RECORDS
    assert storage.opened == 2


def test_real_object_storage_path(tmp_path):
    compat = pytest.importorskip("airflow_provider_monetate._compat")
    write(tmp_path, "day.csv", "id\n1\n")
    path = compat.ObjectStoragePath(f"file://{tmp_path}/day.csv")
    assert list(iter_records(path)) == [(1, {"id": "1"})]
    assert RecordSource(path).fingerprint() == hashlib.sha256(b"id\n1\n").hexdigest()


def test_string_and_pathlike_paths(tmp_path):
    path = write(tmp_path, "d.ndjson", NDJSON)
    assert list(iter_records(str(path))) == list(iter_records(path))


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(iter_records(tmp_path / "absent.ndjson"))


# --- iterables ------------------------------------------------------------------------


def test_list_is_numbered_by_position_and_rereadable():
    source = RecordSource(RECORDS)
    assert source.rereadable
    assert list(source.iter()) == list(source.iter()) == list(enumerate(RECORDS, 1))
    assert source.describe() == "list of 3 records"


def test_generator_is_one_shot():
    source = RecordSource(r for r in RECORDS)
    assert not source.rereadable
    assert "one-shot" in source.describe()
    assert [r for _, r in source.iter()] == RECORDS
    with pytest.raises(RecordSourceError, match="only once"):
        source.iter()


def test_mappings_are_converted_and_non_dicts_name_the_row():
    assert list(iter_records([OrderedDict(a=1)])) == [(1, {"a": 1})]
    with pytest.raises(RecordSourceError, match=r"row 2: is a str, expected a dict"):
        list(iter_records([{"a": 1}, "oops"]))


@pytest.mark.parametrize("bad", [b"bytes", {"a": 1}, 42])
def test_unsupported_sources_are_type_errors(bad):
    with pytest.raises(TypeError):
        RecordSource(bad)


# --- fingerprints ---------------------------------------------------------------------


def test_file_fingerprint_is_sha256_of_the_stored_bytes(tmp_path):
    data = gzip.compress(NDJSON.encode())
    path = write(tmp_path, "d.ndjson.gz", data)
    assert RecordSource(path).fingerprint() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("d.ndjson", NDJSON.encode()),
        ("d.ndjson.gz", gzip.compress(NDJSON.encode())),
        ("d.json", JSON_ARRAY.encode() + b"\n\n   "),
        ("d.csv", b"id,v\na,1\n\n"),
    ],
)
def test_hash_into_during_the_read_equals_the_fingerprint(tmp_path, name, data):
    source = RecordSource(write(tmp_path, name, data))
    digest = hashlib.sha256()
    for _ in source.iter(hash_into=digest):
        pass
    assert digest.hexdigest() == source.fingerprint()


def test_fingerprint_changes_with_the_content(tmp_path):
    path = write(tmp_path, "d.ndjson", NDJSON)
    before = RecordSource(path).fingerprint()
    assert RecordSource(path).fingerprint() == before
    write(tmp_path, "d.ndjson", NDJSON + '{"id": "c"}\n')
    assert RecordSource(path).fingerprint() != before


def test_list_fingerprint_is_canonical_and_hash_into_matches():
    assert RecordSource([{"a": 1, "b": 2}]).fingerprint() == RecordSource([{"b": 2, "a": 1}]).fingerprint()
    assert RecordSource([{"a": 1}]).fingerprint() != RecordSource([{"a": 2}]).fingerprint()
    digest = hashlib.sha256()
    one_shot = RecordSource(iter([{"b": 2, "a": 1}]))
    list(one_shot.iter(hash_into=digest))
    assert digest.hexdigest() == RecordSource([{"a": 1, "b": 2}]).fingerprint()


@pytest.mark.parametrize(("one", "other"), [
    ([{"a": float("nan")}], [{"a": None}]),  # a changed value, not a changed spelling
    ([{"a": {"x": 1, "y": 2}}], [{"a": {"x": 1, "y": 3}}]),
    ([{"a": "1"}], [{"a": 1}]),
    ([{"a": 1}, {"b": 2}], [{"a": 1, "b": 2}]),  # record boundaries count
])
def test_list_fingerprint_tells_different_records_apart(one, other):
    assert RecordSource(one).fingerprint() != RecordSource(other).fingerprint()


def test_list_fingerprint_ignores_nested_key_order():
    nested_orders = RecordSource([{"a": {"x": 1, "y": 2}}]), RecordSource([{"a": {"y": 2, "x": 1}}])
    assert nested_orders[0].fingerprint() == nested_orders[1].fingerprint()


def test_one_shot_fingerprint_is_refused():
    with pytest.raises(ValueError, match="hash_into"):
        RecordSource(iter(RECORDS)).fingerprint()


# --- scale ----------------------------------------------------------------------------


def _big_file(tmp_path: pathlib.Path, name: str, rows: int) -> pathlib.Path:
    path = tmp_path / name
    line = '{{"customer_id": "C{0}", "event_id": "e-{0}", "occurred_at": "2024-05-01T12:00:00Z", "points": {0}}}'
    with path.open("w") as f:
        if name.endswith(".json"):
            f.write("[" + ",\n".join(line.format(i) for i in range(rows)) + "]")
        else:
            f.writelines(line.format(i) + "\n" for i in range(rows))
    return path


@pytest.mark.parametrize("name", ["big.ndjson", "big.json"])
def test_memory_does_not_grow_with_file_size(tmp_path, name):
    path = _big_file(tmp_path, name, 200_000)
    tracemalloc.start()
    try:
        count = 0
        for row_number, record in iter_records(path):
            count += 1
            assert record["points"] == row_number - 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000
    size = path.stat().st_size
    assert size > 15_000_000
    assert peak < size / 5, f"peak {peak} bytes for a {size}-byte file"


# --- empty inputs, wide CSV cells, values the fingerprint must take (issue 13, item 10) -----


@pytest.mark.parametrize("name", ["e.ndjson", "e.csv", "e.json", "e.json.gz", "e.csv.gz"])
@pytest.mark.parametrize("text", ["", " \n\t\r\n"])
def test_an_empty_file_is_zero_rows_in_every_format(tmp_path, name, text):
    data = gzip.compress(text.encode()) if name.endswith(".gz") else text.encode()
    assert list(iter_records(write(tmp_path, name, data))) == []


def test_csv_cells_up_to_the_request_limit_are_read(tmp_path):
    wide = "x" * 300_000  # above the csv module's default limit of 128 KiB
    path = write(tmp_path, "wide.csv", f"id,note\na,{wide}\nb,short\n")
    assert [r["note"] for _, r in RecordSource(path).iter(max_cell_chars=500_000)] == [wide, "short"]
    assert [r["note"] for _, r in RecordSource(path).iter()] == [wide, "short"]  # default: 5 MB requests


def test_a_csv_cell_larger_than_the_request_limit_names_the_row_and_the_limit(tmp_path):
    # The csv module's limit is process-wide and only ever raised; start this test from a low one.
    import csv

    previous = csv.field_size_limit(1_000)
    try:
        path = write(tmp_path, "wide.csv", "id,note\na,ok\nb," + "x" * 2_000 + "\n")
        with pytest.raises(RecordSourceError, match=r"row 2: a cell is larger than 1000 characters") as info:
            list(RecordSource(path).iter(max_cell_chars=1_000))
        assert "max_batch_bytes" in str(info.value) and "xxx" not in str(info.value)
    finally:
        csv.field_size_limit(previous)


@pytest.mark.parametrize("value", [2**70, -(2**64), "x\ud800y", {"n": [2**100, "\udfff"]}])
def test_in_memory_records_with_big_integers_or_lone_surrogates_are_read_and_fingerprinted(value):
    records = [{"id": 1}, {"id": 2, "v": value}]
    assert [r for _, r in RecordSource(records).iter()] == records
    fingerprint = RecordSource(records).fingerprint()
    assert fingerprint != RecordSource([{"id": 1}, {"id": 2, "v": repr(value)}]).fingerprint()
    digest = hashlib.sha256()
    list(RecordSource(iter(records)).iter(hash_into=digest))
    assert digest.hexdigest() == fingerprint
