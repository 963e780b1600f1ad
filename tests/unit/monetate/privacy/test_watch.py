"""The deletion sensor's working files: the submitted-IDs file and the confirmation state (pure, no Airflow)."""

from __future__ import annotations

import json

from airflow_provider_monetate.monetate.privacy._ledger import DeletionLedger, hash_id
from airflow_provider_monetate.monetate.privacy._watch import DeletionWatch, read_submitted_ids

KEY = "erase__manual_1__wait__-1.0123456789abcdef"
ASKED = "2024-05-01T09:30:00.000000Z"
SENT = "2024-05-01T10:00:00.000000Z"


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
