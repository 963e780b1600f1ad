"""MonetateSubmitDeletionsOperator with a fake Monetate: its receipt, and the ledger of a half-finished run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_monetate.exceptions import ApiForbiddenError, ApiValidationError, TooManyRejectedRowsError
from airflow_provider_monetate.lineage import LineageDataset
from airflow_provider_monetate.monetate.privacy import DeletionLedger, DeletionStatus
from airflow_provider_monetate.monetate.privacy._watch import check_receipt, read_submitted, read_submitted_ids
from airflow_provider_monetate.operators import monetate_privacy
from airflow_provider_monetate.operators.monetate_privacy import MonetateSubmitDeletionsOperator


class FakeMonetate:
    """The calls the operator makes, over a privacy dataset that exists; ``refuse_post`` fails one post.

    ``takes`` is the body the fake server accepts (``schema_rows`` or ``flat``; the other is a 400);
    ``statuses`` what the status endpoint says per ID (default FOUND: Monetate holds everyone).
    """

    def __init__(self) -> None:
        self.posted: list[list[str]] = []
        self.refuse_post: int | None = None  # 1-based
        self.takes = "schema_rows"
        self.statuses: dict[str, DeletionStatus] = {}
        self.calls: list[str] = []  # "status" and "post", in order

    def hook(self, conn_id: str, pool_size: int = 4) -> SimpleNamespace:
        return SimpleNamespace(api=SimpleNamespace(retries=0), post_rows=self.post_rows,
                               deletion_status=self.deletion_status,
                               find_schema=lambda name: {"type": "customer_data_privacy"},
                               dataset_lineage=lambda name: LineageDataset("https://api.monetate.net", name))

    def deletion_status(self, dataset: str, customer_id: str) -> tuple[DeletionStatus, str]:
        self.calls.append("status")
        return self.statuses.get(customer_id, DeletionStatus.FOUND), ""

    def post_rows(self, dataset: str, body: bytes, retry_ambiguous: bool) -> None:
        self.calls.append("post")
        if self.refuse_post == len(self.posted) + 1:
            self.refuse_post = None
            raise ApiForbiddenError("Monetate", "POST", f"/data/{dataset}", 403, ["forbidden"])
        decoded = json.loads(body)
        if (self.takes == "flat") == ("schema_rows" in decoded):
            raise ApiValidationError("Monetate", "POST", f"/data/{dataset}", 400, ["wrong body shape"])
        self.posted.append([row["customer_id"] for row in decoded.get("schema_rows", [decoded])])


@pytest.fixture
def monetate(monkeypatch, tmp_path) -> FakeMonetate:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    fake = FakeMonetate()
    monkeypatch.setattr(monetate_privacy, "MonetateHook", fake.hook)
    return fake


def submit(tmp_path, try_number=1, **kwargs):
    ti = SimpleNamespace(dag_id="erase", run_id="run-1", task_id="submit", map_index=-1, try_number=try_number)
    kwargs.setdefault("customer_ids", [f"C{i}" for i in range(1000)])
    operator = MonetateSubmitDeletionsOperator(task_id="submit", privacy_dataset="gdpr", max_in_flight=1,
                                               ledger=str(tmp_path / "ledger"), work_dir=str(tmp_path / "work"),
                                               **kwargs)
    return operator.execute({"ti": ti})


# -- the receipt proves what was submitted (issue 13, item 1) -------------------------------------------

def test_the_receipt_carries_the_count_and_fingerprint_of_a_private_ids_file(monetate, tmp_path):
    receipt = submit(tmp_path, customer_ids=["C1", "C2", "C1"])
    ids_file = Path(receipt["ids_path"])
    assert receipt["count"] == 2 and receipt["dataset"] == "gdpr" and receipt["dry_run"] is False
    assert receipt["ids_sha256"] == hashlib.sha256(ids_file.read_bytes()).hexdigest()
    assert ids_file.stat().st_mode & 0o777 == 0o600
    check_receipt(receipt, privacy_dataset="gdpr", task_id="wait")
    assert list(read_submitted_ids(ids_file, sha256=receipt["ids_sha256"], count=2)) == ["C1", "C2"]
    assert (receipt["precheck"], receipt["held"], receipt["not_held"]) == (True, 2, 0)
    assert (receipt["body"], receipt["delete_request_time_format"]) == ("schema_rows", "datetime")


def test_a_dry_run_receipt_names_no_ids_file_and_keeps_none(monetate, tmp_path):
    receipt = submit(tmp_path, customer_ids=["C1", "C2"], dry_run=True)
    assert receipt["dry_run"] and receipt["count"] == 2
    assert receipt["ids_path"] is None and receipt["ids_sha256"] is None
    assert not (tmp_path / "work").exists() or list((tmp_path / "work").iterdir()) == []
    assert monetate.posted == [] and not DeletionLedger(tmp_path / "ledger").has_parts()


# -- a half-finished submission leaves its proof (item 2) ------------------------------------------------

def test_each_acknowledged_batch_is_in_the_ledger_before_the_task_fails(monetate, tmp_path):
    monetate.refuse_post = 2
    with pytest.raises(ApiForbiddenError):
        submit(tmp_path)
    (acknowledged,) = monetate.posted
    records = list(DeletionLedger(tmp_path / "ledger").records())
    assert [r["customer_id"] for r in records] == acknowledged and len(acknowledged) == 500
    assert monetate.calls[:1000] == ["status"] * 1000  # every ID asked before the first post
    assert {(r["status"], r["system"], r["dataset"], r["run_id"]) for r in records} == {
        ("submitted", "monetate", "gdpr", "run-1")}
    assert not list((tmp_path / "work").glob("*.ids.ndjson"))  # the IDs file is published only on success


def test_a_retry_records_only_the_batches_it_sends(monetate, tmp_path):
    monetate.refuse_post = 2
    with pytest.raises(ApiForbiddenError):
        submit(tmp_path)
    receipt = submit(tmp_path, try_number=2)
    assert receipt["rows_already_sent"] == 500 and receipt["count"] == 1000
    stored = [r["customer_id"] for r in DeletionLedger(tmp_path / "ledger").records()]
    assert len(stored) == len(set(stored)) == 1000
    assert len(read_submitted_ids(Path(receipt["ids_path"]), sha256=receipt["ids_sha256"], count=1000)) == 1000


# -- the pre-check: confirmed is told from nothing to erase (issue 12) ----------------------------------------

def test_ids_monetate_does_not_hold_are_recorded_not_held_in_the_ledger_the_ids_file_and_the_receipt(monetate,
                                                                                                      tmp_path):
    monetate.statuses = {"C2": DeletionStatus.NOT_FOUND, "C3": DeletionStatus.PENDING}
    receipt = submit(tmp_path, customer_ids=["C1", "C2", "C3"])
    assert monetate.calls == ["status"] * 3 + ["post"] and monetate.posted == [["C1", "C2", "C3"]]  # all sent
    assert (receipt["held"], receipt["not_held"]) == (2, 1)
    submitted = read_submitted(Path(receipt["ids_path"]), sha256=receipt["ids_sha256"], count=3)
    assert submitted.held == {"C1": True, "C2": False, "C3": True}
    ledger = DeletionLedger(receipt["ledger"])
    assert [r["status"] for r in ledger.records(customer_id="C2")] == ["submitted", "not_held"]
    assert [r["status"] for r in ledger.records(customer_id="C1")] == ["submitted"]
    assert not list((tmp_path / "work").glob("*.precheck.json"))  # its answers are in the IDs file now


def test_without_the_precheck_no_status_is_asked(monetate, tmp_path):
    receipt = submit(tmp_path, customer_ids=["C1", "C2"], precheck=False)
    assert monetate.calls == ["post"]
    assert (receipt["precheck"], receipt["held"], receipt["not_held"]) == (False, None, None)
    assert read_submitted(Path(receipt["ids_path"])).held == {}


def test_a_retry_reuses_the_first_tries_precheck(monetate, tmp_path):
    monetate.refuse_post = 2
    monetate.statuses = {"C0": DeletionStatus.NOT_FOUND}
    with pytest.raises(ApiForbiddenError):
        submit(tmp_path)
    monetate.statuses = {"C0": DeletionStatus.PENDING}  # after the first try's submission, under one reading
    monetate.calls.clear()
    receipt = submit(tmp_path, try_number=2)
    assert "status" not in monetate.calls and receipt["not_held"] == 1
    assert read_submitted(Path(receipt["ids_path"])).held["C0"] is False


# -- the body shape (issue 12) ------------------------------------------------------------------------------

def test_auto_switches_to_flat_bodies_after_a_400_and_keeps_them(monetate, tmp_path):
    monetate.takes = "flat"
    receipt = submit(tmp_path, customer_ids=[f"C{i}" for i in range(5)], batch_size=2)
    assert monetate.posted == [[f"C{i}"] for i in range(5)]
    assert monetate.calls.count("post") == 6  # one refused schema_rows post, then one per ID
    assert (receipt["body"], receipt["delete_request_time_format"]) == ("flat", "datetime")
    assert len({r["customer_id"] for r in DeletionLedger(receipt["ledger"]).records()}) == 5


def test_a_pinned_body_fails_on_a_400_saying_what_was_refused(monetate, tmp_path):
    monetate.takes = "flat"
    with pytest.raises(ApiValidationError, match="wrong body shape"):
        submit(tmp_path, customer_ids=["C1"], body="schema_rows")
    assert monetate.posted == [] and not DeletionLedger(tmp_path / "ledger").has_parts()


def test_flat_rows_acknowledged_before_a_failure_are_in_the_ledger(monetate, tmp_path):
    monetate.takes, monetate.refuse_post = "flat", 3
    with pytest.raises(ApiForbiddenError):
        submit(tmp_path, customer_ids=["C1", "C2", "C3", "C4"], body="flat")
    assert [r["customer_id"] for r in DeletionLedger(tmp_path / "ledger").records()] == ["C1", "C2"]


@pytest.mark.parametrize(("option", "value"), [("body", "list"), ("delete_request_time_format", "epoch"),
                                               ("precheck_concurrency", 0)])
def test_unknown_choices_fail_when_the_dag_is_parsed(option, value):
    with pytest.raises(ValueError, match=option):
        MonetateSubmitDeletionsOperator(task_id="submit", privacy_dataset="gdpr", customer_ids=["C1"],
                                        **{option: value})


# -- IDs as text (issue 12) -----------------------------------------------------------------------------------

def test_whole_float_ids_are_sent_as_integers_and_others_rejected_naming_the_row(monetate, tmp_path):
    receipt = submit(tmp_path, customer_ids=[12345.0, "C2", 7], max_rejected_rows=0)
    assert monetate.posted == [["12345", "C2", "7"]] and receipt["count"] == 3
    with pytest.raises(TooManyRejectedRowsError, match=r"row 2 field 'customer_id': a number with a fraction") as info:
        submit(tmp_path, customer_ids=["C1", 12345.5], try_number=2)
    assert "12345" not in str(info.value)
