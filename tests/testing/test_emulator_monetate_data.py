"""Monetate Data API: posting rows (validation, upsert/append), spot checks, upload history."""

from __future__ import annotations

import pytest
from emulator_helpers import ATTRIBUTE_FIELDS, KEYED_FIELDS


@pytest.fixture
def keyed(api):
    api.create_schema("events", KEYED_FIELDS, "event")
    return api


def _row(i: int = 1, **overrides) -> dict:
    row = {
        "event_id": f"e-{i}",
        "customer_id": f"C{i}",
        "occurred_at": "2024-05-01T12:00:00.000000Z",
        "points": 10,
        "tiers": "gold,vip",
        "vip": True,
    }
    row.update(overrides)
    return row


def test_post_rows_echoes_and_stores(emulator, keyed):
    rows = [_row(1), _row(2)]
    response = keyed.post("data/events/", {"schema_rows": rows, "_sent_time": "2024-05-01T12:06:00.000000Z"})
    assert response.status_code == 201
    assert response.json() == {"meta": {"code": 201, "errors": [], "warnings": []}, "data": {"schema_rows": rows}}
    assert emulator.monetate_rows("testshop", "events") == rows
    assert emulator.counters()["monetate.data"]["rows_received"] == 2


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
    rows = [_row(0), _row(1), _row(2, **{field: value})]
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
    response = keyed.post_rows("events", [_row(0, points="x"), _row(1), _row(2, vip="no"), "not a row"])
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
    assert keyed.post_rows("events", [_row(1, occurred_at=value)]).status_code == 201


def test_optional_fields_may_be_absent_or_null(keyed):
    rows = [{"event_id": "e", "customer_id": "c", "occurred_at": "2024-05-01"}, _row(2, points=None)]
    assert keyed.post_rows("events", rows).status_code == 201


@pytest.mark.parametrize("body", [[], {"rows": []}, {"schema_rows": {"a": 1}}, "text"])
def test_body_shape_rejected(keyed, body):
    response = keyed.post("data/events/", body)
    assert response.status_code == 400
    assert response.json()["meta"]["errors"]


def test_bad_sent_time_rejected(keyed):
    response = keyed.post("data/events/", {"schema_rows": [_row()], "_sent_time": "now"})
    assert response.status_code == 400
    assert response.json()["meta"]["errors"][0]["field"] == "_sent_time"


def test_unknown_dataset_is_404(api):
    assert api.post_rows("ghost", [{"a": "b"}]).status_code == 404


def test_unique_key_upserts(emulator, keyed):
    keyed.post_rows("events", [_row(1, points=1), _row(2, points=2)])
    keyed.post_rows("events", [_row(1, points=100)])
    rows = emulator.monetate_rows("testshop", "events")
    assert len(rows) == 2
    assert {r["event_id"]: r["points"] for r in rows} == {"e-1": 100, "e-2": 2}


def test_upsert_replaces_the_whole_record(emulator, keyed):
    keyed.post_rows("events", [_row(1, vip=True)])
    keyed.post_rows("events", [{"event_id": "e-1", "customer_id": "C1", "occurred_at": "2024-05-02"}])
    assert emulator.monetate_rows("testshop", "events") == [
        {"event_id": "e-1", "customer_id": "C1", "occurred_at": "2024-05-02"}
    ]


def test_without_unique_key_rows_are_appended(emulator, api):
    api.create_schema("attrs", ATTRIBUTE_FIELDS)
    api.post_rows("attrs", [{"customer_id": "C1", "points": 1}])
    api.post_rows("attrs", [{"customer_id": "C1", "points": 1}])
    assert len(emulator.monetate_rows("testshop", "attrs")) == 2


def test_spot_check_reads_one_record_and_is_rate_limited(emulator, keyed):
    keyed.post_rows("events", [_row(1), _row(2)])
    first = keyed.get("data/events/", params={"id": "e-1"})
    assert first.status_code == 200
    assert first.json()["data"]["schema_rows"] == [_row(1)]
    limited = keyed.get("data/events/", params={"id": "C2"})
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert limited.json()["meta"]["code"] == 429
    emulator.clock.advance(1.01)
    by_identifier = keyed.get("data/events/", params={"id": "C2"})
    assert by_identifier.status_code == 200
    assert by_identifier.json()["data"]["schema_rows"][0]["event_id"] == "e-2"
    assert emulator.counters()["monetate.record"]["statuses"] == {200: 2, 429: 1}


def test_spot_check_missing_id_and_unknown_id(emulator, keyed):
    assert keyed.get("data/events/").status_code == 400
    emulator.clock.advance(2)
    assert keyed.get("data/events/", params={"id": "nobody"}).status_code == 404


def test_upload_history_newest_first_one_entry_per_accepted_post(emulator, keyed):
    keyed.post_rows("events", [_row(1)])
    emulator.clock.advance(60)
    keyed.post_rows("events", [_row(2)])
    keyed.post_rows("events", [_row(3, points="bad")])  # rejected: no entry
    response = keyed.get("upload/events/")
    assert response.status_code == 200
    uploads = response.json()["data"]
    assert len(uploads) == 2
    assert uploads[0]["upload_time"] > uploads[1]["upload_time"]
    for upload in uploads:
        assert upload["status"] == "COMPLETE"
        assert upload["validation_errors"] == [] and upload["validation_warnings"] == []
        assert {"import_start_time", "import_end_time"} <= set(upload)
    assert keyed.get("upload/ghost/").status_code == 404


def test_method_not_allowed(keyed):
    assert keyed.session.delete(keyed.base + "data/events/", timeout=10).status_code == 405
