"""Monetate Auth API: JWT -> token exchange and Token authentication of Data API calls."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time

import pytest
import requests

from airflow_provider_monetate.testing.readings import readings_of
from tests.unit.testing.helpers import TIMEOUT, DataApi, refresh


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned_jwt(header: dict, payload: dict, signature: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())
    return head + "." + _b64(signature)


def test_refresh_returns_token_envelope(emulator, mint):
    before = time.time()
    response = mint()
    assert response.status_code == 200
    body = response.json()
    assert body["meta"] == {"code": 200, "errors": [], "warnings": []}
    data = body["data"]
    assert re.fullmatch(r"1\.[\w-]+\.[\w-]+", data["token"])
    assert data["expires_in"] == 3600  # documented default
    assert data["expires_at"] == pytest.approx(data["issued_at"] + 3600)
    assert before - 1 <= data["issued_at"] <= time.time() + 1
    assert emulator.counters()["monetate.auth"]["auth_calls"] == 1


@pytest.mark.parametrize("algorithm", ["RS256", "RS384", "RS512"])
def test_all_rs_algorithms_accepted(mint, algorithm):
    assert mint(algorithm=algorithm).status_code == 200


def test_alg_none_rejected(emulator):
    forged = _unsigned_jwt({"alg": "none", "typ": "JWT"}, {"username": emulator.monetate_username, "iat": time.time()})
    response = refresh(emulator.url, f"JWT {forged}")
    assert response.status_code == 401
    assert response.json()["data"] is None
    assert response.json()["meta"]["errors"]


def test_hs256_signed_with_public_key_rejected(emulator):
    # The classic algorithm-confusion forgery: HMAC keyed with the (public) key text.
    header, payload = {"alg": "HS256", "typ": "JWT"}, {"username": emulator.monetate_username, "iat": time.time()}
    unsigned = _unsigned_jwt(header, payload).rsplit(".", 1)[0]
    signature = hmac.new(emulator.public_key_pem.encode(), unsigned.encode(), hashlib.sha256).digest()
    assert refresh(emulator.url, f"JWT {unsigned}.{_b64(signature)}").status_code == 401


@pytest.mark.parametrize("scheme", ["Bearer", "Token", "jwt", "JWT:"])
def test_refresh_requires_exact_jwt_scheme_word(mint, scheme):
    assert mint(scheme=scheme).status_code == 401


def test_refresh_without_authorization_is_401(emulator):
    assert refresh(emulator.url, None).status_code == 401


def test_unknown_user_and_wrong_key_rejected(mint, other_keys):
    assert mint(username="api-nobody").status_code == 401
    assert mint(private_key_pem=other_keys.private_key_pem).status_code == 401


@pytest.mark.parametrize(("offset", "status"), [(-120, 401), (120, 401), (-30, 200), (30, 200)])
def test_iat_must_be_within_60_seconds_of_real_time(mint, offset, status):
    assert mint(iat=time.time() + offset).status_code == status


def test_iat_missing_rejected(emulator):
    from jwt import encode

    no_iat = encode({"username": emulator.monetate_username}, emulator.private_key_pem, algorithm="RS256")
    assert refresh(emulator.url, f"JWT {no_iat}").status_code == 401


def test_iat_is_checked_against_the_wall_clock_a_test_may_replace(emulator, mint):
    signed_now = time.time()
    emulator.monetate.auth.wall_clock = lambda: signed_now + 61
    assert mint(iat=signed_now).status_code == 401
    emulator.monetate.auth.wall_clock = lambda: signed_now + 59
    assert mint(iat=signed_now).status_code == 200
    emulator.reset()
    assert emulator.monetate.auth.wall_clock is time.time


def test_iat_checked_against_real_clock_not_emulator_clock(emulator, mint):
    emulator.clock.advance(10 * 86400)
    response = mint()  # signed with the real clock, as real clients do
    assert response.status_code == 200
    assert response.json()["data"]["issued_at"] == pytest.approx(time.time() + 10 * 86400, abs=5)


@pytest.mark.parametrize("reading", readings_of("monetate.ttl_range"))
@pytest.mark.parametrize("ttl", [599, 43201, 0, -5, "abc", "3600.5", ""])
def test_ttl_out_of_range_is_400_naming_ttl(emulator, mint, reading, ttl):
    emulator.set_reading("monetate.ttl_range", reading)
    response = mint(ttl=ttl)
    assert response.status_code == 400
    errors = response.json()["meta"]["errors"]
    assert errors[0]["field"] == "ttl"


@pytest.mark.parametrize(("reading", "status"), [("schema", 200), ("prose", 400)])
@pytest.mark.parametrize("ttl", [600, 899])
def test_a_ttl_only_the_schema_allows_depends_on_the_reading(emulator, mint, reading, status, ttl):
    emulator.set_reading("monetate.ttl_range", reading)
    response = mint(ttl=ttl)
    assert response.status_code == status
    if status == 400:
        assert response.json()["meta"]["errors"] == [{"field": "ttl", "message": "ttl must be an integer between "
                                                      "900 and 43200 seconds."}]
    else:
        assert response.json()["data"]["expires_in"] == ttl


def test_the_schema_reading_of_the_ttl_range_is_the_default(emulator):
    assert emulator.readings.get("monetate.ttl_range") == readings_of("monetate.ttl_range")[0] == "schema"


@pytest.mark.parametrize("reading", readings_of("monetate.ttl_range"))
@pytest.mark.parametrize("ttl", [900, 43200, 7200])
def test_ttl_in_range_is_echoed(emulator, mint, reading, ttl):
    emulator.set_reading("monetate.ttl_range", reading)
    data = mint(ttl=ttl).json()["data"]
    assert data["expires_in"] == ttl
    assert data["expires_at"] - data["issued_at"] == pytest.approx(ttl)


@pytest.mark.parametrize(
    "authorization",
    [None, "Token", "Token not-a-real-token", "Bearer {token}", "JWT {token}", "token {token}", "{token}"],
)
def test_data_api_rejects_bad_token_headers(emulator, token, authorization):
    headers = {"Authorization": authorization.format(token=token)} if authorization else {}
    response = requests.get(f"{emulator.url}/api/data/v1/testshop/production/schema/", headers=headers, timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.json()["meta"]["code"] == 401


def test_token_expires_on_the_emulator_clock(emulator, mint):
    api = DataApi(emulator.url, mint(ttl=900).json()["data"]["token"])
    assert api.get("schema/").status_code == 200
    emulator.clock.advance(899)
    assert api.get("schema/").status_code == 200
    emulator.clock.advance(2)
    assert api.get("schema/").status_code == 401


def test_minting_does_not_invalidate_earlier_tokens(emulator, mint):
    first = DataApi(emulator.url, mint().json()["data"]["token"])
    second = DataApi(emulator.url, mint().json()["data"]["token"])
    assert first.get("schema/").status_code == 200
    assert second.get("schema/").status_code == 200


def test_deactivated_key_gives_403_on_data_and_refresh(emulator, api, mint):
    assert api.get("schema/").status_code == 200
    emulator.deactivate_monetate_key(emulator.monetate_username)
    response = api.get("schema/")
    assert response.status_code == 403
    assert response.json()["meta"]["errors"]
    assert mint().status_code == 403


def test_rekeyed_user_gets_working_tokens_again(emulator, mint, other_keys):
    emulator.deactivate_monetate_key(emulator.monetate_username)
    emulator.add_monetate_user(emulator.monetate_username, other_keys.public_key_pem, "testshop")
    assert mint(private_key_pem=other_keys.private_key_pem).status_code == 200
