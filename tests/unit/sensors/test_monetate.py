"""MonetateDeletionSensor with a fake status endpoint: what it accepts as proof, and what it leaves on disk."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_monetate.exceptions import ReceiptError
from airflow_provider_monetate.monetate.privacy import DeletionLedger, DeletionStatus, LedgerEntry
from airflow_provider_monetate.sensors.monetate import MonetateDeletionSensor

ASKED = "2024-05-01T09:30:00.000000Z"


class FakeStatuses:
    """Answers every status call with ``NOT_FOUND`` (or what ``statuses`` says) and counts the calls."""

    def __init__(self, statuses: dict[str, DeletionStatus] | None = None) -> None:
        self.statuses = statuses or {}
        self.calls: list[tuple[str, str]] = []

    def deletion_status(self, dataset: str, customer_id: str) -> tuple[DeletionStatus, str]:
        self.calls.append((dataset, customer_id))
        return self.statuses.get(customer_id, DeletionStatus.NOT_FOUND), ""


@pytest.fixture
def monetate(monkeypatch, tmp_path) -> FakeStatuses:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    fake = FakeStatuses()
    monkeypatch.setattr(MonetateDeletionSensor, "hook", property(lambda self: fake))
    return fake


def context():
    return {"ti": SimpleNamespace(dag_id="erase", run_id="run-1", task_id="wait", map_index=-1, try_number=1)}


def sensor(**kwargs) -> MonetateDeletionSensor:
    return MonetateDeletionSensor(task_id="wait", deferrable=False, mode="poke", **kwargs)


def submission(tmp_path, ids=("C1", "C2"), held=None, **changes):
    """An IDs file and the receipt the submit operator writes for it (``held``: what its pre-check saw,
    default every ID held)."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    path = work / "erase__run-1__submit__-1.0123456789abcdef.ids.ndjson"
    held = dict.fromkeys(ids, True) if held is None else held
    path.write_bytes(b"".join(json.dumps({"customer_id": c, "delete_request_time": ASKED,
                                          **({"held": held[c]} if c in held else {})}).encode() + b"\n"
                              for c in ids))
    receipt = {
        "dataset": "gdpr", "count": len(ids), "submitted_at": "2024-05-01T10:00:00.000000Z",
        "delete_request_time": ASKED, "ids_path": str(path),
        "ids_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "work_dir": str(work), "ledger": str(tmp_path / "ledger"), "hash_ids": False, "dry_run": False,
    }
    return path, {**receipt, **changes}


# -- what proves a submission (issue 13, item 1) -----------------------------------------------------------

@pytest.mark.parametrize(("receipt", "says"), [
    ({"dataset": "x", "count": 3}, "has no ids_path: it does not say which IDs were submitted"),
    (None, r"the submit task returned nothing \(receipt is None\)"),
    ("{'dataset': 'gdpr'}", "receipt must be the submit task's XCom value"),
])
def test_a_receipt_that_names_no_ids_fails_before_any_status_call(monetate, receipt, says):
    with pytest.raises(ReceiptError, match=says):
        sensor(receipt=receipt).poke(context())
    assert monetate.calls == []


@pytest.mark.parametrize(("changes", "says"), [
    ({"dry_run": True}, "dry run"),
    ({"count": 3}, "the receipt's count is 3, the file holds 2"),
    ({"ids_sha256": "0" * 64}, "fingerprint"),
])
def test_a_receipt_that_does_not_match_its_ids_file_confirms_nothing(monetate, tmp_path, changes, says):
    _, receipt = submission(tmp_path, **changes)
    with pytest.raises(ReceiptError, match=says):
        sensor(receipt=receipt).poke(context())
    assert monetate.calls == []
    assert list(DeletionLedger(receipt["ledger"]).records()) == []


def test_privacy_dataset_must_be_the_receipts(monetate, tmp_path):
    _, receipt = submission(tmp_path)
    with pytest.raises(ReceiptError, match="is for privacy dataset 'gdpr', but privacy_dataset='other'"):
        sensor(receipt=receipt, privacy_dataset="other").poke(context())
    assert sensor(receipt=receipt, privacy_dataset="gdpr").poke(context()) is True


def test_a_short_list_of_ids_needs_no_receipt(monetate, tmp_path):
    wait = sensor(customer_ids=[" C1 ", "C2"], privacy_dataset="gdpr", ledger=str(tmp_path / "ledger"),
                  work_dir=str(tmp_path / "work"))
    assert wait.poke(context()) is True
    assert sorted(monetate.calls) == [("gdpr", "C1"), ("gdpr", "C2")]
    report = wait._finish(context())
    # NOT_FOUND at the first look, never seen held: gone, but not a deletion anyone saw happen
    assert (report["confirmed"], report["gone_unverified"]) == (0, 2)


# -- what stays on disk (item 16) ------------------------------------------------------------------------

def test_success_deletes_the_ids_file_and_the_state_and_keeps_a_private_report(monetate, tmp_path):
    ids_path, receipt = submission(tmp_path)
    monetate.statuses = {"C2": DeletionStatus.PENDING}
    wait = sensor(receipt=receipt)
    assert wait.poke(context()) is False
    (state,) = Path(receipt["work_dir"]).glob("*.state.json")
    assert state.stat().st_mode & 0o777 == 0o600
    monetate.statuses = {}
    assert wait.poke(context()) is True
    report = wait._finish(context())
    assert not ids_path.exists() and not state.exists()
    report_file = Path(report["report_path"])
    assert report_file.stat().st_mode & 0o777 == 0o600
    lines = [json.loads(line) for line in report_file.read_text().splitlines()]
    assert [(line["status"], line["outcome"]) for line in lines] == [("NOT_FOUND", "confirmed")] * 2
    ledger = DeletionLedger(receipt["ledger"])
    assert ledger.unconfirmed(["C1", "C2"]) == []


def test_a_sensor_run_again_after_success_says_where_the_ids_went(monetate, tmp_path):
    _, receipt = submission(tmp_path)
    wait = sensor(receipt=receipt)
    assert wait.poke(context()) is True
    wait._finish(context())
    with pytest.raises(ReceiptError, match=r"does not exist.*its per-ID report is in the same folder"):
        sensor(receipt=receipt).poke(context())


# -- outcomes under every reading (issue 12) ---------------------------------------------------------------

def test_ids_the_precheck_found_not_held_are_settled_without_a_call(monetate, tmp_path):
    _, receipt = submission(tmp_path, ids=("C1", "C2", "C3"), held={"C1": True, "C2": False})
    DeletionLedger(receipt["ledger"]).append(  # the submit task wrote C2's not_held record
        [LedgerEntry("C2", "monetate", "not_held", ASKED, receipt["submitted_at"], receipt["submitted_at"])])
    wait = sensor(receipt=receipt)
    assert wait.poke(context()) is True
    assert sorted(cid for _, cid in monetate.calls) == ["C1", "C3"]
    report = wait._finish(context())
    assert report["outcomes"] == {"C1": "confirmed", "C2": "not_held", "C3": "gone_unverified"}
    assert (report["confirmed"], report["not_held"], report["gone_unverified"]) == (1, 1, 1)


def test_an_unknown_status_keeps_waiting_and_the_timeout_says_why(monetate, tmp_path):
    from airflow_provider_monetate._compat import AirflowSensorTimeout

    _, receipt = submission(tmp_path)
    monetate.statuses = {"C2": DeletionStatus.UNKNOWN}
    with pytest.raises(AirflowSensorTimeout) as info:
        sensor(receipt=receipt, timeout=0).execute(context())
    message = str(info.value)
    assert "C2 (UNKNOWN)" in message and "no document maps the codes" in message
    assert DeletionLedger(receipt["ledger"]).confirmed_at("C2") is None


def test_whole_float_ids_are_watched_as_integers_and_others_refused(monetate, tmp_path):
    kwargs = {"privacy_dataset": "gdpr", "ledger": str(tmp_path / "ledger"), "work_dir": str(tmp_path / "work")}
    assert sensor(customer_ids=[12345.0, "C2"], **kwargs).poke(context()) is True
    assert sorted(cid for _, cid in monetate.calls) == ["12345", "C2"]
    with pytest.raises(ValueError, match=r"customer_ids\[1\]: a number with a fraction") as info:
        sensor(customer_ids=["C1", 12345.5], **kwargs).poke(context())
    assert "12345" not in str(info.value)
