"""The proof-of-deletion ledger and the deletion sensor's confirmation state (pure, no Airflow)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_monetate.deletion_ledger import (
    DeletionLedger,
    DeletionWatch,
    Folder,
    LedgerEntry,
    hash_id,
    read_submitted_ids,
)
from tests.fake_object_store import FakeObjectPath

KEY = "erase__manual_1__wait__-1.0123456789abcdef"
ASKED = "2024-05-01T09:30:00.000000Z"
SENT = "2024-05-01T10:00:00.000000Z"


def FakeStorage(objects: dict[str, bytes], path: str = "s3://bucket/ledger") -> FakeObjectPath:
    return FakeObjectPath(objects, path)


def submitted(cid, system="monetate", **kwargs):
    return LedgerEntry(cid, system, "submitted", ASKED, SENT, **kwargs)


def confirmed(cid, at, system="monetate"):
    return LedgerEntry(cid, system, "confirmed", ASKED, SENT, confirmed_at=at)


# -- writing and reading back ---------------------------------------------------------------

def test_records_read_back_with_every_field(tmp_path):
    ledger = DeletionLedger(tmp_path / "ledger")
    ledger.append([submitted("C42", dataset="gdpr", dag_id="erase", run_id="manual_1")])
    (record,) = ledger.records()
    assert record["customer_id"] == "C42" and record["id_hash"] is None
    assert record["system"] == "monetate" and record["status"] == "submitted"
    assert record["delete_request_time"] == ASKED and record["submitted_at"] == SENT
    assert record["confirmed_at"] is None
    assert (record["dataset"], record["dag_id"], record["run_id"]) == ("gdpr", "erase", "manual_1")
    assert record["recorded_at"].endswith("Z")


def test_each_write_is_a_new_part_and_earlier_parts_never_change(tmp_path):
    ledger = DeletionLedger(tmp_path)
    ledger.append([submitted("C1"), submitted("C2")])
    (first,) = tmp_path.iterdir()
    before = first.read_bytes()
    ledger.append([confirmed("C1", "2024-05-02T02:00:00.000000Z")])
    parts = sorted(tmp_path.iterdir())
    assert len(parts) == 2 and parts[0] == first and first.read_bytes() == before
    assert [r["status"] for r in ledger.records()] == ["submitted", "submitted", "confirmed"]


def test_writing_nothing_creates_no_part(tmp_path):
    assert DeletionLedger(tmp_path).append([]) == 0
    assert list(tmp_path.iterdir()) == []


def test_an_absent_ledger_reads_as_empty(tmp_path):
    ledger = DeletionLedger(tmp_path / "not-yet")
    assert list(ledger.records()) == [] and ledger.confirmed_at("C1") is None and ledger.erased_ids() == set()


def test_confirmed_at_is_the_first_confirmation_of_that_customer(tmp_path):
    ledger = DeletionLedger(tmp_path)
    ledger.append([submitted("C42"), submitted("C43")])
    ledger.append([confirmed("C42", "2024-05-03T02:00:00.000000Z")])
    ledger.append([confirmed("C42", "2024-05-02T02:00:00.000000Z")])  # a re-run recorded it again
    assert ledger.confirmed_at("C42") == "2024-05-02T02:00:00.000000Z"
    assert ledger.confirmed_at("C43") is None  # submitted, not confirmed
    assert ledger.confirmed_at("C42", system="acquia_cdp") is None
    assert [r["status"] for r in ledger.records(customer_id="C42")] == ["submitted", "confirmed", "confirmed"]


def test_cdp_deletions_use_record_submitted(tmp_path):
    ledger = DeletionLedger(tmp_path)
    assert ledger.record_submitted(["P1", "P2"], system="acquia_cdp", delete_request_time=ASKED,
                                   dataset="customers") == 2
    ledger.append([submitted("C1")])
    assert ledger.erased_ids(system="acquia_cdp") == {"P1", "P2"}
    assert ledger.erased_ids() == {"P1", "P2", "C1"}
    (record,) = ledger.records(customer_id="P1")
    assert record["status"] == "submitted" and record["submitted_at"] and record["delete_request_time"] == ASKED


def test_entries_are_checked():
    with pytest.raises(ValueError, match="status must be one of submitted, confirmed"):
        LedgerEntry("C1", "monetate", "deleted")
    with pytest.raises(ValueError, match="system is required"):
        LedgerEntry("C1", "", "submitted")


# -- hashed mode -------------------------------------------------------------------------------

def test_hashed_ledger_stores_no_raw_id_yet_answers_for_it(tmp_path):
    ledger = DeletionLedger(tmp_path, hash_ids=True)
    ledger.append([submitted("C42"), confirmed("C42", "2024-05-02T02:00:00.000000Z")])
    text = "".join(p.read_text() for p in tmp_path.iterdir())
    assert "C42" not in text and hash_id("C42") in text
    reader = DeletionLedger(tmp_path)  # a reader need not know how it was written
    assert reader.confirmed_at("C42") == "2024-05-02T02:00:00.000000Z"
    assert reader.erased_ids() == {hash_id("C42")}
    assert all(r["id_hash"] == "sha256" for r in reader.records(customer_id="C42"))


def test_erased_takes_raw_ids_against_plain_and_hashed_records(tmp_path):
    DeletionLedger(tmp_path).append([submitted("PLAIN")])
    DeletionLedger(tmp_path, hash_ids=True).append([submitted("HASHED")])
    erased = DeletionLedger(tmp_path).erased()
    assert "PLAIN" in erased and "HASHED" in erased
    assert "OTHER" not in erased and hash_id("HASHED") not in erased and None not in erased
    assert len(erased) == 2


# -- storage ---------------------------------------------------------------------------------------

def test_object_storage_ledger(tmp_path):
    objects: dict[str, bytes] = {}
    ledger = DeletionLedger(FakeStorage(objects))
    ledger.append([submitted("C1")])
    ledger.append([confirmed("C1", "2024-05-02T02:00:00.000000Z")])
    assert len(objects) == 2 and all(k.startswith("s3://bucket/ledger/") for k in objects)
    assert ledger.confirmed_at("C1") == "2024-05-02T02:00:00.000000Z"
    assert ledger.location == "s3://bucket/ledger"


def test_uri_strings_must_be_storage_paths():
    with pytest.raises(TypeError, match="pass it as an ObjectStoragePath"):
        DeletionLedger("s3://bucket/ledger")


def test_file_url_storage_paths_are_written_locally(tmp_path):
    compat = pytest.importorskip("airflow_provider_monetate.compat")
    ledger = DeletionLedger(compat.ObjectStoragePath(f"file://{tmp_path}/ledger"))
    ledger.append([submitted("C1")])
    assert len(list((tmp_path / "ledger").iterdir())) == 1
    assert ledger.erased_ids() == {"C1"}


def test_folder_create_publishes_nothing_on_failure(tmp_path):
    folder = Folder(tmp_path)
    with pytest.raises(RuntimeError), folder.create("ids.ndjson") as file:
        file.write(b"partial\n")
        raise RuntimeError("the load failed")
    assert list(tmp_path.iterdir()) == []


def test_submitted_ids_file_reads_back_in_order(tmp_path):
    path = tmp_path / "ids.ndjson"
    path.write_text("".join(json.dumps({"customer_id": c, "delete_request_time": ASKED}) + "\n" for c in "BAC"))
    assert read_submitted_ids(path) == {"B": ASKED, "A": ASKED, "C": ASKED}


# -- the sensor's confirmation state -------------------------------------------------------------

PROVENANCE = {"dataset": "gdpr", "submitted_at": SENT, "dag_id": "erase", "run_id": "manual_1"}
TARGETS = {"C1": ASKED, "C2": ASKED, "C3": None}


def watch(tmp_path, hash_ids=False):
    return DeletionWatch(tmp_path / "work", KEY, DeletionLedger(tmp_path / "ledger", hash_ids=hash_ids), PROVENANCE)


def test_confirmations_survive_a_new_instance_and_are_not_asked_again(tmp_path):
    first = watch(tmp_path)
    newly = first.observe({"C1": "NOT_FOUND", "C2": "PENDING", "C3": "FOUND"}, TARGETS, "2024-05-02T02:00:00.000000Z")
    assert newly == ["C1"]
    later = watch(tmp_path)  # reschedule mode: a new process, a new sensor instance
    assert later.started_at == first.started_at
    assert later.pending(TARGETS) == ["C2", "C3"]
    assert later.stragglers(TARGETS) == [("C2", "PENDING"), ("C3", "FOUND")]
    assert later.progress(TARGETS) == "Monetate confirmed 1 of 3 customer ID(s) gone; waiting for 1 FOUND, 1 PENDING"


def test_each_confirmation_reaches_the_ledger_once_with_its_provenance(tmp_path):
    state = watch(tmp_path)
    state.observe({"C1": "NOT_FOUND", "C2": "PENDING"}, TARGETS, "2024-05-02T02:00:00.000000Z")
    state.observe({"C1": "NOT_FOUND", "C2": "NOT_FOUND"}, TARGETS, "2024-05-03T02:00:00.000000Z")
    records = list(DeletionLedger(tmp_path / "ledger").records())
    assert [(r["customer_id"], r["confirmed_at"]) for r in records] == [
        ("C1", "2024-05-02T02:00:00.000000Z"), ("C2", "2024-05-03T02:00:00.000000Z"),
    ]
    assert {(r["status"], r["system"], r["delete_request_time"], r["submitted_at"], r["dataset"], r["run_id"])
            for r in records} == {("confirmed", "monetate", ASKED, SENT, "gdpr", "manual_1")}


def test_stragglers_are_described_as_the_ledger_stores_them(tmp_path):
    ids = {f"C{i}": None for i in range(25)}
    state = watch(tmp_path, hash_ids=True)
    state.observe({"C0": "FOUND"}, ids, SENT)
    text = state.describe_stragglers(ids, limit=2)
    assert text == f"{hash_id('C0')} (FOUND), {hash_id('C1')} (UNCHECKED) and 23 more"
    assert "C0" not in state.overdue_warning(ids) and "25 of 25" in state.overdue_warning(ids)


def test_finish_removes_the_state_file(tmp_path):
    state = watch(tmp_path)
    state.save()
    assert (tmp_path / "work" / f"{KEY}.state.json").exists()
    state.finish()
    assert not (tmp_path / "work" / f"{KEY}.state.json").exists()
    state.finish()  # twice is fine
