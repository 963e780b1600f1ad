"""The proof-of-deletion ledger: append-only parts, hashed IDs, local or object storage (pure, no Airflow)."""

from __future__ import annotations

import pytest

from airflow_provider_monetate.monetate.privacy._ledger import SETTLED, DeletionLedger, LedgerEntry, hash_id
from tests.support.fake_object_store import FakeObjectPath

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
    parts = sorted(p for p in tmp_path.iterdir() if p.suffix == ".jsonl")  # and a marker: the first is linked
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
    with pytest.raises(ValueError, match="status must be one of submitted, pending, confirmed, not_held, "
                                         "gone_unverified, failed, reappeared"):
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
    assert len([k for k in objects if k.endswith(".jsonl")]) == 2
    assert all(k.startswith("s3://bucket/ledger/") for k in objects)
    assert ledger.confirmed_at("C1") == "2024-05-02T02:00:00.000000Z"
    assert ledger.location == "s3://bucket/ledger"


def test_uri_strings_must_be_storage_paths():
    with pytest.raises(TypeError, match="pass it as an ObjectStoragePath"):
        DeletionLedger("s3://bucket/ledger")


def test_file_url_storage_paths_are_written_locally(tmp_path):
    compat = pytest.importorskip("airflow_provider_monetate._compat")
    ledger = DeletionLedger(compat.ObjectStoragePath(f"file://{tmp_path}/ledger"))
    ledger.append([submitted("C1")])
    assert len(list((tmp_path / "ledger").iterdir())) == 1
    assert ledger.erased_ids() == {"C1"}


# -- telling "no ledger here" from "nobody erased" (issue 13, item 3) ---------------------------------

def test_has_parts_tells_an_absent_or_empty_location_from_a_ledger(tmp_path):
    assert DeletionLedger(tmp_path / "mistyped").has_parts() is False  # does not exist
    (tmp_path / "empty").mkdir()
    assert DeletionLedger(tmp_path / "empty").has_parts() is False
    ledger = DeletionLedger(tmp_path / "ledger")
    ledger.append([submitted("C1")])
    assert ledger.has_parts() is True


def test_other_json_lines_files_are_not_ledger_parts(tmp_path):
    (tmp_path / "erase__run__load__-1.0123456789abcdef.jsonl").write_text('{"row": 1, "reason": "x"}\n')
    ledger = DeletionLedger(tmp_path)
    assert ledger.has_parts() is False and list(ledger.records()) == []
    ledger.append([submitted("C1")])
    assert ledger.has_parts() and ledger.erased_ids() == {"C1"}


def test_has_parts_on_object_storage():
    objects: dict[str, bytes] = {}
    ledger = DeletionLedger(FakeStorage(objects))
    assert ledger.has_parts() is False
    ledger.append([submitted("C1")])
    assert ledger.has_parts() is True


def test_unconfirmed_lists_the_ids_without_a_confirmation_in_the_ledger(tmp_path):
    DeletionLedger(tmp_path).append([submitted("C1"), submitted("C2"), confirmed("C1", SENT)])
    DeletionLedger(tmp_path, hash_ids=True).append([confirmed("C3", SENT)])
    DeletionLedger(tmp_path).append([confirmed("C4", SENT, system="acquia_cdp")])
    ledger = DeletionLedger(tmp_path)
    assert ledger.unconfirmed(["C4", "C3", "C2", "C1", "C2"], system="monetate") == ["C4", "C2"]
    assert ledger.unconfirmed(["C4", "C1"]) == []


def test_the_outcomes_a_wait_ends_with_are_statuses_of_their_own(tmp_path):
    ledger = DeletionLedger(tmp_path)
    ledger.append([submitted("C1"), submitted("C2"), submitted("C3"),
                   LedgerEntry("C1", "monetate", "not_held", ASKED, SENT, confirmed_at=SENT),
                   LedgerEntry("C2", "monetate", "gone_unverified", ASKED, SENT, confirmed_at=SENT)])
    assert [ledger.confirmed_at(c) for c in ("C1", "C2", "C3")] == [None, None, None]  # none confirmed
    assert ledger.unconfirmed(["C1", "C2", "C3"]) == ["C1", "C2", "C3"]
    assert ledger.unconfirmed(["C1", "C2", "C3"], settled=SETTLED) == ["C3"]
    assert ledger.erased_ids() == {"C1", "C2", "C3"}  # all were submitted: exclude_erased keeps them out
    assert [r["status"] for r in ledger.records(customer_id="C1")] == ["submitted", "not_held"]
