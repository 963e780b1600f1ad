"""Acquia CDP tokens: create, verify, extend, delete, wipe; per-cycle limits, invalidation; sessions.

Every point the documents leave open is a reading (see the ``tokens`` module docstring); each
reading has a test here that shows what it does."""

from __future__ import annotations

import uuid

import pytest
import requests

from airflow_provider_monetate.testing.readings import OPEN_POINTS, readings_of
from tests.unit.testing.helpers import TIMEOUT, assert_cdp_error

LIFETIME = 15_599_999
REFUSALS = [reading for reading in readings_of("cdp.token_limit") if reading.startswith("refuse_")]


def test_create_returns_uuid_bearer_token(emulator, cdp):
    response = cdp.create()
    assert response.status_code == 200
    body = response.json()
    assert body == {"access_token": body["access_token"], "token_type": "bearer", "expires_in": LIFETIME}
    assert uuid.UUID(body["access_token"]).version == 4
    assert emulator.counters()["cdp.token"]["auth_calls"] == 1


def test_the_token_readings_are_declared_with_the_literal_reading_first():
    assert OPEN_POINTS["cdp.expires_in"].readings == ("fixed", "countdown")
    assert OPEN_POINTS["cdp.token_limit"].readings == (
        "invalidate", "refuse_400", "refuse_403", "refuse_409", "refuse_429")
    assert OPEN_POINTS["cdp.token_invalidation"].default == "all_previous"
    assert OPEN_POINTS["cdp.token_extend"].default == "add"
    assert OPEN_POINTS["cdp.invalid_token_status"].default == "401"
    assert "15599999" in OPEN_POINTS["cdp.expires_in"].question


@pytest.mark.parametrize("reading", readings_of("cdp.expires_in"))
def test_verify_reports_expires_in_as_the_reading_says(emulator, cdp, reading):
    emulator.set_reading("cdp.expires_in", reading)
    token = cdp.create().json()["access_token"]
    body = cdp.verify(token).json()
    assert body["access_token"] == token
    assert body["token_type"] == "bearer"
    assert body["userType"] == "CLIENT"
    assert LIFETIME - 5 <= body["expires_in"] <= LIFETIME
    emulator.clock.advance(1000)
    later = cdp.verify(token).json()["expires_in"]
    if reading == "fixed":
        assert later == LIFETIME  # the seed's figure on every verify
    else:
        assert LIFETIME - 1005 <= later <= LIFETIME - 1000


def test_token_expires_after_180_days(emulator, cdp):
    token = cdp.create().json()["access_token"]
    emulator.clock.advance(LIFETIME - 10)
    assert cdp.verify(token).status_code == 200
    emulator.clock.advance(20)
    assert_cdp_error(cdp.verify(token), 401, "INVALID_TOKEN")


def test_bad_credentials_and_scheme(cdp):
    assert_cdp_error(cdp.create(password="wrong"), 401, "INVALID_CREDENTIALS")
    assert_cdp_error(cdp.create(login="nobody"), 401, "INVALID_CREDENTIALS")
    assert_cdp_error(cdp.create(scheme="a1webtag"), 400, "INVALID_SCHEME")
    assert_cdp_error(cdp.verify("not-a-token"), 401, "INVALID_TOKEN")


def test_all_previous_invalidation_keeps_only_newest(emulator, cdp):
    first = cdp.create().json()["access_token"]
    second = cdp.create().json()["access_token"]
    assert_cdp_error(cdp.verify(first), 401, "INVALID_TOKEN")
    assert cdp.verify(second).status_code == 200
    assert_cdp_error(cdp.track({"events": [{"SourceSystemID": "x", "Type": "t"}]}, first), 401, "INVALID_TOKEN")
    assert emulator.cdp_stats()["users"][emulator.cdp_login]["active_tokens"] == 1


def test_evict_oldest_invalidation_keeps_earlier_tokens(emulator, cdp):
    emulator.configure(invalidation="evict_oldest")
    tokens = [cdp.create().json()["access_token"] for _ in range(3)]
    assert all(cdp.verify(t).status_code == 200 for t in tokens)
    assert emulator.cdp_stats()["users"][emulator.cdp_login]["active_tokens"] == 3


def test_evict_oldest_without_refusal_evicts_the_oldest_beyond_the_limit(emulator, cdp):
    emulator.configure(invalidation="evict_oldest")
    login, password = emulator.create_cdp_user(environment="PROD")
    tokens = [cdp.create(login, password).json()["access_token"] for _ in range(4)]
    assert [cdp.verify(t).status_code for t in tokens] == [401, 200, 200, 200]
    assert emulator.cdp_stats()["users"][login]["active_tokens"] == 3


def test_evict_oldest_with_refusal_keeps_every_token_and_refuses(emulator, cdp):
    emulator.set_readings({"cdp.token_invalidation": "evict_oldest", "cdp.token_limit": "refuse_400"})
    login, password = emulator.create_cdp_user(environment="PROD")
    tokens = [cdp.create(login, password).json()["access_token"] for _ in range(3)]
    assert_cdp_error(cdp.create(login, password), 400, "TOKEN_LIMIT_EXCEEDED")
    assert all(cdp.verify(t).status_code == 200 for t in tokens)


@pytest.mark.parametrize(("environment", "limit"), [("CS", 5), ("UAT", 3), ("PROD", 3)])
def test_by_default_a_create_is_never_refused_and_only_the_newest_token_lives(emulator, cdp, environment, limit):
    login, password = emulator.create_cdp_user(environment=environment)
    tokens = [cdp.create(login, password).json()["access_token"] for _ in range(2 * limit + 1)]
    assert [cdp.verify(t).status_code for t in tokens] == [401] * (2 * limit) + [200]
    stats = emulator.cdp_stats()["users"][login]
    assert (stats["created_in_cycle"], stats["active_tokens"]) == (2 * limit + 1, 1)


@pytest.mark.parametrize("reading", REFUSALS)
def test_each_refusal_reading_answers_its_own_status_and_body(emulator, cdp, reading):
    emulator.set_reading("cdp.token_limit", reading)
    login, password = emulator.create_cdp_user(environment="PROD")
    kept = [cdp.create(login, password).json()["access_token"] for _ in range(3)][-1]
    refused = cdp.create(login, password)
    status = int(reading.removeprefix("refuse_"))
    assert refused.status_code == status
    if status == 429:
        assert refused.content == b""  # the status alone says it
    else:
        code = {400: "TOKEN_LIMIT_EXCEEDED", 403: "FORBIDDEN", 409: "CONFLICT"}[status]
        assert_cdp_error(refused, status, code)
    assert cdp.verify(kept).status_code == 200  # a refused create invalidates nothing
    assert emulator.cdp_stats()["users"][login]["created_in_cycle"] == 3


@pytest.mark.parametrize(("environment", "limit"), [("CS", 5), ("UAT", 3), ("PROD", 3)])
def test_limit_per_environment_and_wipe_starts_new_cycle(emulator, cdp, environment, limit):
    emulator.set_reading("cdp.token_limit", "refuse_400")
    login, password = emulator.create_cdp_user(environment=environment)
    for _ in range(limit):
        assert cdp.create(login, password).status_code == 200
    body = assert_cdp_error(cdp.create(login, password), 400, "TOKEN_LIMIT_EXCEEDED")
    assert str(limit) in body["userMessage"]
    assert environment in body["userMessage"]
    assert "wipe" in body["userMessage"].lower()
    stats = emulator.cdp_stats()["users"][login]
    assert (stats["created_in_cycle"], stats["cycle"], stats["limit"]) == (limit, 1, limit)

    wiped = requests.delete(
        f"{cdp.url}/token",
        params={"scheme": "a1user"},
        headers={"Authorization": cdp.basic(login, password)},
        timeout=TIMEOUT,
    )
    assert wiped.status_code == 200
    assert wiped.json() == {"status": "wiped", "count": 1}
    stats = emulator.cdp_stats()["users"][login]
    assert (stats["created_in_cycle"], stats["cycle"], stats["active_tokens"]) == (0, 2, 0)
    assert cdp.create(login, password).status_code == 200


def test_wipe_invalidates_every_token(emulator, cdp):
    emulator.configure(invalidation="evict_oldest")
    tokens = [cdp.create().json()["access_token"] for _ in range(2)]
    wiped = requests.delete(
        f"{cdp.url}/token", params={"scheme": "a1user"}, headers={"Authorization": cdp.basic()}, timeout=TIMEOUT
    )
    assert wiped.json() == {"status": "wiped", "count": 2}
    assert all(cdp.verify(t).status_code == 401 for t in tokens)


def test_delete_one_token_does_not_reset_the_cycle(emulator, cdp):
    emulator.set_reading("cdp.token_limit", "refuse_400")
    token = cdp.create().json()["access_token"]
    deleted = requests.delete(
        f"{cdp.url}/token", params={"scheme": "a1user"}, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )
    assert deleted.status_code == 200
    assert deleted.json() == {"status": "deleted"}
    assert_cdp_error(cdp.verify(token), 401, "INVALID_TOKEN")
    assert emulator.cdp_stats()["users"][emulator.cdp_login]["created_in_cycle"] == 1
    for _ in range(4):
        assert cdp.create().status_code == 200
    assert_cdp_error(cdp.create(), 400, "TOKEN_LIMIT_EXCEEDED")


def _extend(cdp, token):
    return requests.post(
        f"{cdp.url}/token",
        params={"action": "extend", "scheme": "a1user"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )


@pytest.mark.emulator_readings({"cdp.expires_in": "countdown"})
def test_extend_adds_the_configured_period(emulator, cdp):
    token = cdp.create().json()["access_token"]
    emulator.clock.advance(LIFETIME - 100)
    extended = _extend(cdp, token)
    assert extended.status_code == 200
    assert extended.json()["userType"] == "CLIENT"
    assert LIFETIME + 90 <= extended.json()["expires_in"] <= LIFETIME + 100
    emulator.clock.advance(LIFETIME)
    assert cdp.verify(token).status_code == 200
    emulator.configure(extend_seconds=50)
    before = cdp.verify(token).json()["expires_in"]
    assert before + 45 <= _extend(cdp, token).json()["expires_in"] <= before + 50


@pytest.mark.emulator_readings({"cdp.expires_in": "countdown", "cdp.token_extend": "reset"})
def test_extend_under_the_reset_reading_restarts_the_lifetime(emulator, cdp):
    token = cdp.create().json()["access_token"]
    emulator.clock.advance(LIFETIME - 100)
    assert LIFETIME - 5 <= _extend(cdp, token).json()["expires_in"] <= LIFETIME
    emulator.clock.advance(LIFETIME - 10)
    assert cdp.verify(token).status_code == 200
    emulator.clock.advance(20)
    assert_cdp_error(cdp.verify(token), 401, "INVALID_TOKEN")


@pytest.mark.parametrize("reading", readings_of("cdp.expires_in"))
def test_an_extended_token_lives_past_its_first_lifetime_whatever_verify_reports(emulator, cdp, reading):
    emulator.set_reading("cdp.expires_in", reading)
    token = cdp.create().json()["access_token"]
    emulator.clock.advance(100 * 86400)
    assert _extend(cdp, token).status_code == 200
    emulator.clock.advance(LIFETIME)
    assert cdp.verify(token).status_code == 200


@pytest.mark.parametrize("status", readings_of("cdp.invalid_token_status"))
def test_token_calls_answer_an_invalid_token_as_the_reading_says(emulator, cdp, status):
    emulator.set_reading("cdp.invalid_token_status", status)
    first = cdp.create().json()["access_token"]
    cdp.create()  # replaces the first
    deleted = requests.delete(f"{cdp.url}/token", params={"scheme": "a1user"},
                              headers={"Authorization": f"Bearer {first}"}, timeout=TIMEOUT)
    for response in (cdp.verify(first), _extend(cdp, first), deleted, cdp.verify("nope")):
        assert_cdp_error(response, int(status), "INVALID_TOKEN")


def test_extend_invalid_token_is_401(cdp):
    assert_cdp_error(_extend(cdp, "nope"), 401, "INVALID_TOKEN")


def test_get_with_basic_returns_newest_valid_token(emulator, cdp):
    response = requests.get(
        f"{cdp.url}/token", params={"scheme": "a1user"}, headers={"Authorization": cdp.basic()}, timeout=TIMEOUT
    )
    assert_cdp_error(response, 401, "INVALID_TOKEN")
    emulator.configure(invalidation="evict_oldest")
    cdp.create()
    newest = cdp.create().json()["access_token"]
    response = requests.get(
        f"{cdp.url}/token", params={"scheme": "a1user"}, headers={"Authorization": cdp.basic()}, timeout=TIMEOUT
    )
    assert response.status_code == 200
    assert response.json()["access_token"] == newest
    assert response.json()["userType"] == "CLIENT"


def test_unknown_action_is_400(cdp):
    response = requests.post(
        f"{cdp.url}/token",
        params={"action": "revoke", "scheme": "a1user"},
        headers={"Authorization": cdp.basic()},
        timeout=TIMEOUT,
    )
    assert_cdp_error(response, 400, "INVALID_ACTION")


def test_issue_cdp_token_helper_obeys_the_rules(emulator, cdp):
    first = emulator.issue_cdp_token()
    second = emulator.issue_cdp_token()
    assert cdp.verify(first).status_code == 401
    assert cdp.verify(second).status_code == 200
    assert emulator.counters()["cdp.token"]["requests"] == 2  # the two verifies only


def test_login_and_logout(emulator, cdp):
    login = requests.post(
        f"{cdp.url}/authentication", params={"action": "login"}, headers={"Authorization": cdp.basic()}, timeout=TIMEOUT
    )
    assert login.status_code == 200
    session_token = login.json()["access_token"]
    logout = requests.post(
        f"{cdp.url}/authentication",
        params={"action": "logout"},
        headers={"Authorization": f"Bearer {session_token}"},
        timeout=TIMEOUT,
    )
    assert logout.status_code == 200
    again = requests.post(
        f"{cdp.url}/authentication",
        params={"action": "logout"},
        headers={"Authorization": f"Bearer {session_token}"},
        timeout=TIMEOUT,
    )
    assert_cdp_error(again, 401, "INVALID_TOKEN")
    assert emulator.counters()["cdp.auth"]["auth_calls"] == 1


def test_configure_invalidation_sets_the_reading_and_reset_restores_the_seeds(emulator):
    emulator.configure(invalidation="evict_oldest")
    assert emulator.readings.get("cdp.token_invalidation") == "evict_oldest"
    assert emulator.config()["invalidation"] == "evict_oldest"
    emulator.set_reading("cdp.token_invalidation", "all_previous")
    assert emulator.config()["invalidation"] == "all_previous"
    with pytest.raises(ValueError, match="invalidation must be one of"):
        emulator.configure(invalidation="fifo")


@pytest.mark.parametrize("reading", REFUSALS)
def test_issue_cdp_token_helper_says_why_a_refusal_reading_refused(emulator, reading):
    emulator.set_reading("cdp.token_limit", reading)
    login, _ = emulator.create_cdp_user(environment="PROD")
    for _ in range(3):
        emulator.issue_cdp_token(login)
    with pytest.raises(ValueError, match=r"Token limit 3|Maximum number|quota|refused with 429"):
        emulator.issue_cdp_token(login)
