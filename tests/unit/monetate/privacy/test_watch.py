"""The deletion sensor's working files: the submitted-IDs file, its receipt, the outcome state (pure)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from airflow_provider_monetate.exceptions import ReceiptError
from airflow_provider_monetate.monetate.privacy._ledger import SETTLED, DeletionLedger, hash_id
from airflow_provider_monetate.monetate.privacy._watch import (
    DeletionWatch,
    Submitted,
    check_receipt,
    delete_submitted_ids,
    read_submitted,
    read_submitted_ids,
)

KEY = "erase__manual_1__wait__-1.0123456789abcdef"
ASKED = "2024-05-01T09:30:00.000000Z"
SENT = "2024-05-01T10:00:00.000000Z"


def test_submitted_ids_file_reads_back_in_order(tmp_path):
    path = tmp_path / "ids.ndjson"
    path.write_text("".join(json.dumps({"customer_id": c, "delete_request_time": ASKED}) + "\n" for c in "BAC"))
    assert read_submitted_ids(path) == {"B": ASKED, "A": ASKED, "C": ASKED}
    assert read_submitted(path).held == {}


def test_submitted_ids_file_carries_what_the_precheck_saw(tmp_path):
    path = tmp_path / "ids.ndjson"
    lines = [{"customer_id": "A", "held": True}, {"customer_id": "B", "held": False}, {"customer_id": "C"}]
    path.write_text("".join(json.dumps({**line, "delete_request_time": ASKED}) + "\n" for line in lines))
    assert read_submitted(path) == Submitted({"A": ASKED, "B": ASKED, "C": ASKED}, {"A": True, "B": False})


# -- the sensor's confirmation state -------------------------------------------------------------

PROVENANCE = {"dataset": "gdpr", "submitted_at": SENT, "dag_id": "erase", "run_id": "manual_1"}
TARGETS = {"C1": ASKED, "C2": ASKED, "C3": None}


def watch(tmp_path, hash_ids=False):
    return DeletionWatch(tmp_path / "work", KEY, DeletionLedger(tmp_path / "ledger", hash_ids=hash_ids), PROVENANCE)


def test_not_found_after_being_seen_held_is_confirmed_and_survives_a_new_instance(tmp_path):
    first = watch(tmp_path)
    assert first.observe({"C1": "PENDING", "C2": "PENDING", "C3": "FOUND"}, TARGETS, SENT) == []
    newly = first.observe({"C1": "NOT_FOUND", "C2": "PENDING", "C3": "FOUND"}, TARGETS, "2024-05-02T02:00:00.000000Z")
    assert newly == ["C1"] and first.outcome("C1") == "confirmed"
    later = watch(tmp_path)  # reschedule mode: a new process, a new sensor instance
    assert later.started_at == first.started_at
    assert later.pending(TARGETS) == ["C2", "C3"]
    assert later.stragglers(TARGETS) == [("C2", "PENDING"), ("C3", "FOUND")]
    assert later.progress(TARGETS) == "Monetate confirmed 1 of 3 customer ID(s) gone; waiting for 1 FOUND, 1 PENDING"


def test_not_found_at_the_first_look_is_gone_unverified_never_confirmed(tmp_path):
    state = watch(tmp_path)
    state.observe({"C1": "NOT_FOUND", "C2": "UNKNOWN"}, TARGETS, SENT)
    state.observe({"C2": "NOT_FOUND"}, TARGETS, "2024-05-02T02:00:00.000000Z")  # UNKNOWN is not "seen held"
    assert (state.outcome("C1"), state.outcome("C2")) == ("gone_unverified", "gone_unverified")
    ledger = DeletionLedger(tmp_path / "ledger")
    assert ledger.confirmed_at("C1") is None and ledger.unconfirmed(["C1", "C2"]) == ["C1", "C2"]
    assert ledger.unconfirmed(["C1", "C2"], settled=SETTLED) == []
    assert state.progress(TARGETS) == ("Monetate confirmed 0 of 3 customer ID(s) gone; 2 gone at the first look "
                                       "(unverified); waiting for 1 UNCHECKED")


def test_the_precheck_settles_ids_not_held_and_counts_held_ones_as_seen(tmp_path):
    state = watch(tmp_path)
    state.take_precheck({"C1": True, "C2": False}, SENT)
    assert state.pending(TARGETS) == ["C1", "C3"] and state.outcome("C2") == "not_held"
    state.observe({"C1": "NOT_FOUND", "C3": "NOT_FOUND"}, TARGETS, "2024-05-02T02:00:00.000000Z")
    assert [state.outcome(c) for c in TARGETS] == ["confirmed", "not_held", "gone_unverified"]
    assert [r["customer_id"] for r in DeletionLedger(tmp_path / "ledger").records()] == ["C1", "C3"]  # C2: the
    # submit task wrote its not_held record
    again = watch(tmp_path)
    again.take_precheck({"C1": True, "C2": False}, "2030-01-01T00:00:00.000000Z")
    assert again.settled["C2"] == ["not_held", SENT]  # settled once, not moved by a later poke
    summary = again.summary(TARGETS, inline_max=10)
    assert {k: summary[k] for k in ("total", "confirmed", "not_held", "gone_unverified")} == {
        "total": 3, "confirmed": 1, "not_held": 1, "gone_unverified": 1}
    assert summary["outcomes"] == {"C1": "confirmed", "C2": "not_held", "C3": "gone_unverified"}
    assert summary["first_confirmed_at"] == summary["last_confirmed_at"] == "2024-05-02T02:00:00.000000Z"
    assert "outcomes" not in again.summary(TARGETS, inline_max=2)


def test_the_per_id_report_says_each_outcome(tmp_path):
    state = watch(tmp_path, hash_ids=True)
    state.take_precheck({"C2": False}, SENT)
    state.observe({"C1": "FOUND"}, TARGETS, SENT)
    path = state.write_report(tmp_path / "work", "r.jsonl", TARGETS)
    lines = [json.loads(line) for line in Path(path).read_text().splitlines()]
    assert lines == [
        {"customer_id": hash_id("C1"), "status": "FOUND", "outcome": None, "confirmed_at": None},
        {"customer_id": hash_id("C2"), "status": "NOT_FOUND", "outcome": "not_held", "confirmed_at": SENT},
        {"customer_id": hash_id("C3"), "status": "UNCHECKED", "outcome": None, "confirmed_at": None},
    ]


def test_a_state_file_of_version_1_reads_its_confirmations(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / f"{KEY}.state.json").write_text(json.dumps(
        {"version": 1, "started_at": SENT, "confirmed": {"C1": SENT}, "last_status": {"C2": "PENDING"}}))
    state = watch(tmp_path)
    assert state.outcome("C1") == "confirmed" and state.pending(TARGETS) == ["C2", "C3"]


def test_each_confirmation_reaches_the_ledger_once_with_its_provenance(tmp_path):
    state = watch(tmp_path)
    state.take_precheck({"C1": True, "C2": True}, SENT)
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


# -- the receipt proves what was submitted (issue 13, item 1) ------------------------------------------

def ids_file(tmp_path, ids=("C1", "C2")):
    path = tmp_path / "submit.ids.ndjson"
    path.write_bytes(b"".join(json.dumps({"customer_id": c, "delete_request_time": ASKED}).encode() + b"\n"
                              for c in ids))
    return path


def receipt_for(path, **changes):
    data = path.read_bytes()
    receipt = {"dataset": "gdpr", "count": data.count(b"\n"), "ids_path": str(path),
               "ids_sha256": hashlib.sha256(data).hexdigest(), "dry_run": False}
    return {**receipt, **changes}


def test_a_complete_receipt_passes_and_its_file_reads_back(tmp_path):
    path = ids_file(tmp_path)
    receipt = receipt_for(path)
    check_receipt(receipt, privacy_dataset=None, task_id="wait")
    check_receipt(receipt, privacy_dataset="gdpr", task_id="wait")
    assert read_submitted_ids(path, sha256=receipt["ids_sha256"], count=2) == {"C1": ASKED, "C2": ASKED}


@pytest.mark.parametrize(("changes", "says"), [
    ({"dry_run": True}, "is from a dry run"),
    ({"ids_path": None}, "has no ids_path"),
    ({"ids_sha256": None}, "has no ids_sha256"),
    ({"count": None}, "has no count"),
    ({"count": True}, "has no count"),
    ({"dataset": "other"}, "is for privacy dataset 'other', but privacy_dataset='gdpr'"),
])
def test_a_receipt_that_proves_nothing_is_refused(tmp_path, changes, says):
    with pytest.raises(ReceiptError, match=says):
        check_receipt(receipt_for(ids_file(tmp_path), **changes), privacy_dataset="gdpr", task_id="wait")


def test_the_ids_file_must_match_the_receipt(tmp_path):
    path = ids_file(tmp_path)
    receipt = receipt_for(path)
    with pytest.raises(ReceiptError, match="the receipt's count is 3, the file holds 2"):
        read_submitted_ids(path, sha256=receipt["ids_sha256"], count=3)
    path.write_bytes(path.read_bytes().replace(b"C2", b"C9"))
    with pytest.raises(ReceiptError, match=r"fingerprint \(sha256\) differs"):
        read_submitted_ids(path, sha256=receipt["ids_sha256"], count=2)
    path.unlink()
    with pytest.raises(ReceiptError, match=r"does not exist.*deletes the IDs file once the ledger holds"):
        read_submitted_ids(path, sha256=receipt["ids_sha256"])


def test_delete_submitted_ids_removes_the_file_and_tolerates_its_absence(tmp_path):
    path = ids_file(tmp_path)
    delete_submitted_ids(str(path))
    assert not path.exists()
    delete_submitted_ids(path)
