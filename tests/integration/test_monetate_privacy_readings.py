"""Erasing customers under every reading of the privacy documents (issue 12), against the emulator.

The documents leave five points open (``testing/monetate/privacy.py`` declares them): the post
body (flat object | ``schema_rows``), the request time (ISO 8601 | date | date-time), the status
(string | integer code), an ID never held (``NOT_FOUND`` | 404 with a body) and what ``PENDING``
means (held | any submitted ID). Each test runs once per reading, or per combination, and the
provider must confirm exactly the deletions Monetate was seen to carry out under every one.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_monetate.exceptions import ApiValidationError
from airflow_provider_monetate.monetate.privacy import DeletionLedger
from airflow_provider_monetate.operators.monetate import MonetateCreateDatasetOperator, MonetatePostRecordsOperator
from airflow_provider_monetate.operators.monetate_privacy import MonetateSubmitDeletionsOperator
from airflow_provider_monetate.sensors.monetate import MonetateDeletionSensor
from airflow_provider_monetate.testing.readings import readings_of
from airflow_provider_monetate.triggers.monetate import MonetateDeletionTrigger

try:  # Airflow 3
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 2.11
    from airflow.exceptions import TaskDeferred

pytestmark = pytest.mark.integration

DAY = 86_400
BODY, TIME, STATUS_TYPE, UNKNOWN_ID, PENDING = (
    "monetate.privacy_body", "monetate.privacy_time", "monetate.privacy_status_type", "monetate.privacy_unknown_id",
    "monetate.privacy_pending",
)
HELD = ["C1", "C2", "C3"]  # in a profiles dataset: Monetate holds them
NEVER = ["N1", "N2"]  # Monetate never held them


@pytest.fixture(autouse=True)
def setup(emulator, monkeypatch, tmp_path, fast_retries):
    monkeypatch.setenv("AIRFLOW_CONN_MONETATE_DEFAULT", emulator.monetate_conn_json())
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    fast_retries()


def context(task_id, run_id="run-1"):
    return {"ti": SimpleNamespace(dag_id="erase", run_id=run_id, task_id=task_id, map_index=-1, try_number=1)}


def load_profiles(ids):
    MonetateCreateDatasetOperator(task_id="create", name="profiles", type="attribute", allow_customer_dataset=True,
                                  fields={"customer_id": {"data_type": "STRING", "identifier": True},
                                          "tier": {"data_type": "STRING"}}).execute(context("create"))
    MonetatePostRecordsOperator(task_id="load", dataset="profiles",
                                records=[{"customer_id": c, "tier": "gold"} for c in ids]).execute(context("load"))


def submit(ids, **kwargs):
    kwargs.setdefault("create_dataset_if_missing", True)
    return MonetateSubmitDeletionsOperator(task_id="submit", privacy_dataset="gdpr", customer_ids=ids,
                                           **kwargs).execute(context("submit"))


def sensor(**kwargs):
    kwargs.setdefault("deferrable", False)
    return MonetateDeletionSensor(task_id="wait", poke_interval=0.2, mode="poke", **kwargs)


def outcomes(ledger_location, ids):
    """Each ID's latest record in the ledger (its current state)."""
    ledger = DeletionLedger(ledger_location)
    return {cid: [r["status"] for r in ledger.records(cid)][-1] for cid in ids}


def wait_until_settled(emulator, receipt, deferrable, held=3):
    """Run the sensor (poke mode, or its trigger) across the nightly batch; return its report.

    :param held: how many of the receipt's IDs Monetate holds (PENDING until the batch); default ``HELD``'s.
    """
    if not deferrable:
        wait = sensor(receipt=receipt)
        assert wait.poke(context("wait")) is False  # held IDs are PENDING until the batch
        emulator.clock.advance(DAY)
        assert wait.poke(context("wait")) is True
        return wait._finish(context("wait"))
    wait = sensor(receipt=receipt, deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        wait.execute(context("wait"))
    trigger = MonetateDeletionTrigger(**json.loads(json.dumps(info.value.trigger.serialize()[1])))
    statuses = emulator.counters()["monetate.privacy_status"]

    async def main():
        run = asyncio.ensure_future(anext(trigger.run()))
        target = statuses["requests"] + held
        while emulator.counters()["monetate.privacy_status"]["requests"] < target:  # one round: all PENDING
            await asyncio.sleep(0.01)
        emulator.clock.advance(DAY)
        return (await run).payload

    event = asyncio.run(main())
    assert event == {"status": "success", "total": receipt["count"], "remaining": 0}
    return sensor(receipt=receipt, deferrable=True).execute_complete(context("wait"), event)


# -- the post: body shape and request time --------------------------------------------------------------------

@pytest.mark.parametrize(("body", "time"), itertools.product(readings_of(BODY), readings_of(TIME)))
def test_a_privacy_run_confirms_every_held_id_whatever_body_and_time_the_server_takes(emulator, body, time):
    emulator.set_readings({BODY: body, TIME: time})
    load_profiles(HELD)
    receipt = submit(HELD + NEVER, delete_request_time="2024-05-01T09:30:00Z", batch_size=2)
    assert receipt["body"] == body
    assert receipt["delete_request_time_format"] == ("date" if time == "date" else "datetime")
    stored = {r["customer_id"]: r["delete_request_time"] for r in emulator.monetate_rows("testshop", "gdpr")}
    assert set(stored) == set(HELD + NEVER)  # every ID submitted, not-held ones too
    assert set(stored.values()) == {"2024-05-01" if time == "date" else "2024-05-01T09:30:00.000000Z"}
    report = wait_until_settled(emulator, receipt, deferrable=False)
    assert (report["confirmed"], report["not_held"], report["gone_unverified"]) == (3, 2, 0)
    ledger = outcomes(receipt["ledger"], HELD + NEVER)
    assert ledger == {**dict.fromkeys(HELD, "confirmed"), **dict.fromkeys(NEVER, "not_held")}
    # The ledger keeps when the person asked, to the second, whatever form was posted.
    assert {r["delete_request_time"] for r in DeletionLedger(receipt["ledger"]).records()} == {
        "2024-05-01T09:30:00.000000Z"}


@pytest.mark.emulator_readings({BODY: "flat"})
@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_acceptance_a_run_against_an_emulator_that_takes_only_flat_bodies_confirms_every_id(emulator, deferrable):
    ids = [f"C{i}" for i in range(40)]
    load_profiles(ids)
    receipt = submit(ids, batch_size=10, max_in_flight=4)
    assert receipt["body"] == "flat" and receipt["rows_sent"] == 40
    assert (receipt["held"], receipt["not_held"]) == (40, 0)
    data = emulator.counters()["monetate.data"]
    assert data["statuses"].get(400, 0) == 1  # one schema_rows post refused (nothing processed), then flat only
    report = wait_until_settled(emulator, receipt, deferrable, held=len(ids))
    assert report["confirmed"] == report["total"] == 40
    assert set(outcomes(receipt["ledger"], ids).values()) == {"confirmed"}
    assert {emulator.privacy_status("testshop", cid) for cid in ids} == {"NOT_FOUND"}


@pytest.mark.parametrize("reading", readings_of(BODY))
def test_a_pinned_body_the_server_refuses_fails_having_processed_nothing(emulator, reading):
    emulator.set_reading(BODY, reading)
    other = "flat" if reading == "schema_rows" else "schema_rows"
    with pytest.raises(ApiValidationError, match="400") as info:
        submit(HELD, body=other)
    assert "C1" not in str(info.value)
    assert emulator.monetate_rows("testshop", "gdpr") == []
    assert submit(HELD, body=reading)["body"] == reading


@pytest.mark.parametrize("reading", readings_of(TIME))
def test_a_pinned_time_format_works_where_the_server_takes_it(emulator, reading):
    emulator.set_reading(TIME, reading)
    for time_format in ("datetime", "date"):
        taken = reading == "iso8601" or reading == time_format
        if taken:
            assert submit(HELD, delete_request_time_format=time_format)["delete_request_time_format"] == time_format
        else:
            with pytest.raises(ApiValidationError, match="delete_request_time"):
                submit(HELD, delete_request_time_format=time_format)


def test_whole_float_ids_reach_monetate_as_integers(emulator):
    load_profiles(["12345"])
    receipt = submit([12345.0, 7.0])
    assert sorted(r["customer_id"] for r in emulator.monetate_rows("testshop", "gdpr")) == ["12345", "7"]
    assert (receipt["held"], receipt["not_held"]) == (1, 1)


# -- the answers: status type, an ID never held, what PENDING means -------------------------------------------

@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
@pytest.mark.parametrize(("status_type", "unknown_id", "pending"),
                         itertools.product(readings_of(STATUS_TYPE), readings_of(UNKNOWN_ID), readings_of(PENDING)))
def test_the_sensor_and_trigger_confirm_exactly_the_held_ids_under_every_reading_of_the_answers(
        emulator, status_type, unknown_id, pending, deferrable):
    emulator.set_readings({STATUS_TYPE: status_type, UNKNOWN_ID: unknown_id, PENDING: pending})
    load_profiles(HELD)
    receipt = submit(HELD + NEVER)
    assert (receipt["held"], receipt["not_held"]) == (3, 2)  # asked before submission, under every reading
    report = wait_until_settled(emulator, receipt, deferrable)
    assert report["outcomes"] == {**dict.fromkeys(HELD, "confirmed"), **dict.fromkeys(NEVER, "not_held")}
    assert outcomes(receipt["ledger"], HELD + NEVER) == report["outcomes"]
    lines = [json.loads(line) for line in Path(report["report_path"]).read_text().splitlines()]
    assert {line["customer_id"]: line["outcome"] for line in lines} == report["outcomes"]


@pytest.mark.parametrize("unknown_id", readings_of(UNKNOWN_ID))
@pytest.mark.parametrize("pending", readings_of(PENDING))
def test_without_the_precheck_an_id_gone_at_the_first_look_is_gone_unverified(emulator, pending, unknown_id):
    emulator.set_readings({PENDING: pending, UNKNOWN_ID: unknown_id})
    load_profiles(HELD)
    receipt = submit(HELD + NEVER, precheck=False)
    assert (receipt["precheck"], receipt["held"], receipt["not_held"]) == (False, None, None)
    assert emulator.counters()["monetate.privacy_status"]["requests"] == 0  # no status asked before submission
    wait = sensor(receipt=receipt)
    first = wait.poke(context("wait"))
    emulator.clock.advance(DAY)
    assert first is False and wait.poke(context("wait")) is True
    report = wait._finish(context("wait"))
    assert {cid: report["outcomes"][cid] for cid in HELD} == dict.fromkeys(HELD, "confirmed")
    # Never held: NOT_FOUND (or a 404) at the first look. Only when Monetate answers PENDING for any
    # submitted ID does a never-held ID look like a deletion seen happening: the pre-check is on by
    # default because, without it, nothing can tell the two apart.
    expected = "confirmed" if pending == "any_submitted" else "gone_unverified"
    assert {cid: report["outcomes"][cid] for cid in NEVER} == dict.fromkeys(NEVER, expected)


@pytest.mark.emulator_readings({UNKNOWN_ID: "404"})
def test_a_404_for_a_dataset_that_does_not_exist_still_fails_the_sensor(emulator):
    from airflow_provider_monetate.exceptions import ApiNotFoundError

    with pytest.raises(ApiNotFoundError, match="customer-data-privacy/nope/ -> 404"):
        sensor(customer_ids=["N1"], privacy_dataset="nope").poke(context("wait"))
