"""The emulator's GDPR/CCPA data erasure API, under each reading of what the notes leave open."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_monetate.testing.readings import readings_of
from tests.unit.testing.helpers import TIMEOUT, assert_cdp_error, customer

DAY = 86_400


class Erasure:
    """Login, erase, logout over HTTP, as the notes describe them."""

    def __init__(self, emulator, cdp):
        self.emulator, self.cdp = emulator, cdp

    def login(self) -> str:
        response = self.cdp.session.post(f"{self.emulator.url}/authentication", params={"action": "login"},
                                         headers={"Authorization": self.cdp.basic()}, json={}, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def logout(self, token: str):
        return self.cdp.session.post(f"{self.emulator.url}/authentication", params={"action": "logout"},
                                     headers={"Authorization": f"Bearer {token}"}, json={}, timeout=TIMEOUT)

    def erase(self, ids, token=None, fail_on_not_found=None, tenant="1234", **body):
        payload = {"customerIds": ids, "requestedDate": "2025-01-01 00:00:00 UTC", "reason": "GDPR",
                   "requestOrigin": "Data Erasure", "tenantId": int(tenant), **body}
        params = {} if fail_on_not_found is None else {"failOnNotFound": str(fail_on_not_found).lower()}
        return self.cdp.session.post(f"{self.emulator.url}/v2/{tenant}/dw/dataerasure", params=params, json=payload,
                                     headers={"Authorization": f"Bearer {token or self.login()}"}, timeout=TIMEOUT)


@pytest.fixture
def erasure(emulator, cdp):
    return Erasure(emulator, cdp)


@pytest.fixture
def known(cdp, cdp_token):
    """C-1..C-3 are customers CDP holds."""
    response = cdp.track({"customers": [customer(f"C-{i}") for i in (1, 2, 3)]}, cdp_token)
    assert response.status_code == 200
    return ["C-1", "C-2", "C-3"]


def lists(response) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["eventId"]
    return {k: v for k, v in body.items() if k != "eventId" and v}


def test_known_customers_are_ready_for_erasure_and_unknown_ones_not_found(erasure, known):
    assert lists(erasure.erase([*known, "NOBODY"])) == {"readyForDataErasure": known, "notFound": ["NOBODY"]}


def test_only_a_login_session_token_is_taken_and_logout_ends_it(erasure, known, cdp_token):
    assert_cdp_error(erasure.erase(known, token=cdp_token), 401, "INVALID_TOKEN")  # a /token bearer token
    session = erasure.login()
    assert erasure.logout(session).status_code == 200
    assert_cdp_error(erasure.erase(known, token=session), 401, "INVALID_TOKEN")


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"customerIds": [f"C{i}" for i in range(201)]}, 400),
        ({"customerIds": []}, 400),
        ({"reason": ""}, 400),
        ({"tenantId": "1234"}, 400),
        ({"tenantId": 5678}, 400),
    ],
)
def test_a_malformed_call_is_refused_whole(erasure, known, change, status):
    body = {"ids": known, **change}
    response = erasure.erase(body.pop("customerIds", body.pop("ids")), **body)
    assert_cdp_error(response, status, "BAD_REQUEST")
    assert erasure.emulator.cdp.erasure.stats()["calls"] == []


@pytest.mark.parametrize("reading", readings_of("cdp.erasure_none_found"))
def test_a_call_where_no_id_is_known(emulator, erasure, reading):
    emulator.set_reading("cdp.erasure_none_found", reading)
    response = erasure.erase(["NOBODY", "NOONE"])
    if reading == "404":
        assert_cdp_error(response, 404, "NOT_FOUND")
    else:
        assert lists(response) == {"notFound": ["NOBODY", "NOONE"]}


@pytest.mark.parametrize("reading", readings_of("cdp.erasure_fail_on_not_found"))
def test_fail_on_not_found_refuses_the_whole_call(emulator, erasure, known, reading):
    emulator.set_reading("cdp.erasure_fail_on_not_found", reading)
    response = erasure.erase([*known, "NOBODY"], fail_on_not_found=True)
    assert_cdp_error(response, int(reading), "CUSTOMER_NOT_FOUND")
    assert emulator.cdp.erasure.pending == {} and emulator.cdp.erasure.used("1234") == 0
    assert lists(erasure.erase(known, fail_on_not_found=True)) == {"readyForDataErasure": known}


@pytest.mark.parametrize("reading", readings_of("cdp.erasure_repeat"))
def test_an_erasure_already_pending(emulator, erasure, known, reading):
    emulator.set_reading("cdp.erasure_repeat", reading)
    erasure.erase(known[:1])
    expected = "pendingForDataErasure" if reading == "pending" else "readyForDataErasure"
    assert lists(erasure.erase(known[:1])) == {expected: known[:1]}


@pytest.mark.parametrize(("reading", "days"), [("sla_30_days", 30), ("next_day", 1), ("immediate", 0)])
def test_an_erasure_takes_its_time_then_the_customer_is_gone(emulator, erasure, known, reading, days):
    emulator.set_reading("cdp.erasure_duration", reading)
    erasure.erase(known[:1])
    if days:
        emulator.clock.advance(days * DAY - 1)
        assert "C-1" in {r["SourceCustomerNumber"] for r in emulator.cdp_records("1234", "customers")}
        emulator.clock.advance(1)
    assert "C-1" not in {r["SourceCustomerNumber"] for r in emulator.cdp_records("1234", "customers")}
    assert lists(erasure.erase(known[:2])) == {"notFound": ["C-1"], "readyForDataErasure": ["C-2"]}


def test_cdp_can_be_made_to_fail_to_accept_an_id(emulator, erasure, known):
    emulator.cdp.erasure.refuse("1234", ["C-2"])
    assert lists(erasure.erase(known)) == {"readyForDataErasure": ["C-1", "C-3"], "failedToAccept": ["C-2"]}


@pytest.mark.parametrize("unit", readings_of("cdp.erasure_weekly_unit"))
@pytest.mark.parametrize("over", readings_of("cdp.erasure_over_limit"))
def test_the_weekly_limit(emulator, erasure, known, unit, over):
    emulator.set_readings({"cdp.erasure_weekly_unit": unit, "cdp.erasure_over_limit": over})
    desk = emulator.cdp.erasure
    desk.counted.append(("1234", emulator.clock.now(), 9_989 if unit != "calls" else 9_990))  # one unit left
    response = erasure.erase(known)
    if over == "fail_excess":
        body = lists(response)
        kept = 1 if unit != "calls" else 0
        assert body["failedToAccept"] == known[kept:] and body.get("readyForDataErasure", []) == known[:kept]
    else:
        assert_cdp_error(response, int(over.removeprefix("refuse_")), "ERASURE_LIMIT_EXCEEDED")
        assert "Weekly data erasure limit of 9990" in response.json()["userMessage"]
    assert desk.used("1234") <= 9_990


@pytest.mark.parametrize("week", readings_of("cdp.erasure_week"))
def test_which_week_counts(emulator, erasure, known, week):
    emulator.set_reading("cdp.erasure_week", week)
    wednesday = datetime(2025, 1, 8, 12, tzinfo=timezone.utc).timestamp()
    emulator.clock.set(wednesday)
    emulator.cdp.erasure.counted.append(("1234", wednesday - 4 * DAY, 9_990))  # last Saturday
    response = erasure.erase(known)
    if week == "rolling_7_days":
        assert_cdp_error(response, 400, "ERASURE_LIMIT_EXCEEDED")
    else:
        assert lists(response) == {"readyForDataErasure": known}


def test_the_documented_headers(erasure, known, cdp, emulator):
    response = cdp.session.post(f"{emulator.url}/v2/1234/dw/dataerasure", data=b'{"customerIds": ["C-1"]}',
                                headers={"Authorization": f"Bearer {erasure.login()}", "Content-Type": "text/plain"},
                                timeout=TIMEOUT)
    assert response.status_code == 415
    assert emulator.counters()["cdp.erasure"]["requests"] == 1
