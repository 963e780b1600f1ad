"""Both hooks against the emulator over real HTTP: auth, every call, every fault kind."""

from __future__ import annotations

import json
import time

import pytest

from airflow_provider_monetate.exceptions import (
    ApiAuthError,
    ApiForbiddenError,
    ApiNotFoundError,
    ApiUnavailableError,
    ApiValidationError,
    ConfigurationError,
)
from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook
from airflow_provider_monetate.hooks.monetate import DeletionStatus, MonetateHook
from airflow_provider_monetate.http import RetryPolicy
from airflow_provider_monetate.testing.readings import readings_of

pytestmark = pytest.mark.integration

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, max_elapsed=10)
EVENTS = {
    "name": "loyalty_events", "type": "event",
    "fields": {
        "event_id": {"data_type": "STRING", "unique_key": True},
        "customer_id": {"data_type": "STRING", "identifier": True},
        "occurred_at": {"data_type": "DATETIME", "event_time": True},
        "points": {"data_type": "NUMBER"},
    },
}


def row(i: int, customer: str = "C1") -> dict:
    return {"event_id": f"e-{i}", "customer_id": customer, "occurred_at": "2024-05-01T12:00:00.000000Z", "points": i}


@pytest.fixture
def monetate(emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MONETATE_DEFAULT", emulator.monetate_conn_json())
    return MonetateHook(retry=FAST_RETRY, timeout=2)


@pytest.fixture
def cdp(emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_ACQUIA_CDP_DEFAULT", emulator.cdp_conn_json(token=emulator.issue_cdp_token()))
    return AcquiaCdpHook(retry=FAST_RETRY, timeout=2)


# -- Monetate -----------------------------------------------------------------------------

def test_connection_test_and_token_reuse(monetate, emulator):
    good, message = monetate.test_connection()
    assert good, message
    monetate.list_schemas()
    assert emulator.counters()["monetate.auth"]["auth_calls"] == 1


def test_every_data_api_call(monetate, emulator):
    created = monetate.create_schema(EVENTS)
    assert created["name"] == "loyalty_events"
    assert monetate.get_schema("loyalty_events")["fields"]["event_id"]["unique_key"] is True
    assert [s["name"] for s in monetate.list_schemas()] == ["loyalty_events"]
    monetate.patch_schema("loyalty_events", fields={"tier": {"data_type": "STRING"}})
    assert "tier" in monetate.get_schema("loyalty_events")["fields"]
    assert any(t.get("name") == "event" or t.get("type") == "event" for t in monetate.list_schema_types())
    assert monetate.get_schema_type("customer_data_privacy")
    assert monetate.post_rows("loyalty_events", [row(1), row(2)]) == 201
    monetate.post_rows("loyalty_events", [row(1) | {"points": 99}])  # upsert by unique key
    stored = {r["event_id"]: r for r in emulator.monetate_rows("testshop", "loyalty_events")}
    assert len(stored) == 2 and stored["e-1"]["points"] == 99
    assert monetate.upload_history("loyalty_events")
    assert monetate.get_record("loyalty_events", "e-2")
    assert monetate.find_schema("absent") is None


def test_privacy_flow(monetate, emulator):
    monetate.create_schema({"name": "gdpr", "type": "customer_data_privacy", "fields": {}})
    monetate.create_schema(EVENTS)
    monetate.post_rows("loyalty_events", [row(1, "C42"), row(2, "C43")])
    # The privacy seed's flat body (the emulator's default reading; MonetateSubmitDeletionsOperator finds the form)
    monetate.post_rows("gdpr", body=b'{"customer_id":"C42","delete_request_time":"2024-05-01T09:30:00.000000Z"}')
    assert monetate.deletion_status("gdpr", "C42")[0] is DeletionStatus.PENDING
    assert monetate.deletion_status("gdpr", "C43")[0] is DeletionStatus.FOUND
    emulator.clock.advance(2 * 86400)  # past the nightly batch
    assert monetate.deletion_status("gdpr", "C42")[0] is DeletionStatus.NOT_FOUND
    assert [r["customer_id"] for r in emulator.monetate_rows("testshop", "loyalty_events")] == ["C43"]


def test_bad_rows_are_rejected_naming_row_and_field(monetate):
    monetate.create_schema(EVENTS)
    with pytest.raises(ApiValidationError, match="customer_id") as info:
        monetate.post_rows("loyalty_events", [row(1), {"event_id": "e-2", "occurred_at": "2024-05-01T00:00:00Z"}])
    assert info.value.status == 400 and "row=1" in str(info.value)


def test_unknown_dataset_and_shortname(monetate, emulator, monkeypatch):
    with pytest.raises(ApiNotFoundError, match="dataset does not exist"):
        monetate.get_schema("absent")
    conn = emulator.monetate_conn_json().replace('"testshop"', '"wrongshop"')
    monkeypatch.setenv("AIRFLOW_CONN_MONETATE_DEFAULT", conn)
    good, message = MonetateHook(retry=FAST_RETRY).test_connection()
    assert not good and "shortname" in message


def test_expired_token_mid_run_reauths_once(monetate, emulator):
    monetate.list_schemas()
    emulator.expire_tokens("monetate")
    monetate.list_schemas()
    assert emulator.counters()["monetate.auth"]["auth_calls"] == 2


def test_clock_advanced_past_token_expiry_reauths(monetate, emulator):
    monetate.list_schemas()
    emulator.clock.advance(4000)
    monetate.list_schemas()
    assert emulator.counters()["monetate.auth"]["auth_calls"] == 2


def test_deactivated_key_is_403_without_retry(monetate, emulator):
    monetate.list_schemas()
    emulator.deactivate_monetate_key("api-test-user")
    with pytest.raises(ApiForbiddenError, match="deactivated"):
        monetate.list_schemas()
    assert emulator.counters()["monetate.schema"]["statuses"].get(403) == 1


def test_wrong_key_is_401_with_a_fix(emulator, monkeypatch):
    from airflow_provider_monetate.testing import generate_key_pair

    conn = emulator.monetate_conn_json()
    other = generate_key_pair().private_key_pem
    data = json.loads(conn)
    data["password"] = other
    monkeypatch.setenv("AIRFLOW_CONN_MONETATE_DEFAULT", json.dumps(data))
    good, message = MonetateHook(retry=FAST_RETRY).test_connection()
    assert not good and "public key uploaded to Monetate matches" in message


def test_a_host_without_scheme_names_the_tls_handshake_and_the_fix(emulator, monkeypatch):
    # The emulator speaks plain HTTP; a host without scheme means https. This used to crash with
    # AttributeError: 'str' object has no attribute '__context__'.
    address = emulator.url.removeprefix("http://")
    data = json.loads(emulator.monetate_conn_json())
    monkeypatch.setenv("AIRFLOW_CONN_MONETATE_DEFAULT", json.dumps({**data, "host": address}))
    good, message = MonetateHook(retry=RetryPolicy(max_attempts=1)).test_connection()
    assert not good and f"TLS handshake with {address} failed" in message
    assert f"if {address} serves plain HTTP, write http:// in the connection's host" in message
    cdp = json.loads(emulator.cdp_conn_json(token="tok-unused"))
    monkeypatch.setenv("AIRFLOW_CONN_ACQUIA_CDP_DEFAULT", json.dumps({**cdp, "host": address, "extra": {
        **cdp["extra"], "auth_host": address}}))
    good, message = AcquiaCdpHook(retry=RetryPolicy(max_attempts=1)).test_connection()
    assert not good and f"TLS handshake with {address} failed" in message


def test_a_host_with_a_path_is_refused_before_any_call(emulator, monkeypatch):
    data = json.loads(emulator.monetate_conn_json())
    monkeypatch.setenv("AIRFLOW_CONN_MONETATE_DEFAULT", json.dumps({**data, "host": emulator.url + "/api"}))
    good, message = MonetateHook(retry=FAST_RETRY).test_connection()
    assert not good and f"- host: '{emulator.url}/api' has a path" in message
    assert "dataset does not exist" not in message
    assert emulator.counters().get("monetate.auth", {}).get("auth_calls", 0) == 0


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_transient_status_is_retried(monetate, emulator, status):
    monetate.list_schemas()
    emulator.inject("monetate.schema", "status", count=2, status=status, retry_after=0)
    assert monetate.list_schemas() == []
    assert emulator.counters()["monetate.schema"]["statuses"].get(status) == 2


def test_retry_after_is_honoured(monetate, emulator):
    waits = []
    monetate.api._sleep = waits.append
    monetate.list_schemas()
    emulator.inject("monetate.schema", "status", count=1, status=429, retry_after=3)
    monetate.list_schemas()
    assert waits and waits[0] >= 3


def test_dropped_connection_on_a_read_is_retried(monetate, emulator):
    monetate.list_schemas()
    emulator.inject("monetate.schema", "drop", count=1)
    assert monetate.list_schemas() == []


def test_dropped_connection_on_an_unkeyed_post_is_not_repeated(monetate, emulator):
    monetate.create_schema(EVENTS)
    emulator.inject("monetate.data", "drop", count=1)
    with pytest.raises(ApiUnavailableError) as info:
        monetate.post_rows("loyalty_events", [row(1)])
    assert info.value.in_doubt
    assert emulator.counters()["monetate.data"]["requests"] == 1


def test_slow_response_times_out_then_succeeds_when_repeat_is_safe(monetate, emulator):
    monetate.create_schema(EVENTS)
    emulator.inject("monetate.data", "slow", count=1, seconds=3)
    assert monetate.post_rows("loyalty_events", [row(1)], retry_ambiguous=True) == 201
    assert len(emulator.monetate_rows("testshop", "loyalty_events")) == 1  # upserted, not duplicated


def test_latency_is_only_slower(monetate, emulator):
    emulator.inject("monetate.schema", "latency", seconds=0.2)
    assert monetate.list_schemas() == []


def test_persistent_5xx_gives_up_with_attempt_count(monetate, emulator):
    monetate.list_schemas()
    emulator.inject("monetate.schema", "status", count=10, status=503)
    with pytest.raises(ApiUnavailableError, match="4 attempts"):
        monetate.list_schemas()


# -- Acquia CDP -----------------------------------------------------------------------------

@pytest.mark.parametrize("expires_in", readings_of("cdp.expires_in"))
def test_cdp_token_lifecycle(cdp, emulator, expires_in):
    emulator.set_reading("cdp.expires_in", expires_in)
    good, message = cdp.test_connection()
    assert good and "days" in message
    verified = cdp.verify_token()
    assert 179 < verified.days_left < 181
    emulator.clock.advance(30 * 86400)
    if expires_in == "countdown":
        assert cdp.verify_token().days_left < 151
        assert cdp.extend_token().days_left > 300
    else:  # a static token is tracked by no token state: CDP's fixed figure is all the hook has
        assert cdp.verify_token().expires_in == cdp.extend_token().expires_in == 15_599_999
    created = cdp.create_token()
    with pytest.raises(ApiAuthError):  # the seed's reading: a new token invalidates the old one
        cdp.verify_token()
    assert cdp.verify_token(created.token).token == created.token
    cdp.delete_token(created.token)
    with pytest.raises(ApiAuthError):
        cdp.verify_token(created.token)
    assert cdp.wipe_tokens()


@pytest.mark.emulator_readings({"cdp.token_limit": "refuse_400"})  # the token tests cover every reading
def test_cdp_limit_is_surfaced(cdp, emulator):
    for _ in range(4):  # the fixture issued one; CS allows five per cycle
        cdp.create_token()
    with pytest.raises(ApiValidationError, match="TOKEN_LIMIT_EXCEEDED"):
        cdp.create_token()
    cdp.wipe_tokens()
    assert cdp.create_token().token


def test_cdp_ingestion(cdp, emulator):
    cdp.post_entities({"customers": [{"SourceSystemID": "crm", "SourceCustomerNumber": "C-1", "Email": "a@b.c"}],
                       "events": [{"SourceSystemID": "esp", "Type": "emailClick", "SourceCustomerNumber": "C-1",
                                   "EventTimeStamp": 1735689600}]})
    assert emulator.cdp_records("1234", "customers")[0]["Email"] == "a@b.c"
    with pytest.raises(ApiValidationError, match=r"customers\[0\]\.Address"):
        cdp.post_entities({"customers": [{"SourceSystemID": "crm", "SourceCustomerNumber": "C-2",
                                          "Address": {"City": "X"}}]})


def test_cdp_rotated_token_is_picked_up_after_401(emulator, monkeypatch):
    from airflow_provider_monetate.acquia_cdp.tokens import TokenState
    from airflow_provider_monetate.testing import InMemoryTokenStore

    store = InMemoryTokenStore(TokenState(token=emulator.issue_cdp_token()))
    monkeypatch.setenv("AIRFLOW_CONN_ACQUIA_CDP_DEFAULT", emulator.cdp_conn_json())
    hook = AcquiaCdpHook(token_store=store, retry=FAST_RETRY)
    hook.post_entities({"events": [{"SourceSystemID": "esp", "Type": "x", "Email": "a@b.c", "EventTimeStamp": 1}]})
    store.write(TokenState(token=emulator.issue_cdp_token()))  # the rotation DAG replaced it
    hook.post_entities({"events": [{"SourceSystemID": "esp", "Type": "x", "Email": "a@b.c", "EventTimeStamp": 2}]})
    assert len(emulator.cdp_records("1234", "events")) == 2


@pytest.mark.parametrize("kind", ["status", "drop"])
def test_cdp_tracker_faults_are_retried(cdp, emulator, kind):
    emulator.inject("cdp.tracker", kind, count=2, status=503 if kind == "status" else None)
    cdp.post_entities({"customers": [{"SourceSystemID": "crm", "SourceCustomerNumber": "C-9"}]})
    assert [c["SourceCustomerNumber"] for c in emulator.cdp_records("1234", "customers")] == ["C-9"]


# -- issue 12: the token exchange under every reading of the Auth spec -------------------------

class WallClock:
    """Epoch seconds that pass only when told: the signer's, the server's ``iat`` check's and the waits'."""

    def __init__(self) -> None:
        self.seconds = time.time()

    def now(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


def test_a_token_exchange_retried_past_the_iat_window_signs_a_fresh_jwt(emulator, monkeypatch):
    wall = WallClock()
    monkeypatch.setattr(emulator.monetate.auth, "wall_clock", wall.now)
    monkeypatch.setattr(emulator.emulator, "sleep", wall.advance)  # latency passes on the same clock
    monkeypatch.setenv("AIRFLOW_CONN_MONETATE_DEFAULT", emulator.monetate_conn_json())
    hook = MonetateHook(retry=RetryPolicy(), timeout=2)  # the default budget: six attempts over minutes
    hook.jwt_clock = wall.now
    hook.api._sleep, hook.api._clock = wall.advance, wall.now
    emulator.inject("monetate.auth", "latency", seconds=40)  # every answer takes 40 s
    emulator.inject("monetate.auth", "status", status=503, retry_after=30)  # the first: busy, come back in 30 s
    # The retry is sent 70 s after the first attempt and read 40 s later: a JWT signed for the
    # first attempt would be 110 s old there, past the server's 60 s iat window (a 401, not retried).
    token = hook.get_token()
    assert token.expires_in == 3600
    assert emulator.counters()["monetate.auth"]["statuses"] == {503: 1, 200: 1}
    assert hook.list_schemas() == []


@pytest.mark.parametrize("reading", readings_of("monetate.ttl_range"))
@pytest.mark.parametrize("ttl", [None, 900, 7200, 43200])
def test_every_token_ttl_the_provider_sends_is_minted_under_either_reading(emulator, monkeypatch, reading, ttl):
    emulator.set_reading("monetate.ttl_range", reading)
    extra = {} if ttl is None else {"token_ttl": ttl}
    monkeypatch.setenv("AIRFLOW_CONN_MONETATE_DEFAULT", _with_extra(emulator.monetate_conn_json(), extra))
    token = MonetateHook(retry=FAST_RETRY, timeout=2).get_token()
    assert token.expires_in == (ttl or 3600)


@pytest.mark.parametrize("reading", readings_of("monetate.ttl_range"))
@pytest.mark.parametrize("ttl", [600, 899])
def test_a_ttl_only_the_schema_allows_is_refused_before_anything_is_sent(emulator, monkeypatch, reading, ttl):
    # 600..899: minted under the "schema" reading, a 400 under "prose"; the provider sends neither.
    emulator.set_reading("monetate.ttl_range", reading)
    monkeypatch.setenv("AIRFLOW_CONN_MONETATE_DEFAULT", _with_extra(emulator.monetate_conn_json(), {"token_ttl": ttl}))
    with pytest.raises(ConfigurationError, match=rf"token_ttl: {ttl} is outside 900\.\.43200 seconds"):
        MonetateHook(retry=FAST_RETRY, timeout=2).get_token()
    assert emulator.counters().get("monetate.auth", {}).get("requests", 0) == 0


def _with_extra(conn_json: str, extra: dict) -> str:
    conn = json.loads(conn_json)
    conn["extra"] = {**conn.get("extra", {}), **extra}
    return json.dumps(conn)
