"""Acquia CDP tracker, webtag service users: the access key is checked, bad keys are refused and block.

The key is computed here with bcrypt directly, as the documents describe it, not with the
provider's function: the emulator's check must hold against the documents.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
import requests

from airflow_provider_monetate.testing import EmulatorAdminError, EmulatorClient
from airflow_provider_monetate.testing.acquia_cdp.webtag import BLOCK_SECONDS, REPEATED_FAILURES
from airflow_provider_monetate.testing.readings import readings_of
from tests.unit.testing.helpers import TIMEOUT, assert_cdp_error, customer

bcrypt = pytest.importorskip("bcrypt")

NOON = datetime(2031, 3, 4, 12, tzinfo=timezone.utc)
WEBTAG_LOGIN = "webtag-user"


def key(token: str, day: datetime) -> str:
    """The documents' access key: bcrypt $2a$, cost 10, of the token followed by yyyy-MM-dd."""
    return bcrypt.hashpw(f"{token}{day:%Y-%m-%d}".encode(), bcrypt.gensalt(rounds=10, prefix=b"2a")).decode()


@pytest.fixture
def webtag_token(emulator) -> str:
    """A token of a webtag service user of tenant 1234, the emulator clock at noon UTC."""
    emulator.clock.set(NOON.timestamp())
    emulator.add_cdp_user(WEBTAG_LOGIN, secrets.token_urlsafe(8), "CS", "1234", scheme="a1webtag")
    return emulator.issue_cdp_token(WEBTAG_LOGIN)


def track(emulator, access_key: str | None, *, tenant="1234", encode=False, body=None) -> requests.Response:
    """A webtag tracker call: the key in the query (as written unless ``encode``), no Authorization."""
    query = "scheme=a1webtag" if access_key is None else (
        f"scheme=a1webtag&accessKey={quote(access_key, safe='') if encode else access_key}")
    return requests.post(f"{emulator.url}/v2/{tenant}/dw/tracker?{query}",
                         data=json.dumps(body or {"customers": [customer("C-1")]}),
                         headers={"Content-Type": "application/json"}, timeout=TIMEOUT)


def test_the_days_key_is_accepted_without_an_authorization_header(emulator, webtag_token):
    response = track(emulator, key(webtag_token, NOON))
    assert response.status_code == 200, response.text
    assert [c["SourceCustomerNumber"] for c in emulator.cdp_records("1234", "customers")] == ["C-1"]
    [logged] = [r for r in emulator.requests() if r["route"] == "cdp.tracker"]
    assert "Authorization" not in logged["headers"] and webtag_token not in json.dumps(logged)
    assert "[REDACTED]" in logged["path"]  # the key grants a day's access: never logged


@pytest.mark.parametrize(("access_key", "what"), [
    (None, "missing"),
    ("not-a-bcrypt-hash", "wrong"),
    (lambda token: key(token + "x", NOON), "wrong"),                     # another token
    (lambda token: key(token, NOON + timedelta(days=1)), "wrong"),       # tomorrow's
    (lambda token: key(token, NOON - timedelta(days=1)), "stale"),       # yesterday's, never used
])
def test_a_missing_wrong_or_stale_key_is_refused(emulator, webtag_token, access_key, what):
    sent = access_key(webtag_token) if callable(access_key) else access_key
    body = assert_cdp_error(track(emulator, sent), 401, "INVALID_ACCESS_KEY")
    assert "missing" in body["userMessage"] if what == "missing" else "wrong or stale" in body["userMessage"]
    assert emulator.cdp_records("1234", "customers") == []
    assert emulator.cdp_stats()["webtag"]["failures"] == {"1234": 1}


def test_a_key_of_another_tenants_user_or_of_an_integration_user_is_refused(emulator, webtag_token):
    emulator.set_reading("cdp.webtag_block", "after_repeated_failures")  # two refusals, no block
    emulator.add_cdp_user("webtag-other", "pw-other", "CS", "5678", scheme="a1webtag")
    other = emulator.issue_cdp_token("webtag-other")
    assert_cdp_error(track(emulator, key(other, NOON)), 401, "INVALID_ACCESS_KEY")
    assert track(emulator, key(other, NOON), tenant="5678").status_code == 200
    integration = emulator.issue_cdp_token()  # the standard a1user user's token
    assert_cdp_error(track(emulator, key(integration, NOON)), 401, "INVALID_ACCESS_KEY")


def test_a_webtag_users_token_is_not_taken_as_a_bearer_on_the_a1user_scheme(emulator, cdp, webtag_token):
    body = assert_cdp_error(cdp.track({"customers": [customer("C-1")]}, webtag_token), 400, "INVALID_SCHEME")
    assert "scheme=a1webtag" in body["userMessage"]


def test_an_unknown_scheme_names_both(emulator, cdp, cdp_token):
    response = requests.post(f"{emulator.url}/v2/1234/dw/tracker", params={"scheme": "a1bearer"}, json={},
                             headers={"Authorization": f"Bearer {cdp_token}"}, timeout=TIMEOUT)
    body = assert_cdp_error(response, 400, "INVALID_SCHEME")
    assert "a1user" in body["userMessage"] and "a1webtag" in body["userMessage"]


@pytest.mark.parametrize("reading", readings_of("cdp.webtag_key_lifetime"))
def test_yesterdays_key_after_midnight(emulator, webtag_token, reading):
    emulator.set_reading("cdp.webtag_key_lifetime", reading)
    emulator.clock.set((NOON + timedelta(hours=11)).timestamp())  # 23:00 UTC
    late = key(webtag_token, NOON)
    assert track(emulator, late).status_code == 200  # first used at 23:00
    emulator.clock.advance(2 * 3600)  # 01:00 UTC the next day
    today = key(webtag_token, NOON + timedelta(days=1))
    assert track(emulator, today).status_code == 200  # the new day's key: under every reading
    expected = 200 if reading == "24h_from_first_use" else 401
    assert track(emulator, late).status_code == expected
    emulator.clock.advance(23 * 3600)  # 24 h after its first use
    assert track(emulator, late).status_code == 401


@pytest.mark.parametrize("reading", readings_of("cdp.webtag_block"))
def test_failed_attempts_block_the_tenants_webtag_access_for_a_while(emulator, webtag_token, reading):
    emulator.set_reading("cdp.webtag_block", reading)
    failures = 1 if reading == "after_first_failure" else REPEATED_FAILURES
    for _ in range(failures):
        assert_cdp_error(track(emulator, "not-a-bcrypt-hash"), 401, "INVALID_ACCESS_KEY")
    good = key(webtag_token, NOON)
    body = assert_cdp_error(track(emulator, good), 403, "ACCESS_BLOCKED")  # even the right key
    assert "failed access-key attempts" in body["userMessage"]
    assert emulator.cdp_stats()["webtag"]["blocked"] == ["1234"]
    emulator.clock.advance(BLOCK_SECONDS)
    assert track(emulator, good).status_code == 200
    assert emulator.cdp_stats()["webtag"] == {"failures": {"1234": 0}, "blocked": []}


def test_failures_below_the_threshold_do_not_block(emulator, webtag_token):
    emulator.set_reading("cdp.webtag_block", "after_repeated_failures")
    for _ in range(REPEATED_FAILURES - 1):
        track(emulator, "not-a-bcrypt-hash")
    assert track(emulator, key(webtag_token, NOON)).status_code == 200


@pytest.mark.parametrize("reading", readings_of("cdp.webtag_key_encoding"))
def test_a_key_as_written_is_read_under_every_reading_an_encoded_one_only_when_decoded(emulator, webtag_token,
                                                                                     reading):
    emulator.set_reading("cdp.webtag_key_encoding", reading)
    access_key = key(webtag_token, NOON)
    assert track(emulator, access_key).status_code == 200
    encoded = track(emulator, access_key, encode=True)
    assert encoded.status_code == (200 if reading == "percent_decoded" else 401)


def test_a_webtag_user_manages_its_tokens_with_its_scheme(emulator, cdp):
    emulator.add_cdp_user(WEBTAG_LOGIN, "pw-webtag", "CS", "1234", scheme="a1webtag")
    assert cdp.create(WEBTAG_LOGIN, "pw-webtag", scheme="a1webtag").status_code == 200
    assert_cdp_error(cdp.create(WEBTAG_LOGIN, "pw-webtag", scheme="a1user"), 400, "INVALID_SCHEME")
    with pytest.raises(ValueError, match="scheme"):
        emulator.add_cdp_user("someone", "pw", "CS", "1234", scheme="a1bearer")


def test_another_process_registers_a_webtag_user_through_the_admin_client(emulator):
    emulator.clock.set(NOON.timestamp())
    client = EmulatorClient(emulator.url)
    client.add_cdp_user("webtag-remote", "pw-remote", "PROD", "1234", scheme="a1webtag")
    token = client.issue_cdp_token("webtag-remote")
    assert track(emulator, key(token, NOON)).status_code == 200
    with pytest.raises(EmulatorAdminError, match="scheme"):
        client.add_cdp_user("bad-remote", "pw", "PROD", "1234", scheme="A1BEARER")
