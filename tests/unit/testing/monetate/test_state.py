"""Monetate account state: rows upserted or appended, upload history, and privacy requests
that stay PENDING until the next nightly batch removes the customer from every dataset (only
for customers Monetate holds, unless the ``monetate.privacy_pending`` reading says otherwise)."""

from __future__ import annotations

import pytest

from airflow_provider_monetate.testing.monetate.state import Account, Dataset, iso, next_batch_after
from tests.unit.testing.helpers import ATTRIBUTE_FIELDS, epoch, event_row


def _status(api, customer_id, dataset="gdpr"):
    response = api.get(f"customer-data-privacy/{dataset}/", params={"id": customer_id})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["meta"] == {"code": 200, "errors": [], "warnings": []}
    assert customer_id in body["data"]["description"]
    return body["data"]["status"]


def _submit(api, *ids, when="2030-01-10T09:59:00.000000Z"):
    """One flat object per ID: the body the seed shows (the default reading)."""
    for cid in ids:
        response = api.post("data/gdpr/", {"customer_id": cid, "delete_request_time": when})
        assert response.status_code == 201, response.text


def test_found_and_not_found_before_any_request(shop):
    assert _status(shop, "C1") == "FOUND"
    assert _status(shop, "never-seen") == "NOT_FOUND"


def test_pending_until_the_next_nightly_batch_then_not_found_and_removed(emulator, shop):
    _submit(shop, "C1")
    assert _status(shop, "C1") == "PENDING"
    assert emulator.privacy_status("testshop", "C1") == "PENDING"
    emulator.clock.set(epoch("2030-01-11T01:59:00"))  # the next batch is 2030-01-11 02:00 UTC
    assert _status(shop, "C1") == "PENDING"
    assert len(emulator.monetate_rows("testshop", "customers")) == 3
    emulator.clock.set(epoch("2030-01-11T02:00:01"))
    assert _status(shop, "C1") == "NOT_FOUND"
    remaining = emulator.monetate_rows("testshop", "customers")
    assert sorted(r["customer_id"] for r in remaining) == ["C2", "C3"]
    assert emulator.monetate_rows("testshop", "gdpr") == []  # removed from every dataset
    assert _status(shop, "C2") == "FOUND"


def test_batch_runs_lazily_for_any_call(emulator, shop):
    _submit(shop, "C2")
    emulator.clock.advance(2 * 86400)
    # No status call in between: the spot check already sees the deletion.
    assert shop.get("data/customers/", params={"id": "C2"}).status_code == 404


def test_submission_just_before_batch_time_is_processed_that_night(emulator, shop):
    emulator.clock.set(epoch("2030-01-11T01:30:00"))
    _submit(shop, "C3")
    emulator.clock.set(epoch("2030-01-11T02:00:00.5"))
    assert _status(shop, "C3") == "NOT_FOUND"


def test_batch_hour_is_configurable(emulator, shop):
    emulator.configure(nightly_batch_hour=23)
    _submit(shop, "C1")
    emulator.clock.set(epoch("2030-01-10T22:59:00"))
    assert _status(shop, "C1") == "PENDING"
    emulator.clock.set(epoch("2030-01-10T23:00:01"))
    assert _status(shop, "C1") == "NOT_FOUND"


def test_an_id_never_held_stays_not_found_when_submitted(emulator, shop):
    """The seed: PENDING means "found within Monetate's data stores and is pending removal"."""
    _submit(shop, "ghost")
    assert _status(shop, "ghost") == "NOT_FOUND"
    assert emulator.monetate_rows("testshop", "gdpr") != []  # the request itself was taken
    emulator.clock.advance(86400)
    assert _status(shop, "ghost") == "NOT_FOUND"


@pytest.mark.emulator_readings({"monetate.privacy_pending": "any_submitted"})
def test_under_any_submitted_an_id_never_held_is_pending_then_not_found(emulator, shop):
    _submit(shop, "ghost")
    assert _status(shop, "ghost") == "PENDING"
    emulator.clock.advance(86400)
    assert _status(shop, "ghost") == "NOT_FOUND"


def test_a_privacy_dataset_holds_requests_not_customer_data(emulator, shop):
    _submit(shop, "ghost")
    assert _status(shop, "ghost") == "NOT_FOUND"  # its row in gdpr is a request, not data about ghost


@pytest.mark.emulator_readings({"monetate.erased_seen_again": "kept"})  # both readings: test_privacy.py
def test_customer_seen_again_after_deletion_is_found(emulator, shop):
    _submit(shop, "C1")
    emulator.clock.advance(86400)
    assert _status(shop, "C1") == "NOT_FOUND"
    shop.post_rows("customers", [{"customer_id": "C1"}])
    assert _status(shop, "C1") == "FOUND"


def test_unique_key_upserts(emulator, keyed):
    keyed.post_rows("events", [event_row(1, points=1), event_row(2, points=2)])
    keyed.post_rows("events", [event_row(1, points=100)])
    rows = emulator.monetate_rows("testshop", "events")
    assert len(rows) == 2
    assert {r["event_id"]: r["points"] for r in rows} == {"e-1": 100, "e-2": 2}


def test_upsert_replaces_the_whole_record(emulator, keyed):
    keyed.post_rows("events", [event_row(1, vip=True)])
    keyed.post_rows("events", [{"event_id": "e-1", "customer_id": "C1", "occurred_at": "2024-05-02"}])
    assert emulator.monetate_rows("testshop", "events") == [
        {"event_id": "e-1", "customer_id": "C1", "occurred_at": "2024-05-02"}
    ]


def test_without_unique_key_rows_are_appended(emulator, api):
    api.create_schema("attrs", ATTRIBUTE_FIELDS)
    api.post_rows("attrs", [{"customer_id": "C1", "points": 1}])
    api.post_rows("attrs", [{"customer_id": "C1", "points": 1}])
    assert len(emulator.monetate_rows("testshop", "attrs")) == 2


def test_upload_history_newest_first_one_entry_per_accepted_post(emulator, keyed):
    keyed.post_rows("events", [event_row(1)])
    emulator.clock.advance(60)
    keyed.post_rows("events", [event_row(2)])
    keyed.post_rows("events", [event_row(3, points="bad")])  # rejected: no entry
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


@pytest.mark.parametrize(
    ("submitted", "hour", "expected"),
    [
        ("2030-01-10T10:00:00", 2, "2030-01-11T02:00:00"),
        ("2030-01-10T01:59:59", 2, "2030-01-10T02:00:00"),
        ("2030-01-10T02:00:00", 2, "2030-01-11T02:00:00"),  # strictly after
        ("2030-01-10T22:00:00", 23.5, "2030-01-10T23:30:00"),
    ],
)
def test_next_batch_after(submitted, hour, expected):
    assert next_batch_after(epoch(submitted), hour) == epoch(expected)


def test_account_applies_due_batches_without_http():
    account = Account()
    dataset = account.datasets["customers"] = Dataset({"name": "customers", "fields": ATTRIBUTE_FIELDS}, 0)
    dataset.store([{"customer_id": "C1"}, {"customer_id": "C2"}], 0)
    account.submit_privacy(["C1", "ghost"], epoch("2030-01-10T10:00:00"))
    account.run_due_batches(epoch("2030-01-11T01:59:59"), 2)
    assert (account.privacy_status("C1"), account.privacy_status("ghost")) == ("PENDING", "NOT_FOUND")
    account.run_due_batches(epoch("2030-01-11T02:00:00"), 2)
    assert account.privacy_status("C1") == "NOT_FOUND"
    assert [row["customer_id"] for row in dataset.rows.values()] == ["C2"]
    assert account.ever_held("C1") and account.ever_held("C2") and not account.ever_held("ghost")


def test_account_queues_any_submitted_id_when_asked():
    account = Account()
    account.submit_privacy(["ghost"], epoch("2030-01-10T10:00:00"), any_submitted=True)
    assert account.privacy_status("ghost") == "PENDING" and account.ever_held("ghost")


def test_iso_is_the_spec_examples_format():
    assert iso(epoch("2016-09-30T12:10:45.000145")) == "2016-09-30T12:10:45.000145Z"
