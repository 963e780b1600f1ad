"""AcquiaCdpEraseCustomersOperator against the emulator's data erasure API, under each of its readings."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from airflow_provider_monetate.exceptions import (
    ApiUnavailableError,
    ConfigurationError,
    ErasureLimitError,
    MassDeletionError,
)
from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook
from airflow_provider_monetate.monetate.privacy._ledger import DeletionLedger
from airflow_provider_monetate.monetate.privacy._register import ErasureRegister
from airflow_provider_monetate.operators.acquia_cdp_erasure import AcquiaCdpEraseCustomersOperator
from airflow_provider_monetate.testing.readings import readings_of

pytestmark = pytest.mark.integration

TENANT = "1234"
DAY = 86_400


@pytest.fixture(autouse=True)
def setup(emulator, monkeypatch, tmp_path, fast_retries):
    conn = json.loads(emulator.cdp_conn_json(token=emulator.issue_cdp_token()))
    monkeypatch.setenv("AIRFLOW_CONN_ACQUIA_CDP_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    fast_retries(max_attempts=3)


@pytest.fixture
def ledger(tmp_path):
    return tmp_path / "ledger"


def context(run_id="run-1"):
    return {"ti": SimpleNamespace(dag_id="erase_dag", run_id=run_id, task_id="erase", map_index=-1)}


def hold(count, start=0):
    """CDP holds customers C-<start>..: loaded through the tracker."""
    ids = [f"C-{i}" for i in range(start, start + count)]
    AcquiaCdpHook().post_entities({"customers": [{"SourceCustomerNumber": c, "SourceSystemID": "crm"} for c in ids]})
    return ids


def erase(ids, ledger, run_id="run-1", **kwargs):
    kwargs.setdefault("reason", "GDPR")
    return AcquiaCdpEraseCustomersOperator(task_id="erase", customer_ids=ids, ledger=str(ledger),
                                           **kwargs).execute(context(run_id))


def calls(emulator):
    return emulator.counters().get("cdp.erasure", {}).get("requests", 0)


def statuses(ledger):
    latest = {}
    for record in DeletionLedger(ledger).records(system="acquia_cdp"):
        latest[record["customer_id"]] = record["status"]
    return latest


def test_an_erasure_of_450_ids_makes_3_calls_and_logs_out(emulator, ledger):
    ids = hold(450)
    result = erase(ids, ledger)
    assert calls(emulator) == 3 and result["calls"] == 3 and len(result["event_ids"]) == 3
    assert result["statuses"] == {"submitted": 450} and result["rows_sent"] == 450
    assert emulator.cdp_stats()["open_sessions"] == 0  # logged out
    bodies = emulator.cdp.erasure.stats()["calls"]
    assert [c["ids"] for c in bodies] == [200, 200, 50]
    assert bodies[0]["keys"] == ["customerIds", "reason", "requestOrigin", "requestedDate", "tenantId"]
    assert set(statuses(ledger).values()) == {"submitted"}
    record = next(DeletionLedger(ledger).records(customer_id="C-0"))
    assert (record["dataset"], record["reference"]) == ("dataerasure", result["event_ids"][0])


def test_the_session_is_logged_out_also_when_a_call_fails(emulator, ledger):
    ids = hold(250)
    emulator.inject("cdp.erasure", "status", count=10, status=500)
    with pytest.raises(ApiUnavailableError):
        erase(ids, ledger)
    assert emulator.cdp_stats()["open_sessions"] == 0


def test_a_bearer_token_is_never_sent_to_the_erasure_api(emulator, ledger):
    erase(hold(1), ledger)
    sent = [r for r in emulator.requests() if r["route"] == "cdp.erasure"]
    assert sent and all(r["status"] == 200 for r in sent)  # a /token bearer token would be a 401


@pytest.mark.parametrize("duration", readings_of("cdp.erasure_duration"))
@pytest.mark.parametrize("repeat", readings_of("cdp.erasure_repeat"))
def test_a_later_run_confirms_the_erasure_once_cdp_no_longer_finds_them(emulator, ledger, duration, repeat):
    emulator.set_readings({"cdp.erasure_duration": duration, "cdp.erasure_repeat": repeat})
    ids = hold(3)
    erase(ids, ledger, run_id="day-1")
    assert set(statuses(ledger).values()) == {"submitted"}
    if duration != "immediate":
        emulator.clock.advance(DAY)
        erase(ids, ledger, run_id="day-2")  # erasure still under way (unless a day was enough)
    if duration == "sla_30_days":
        assert set(statuses(ledger).values()) == {"pending" if repeat == "pending" else "submitted"}
        emulator.clock.advance(30 * DAY)
        erase(ids, ledger, run_id="day-31")
    if duration == "immediate":
        erase(ids, ledger, run_id="day-2")
    assert set(statuses(ledger).values()) == {"confirmed"}
    assert emulator.cdp_records(TENANT, "customers") == []


@pytest.mark.parametrize("reading", readings_of("cdp.erasure_none_found"))
def test_ids_cdp_never_held_are_not_held_under_either_answer(emulator, ledger, reading):
    emulator.set_reading("cdp.erasure_none_found", reading)
    result = erase(["NOBODY-1", "NOBODY-2"], ledger)
    assert result["statuses"] == {"not_held": 2} and set(statuses(ledger).values()) == {"not_held"}


@pytest.mark.parametrize("reading", readings_of("cdp.erasure_fail_on_not_found"))
def test_fail_on_not_found_stops_at_the_refused_call_and_keeps_the_calls_before(emulator, ledger, reading):
    emulator.set_reading("cdp.erasure_fail_on_not_found", reading)
    ids = hold(200)
    with pytest.raises(Exception, match="nothing in this call was erased") as refused:
        erase([*ids, "NOBODY"], ledger, fail_on_not_found=True)
    assert getattr(refused.value, "status", None) == int(reading)
    assert len(statuses(ledger)) == 200  # the first call's customers are in the ledger


def test_asking_again_with_fail_on_not_found_is_refused_before_sending(emulator, ledger):
    ids = hold(2)
    erase(ids, ledger)
    with pytest.raises(ConfigurationError, match="fail_on_not_found=False"):
        erase(ids, ledger, run_id="again", fail_on_not_found=True)
    assert calls(emulator) == 1


def test_failed_to_accept_is_failed(emulator, ledger):
    ids = hold(3)
    emulator.cdp.erasure.refuse(TENANT, ["C-1"])
    assert erase(ids, ledger)["statuses"] == {"submitted": 2, "failed": 1}


def test_the_weekly_limit_stops_a_run_before_sending_and_says_when_room_frees_up(emulator, ledger):
    register = ErasureRegister(ledger)
    for _ in range(49):
        register.record_erasure_call("acquia_cdp", 200)  # 9,800 sent this week
    ids = hold(250)
    with pytest.raises(ErasureLimitError) as stopped:
        erase(ids, ledger, request_id="R-9", received_at="2025-01-01")
    message = str(stopped.value)
    assert "250 customer ID(s) would pass Acquia CDP's limit of 9990" in message and "190 fit now" in message
    assert "frees up at" in message and "nothing was sent" in message
    assert calls(emulator) == 0 and emulator.cdp_stats()["open_sessions"] == 0  # never logged in
    cdp = register.request("R-9").systems["acquia_cdp"]
    assert cdp.counts() == {"not_sent": 250}  # the request shows what is still to do


@pytest.mark.parametrize("reading", readings_of("cdp.erasure_over_limit"))
def test_a_limit_the_register_did_not_see_is_still_caught(emulator, ledger, reading):
    emulator.set_reading("cdp.erasure_over_limit", reading)
    emulator.cdp.erasure.counted.append((TENANT, emulator.clock.now(), 9_900))  # another sender used the week
    ids = hold(150)
    if reading == "fail_excess":
        assert erase(ids, ledger)["statuses"] == {"submitted": 90, "failed": 60}
    else:
        with pytest.raises(ErasureLimitError, match="this register does not know of"):
            erase(ids, ledger)
        assert statuses(ledger) == {}


@pytest.mark.parametrize("unit", readings_of("cdp.erasure_weekly_unit"))
@pytest.mark.parametrize("week", readings_of("cdp.erasure_week"))
def test_a_run_the_register_allows_is_allowed_by_cdp_under_every_count(emulator, ledger, unit, week):
    emulator.set_readings({"cdp.erasure_weekly_unit": unit, "cdp.erasure_week": week})
    register = ErasureRegister(ledger)
    for _ in range(48):  # 9,600 IDs in 48 calls yesterday, seen by both
        emulator.cdp.erasure.counted.append((TENANT, emulator.clock.now() - DAY, 200 if unit != "calls" else 1))
        register.record_erasure_call("acquia_cdp", 200)
    ids = hold(391)
    assert erase(ids[:390], ledger)["statuses"] == {"submitted": 390}  # up to the limit: CDP takes it all
    with pytest.raises(ErasureLimitError, match="0 fit now"):
        erase(ids[390:], ledger, run_id="one-more")


def test_a_mass_erasure_is_refused_without_confirmation(emulator, ledger):
    ids = hold(60)
    with pytest.raises(MassDeletionError, match=r"60 customers, more than 50 .*5% of the 1000"):
        erase(ids, ledger, last_load_customers=1000)
    assert calls(emulator) == 0
    assert erase(ids, ledger, last_load_customers="1000", confirm_mass_deletion=True)["statuses"] == {"submitted": 60}


def test_batch_size_is_at_most_200():
    with pytest.raises(ConfigurationError, match="at most 200"):
        AcquiaCdpEraseCustomersOperator(task_id="erase", customer_ids=["C"], batch_size=500)


def test_a_custom_regime_needs_a_reason(ledger):
    with pytest.raises(ConfigurationError, match="reason= is required"):
        AcquiaCdpEraseCustomersOperator(task_id="erase", customer_ids=["C"], ledger=str(ledger),
                                        regime=30).execute(context())


def test_a_retry_skips_the_calls_a_previous_try_delivered(emulator, ledger):
    ids = [*hold(400), "NOBODY"]  # the third call is refused: failOnNotFound and an unknown ID
    task = AcquiaCdpEraseCustomersOperator(task_id="erase", customer_ids=ids, ledger=str(ledger), reason="GDPR",
                                           fail_on_not_found=True)
    for _ in range(2):  # the first try, then Airflow's retry of the same task instance
        with pytest.raises(Exception, match="nothing in this call was erased"):
            task.execute(context())
    assert calls(emulator) == 4  # 3, then only the call still to do
    now = datetime.now(timezone.utc)
    assert [n for _, n in ErasureRegister(ledger).erasure_calls("acquia_cdp", now - timedelta(days=1))] == [
        200, 200, 1, 1]
