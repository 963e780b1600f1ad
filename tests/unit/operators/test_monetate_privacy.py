"""MonetateSubmitDeletionsOperator with a fake Monetate: its receipt, and the ledger of a half-finished run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_monetate.exceptions import ApiForbiddenError
from airflow_provider_monetate.monetate.privacy import DeletionLedger
from airflow_provider_monetate.monetate.privacy._watch import check_receipt, read_submitted_ids
from airflow_provider_monetate.operators import monetate_privacy
from airflow_provider_monetate.operators.monetate_privacy import MonetateSubmitDeletionsOperator


class FakeMonetate:
    """The calls the operator makes, over a privacy dataset that exists; ``refuse_post`` fails one post."""

    def __init__(self) -> None:
        self.posted: list[list[str]] = []
        self.refuse_post: int | None = None  # 1-based

    def hook(self, conn_id: str, pool_size: int = 4) -> SimpleNamespace:
        return SimpleNamespace(api=SimpleNamespace(retries=0), post_rows=self.post_rows,
                               find_schema=lambda name: {"type": "customer_data_privacy"})

    def post_rows(self, dataset: str, body: bytes, retry_ambiguous: bool) -> None:
        if self.refuse_post == len(self.posted) + 1:
            self.refuse_post = None
            raise ApiForbiddenError("Monetate", "POST", f"/data/{dataset}", 403, ["forbidden"])
        self.posted.append([row["customer_id"] for row in json.loads(body)["schema_rows"]])


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
