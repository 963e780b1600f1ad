"""The erasure request register beside the ledger: open, ask, extend, deny, read back (pure, no Airflow)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.monetate.privacy._ledger import DeletionLedger, LedgerEntry, hash_id
from airflow_provider_monetate.monetate.privacy._register import ErasureRegister
from tests.support.fake_object_store import FakeObjectPath

RECEIVED = "2024-05-01T09:30:00.000000Z"


def status(cid, system, status, at, request_id="R-1"):
    return LedgerEntry(cid, system, status, RECEIVED, at, None if status == "submitted" else at,
                       request_id=request_id)


def test_a_request_opens_once_with_its_due_date(tmp_path):
    register = ErasureRegister(tmp_path)
    opened = register.open("R-1", received_at="2024-05-01T09:30:00Z", regime="gdpr", manner="web form")
    assert (opened.received_at, opened.due_at, opened.regime, opened.manner) == (
        RECEIVED, "2024-06-01T09:30:00.000000Z", "gdpr", "web form")
    again = ErasureRegister(tmp_path).open("R-1", received_at=RECEIVED, regime="GDPR")  # idempotent
    assert again.due_at == opened.due_at
    assert [e["event"] for e in register.events()] == ["opened"]


def test_a_request_reopened_with_other_facts_is_refused_before_anything_is_written(tmp_path):
    register = ErasureRegister(tmp_path)
    register.open("R-1", received_at=RECEIVED, regime="gdpr")
    with pytest.raises(ConfigurationError, match=r"registered as received 2024-05-01T09:30:00\.000000Z under gdpr"):
        register.open("R-1", received_at=RECEIVED, regime="ccpa")
    with pytest.raises(ConfigurationError, match="in the future"):
        register.open("R-2", received_at=datetime.now(timezone.utc) + timedelta(days=1), regime="gdpr")
    with pytest.raises(ConfigurationError, match="received_at"):
        register.open("R-3", received_at="yesterday", regime="gdpr")
    assert len(list(register.events())) == 1


def test_per_system_and_customer_the_timeline_comes_from_the_ledger(tmp_path):
    register = ErasureRegister(tmp_path)
    register.open("R-1", received_at=RECEIVED, regime="gdpr")
    register.ask("R-1", "monetate", ["C1", "C2"])
    register.ask("R-1", "acquia_cdp", ["C1", "C2"])
    DeletionLedger(tmp_path).append([
        status("C1", "monetate", "submitted", "2024-05-01T10:00:00.000000Z"),
        status("C2", "monetate", "submitted", "2024-05-01T10:00:00.000000Z"),
        status("C1", "monetate", "confirmed", "2024-05-03T02:00:00.000000Z"),
        status("C1", "acquia_cdp", "submitted", "2024-05-01T11:00:00.000000Z"),
        status("C9", "monetate", "submitted", "2024-05-01T11:00:00.000000Z", request_id="OTHER"),
    ])
    request = register.request("R-1")
    monetate, cdp = request.systems["monetate"], request.systems["acquia_cdp"]
    assert monetate.timeline["C1"] == [("submitted", "2024-05-01T10:00:00.000000Z"),
                                       ("confirmed", "2024-05-03T02:00:00.000000Z")]
    assert monetate.counts() == {"confirmed": 1, "submitted": 1} and cdp.counts() == {"submitted": 1, "not_sent": 1}
    assert not request.closed and "C9" not in monetate.customers


def test_hashed_registers_keep_no_raw_id(tmp_path):
    register = ErasureRegister(tmp_path, hash_ids=True)
    register.open("R-1", received_at=RECEIVED, regime="ccpa")
    register.ask("R-1", "monetate", ["C42"])
    text = "".join(p.read_text() for p in tmp_path.iterdir() if p.suffix == ".jsonl")
    assert "C42" not in text and hash_id("C42") in text
    progress = register.request("R-1").systems["monetate"]
    assert progress.customers == [hash_id("C42")] and progress.hashed == {hash_id("C42")}


def test_extensions_and_denials_are_recorded_with_their_reasons(tmp_path):
    register = ErasureRegister(tmp_path)
    register.open("R-1", received_at=RECEIVED, regime="gdpr")
    extended = register.extend("R-1", due_at="2024-07-15", reason="many systems")
    assert extended.due_at == "2024-07-15T00:00:00.000000Z" and extended.first_due_at == "2024-06-01T09:30:00.000000Z"
    assert extended.extensions[0]["reason"] == "many systems"
    denied = register.deny("R-1", basis="identity not verified")
    assert denied.closed and denied.nature_of_response() == "denied: identity not verified"
    with pytest.raises(ConfigurationError, match="No erasure request 'R-404'"):
        register.extend("R-404", due_at="2024-07-01", reason="x")


def test_erasure_calls_are_counted_for_a_weekly_limit(tmp_path):
    register = ErasureRegister(tmp_path)
    register.record_erasure_call("acquia_cdp", 200, request_id="R-1")
    register.record_erasure_call("acquia_cdp", 50)
    register.record_erasure_call("elsewhere", 7)
    week_ago = datetime.now(timezone.utc) - timedelta(days=7)
    assert [n for _, n in register.erasure_calls("acquia_cdp", week_ago)] == [200, 50]
    assert register.erasure_calls("acquia_cdp", datetime.now(timezone.utc) + timedelta(seconds=1)) == []


def test_the_register_is_chained_with_the_ledger(tmp_path):
    register = ErasureRegister(tmp_path)
    register.open("R-1", received_at=RECEIVED, regime="gdpr")
    DeletionLedger(tmp_path).append([status("C1", "monetate", "submitted", RECEIVED)])
    register.ask("R-1", "monetate", ["C1"])
    assert DeletionLedger(tmp_path).verify().ok
    part = min(p for p in tmp_path.iterdir() if p.name.startswith("register-") and p.suffix == ".jsonl")
    part.write_text(part.read_text().replace("gdpr", "ccpa"))
    assert not DeletionLedger(tmp_path).verify().ok


def test_mapped_tasks_open_and_ask_at_once_on_object_storage():
    class Objects(dict):  # listed from a snapshot, as a real store lists while others write
        def __iter__(self):
            return iter(list(self.keys()))

    objects = Objects()

    def task(n: int) -> None:
        register = ErasureRegister(FakeObjectPath(objects, "s3://bucket/ledger"))
        register.open("R-1", received_at=RECEIVED, regime="gdpr")
        register.ask("R-1", "monetate", [f"C{n}-{i}" for i in range(3)])

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(task, range(6)))
    register = ErasureRegister(FakeObjectPath(objects, "s3://bucket/ledger"))
    request = register.request("R-1")
    assert len(request.systems["monetate"].customers) == 18 and request.conflicts == []
    assert register.ledger.verify().ok
