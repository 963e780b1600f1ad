"""MonetateCreateDatasetOperator and MonetatePostRecordsOperator against the emulator."""

from __future__ import annotations

import gzip
import json
from types import SimpleNamespace

import pytest

from airflow_provider_monetate.exceptions import (
    ApiUnavailableError,
    ConfigurationError,
    DuplicateKeyError,
    EmptyInputError,
    TooManyRejectedRowsError,
)
from airflow_provider_monetate.hooks.monetate import MonetateHook
from airflow_provider_monetate.loading._delivery import BatchesInDoubtError
from airflow_provider_monetate.operators.monetate import (
    DatasetConflictError,
    MonetateCreateDatasetOperator,
    MonetatePostRecordsOperator,
)
from airflow_provider_monetate.testing.monetate.schema import multi_string_values
from airflow_provider_monetate.testing.readings import readings_of

pytestmark = pytest.mark.integration

FIELDS = {
    "event_id": {"data_type": "STRING", "unique_key": True},
    "customer_id": {"data_type": "STRING", "identifier": True},
    "occurred_at": {"data_type": "DATETIME", "event_time": True},
    "points": {"data_type": "NUMBER"},
}
APPEND_FIELDS = {k: {kk: vv for kk, vv in v.items() if kk != "unique_key"} for k, v in FIELDS.items()}



@pytest.fixture(autouse=True)
def setup(emulator, monkeypatch, tmp_path, fast_retries):
    monkeypatch.setenv("AIRFLOW_CONN_MONETATE_DEFAULT", emulator.monetate_conn_json())
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    fast_retries()


def context(run_id="run-1", try_number=1):
    ti = SimpleNamespace(dag_id="load_dag", run_id=run_id, task_id="post", map_index=-1, try_number=try_number)
    return {"ti": ti}


def create(name="events", fields=FIELDS, type="event", **options):
    return MonetateCreateDatasetOperator(task_id="create", name=name, type=type, fields=fields, **options
                                         ).execute(context())


def rows(n, start=0):
    return [{"event_id": f"e-{i}", "customer_id": f"C{i % 97}", "occurred_at": "2024-05-01T12:00:00Z", "points": i}
            for i in range(start, start + n)]


def write_ndjson(path, records, gz=False):
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def post(**kwargs):
    kwargs.setdefault("dataset", "events")
    return MonetatePostRecordsOperator(task_id="post", **kwargs)


def stored(emulator, dataset="events"):
    return emulator.monetate_rows("testshop", dataset)


# -- dataset operator ------------------------------------------------------------------------

def test_create_dataset_is_idempotent_and_adds_fields(emulator):
    assert create()["name"] == "events"
    create()
    extended = create(fields={**FIELDS, "tier": {"data_type": "STRING"}})
    assert "tier" in extended["fields"]
    requests = [r for r in emulator.requests() if r["route"] == "monetate.schema"]
    assert [r["method"] for r in requests].count("POST") == 1
    assert [r["method"] for r in requests].count("PATCH") == 1


def test_create_dataset_conflict_is_clear(emulator):
    create()
    with pytest.raises(DatasetConflictError, match=r"points: exists as NUMBER, wanted STRING"):
        create(fields={**FIELDS, "points": {"data_type": "STRING"}})
    with pytest.raises(DatasetConflictError, match="exists as type 'event'"):
        create(type="attribute", fields=FIELDS)


def test_privacy_dataset_with_empty_fields(emulator):
    assert create(name="gdpr", type="customer_data_privacy", fields={})["type"] == "customer_data_privacy"
    create(name="gdpr", type="customer_data_privacy", fields={})


def test_invalid_definition_sends_nothing(emulator):
    with pytest.raises(ConfigurationError, match="exactly one field must be the identifier"):
        create(fields={"a": {"data_type": "STRING"}})
    assert emulator.counters().get("monetate.schema", {}).get("requests", 0) == 0


# -- loading ---------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_file_is_loaded_and_summarised(emulator, tmp_path, gz):
    create()
    path = write_ndjson(tmp_path / ("in.ndjson.gz" if gz else "in.ndjson"), rows(1234), gz=gz)
    summary = post(source=str(path), batch_size=100).execute(context())
    assert summary["rows_read"] == summary["rows_sent"] == 1234
    assert summary["batches"] == 13 and summary["rows_rejected"] == 0
    assert len(stored(emulator)) == 1234
    assert stored(emulator)[0]["occurred_at"] == "2024-05-01T12:00:00.000000Z"  # normalised


def test_records_from_python_and_byte_bounded_batches(emulator):
    create()
    summary = post(records=rows(300), batch_size=500, max_batch_bytes=5000).execute(context())
    assert summary["rows_sent"] == 300 and summary["batches"] > 1
    assert emulator.counters()["monetate.data"]["requests"] == summary["batches"]


def test_bad_rows_in_a_file_send_nothing(emulator, tmp_path):
    create()
    bad = rows(50)
    bad[7]["occurred_at"] = "yesterday"
    del bad[30]["customer_id"]
    path = write_ndjson(tmp_path / "in.ndjson", bad)
    rejects = tmp_path / "rejects.jsonl"
    with pytest.raises(TooManyRejectedRowsError, match="2 of 50 rows") as info:
        post(source=str(path), rejects_path=str(rejects)).execute(context())
    assert "row 8 field 'occurred_at'" in str(info.value) and "Nothing was sent" in str(info.value)
    assert emulator.counters().get("monetate.data", {}).get("requests", 0) == 0
    report = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(r["row"], r["field"]) for r in report] == [(8, "occurred_at"), (31, "customer_id")]
    assert "yesterday" not in rejects.read_text()  # reasons never carry the value


def test_bad_rows_within_max_rejected_rows_send_the_rest(emulator, tmp_path):
    create()
    bad = rows(50)
    bad[7]["points"] = "many"
    summary = post(records=bad, max_rejected_rows=1, rejects_path=str(tmp_path / "r.jsonl")).execute(context())
    assert summary["rows_sent"] == 49 and summary["rows_rejected"] == 1
    assert summary["rejects"]["by_field"] == {"points": 1}
    assert "e-7" not in {r["event_id"] for r in stored(emulator)}


def test_dry_run_sends_nothing(emulator):
    create()
    summary = post(records=rows(1000), dry_run=True).execute(context())
    assert summary["dry_run"] and summary["rows_sent"] == 0 and summary["batches"] == 2
    assert emulator.counters().get("monetate.data", {}).get("requests", 0) == 0


def test_unknown_fields_rejected_or_dropped(emulator):
    create()
    extra = [r | {"colour": "red"} for r in rows(5)]
    with pytest.raises(TooManyRejectedRowsError, match="unknown field"):
        post(records=extra).execute(context())
    summary = post(records=extra, unknown_fields="drop").execute(context())
    assert summary["rows_sent"] == 5 and summary["dropped_fields"] == {"colour": 5}


@pytest.mark.parametrize(("status", "count"), [(429, 12), (503, 12)])
def test_throttling_and_unavailability_storms(emulator, status, count, fast_retries):
    fast_retries(max_attempts=20)
    create()
    emulator.inject("monetate.data", "status", count=count, status=status, retry_after=0)
    summary = post(records=rows(2000), batch_size=100).execute(context())
    assert len(stored(emulator)) == 2000 and summary["retries"] == count


def test_dropped_connection_mid_batch_is_resent_to_an_upserting_dataset(emulator):
    create()
    emulator.inject("monetate.data", "drop", count=2)
    post(records=rows(1000), batch_size=100).execute(context())
    assert len(stored(emulator)) == 1000


def test_token_expiry_mid_run(emulator, monkeypatch):
    create()
    calls = []
    original = MonetateHook.post_rows

    def post_rows(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            emulator.expire_tokens("monetate")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MonetateHook, "post_rows", post_rows)
    post(records=rows(1000), batch_size=100, max_in_flight=1).execute(context())
    assert len(stored(emulator)) == 1000
    assert emulator.counters()["monetate.auth"]["auth_calls"] == 2


def _abort_after(monkeypatch, k):
    """Make the K+1-th post fail the task (as a crash of the worker would)."""
    original, calls = MonetateHook.post_rows, []

    def post_rows(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > k:
            raise ApiUnavailableError("Monetate", "POST", "/data", None, ["simulated crash"], in_doubt=True)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MonetateHook, "post_rows", post_rows)
    return lambda: monkeypatch.setattr(MonetateHook, "post_rows", original)


def test_retry_resumes_after_acknowledged_batches(emulator, monkeypatch):
    create()
    restore = _abort_after(monkeypatch, 7)
    with pytest.raises(ApiUnavailableError):
        post(records=rows(3000), batch_size=100, max_in_flight=4).execute(context())
    restore()
    summary = post(records=rows(3000), batch_size=100, max_in_flight=4).execute(context(try_number=2))
    assert len(stored(emulator)) == 3000  # every row exactly once by unique key
    received = emulator.counters()["monetate.data"]["rows_received"]
    assert summary["rows_already_sent"] == 700
    assert received - 3000 <= 4 * 100  # re-sent at most max_in_flight batches
    assert summary["batches_resent"] <= 4


def test_retry_of_an_append_only_dataset_names_batches_in_doubt(emulator, monkeypatch):
    create(name="appends", fields=APPEND_FIELDS)
    restore = _abort_after(monkeypatch, 3)
    with pytest.raises(BatchesInDoubtError, match=r"batch 3 \(rows 301-400\)"):
        post(dataset="appends", records=rows(1000), batch_size=100, max_in_flight=1).execute(context())
    restore()
    with pytest.raises(BatchesInDoubtError, match=r"batch 3 \(rows 301-400\)") as info:
        post(dataset="appends", records=rows(1000), batch_size=100).execute(context(try_number=2))
    assert "in_doubt='resend'" in str(info.value)
    summary = post(dataset="appends", records=rows(1000), batch_size=100,
                   in_doubt="resend").execute(context(try_number=3))
    assert summary["rows_already_sent"] == 300 and len(stored(emulator, "appends")) == 1000


def test_changed_input_starts_over(emulator, monkeypatch, caplog):
    create()
    restore = _abort_after(monkeypatch, 2)
    with pytest.raises(ApiUnavailableError):
        post(records=rows(500), batch_size=100, max_in_flight=1).execute(context())
    restore()
    summary = post(records=rows(600), batch_size=100).execute(context(try_number=2))
    assert summary["rows_already_sent"] == 0 and summary["rows_sent"] == 600
    assert "input changed" in caplog.text


# -- exclude_erased must point at a ledger (issue 13, item 3) ------------------------------------------

def profiles(n):
    create(name="profiles", type="attribute", allow_customer_dataset=True,
           fields={"customer_id": {"data_type": "STRING", "identifier": True}, "tier": {"data_type": "STRING"}})
    return [{"customer_id": f"C{i}", "tier": "gold"} for i in range(n)]


@pytest.mark.parametrize("where", ["missing", "empty", "not_a_ledger"])
def test_exclude_erased_without_a_ledger_there_fails_before_sending(emulator, tmp_path, where):
    location = tmp_path / "deletion_ledgr"  # mistyped
    if where != "missing":
        location.mkdir()
    if where == "not_a_ledger":
        (location / "run.jsonl").write_text('{"row": 1, "field": "tier", "reason": "x"}\n')  # a rejects report
    records = profiles(3)
    with pytest.raises(ConfigurationError, match=r"no proof-of-deletion ledger.*allow_empty_ledger=True") as info:
        post(dataset="profiles", records=records, exclude_erased=str(location)).execute(context())
    assert str(location) in str(info.value) and "nothing was sent" in str(info.value)
    assert emulator.counters().get("monetate.data", {}).get("requests", 0) == 0


def test_an_empty_exclude_erased_is_refused(emulator):
    with pytest.raises(ConfigurationError, match="exclude_erased is empty"):
        post(dataset="profiles", records=profiles(3), exclude_erased="").execute(context())
    assert emulator.counters().get("monetate.data", {}).get("requests", 0) == 0


def test_allow_empty_ledger_sends_everything_and_says_so(emulator, tmp_path, caplog, capfd):
    summary = post(dataset="profiles", records=profiles(3), exclude_erased=str(tmp_path / "new_ledger"),
                   allow_empty_ledger=True).execute(context())
    assert summary["rows_sent"] == 3 and summary["rows_excluded"] == 0
    logged = caplog.text + "".join(capfd.readouterr())  # stdlib logging (Airflow 2), structlog (Airflow 3)
    assert "holds no ledger part yet" in logged


# -- issue 13: repeated unique keys, rows that cannot be sent, empty inputs, trimmed text ----------

def _data_requests(emulator):
    return emulator.counters().get("monetate.data", {}).get("requests", 0)


def test_of_rows_sharing_a_unique_key_only_the_last_is_sent_whatever_the_batch_timing(emulator, tmp_path):
    create()
    records = rows(1500)
    records[1199] = {**records[0], "points": 1199}  # row 1200 repeats row 1's event_id, two batches later
    emulator.inject("monetate.data", "status", count=1, status=503, retry_after=0)  # batch 0 arrives last
    summary = post(records=records, batch_size=500, max_in_flight=4,
                   rejects_path=str(tmp_path / "rejects.jsonl")).execute(context())
    assert summary["rows_duplicate"] == 1 and summary["rows_sent"] == 1499 and summary["rows_rejected"] == 0
    assert emulator.counters()["monetate.data"]["rows_received"] == 1499  # row 1 was never sent
    [kept] = [r for r in stored(emulator) if r["event_id"] == "e-0"]
    assert kept["points"] == 1199
    [line] = (tmp_path / "rejects.jsonl").read_text().splitlines()
    assert json.loads(line) == {"row": 1, "field": "event_id",
                                "reason": "duplicate of row 1200's event_id: only the last row with the same "
                                          "event_id is sent"}


def test_on_duplicate_key_fail_sends_nothing_and_names_the_rows(emulator):
    create()
    records = [*rows(10), rows(1, start=3)[0]]
    with pytest.raises(DuplicateKeyError, match=r"row 4 field 'event_id': duplicate of row 11's event_id") as info:
        post(records=records, on_duplicate_key="fail").execute(context())
    assert "e-3" not in str(info.value) and _data_requests(emulator) == 0


def test_append_only_datasets_keep_every_row():
    # No unique key: repeated values are separate events, and every row is sent.
    create(name="appends", fields=APPEND_FIELDS)
    summary = post(dataset="appends", records=rows(5) + rows(5)).execute(context())
    assert summary["rows_sent"] == 10 and summary["rows_duplicate"] == 0


def test_a_row_too_large_for_any_request_is_counted_against_max_rejected_rows(emulator):
    create(name="notes", fields={**FIELDS, "note": {"data_type": "STRING"}})
    records = rows(3)
    records[1]["note"] = "x" * 10_000_000  # a 10 MB row
    too_large = r"row 2: the row is 10000\d\d\d bytes .* 5000000-byte request limit \(max_batch_bytes\)"
    with pytest.raises(TooManyRejectedRowsError, match=too_large):
        post(dataset="notes", records=records).execute(context())
    assert _data_requests(emulator) == 0
    summary = post(dataset="notes", records=records, max_rejected_rows=1).execute(context())
    assert summary["rows_rejected"] == 1 and summary["rows_sent"] == 2
    assert summary["rejects"]["examples"][0]["field"] is None


@pytest.mark.parametrize("where", ["records", "file"])
def test_a_lone_surrogate_is_a_rejection_naming_row_and_field(emulator, tmp_path, where):
    create()
    records = rows(3)
    records[2]["customer_id"] = "C\ud800"
    if where == "file":
        path = tmp_path / "rows.ndjson"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))  # json.dumps escapes it as \ud800
        kwargs = {"source": str(path)}
    else:
        kwargs = {"records": records}
    with pytest.raises(TooManyRejectedRowsError, match=r"row 3 field 'customer_id': text with a lone surrogate"):
        post(**kwargs).execute(context())
    assert _data_requests(emulator) == 0
    assert post(max_rejected_rows=1, **kwargs).execute(context())["rows_sent"] == 2


def test_an_integer_beyond_64_bits_is_loaded_exactly(emulator):
    create()
    summary = post(records=[{**rows(1)[0], "points": 2**70}]).execute(context())
    assert summary["rows_sent"] == 1 and stored(emulator)[0]["points"] == 2**70


@pytest.mark.parametrize("name", ["empty.ndjson", "empty.csv", "empty.json", "empty.json.gz"])
def test_an_empty_input_succeeds_alike_in_every_format_or_fails_with_allow_empty_false(emulator, tmp_path, name):
    create()
    path = tmp_path / name
    path.write_bytes(gzip.compress(b"") if name.endswith(".gz") else b"")
    summary = post(source=str(path)).execute(context())
    assert summary["input_empty"] and summary["rows_read"] == summary["rows_sent"] == 0
    with pytest.raises(EmptyInputError, match=r"holds no rows \(allow_empty=False\)"):
        post(source=str(path), allow_empty=False).execute(context())
    assert _data_requests(emulator) == 0


def test_csv_cells_over_128_kib_are_loaded(emulator, tmp_path):
    create(name="notes", fields={**FIELDS, "note": {"data_type": "STRING"}})
    wide = "n" * 300_000
    path = tmp_path / "notes.csv"
    path.write_text(f"event_id,customer_id,occurred_at,note\ne-1,C1,2024-05-01T12:00:00Z,{wide}\n")
    assert post(dataset="notes", source=str(path)).execute(context())["rows_sent"] == 1
    assert stored(emulator, "notes")[0]["note"] == wide


def test_trimmed_text_is_counted_in_the_summary(emulator):
    create()
    records = rows(3)
    records[0]["customer_id"] = "  C0"
    records[1]["event_id"] = "e-1\t"
    summary = post(records=records).execute(context())
    assert summary["values_trimmed"] == {"customer_id": 1, "event_id": 1}
    assert {r["event_id"] for r in stored(emulator)} == {"e-0", "e-1", "e-2"}


# -- issue 12: MULTI_STRING items holding a comma, under every reading of the server ------------

TAGGED = {**FIELDS, "tags": {"data_type": "MULTI_STRING"}}
ITEMS = ["Clothing, Women", "Sale"]
# What the server keeps of ITEMS, by (how it splits a MULTI_STRING, how the task encoded the comma).
STORED_ITEMS = {
    ("quoted", "quote"): ("Clothing, Women", "Sale"),
    ("quoted", "backslash"): ("Clothing\\", " Women", "Sale"),
    ("backslash", "quote"): ('"Clothing', ' Women"', "Sale"),
    ("backslash", "backslash"): ("Clothing, Women", "Sale"),
    ("every_comma", "quote"): ('"Clothing', ' Women"', "Sale"),
    ("every_comma", "backslash"): ("Clothing\\", " Women", "Sale"),
}


def tagged_rows(*tags):
    return [row | {"tags": items} for row, items in zip(rows(len(tags)), tags, strict=True)]


def stored_tags(emulator):
    return [multi_string_values(row["tags"]) for row in stored(emulator, "tagged")]


@pytest.mark.parametrize("reading", readings_of("monetate.multi_string_commas"))
@pytest.mark.parametrize("option", ["quote", "backslash"])
def test_a_comma_inside_an_item_is_stored_as_the_server_splits_the_encoding_chosen(emulator, reading, option):
    # The item survives only where the task's choice matches the server's reading: the user must know it.
    emulator.set_reading("monetate.multi_string_commas", reading)
    create(name="tagged", fields=TAGGED)
    summary = post(dataset="tagged", records=tagged_rows(ITEMS, ["gold", "vip"]), multi_string_commas=option
                   ).execute(context())
    assert summary["rows_sent"] == 2
    assert stored_tags(emulator) == [STORED_ITEMS[reading, option], ("gold", "vip")]


@pytest.mark.parametrize("reading", readings_of("monetate.multi_string_commas"))
def test_by_default_an_item_any_server_may_split_is_rejected_and_nothing_split_is_stored(emulator, tmp_path, reading):
    emulator.set_reading("monetate.multi_string_commas", reading)
    create(name="tagged", fields=TAGGED)
    records = tagged_rows(["gold", "vip"], ITEMS, ['"Sale"', "gold"], ["a\\", "b"], "Clothing\\, Women,Sale",
                          '"Clothing, Women",Sale', ["Sale", "15\" screen"])
    rejects = tmp_path / "rejects.jsonl"
    summary = post(dataset="tagged", records=records, max_rejected_rows=5, rejects_path=str(rejects)
                   ).execute(context())
    assert summary["rows_sent"] == 2 and summary["rows_rejected"] == 5
    report = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(r["row"], r["field"]) for r in report] == [(2, "tags"), (3, "tags"), (4, "tags"), (5, "tags"), (6, "tags")]
    assert all("multi_string_commas='quote' or 'backslash'" in r["reason"] for r in report)
    assert "Clothing" not in rejects.read_text() and "Sale" not in rejects.read_text()
    assert stored_tags(emulator) == [("gold", "vip"), ("Sale", '15" screen')]  # read alike under every reading


def test_an_unknown_multi_string_commas_option_fails_before_any_row_is_sent(emulator):
    create(name="tagged", fields=TAGGED)
    with pytest.raises(ConfigurationError, match="multi_string_commas must be 'reject', 'quote' or 'backslash'"):
        post(dataset="tagged", records=tagged_rows(ITEMS), multi_string_commas="escape").execute(context())
    assert emulator.counters().get("monetate.data", {}).get("requests", 0) == 0


# -- issue 12: customer datasets, which the seed advises against creating through the API ------------

PROFILE_FIELDS = {"customer_id": {"data_type": "STRING", "identifier": True}, "tier": {"data_type": "STRING"}}
SEED_ADVICE = "Creating a customer dataset schema via the API is not recommended at this time."


def test_creating_a_customer_dataset_needs_allow_customer_dataset_and_the_refusal_quotes_the_seed(emulator):
    with pytest.raises(ConfigurationError) as info:
        create(name="profiles", type="attribute", fields=PROFILE_FIELDS)
    assert SEED_ADVICE in str(info.value) and "allow_customer_dataset=True" in str(info.value)
    assert "nothing was created" in str(info.value)
    methods = [r["method"] for r in emulator.requests() if r["route"] == "monetate.schema"]
    assert "POST" not in methods
    assert create(name="profiles", type="attribute", fields=PROFILE_FIELDS, allow_customer_dataset=True)["type"] == (
        "attribute")


def test_an_existing_customer_dataset_gains_fields_without_allow_customer_dataset(emulator):
    # The seed: "You can, however, add attributes to an existing dataset schema through the Data API."
    create(name="profiles", type="attribute", fields=PROFILE_FIELDS, allow_customer_dataset=True)
    extended = create(name="profiles", type="attribute", fields={**PROFILE_FIELDS, "ltv": {"data_type": "NUMBER"}})
    assert "ltv" in extended["fields"]


@pytest.mark.parametrize("schema_type", ["event", "customer_data_privacy", "product_recommendation"])
def test_other_dataset_types_are_created_without_allow_customer_dataset(emulator, schema_type):
    fields = FIELDS if schema_type != "customer_data_privacy" else {}
    assert create(name="other", type=schema_type, fields=fields)["type"] == schema_type


def test_customer_is_not_a_schema_type_and_the_error_names_the_one_that_is(emulator):
    with pytest.raises(ConfigurationError, match=r"type 'customer' is not one of .*a customer dataset is type "
                                                 r"'attribute'"):
        create(name="profiles", type="customer", fields=PROFILE_FIELDS)
    assert emulator.counters().get("monetate.schema", {}).get("requests", 0) == 0
