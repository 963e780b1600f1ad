"""Erasing customers against the emulator: submit, wait in all three sensor modes, ledger, suppression."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_monetate.exceptions import (
    ApiForbiddenError,
    ApiUnavailableError,
    ConfigurationError,
    MonetateProviderError,
    ReceiptError,
    TooManyRejectedRowsError,
)
from airflow_provider_monetate.hooks.monetate import MonetateHook
from airflow_provider_monetate.monetate.privacy._ledger import DeletionLedger, hash_id
from airflow_provider_monetate.operators.monetate import MonetateCreateDatasetOperator, MonetatePostRecordsOperator
from airflow_provider_monetate.operators.monetate_privacy import MonetateSubmitDeletionsOperator
from airflow_provider_monetate.sensors.monetate import MonetateDeletionSensor
from airflow_provider_monetate.storage import state_dir
from airflow_provider_monetate.triggers.monetate import MonetateDeletionTrigger

try:  # Airflow 3
    from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred
except ImportError:  # Airflow 2.11
    from airflow.exceptions import AirflowSensorTimeout, TaskDeferred

pytestmark = pytest.mark.integration

DAY = 86_400
STATUS = "monetate.privacy_status"
PROFILE_FIELDS = {
    "customer_id": {"data_type": "STRING", "identifier": True},
    "tier": {"data_type": "STRING"},
}



@pytest.fixture(autouse=True)
def setup(emulator, monkeypatch, tmp_path, fast_retries):
    monkeypatch.setenv("AIRFLOW_CONN_MONETATE_DEFAULT", emulator.monetate_conn_json())
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    fast_retries()


@pytest.fixture
def logs(caplog, capfd):
    """Everything logged so far: stdlib records (Airflow 2) and structlog output (Airflow 3)."""
    caplog.set_level(logging.INFO)
    return lambda: caplog.text + "".join(capfd.readouterr())


def context(task_id, run_id="run-1", try_number=1):
    ti = SimpleNamespace(dag_id="erase", run_id=run_id, task_id=task_id, map_index=-1, try_number=try_number)
    return {"ti": ti}


def submit(**kwargs):
    kwargs.setdefault("privacy_dataset", "gdpr")
    kwargs.setdefault("create_dataset_if_missing", True)
    try_number = kwargs.pop("try_number", 1)
    return MonetateSubmitDeletionsOperator(task_id="submit", **kwargs).execute(context("submit", try_number=try_number))


def sensor(**kwargs):
    kwargs.setdefault("deferrable", False)
    kwargs.setdefault("poke_interval", 1)
    return MonetateDeletionSensor(task_id="wait", **kwargs)


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def status_calls(emulator):
    return emulator.counters()[STATUS]["requests"]


def stored(emulator, dataset="gdpr"):
    return emulator.monetate_rows("testshop", dataset)


def load_profiles(ids):
    """Put the customers into an ordinary dataset, so Monetate holds them (FOUND until erased)."""
    MonetateCreateDatasetOperator(task_id="create", name="profiles", type="attribute",
                                  fields=PROFILE_FIELDS, allow_customer_dataset=True).execute(context("create"))
    MonetatePostRecordsOperator(task_id="load", dataset="profiles",
                                records=[{"customer_id": c, "tier": "gold"} for c in ids]).execute(context("load"))


def submit_held(ids, **kwargs):
    """Submit customers Monetate holds: their deletion is one Monetate is seen to carry out."""
    load_profiles(ids)
    return submit(customer_ids=ids, **kwargs)


def issued_tokens(emulator):
    return set(emulator.monetate.auth.tokens)


def first_event(trigger, during=None):
    """Run the trigger until its (only) event; ``during`` runs alongside it, in the same loop."""
    async def main():
        run = asyncio.ensure_future(anext(trigger.run()))
        if during is not None:
            await during()
        return (await run).payload

    return asyncio.run(main())


async def after_requests(emulator, count):
    """Until ``count`` more status calls than now (the submit task's pre-check counts too) were made."""
    target = status_calls(emulator) + count
    while status_calls(emulator) < target:
        await asyncio.sleep(0.01)


def defer(sensor_op, ctx):
    with pytest.raises(TaskDeferred) as info:
        sensor_op.execute(ctx)
    return info.value


# -- submitting ---------------------------------------------------------------------------------

def test_ids_are_trimmed_deduplicated_and_posted_as_privacy_rows(emulator, tmp_path):
    receipt = submit(customer_ids=[" C1 ", "C2", "C1", "", 42, "C3"], max_rejected_rows=1,
                     delete_request_time="2024-05-01")
    rows = stored(emulator)
    assert sorted(r["customer_id"] for r in rows) == ["42", "C1", "C2", "C3"]
    assert {r["delete_request_time"] for r in rows} == {"2024-05-01T00:00:00.000000Z"}
    assert all(set(r) == {"customer_id", "delete_request_time"} for r in rows)
    assert receipt["count"] == 4 and receipt["duplicates"] == 1 and receipt["rows_rejected"] == 1
    assert receipt["dataset"] == "gdpr" and receipt["delete_request_time"] == "2024-05-01T00:00:00.000000Z"
    assert receipt["submitted_at"].endswith("Z")
    rejects = read_jsonl(receipt["rejects_path"])
    assert rejects == [{"row": 4, "field": "customer_id", "reason": "missing or empty customer ID"}]
    # The IDs live in a file and in the ledger, not in the (small) receipt.
    assert not any(cid in json.dumps(receipt) for cid in ("C1", "C2", "C3"))
    ids = [r["customer_id"] for r in read_jsonl(receipt["ids_path"])]
    assert ids == ["C1", "C2", "42", "C3"]
    ledger = DeletionLedger(receipt["ledger"])
    assert ledger.erased_ids(system="monetate") == {"C1", "C2", "42", "C3"}
    record, not_held = ledger.records(customer_id="C2")  # Monetate never held C2: nothing to erase
    assert (record["status"], record["dataset"], record["dag_id"], record["run_id"]) == (
        "submitted", "gdpr", "erase", "run-1")
    assert record["submitted_at"] <= receipt["submitted_at"]  # when Monetate acknowledged its batch
    assert not_held["status"] == "not_held" and (receipt["held"], receipt["not_held"]) == (0, 4)


def test_an_empty_id_sends_nothing_by_default(emulator):
    with pytest.raises(TooManyRejectedRowsError, match="row 2 field 'customer_id': missing or empty"):
        submit(customer_ids=["C1", "  ", "C2"])
    assert emulator.counters()["monetate.data"]["requests"] == 0


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_ids_from_a_file_with_other_columns_never_sent(emulator, tmp_path, fmt):
    people = [("C1", "a@example.com", "2024-04-30T23:00:00-02:00"), ("C2", "b@example.com", ""),
              ("C1", "a@example.com", "")]
    path = tmp_path / f"requests.{fmt}"
    if fmt == "csv":
        path.write_text("customer_id,email,delete_request_time\n" + "".join(f"{c},{e},{t}\n" for c, e, t in people))
    else:
        path.write_text("".join(json.dumps({"customer_id": c, "email": e, "delete_request_time": t or None}) + "\n"
                                for c, e, t in people))
    receipt = submit(source=str(path), delete_request_time=datetime(2024, 5, 2, 12, tzinfo=timezone.utc))
    rows = {r["customer_id"]: r for r in stored(emulator)}
    assert set(rows) == {"C1", "C2"} and receipt["duplicates"] == 1
    assert rows["C1"]["delete_request_time"] == "2024-05-01T01:00:00.000000Z"  # its own time, in UTC
    assert rows["C2"]["delete_request_time"] == "2024-05-02T12:00:00.000000Z"  # the task's
    assert "email" not in json.dumps(rows)


def test_records_from_an_xcom_with_another_id_field(emulator):
    receipt = submit(customer_ids=[{"user": "U1", "name": "x"}, {"user": "U2"}], id_field="user")
    assert sorted(r["customer_id"] for r in stored(emulator)) == ["U1", "U2"] and receipt["count"] == 2


def test_dry_run_checks_everything_and_sends_nothing(emulator):
    receipt = submit(customer_ids=["C1", "C2", "C1"], dry_run=True)
    assert receipt["dry_run"] and receipt["count"] == 2 and receipt["rows_sent"] == 0
    assert emulator.counters()["monetate.data"]["requests"] == 0
    assert DeletionLedger(receipt["ledger"]).erased_ids() == set()


def test_a_future_request_time_fails_before_anything_is_sent(emulator):
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    with pytest.raises(ConfigurationError, match=r"is in the future.*Nothing was sent"):
        submit(customer_ids=["C1"], delete_request_time=future)
    with pytest.raises(ConfigurationError, match="not an ISO-8601 datetime"):
        submit(customer_ids=["C1"], delete_request_time="01/05/2024")
    assert sum(c["requests"] for c in emulator.counters().values()) == 0


def test_a_future_time_in_a_record_is_rejected(emulator):
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    with pytest.raises(TooManyRejectedRowsError, match="field 'delete_request_time': in the future"):
        submit(customer_ids=[{"customer_id": "C1", "delete_request_time": tomorrow}])


def test_the_dataset_must_exist_and_be_a_privacy_dataset(emulator):
    with pytest.raises(ConfigurationError, match=r"'gdpr' does not exist.*create_dataset_if_missing=True"):
        submit(customer_ids=["C1"], create_dataset_if_missing=False)
    load_profiles(["C1"])
    with pytest.raises(ConfigurationError, match="of type 'attribute', not customer_data_privacy"):
        submit(customer_ids=["C1"], privacy_dataset="profiles")
    assert emulator.counters()["monetate.data"]["rows_received"] == 1  # only the profile load


@pytest.mark.emulator_readings({"monetate.privacy_body": "schema_rows"})  # counts batches: one post each
def test_a_retry_resends_batches_in_doubt_because_deleting_twice_is_harmless(emulator, monkeypatch):
    original, calls = MonetateHook.post_rows, []

    def crash_after_three(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 3:
            raise ApiUnavailableError("Monetate", "POST", "/data", None, ["simulated crash"], in_doubt=True)
        return original(self, *args, **kwargs)

    ids = [f"C{i}" for i in range(1000)]
    monkeypatch.setattr(MonetateHook, "post_rows", crash_after_three)
    with pytest.raises(ApiUnavailableError):
        submit(customer_ids=ids, batch_size=100, max_in_flight=1)
    monkeypatch.setattr(MonetateHook, "post_rows", original)
    receipt = submit(customer_ids=ids, batch_size=100, try_number=2)
    assert receipt["rows_already_sent"] == 300 and receipt["rows_sent"] == 700 and receipt["count"] == 1000
    assert {r["customer_id"] for r in stored(emulator)} == set(ids)


# -- waiting: poke and reschedule -------------------------------------------------------------------

def test_pending_ids_are_confirmed_by_the_nightly_batch(emulator):
    receipt = submit_held(["C1", "C2", "C3"])
    wait = sensor(receipt=receipt, mode="poke")
    assert wait.poke(context("wait")) is False  # PENDING until the batch runs
    emulator.clock.advance(DAY)  # past the next 02:00 UTC batch
    assert wait.poke(context("wait")) is True
    report = wait._finish(context("wait"))
    assert report["total"] == report["confirmed"] == 3 and set(report["customers"]) == {"C1", "C2", "C3"}
    ledger = DeletionLedger(receipt["ledger"])
    assert ledger.confirmed_at("C2") == report["customers"]["C2"]
    assert [r["status"] for r in ledger.records(customer_id="C2")] == ["submitted", "confirmed"]
    lines = read_jsonl(report["report_path"])
    assert {(r["customer_id"], r["status"], r["outcome"]) for r in lines} == {
        (c, "NOT_FOUND", "confirmed") for c in ("C1", "C2", "C3")}


def test_reschedule_mode_asks_only_about_ids_not_yet_confirmed(emulator):
    early = submit_held([f"A{i}" for i in range(6)])
    emulator.clock.advance(DAY)  # the A's are erased by tonight's batch...
    late = submit_held([f"B{i}" for i in range(4)], try_number=1)  # ...the B's wait for the next one
    watched = [f"A{i}" for i in range(6)] + [f"B{i}" for i in range(4)]
    assert early["count"] == 6 and late["count"] == 4

    def poke():  # every poke is a new sensor instance, as in reschedule mode
        return sensor(customer_ids=watched, privacy_dataset="gdpr", mode="reschedule").poke(context("wait"))

    before = status_calls(emulator)
    assert poke() is False
    assert status_calls(emulator) - before == 10
    before = status_calls(emulator)
    assert poke() is False
    assert status_calls(emulator) - before == 4  # the 6 confirmed A's are not asked again
    emulator.clock.advance(DAY)
    assert poke() is True
    assert DeletionLedger(early["ledger"]).confirmed_at("B3") is not None


def test_monetate_unavailable_does_not_fail_the_poke(emulator, logs):
    submit(customer_ids=["C1", "C2"])
    emulator.clock.advance(DAY)
    emulator.inject(STATUS, "status", count=2, status=503)  # retried within the call
    wait = sensor(customer_ids=["C1", "C2"], privacy_dataset="gdpr", mode="poke", max_concurrency=1)
    assert wait.poke(context("wait")) is True
    emulator.inject(STATUS, "status", count=50, status=500)  # outlasts the retry budget
    other = sensor(customer_ids=["C3", "C4"], privacy_dataset="gdpr", mode="poke", max_concurrency=1)
    assert other.poke(context("wait", run_id="run-2")) is False
    text = logs()
    assert "Monetate is unavailable" in text and "0 of 2 IDs checked this round" in text
    emulator.clear_faults()
    assert other.poke(context("wait", run_id="run-2")) is True


def test_a_found_straggler_fails_at_timeout_naming_it(emulator, logs):
    load_profiles(["C9"])  # C9's data is in Monetate, and nobody asked to erase it
    submit(customer_ids=["C1", "C2"])
    emulator.clock.advance(DAY)
    wait = sensor(customer_ids=["C1", "C2", "C9"], privacy_dataset="gdpr", mode="poke", timeout=0,
                  expected_completion=0)
    with pytest.raises(AirflowSensorTimeout) as info:
        wait.execute(context("wait"))
    message = str(info.value)
    assert "deletion of 1 of 3 customer ID(s)" in message and "C9 (FOUND)" in message
    assert "C1" not in message.split("Still not gone:")[1]
    assert "support.monetate.com" in message and "FOUND means" in message
    assert "not confirmed 1 of 3 customer ID(s) gone by the expected completion time: C9 (FOUND)" in logs()
    # Watched by ID, without the submit task's pre-check: NOT_FOUND at the first look proves no deletion.
    ledger = DeletionLedger(wait._settings["ledger"].location)
    assert [r["status"] for r in ledger.records("C1") if r["dag_id"] == "erase"][-1] == "gone_unverified"


def test_hashed_mode_keeps_raw_ids_out_of_the_ledger_logs_and_report(emulator, logs):
    receipt = submit_held(["ALICE", "BOB"], hash_ids=True)
    emulator.clock.advance(DAY)
    wait = sensor(receipt=receipt, mode="poke")
    assert wait.poke(context("wait")) is True
    report = wait._finish(context("wait"))
    assert set(report["customers"]) == {hash_id("ALICE"), hash_id("BOB")}
    ledger_text = "".join(json.dumps(r) for r in DeletionLedger(receipt["ledger"]).records())
    for text in (ledger_text, json.dumps(report), json.dumps(receipt), Path(report["report_path"]).read_text(), logs()):
        assert "ALICE" not in text and "BOB" not in text
    assert DeletionLedger(receipt["ledger"]).confirmed_at("ALICE") == report["customers"][hash_id("ALICE")]


def test_receipt_or_ids_are_required(emulator):
    with pytest.raises(ConfigurationError, match="receipt is None"):
        sensor(privacy_dataset="gdpr").poke(context("wait"))
    with pytest.raises(ConfigurationError, match="only one of receipt= and customer_ids="):
        sensor(receipt={}, customer_ids=["C1"], privacy_dataset="gdpr").poke(context("wait"))
    with pytest.raises(ConfigurationError, match="receipt must be the submit task's XCom value"):
        sensor(receipt="{'dataset': 'gdpr'}").poke(context("wait"))


# -- waiting: deferrable -------------------------------------------------------------------------------

def test_deferrable_sensor_waits_in_the_trigger_across_the_nightly_batch(emulator, logs):
    receipt = submit_held(["C1", "C2", "C3"])
    wait = sensor(receipt=receipt, deferrable=True, poke_interval=0.2)
    deferred = defer(wait, context("wait"))
    assert deferred.method_name == "execute_complete"
    trigger = deferred.trigger
    assert isinstance(trigger, MonetateDeletionTrigger) and trigger.ids_path == receipt["ids_path"]
    kwargs = trigger.serialize()[1]
    trigger = MonetateDeletionTrigger(**json.loads(json.dumps(kwargs)))  # as the triggerer rebuilds it

    async def nightly_batch_after_first_round():
        await after_requests(emulator, 3)
        emulator.clock.advance(DAY)

    before = status_calls(emulator)
    event = first_event(trigger, nightly_batch_after_first_round)
    assert event == {"status": "success", "total": 3, "remaining": 0}
    assert status_calls(emulator) - before >= 6  # asked again after the batch
    report = sensor(receipt=receipt, deferrable=True).execute_complete(context("wait"), event)
    assert report["confirmed"] == 3 and DeletionLedger(receipt["ledger"]).confirmed_at("C3")
    tokens = issued_tokens(emulator)
    assert tokens
    for text in (json.dumps(kwargs), json.dumps(receipt), json.dumps(report), logs()):
        assert not any(token in text for token in tokens)


def test_a_401_during_deferral_mints_a_new_token_and_continues(emulator):
    submit_held(["C1", "C2"])
    trigger = defer(sensor(customer_ids=["C1", "C2"], privacy_dataset="gdpr", deferrable=True, poke_interval=0.2),
                    context("wait")).trigger
    assert trigger.customer_ids == ["C1", "C2"]
    auth_before = emulator.counters()["monetate.auth"]["auth_calls"]

    async def tokens_expire_then_batch():
        await after_requests(emulator, 2)
        emulator.expire_tokens("monetate")
        emulator.clock.advance(DAY)

    assert first_event(trigger, tokens_expire_then_batch)["status"] == "success"
    counters = emulator.counters()
    assert counters[STATUS]["statuses"].get(401, 0) >= 1
    assert counters["monetate.auth"]["auth_calls"] - auth_before == 1  # one re-mint, shared


def test_5xx_while_deferred_is_retried_without_failing(emulator):
    submit(customer_ids=["C1", "C2"])
    emulator.clock.advance(DAY)
    before = dict(emulator.counters()[STATUS]["statuses"])  # the submit task's pre-check
    emulator.inject(STATUS, "status", count=3, status=500)
    emulator.inject(STATUS, "status", count=1, status=429, retry_after=0)
    trigger = defer(sensor(customer_ids=["C1", "C2"], privacy_dataset="gdpr", deferrable=True), context("wait")).trigger
    assert first_event(trigger) == {"status": "success", "total": 2, "remaining": 0}
    statuses = emulator.counters()[STATUS]["statuses"]
    # (plus 401s: advancing the emulator's clock a day expired the token the submit task minted)
    assert (statuses[500], statuses[429], statuses[200] - before.get(200, 0)) == (3, 1, 2)


def test_deferred_timeout_names_the_stragglers(emulator):
    load_profiles(["C9"])
    submit(customer_ids=["C1"])
    emulator.clock.advance(DAY)
    wait = sensor(customer_ids=["C1", "C9"], privacy_dataset="gdpr", deferrable=True, timeout=0)
    event = first_event(defer(wait, context("wait")).trigger)  # the deadline has passed: one last round
    assert event == {"status": "timeout", "total": 2, "remaining": 1}
    with pytest.raises(AirflowSensorTimeout, match=r"1 of 2 customer ID\(s\).*C9 \(FOUND\).*support\.monetate\.com"):
        wait.execute_complete(context("wait"), event)


def test_a_missing_dataset_ends_the_deferral_with_a_clear_error(emulator):
    trigger = defer(sensor(customer_ids=["C1"], privacy_dataset="nope", deferrable=True), context("wait")).trigger
    event = first_event(trigger)
    assert event["status"] == "error" and "404" in event["message"]
    with pytest.raises(MonetateProviderError, match="customer-data-privacy/nope/ -> 404"):
        sensor(customer_ids=["C1"], privacy_dataset="nope", deferrable=True).execute_complete(context("wait"), event)


def test_trigger_state_the_worker_cannot_read_is_a_clear_error(emulator, tmp_path):
    wait = sensor(customer_ids=["C1"], privacy_dataset="gdpr", deferrable=True, work_dir=str(tmp_path / "worker"))
    with pytest.raises(MonetateProviderError, match=r"does not show it.*storage both can reach"):
        wait.execute_complete(context("wait"), {"status": "success", "total": 1, "remaining": 0})


# -- suppression ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("hash_ids", [False, True])
def test_exclude_erased_drops_exactly_the_erased_customers(emulator, hash_ids):
    receipt = submit(customer_ids=["C2", "C4"], hash_ids=hash_ids)
    MonetateCreateDatasetOperator(task_id="create", name="profiles", type="attribute",
                                  fields=PROFILE_FIELDS, allow_customer_dataset=True).execute(context("create"))
    rows = [{"customer_id": f"C{i}", "tier": "gold"} for i in range(1, 6)]
    summary = MonetatePostRecordsOperator(
        task_id="load", dataset="profiles", records=rows, exclude_erased=receipt["ledger"],
    ).execute(context("load"))
    assert summary["rows_excluded"] == 2 and summary["rows_sent"] == 3
    assert sorted(r["customer_id"] for r in stored(emulator, "profiles")) == ["C1", "C3", "C5"]


# -- the receipt proves what was submitted (issue 13, item 1) ------------------------------------------

def refused(receipt, **kwargs):
    """The ReceiptError a poke raises on ``receipt``, and that no status call was made."""
    wait = sensor(receipt=receipt, mode="poke", **kwargs)
    with pytest.raises(ReceiptError) as info:
        wait.poke(context("wait"))
    return str(info.value)


def test_a_receipt_without_an_ids_file_is_refused_before_any_status_call(emulator):
    message = refused({"dataset": "gdpr", "count": 3})
    assert "ids_path" in message and "does not say which IDs were submitted" in message
    assert status_calls(emulator) == 0


def test_a_dry_run_receipt_confirms_nothing(emulator):
    receipt = submit(customer_ids=["C1", "C2"], dry_run=True)
    assert receipt["ids_path"] is None  # a dry run keeps no raw IDs on disk
    assert "dry run" in refused(receipt) and status_calls(emulator) == 0
    assert not any(r["status"] == "confirmed" for r in DeletionLedger(receipt["ledger"]).records())


def test_a_receipt_whose_ids_file_was_changed_or_miscounted_is_refused(emulator):
    receipt = submit(customer_ids=["C1", "C2", "C3"])
    asked_before = status_calls(emulator)  # the submit task's pre-check
    assert len(receipt["ids_sha256"]) == 64
    assert "count" in refused({**receipt, "count": 5}) and "5" in refused({**receipt, "count": 5})
    assert "fingerprint" in refused({**receipt, "ids_sha256": "0" * 64})
    Path(receipt["ids_path"]).write_text(Path(receipt["ids_path"]).read_text() + '{"customer_id":"C9"}\n')
    assert "does not match the receipt" in refused(receipt)
    Path(receipt["ids_path"]).unlink()
    assert "does not exist" in refused(receipt)
    assert status_calls(emulator) == asked_before


def test_a_receipt_for_another_dataset_is_refused(emulator):
    receipt = submit(customer_ids=["C1"])
    asked_before = status_calls(emulator)
    message = refused(receipt, privacy_dataset="other")
    assert "'gdpr'" in message and "'other'" in message and status_calls(emulator) == asked_before


def test_a_missing_receipt_says_the_submit_task_returned_nothing(emulator):
    message = refused(None)
    assert "the submit task returned nothing (receipt is None)" in message
    assert "exactly one of" not in message


def test_the_deferrable_sensor_checks_the_receipt_before_deferring(emulator):
    receipt = submit(customer_ids=["C1"])
    asked_before = status_calls(emulator)
    with pytest.raises(ReceiptError, match="fingerprint"):
        sensor(receipt={**receipt, "ids_sha256": "0" * 64}, deferrable=True).execute(context("wait"))
    trigger = defer(sensor(receipt=receipt, deferrable=True), context("wait")).trigger
    assert trigger.ids_sha256 == receipt["ids_sha256"]
    Path(receipt["ids_path"]).write_text('{"customer_id":"C9"}\n')  # replaced while the trigger waits
    event = first_event(trigger)
    assert event["status"] == "error" and "does not match the receipt" in event["message"]
    assert status_calls(emulator) == asked_before


# -- a half-finished submission leaves its proof (item 2) ---------------------------------------------

def fail_second_post_with_403(emulator, monkeypatch):
    """The first post goes through; then Monetate refuses (a revoked permission, say)."""
    original, calls = MonetateHook.post_rows, []

    def post_rows(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            emulator.inject("monetate.data", "status", count=1, status=403)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MonetateHook, "post_rows", post_rows)


@pytest.mark.emulator_readings({"monetate.privacy_body": "schema_rows"})  # counts batches: one post each
def test_batches_acknowledged_before_a_failure_are_in_the_ledger_and_excluded(emulator, monkeypatch):
    ids = [f"C{i}" for i in range(1000)]
    fail_second_post_with_403(emulator, monkeypatch)
    with pytest.raises(ApiForbiddenError):
        submit(customer_ids=ids, max_in_flight=1)
    queued = {r["customer_id"] for r in stored(emulator)}
    assert len(queued) == 500  # batch 1 reached Monetate, batch 2 was refused
    ledger = DeletionLedger(state_dir() / "deletion_ledger")
    assert {r["customer_id"] for r in ledger.records(system="monetate")} == queued
    assert all(r["status"] in ("submitted", "not_held") and r["dataset"] == "gdpr" for r in ledger.records())
    assert not list((state_dir() / "deletions").glob("*.ids.ndjson"))  # published only on success

    MonetateCreateDatasetOperator(task_id="create", name="profiles", type="attribute",
                                  fields=PROFILE_FIELDS, allow_customer_dataset=True).execute(context("create"))
    summary = MonetatePostRecordsOperator(
        task_id="load", dataset="profiles", records=[{"customer_id": c, "tier": "gold"} for c in ids],
        exclude_erased=str(ledger.location),
    ).execute(context("load"))
    assert summary["rows_excluded"] == 500 and summary["rows_sent"] == 500


@pytest.mark.emulator_readings({"monetate.privacy_body": "schema_rows"})  # counts batches: one post each
def test_a_retry_records_each_id_once(emulator, monkeypatch):
    ids = [f"C{i}" for i in range(1000)]
    original = MonetateHook.post_rows
    fail_second_post_with_403(emulator, monkeypatch)
    with pytest.raises(ApiForbiddenError):
        submit(customer_ids=ids, max_in_flight=1)
    monkeypatch.setattr(MonetateHook, "post_rows", original)
    receipt = submit(customer_ids=ids, max_in_flight=1, try_number=2)
    assert receipt["rows_already_sent"] == 500 and receipt["rows_sent"] == 500
    records = [r for r in DeletionLedger(receipt["ledger"]).records() if r["status"] == "submitted"]
    assert sorted(r["customer_id"] for r in records) == sorted(ids)  # one submitted record per ID
    assert all(r["submitted_at"] <= receipt["submitted_at"] for r in records)


# -- what stays on disk (item 16) ---------------------------------------------------------------------

def test_the_ids_file_is_deleted_once_the_ledger_holds_every_confirmation(emulator):
    receipt = submit_held(["C1", "C2"])
    ids_file = Path(receipt["ids_path"])
    assert ids_file.stat().st_mode & 0o777 == 0o600
    wait = sensor(receipt=receipt, mode="poke")
    assert wait.poke(context("wait")) is False
    state = next(ids_file.parent.glob("*.state.json"))
    assert state.stat().st_mode & 0o777 == 0o600
    emulator.clock.advance(DAY)
    assert wait.poke(context("wait")) is True
    report = wait._finish(context("wait"))
    assert not ids_file.exists() and not state.exists()
    report_file = Path(report["report_path"])
    assert report_file.stat().st_mode & 0o777 == 0o600
    assert {r["customer_id"] for r in read_jsonl(report_file)} == {"C1", "C2"}
    assert {DeletionLedger(receipt["ledger"]).confirmed_at(c) is not None for c in ("C1", "C2")} == {True}


def test_a_timed_out_sensor_keeps_the_ids_file_for_its_retry(emulator):
    receipt = submit_held(["C1", "C9"])  # PENDING: the nightly batch has not run
    with pytest.raises(AirflowSensorTimeout):
        sensor(receipt=receipt, mode="poke", timeout=0).execute(context("wait"))
    assert Path(receipt["ids_path"]).exists()


def test_the_ids_file_is_kept_when_the_ledger_lacks_a_confirmation(emulator, tmp_path):
    receipt = submit_held(["C1"])
    emulator.clock.advance(DAY)
    wait = sensor(receipt=receipt, mode="poke")
    assert wait.poke(context("wait")) is True
    for part in Path(receipt["ledger"]).glob("*.jsonl"):  # someone removed the ledger's confirmation
        if '"confirmed"' in part.read_text():
            part.unlink()
    with pytest.raises(MonetateProviderError, match=r"ledger .* has no confirmation for 1 of 1"):
        wait._finish(context("wait"))
    assert Path(receipt["ids_path"]).exists()


def test_worker_local_ledger_and_work_dir_are_flagged_when_tasks_run_on_other_machines(monkeypatch, logs):
    from airflow_provider_monetate.operators import monetate_privacy
    from airflow_provider_monetate.sensors import monetate as sensor_module

    for module in (monetate_privacy, sensor_module):
        monkeypatch.setattr(module, "configured_executors", lambda: ["CeleryExecutor"])
    receipt = submit_held(["C1"])
    text = logs()
    assert "ledger is" in text and "work_dir is" in text and text.count("on this worker's local disk") == 2
    with pytest.raises(AirflowSensorTimeout):
        sensor(receipt=receipt, timeout=0, mode="poke").execute(context("wait"))
    assert logs().count("on this worker's local disk") == 2  # the sensor says it too, once each
