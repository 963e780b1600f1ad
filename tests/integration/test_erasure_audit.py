"""Erasure that passes an audit, against the emulator: a GDPR request across Monetate and Acquia CDP from
submitted to confirmed with its due date, the deadline guard, the export, a tampered ledger, a customer
that reappears, and a mass deletion refused."""

from __future__ import annotations

import csv
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_monetate.exceptions import ErasureOverdueError, MassDeletionError
from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook
from airflow_provider_monetate.monetate.privacy._ledger import DeletionLedger
from airflow_provider_monetate.monetate.privacy._register import ErasureRegister
from airflow_provider_monetate.operators.acquia_cdp import AcquiaCdpDeleteCustomersOperator
from airflow_provider_monetate.operators.acquia_cdp_erasure import AcquiaCdpEraseCustomersOperator
from airflow_provider_monetate.operators.monetate import MonetateCreateDatasetOperator, MonetatePostRecordsOperator
from airflow_provider_monetate.operators.monetate_privacy import MonetateSubmitDeletionsOperator
from airflow_provider_monetate.operators.monetate_reverify import MonetateReverifyErasuresOperator
from airflow_provider_monetate.sensors.erasure import ErasureDeadlineSensor
from airflow_provider_monetate.sensors.monetate import MonetateDeletionSensor
from airflow_provider_monetate.testing.readings import readings_of

pytestmark = pytest.mark.integration

DAY = 86_400
IDS = ["C1", "C2", "C3", "C4", "C5"]
PROFILE_FIELDS = {"customer_id": {"data_type": "STRING", "identifier": True}, "tier": {"data_type": "STRING"}}


@pytest.fixture(autouse=True)
def setup(emulator, monkeypatch, tmp_path, fast_retries):
    monkeypatch.setenv("AIRFLOW_CONN_MONETATE_DEFAULT", emulator.monetate_conn_json())
    monkeypatch.setenv("AIRFLOW_CONN_ACQUIA_CDP_DEFAULT", emulator.cdp_conn_json(token=emulator.issue_cdp_token()))
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    fast_retries(max_attempts=3)


@pytest.fixture
def ledger(tmp_path) -> Path:
    return tmp_path / "ledger"


@pytest.fixture
def logs(caplog, capfd):
    """Everything logged so far: stdlib records (Airflow 2) and structlog output (Airflow 3)."""
    caplog.set_level(logging.INFO)
    return lambda: caplog.text + "".join(capfd.readouterr())


def context(task_id, run_id="run-1"):
    return {"ti": SimpleNamespace(dag_id="gdpr", run_id=run_id, task_id=task_id, map_index=-1, try_number=1)}


def load_profiles(ids, run_id="run-1"):
    """Monetate holds these customers (loaded into an ordinary dataset); returns the load summary."""
    MonetateCreateDatasetOperator(task_id="create", name="profiles", type="attribute", fields=PROFILE_FIELDS,
                                  allow_customer_dataset=True).execute(context("create"))
    return MonetatePostRecordsOperator(task_id="load", dataset="profiles", records=[
        {"customer_id": c, "tier": "gold"} for c in ids]).execute(context("load", run_id=run_id))


def hold_in_cdp(ids):
    AcquiaCdpHook().post_entities({"customers": [{"SourceCustomerNumber": c, "SourceSystemID": "crm"} for c in ids]})


def emulator_now(emulator):
    return datetime.fromtimestamp(emulator.clock.now(), timezone.utc)


def gdpr_request(emulator, ledger, received_at):
    """A GDPR request for IDS, sent to Monetate and CDP; returns the submit task's receipt."""
    load_profiles(IDS)
    hold_in_cdp(IDS)
    request = {"request_id": "GDPR-7", "received_at": received_at, "regime": "gdpr", "request_manner": "web form"}
    receipt = MonetateSubmitDeletionsOperator(task_id="submit", privacy_dataset="gdpr", customer_ids=IDS,
                                              create_dataset_if_missing=True, ledger=str(ledger),
                                              **request).execute(context("submit"))
    AcquiaCdpEraseCustomersOperator(task_id="erase_cdp", customer_ids=IDS, ledger=str(ledger),
                                    **request).execute(context("erase_cdp"))
    return receipt


def test_a_gdpr_request_for_5_ids_across_monetate_and_cdp_goes_from_submitted_to_confirmed(emulator, ledger):
    received = "2025-03-03T09:15:00Z"
    receipt = gdpr_request(emulator, ledger, received)
    assert receipt["request_id"] == "GDPR-7"
    register = ErasureRegister(ledger)
    request = register.request("GDPR-7")
    assert (request.received_at, request.due_at) == ("2025-03-03T09:15:00.000000Z", "2025-04-03T09:15:00.000000Z")
    assert {s: p.counts() for s, p in request.systems.items()} == {"monetate": {"submitted": 5},
                                                                   "acquia_cdp": {"submitted": 5}}
    assert not request.closed and request.response_at is None

    emulator.clock.advance(DAY)  # Monetate's nightly batch
    wait = MonetateDeletionSensor(task_id="wait", receipt=receipt, deferrable=False, mode="poke", poke_interval=1)
    assert wait.poke(context("wait")) is True
    emulator.clock.advance(30 * DAY)  # CDP's 30-day SLA (the default reading)
    AcquiaCdpEraseCustomersOperator(task_id="erase_cdp", customer_ids=IDS, ledger=str(ledger), request_id="GDPR-7",
                                    received_at=received).execute(context("erase_cdp", run_id="confirm"))

    request = register.request("GDPR-7")
    assert {s: p.counts() for s, p in request.systems.items()} == {"monetate": {"confirmed": 5},
                                                                   "acquia_cdp": {"confirmed": 5}}
    timeline = request.systems["acquia_cdp"].timeline["C3"]
    assert [status for status, _ in timeline] == ["submitted", "confirmed"]
    assert request.closed and request.response_at and request.response_days > 0
    assert request.nature_of_response() == "deleted"
    assert DeletionLedger(ledger).verify().ok


def test_the_deadline_guard_warns_and_fails_at_the_right_times(emulator, ledger, logs):
    received = emulator_now(emulator) - timedelta(minutes=1)
    receipt = gdpr_request(emulator, ledger, received)
    due = datetime.fromisoformat(ErasureRegister(ledger).request("GDPR-7").due_at.replace("Z", "+00:00"))
    span = due - received

    def guard():  # the guard's clock is the emulator's
        return ErasureDeadlineSensor(task_id="deadlines", ledger=str(ledger), now=lambda: emulator_now(emulator),
                                     mode="poke")

    assert guard().execute(context("deadlines"))["open"] == ["GDPR-7"]
    emulator.clock.advance(DAY)  # Monetate's nightly batch: only CDP stays open
    assert MonetateDeletionSensor(task_id="wait", receipt=receipt, deferrable=False).poke(context("wait"))
    emulator.clock.set((received + span * 0.5 - timedelta(minutes=1)).timestamp())
    assert guard().execute(context("deadlines"))["warned"] == {"50%": [], "80%": []}
    assert "of their time" not in logs()
    emulator.clock.set((received + span * 0.5 + timedelta(minutes=1)).timestamp())
    assert guard().execute(context("deadlines"))["warned"]["50%"] == ["GDPR-7"]
    text = logs()
    assert "1 erasure request(s) have used 50% or more of their time: GDPR-7 (gdpr" in text
    assert "open in acquia_cdp (5 submitted)" in text and "monetate (" not in text
    emulator.clock.set((received + span * 0.8 + timedelta(minutes=1)).timestamp())
    assert guard().execute(context("deadlines"))["warned"]["80%"] == ["GDPR-7"]
    assert "used 80% or more" in logs()
    emulator.clock.set((due - timedelta(minutes=1)).timestamp())
    guard().execute(context("deadlines"))  # the last minute: still on time
    emulator.clock.set((due + timedelta(minutes=1)).timestamp())
    with pytest.raises(ErasureOverdueError) as overdue:
        guard().execute(context("deadlines"))
    message = str(overdue.value)
    assert "past their legal due date" in message and "GDPR-7" in message
    assert "open in acquia_cdp (5 submitted)" in message and "C1" not in message


def test_the_export_holds_the_record_keeping_fields(emulator, ledger, tmp_path):
    gdpr_request(emulator, ledger, "2025-03-03T09:15:00Z")
    assert ErasureRegister(ledger).export(tmp_path / "audit.csv", since="2025-03-01", until="2025-04-01") == 10
    rows = list(csv.DictReader((tmp_path / "audit.csv").open()))
    for field in ("request_date", "nature_of_request", "manner_of_request", "response_date", "nature_of_response",
                  "basis_for_denial"):
        assert field in rows[0]
    first = rows[0]
    assert (first["request_id"], first["request_date"], first["nature_of_request"], first["manner_of_request"],
            first["due_date"]) == ("GDPR-7", "2025-03-03T09:15:00.000000Z", "deletion", "web form",
                                   "2025-04-03T09:15:00.000000Z")
    assert {(r["system"], r["status"]) for r in rows} == {("acquia_cdp", "submitted"), ("monetate", "submitted")}
    assert ErasureRegister(ledger).export(tmp_path / "april.csv", since="2025-04-01") == 0


def test_editing_one_ledger_line_is_detected(emulator, ledger):
    gdpr_request(emulator, ledger, "2025-03-03T09:15:00Z")
    assert DeletionLedger(ledger).verify().ok
    part = next(p for p in sorted(ledger.iterdir()) if p.suffix == ".jsonl" and '"C3"' in p.read_text())
    lines = part.read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if '"C3"' in line)
    lines[number - 1] = lines[number - 1].replace('"submitted"', '"confirmed"')
    part.write_text("\n".join(lines) + "\n")
    check = DeletionLedger(ledger).verify()
    assert not check.ok and (check.part, check.line) == (part.name, number)
    assert "edited" in check.problem


@pytest.mark.parametrize("reading", readings_of("monetate.erased_seen_again"))
def test_a_reappeared_id_is_flagged_and_excluded_from_the_next_load(emulator, ledger, reading):
    emulator.set_reading("monetate.erased_seen_again", reading)
    load_profiles(IDS)
    receipt = MonetateSubmitDeletionsOperator(task_id="submit", privacy_dataset="gdpr", customer_ids=IDS[:2],
                                              create_dataset_if_missing=True, ledger=str(ledger), request_id="R-2",
                                              received_at="2025-03-03").execute(context("submit"))
    emulator.clock.advance(DAY)
    assert MonetateDeletionSensor(task_id="wait", receipt=receipt, deferrable=False).poke(context("wait"))
    load_profiles(["C1"], run_id="careless")  # a load without exclude_erased sends C1 again
    result = MonetateReverifyErasuresOperator(task_id="reverify", privacy_dataset="gdpr", ledger=str(ledger),
                                              older_than_days=0).execute(context("reverify"))
    assert (result["checked"], result["reappeared"], result["still_gone"]) == (2, 1, 1)
    statuses = [r["status"] for r in DeletionLedger(ledger).records(customer_id="C1")]
    assert statuses == ["submitted", "confirmed", "reappeared"]
    assert ErasureRegister(ledger).request("R-2").systems["monetate"].counts() == {"confirmed": 1, "reappeared": 1}
    summary = MonetatePostRecordsOperator(
        task_id="load", dataset="profiles", exclude_erased=str(ledger),
        records=[{"customer_id": c, "tier": "silver"} for c in IDS]).execute(context("load", run_id="next"))
    assert summary["rows_excluded"] == 2 and summary["rows_sent"] == 3


def test_a_mass_deletion_is_refused_without_confirmation(emulator, ledger):
    ids = [f"M{i}" for i in range(60)]
    with pytest.raises(MassDeletionError, match=r"names 60 customers, more than 50 \(5% of the 1000"):
        MonetateSubmitDeletionsOperator(task_id="submit", privacy_dataset="gdpr", customer_ids=ids,
                                        create_dataset_if_missing=True, ledger=str(ledger),
                                        last_load_customers=1000).execute(context("submit"))
    assert emulator.monetate_rows("testshop", "gdpr") == []
    assert emulator.counters().get("monetate.privacy_status", {}).get("requests", 0) == 0  # not even the pre-check
    with pytest.raises(MassDeletionError, match="more than 40"):
        AcquiaCdpDeleteCustomersOperator(task_id="soft", customer_numbers=ids, ledger_path=str(ledger),
                                         mass_deletion_threshold=40).execute(context("soft"))
    assert emulator.counters().get("cdp.tracker", {}).get("requests", 0) == 0
    assert not DeletionLedger(ledger).has_parts()
    receipt = MonetateSubmitDeletionsOperator(task_id="submit", privacy_dataset="gdpr", customer_ids=ids,
                                              create_dataset_if_missing=True, ledger=str(ledger), precheck=False,
                                              last_load_customers=1000, confirm_mass_deletion=True).execute(
        context("submit", run_id="confirmed"))
    assert receipt["count"] == 60


def test_a_soft_delete_registers_its_request_and_leaves_the_cdp_part_open(emulator, ledger):
    AcquiaCdpDeleteCustomersOperator(task_id="soft", customer_numbers=["S1", "S2"], ledger_path=str(ledger),
                                     request_id="R-5", received_at="2025-03-03", regime="ccpa").execute(context("soft"))
    request = ErasureRegister(ledger).request("R-5")
    assert request.due_at == "2025-04-17T00:00:00.000000Z"
    assert request.systems["acquia_cdp"].counts() == {"submitted": 2} and not request.closed
    assert {r["request_id"] for r in DeletionLedger(ledger).records()} == {"R-5"}
