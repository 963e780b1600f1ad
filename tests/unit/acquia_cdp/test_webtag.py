"""The CDP webtag access key: bcrypt (cost 10, $2a$) of the token followed by the UTC date."""

from __future__ import annotations

import sys
import threading
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from airflow_provider_monetate.acquia_cdp._webtag import WebtagAccess, webtag_access_key, webtag_key_matches
from airflow_provider_monetate.exceptions import ApiAuthError, ApiError, ApiForbiddenError, ApiUnavailableError

bcrypt = pytest.importorskip("bcrypt")

TOKEN = "0f6c2a1e-5b7d-4c3e-9a0b-2d4e6f8a1c3b"


def test_key_is_bcrypt_2a_cost_10_of_token_and_date():
    key = webtag_access_key(TOKEN, "2024-01-01")
    assert key.startswith("$2a$10$") and len(key) == 60
    # Re-hashing with the key as its own salt reproduces it only for exactly token + "yyyy-MM-dd".
    assert bcrypt.hashpw(f"{TOKEN}2024-01-01".encode(), key.encode()) == key.encode()
    assert bcrypt.hashpw(f"{TOKEN} 2024-01-01".encode(), key.encode()) != key.encode()
    assert webtag_key_matches(key, TOKEN, date(2024, 1, 1))
    assert not webtag_key_matches(key, TOKEN, "2024-01-02")
    assert not webtag_key_matches(key, TOKEN[:-1] + "c", "2024-01-01")


def test_each_key_has_its_own_salt():
    assert webtag_access_key(TOKEN, "2024-01-01") != webtag_access_key(TOKEN, "2024-01-01")


def test_the_day_is_the_utc_date():
    late_in_new_york = datetime(2024, 1, 1, 22, 30, tzinfo=timezone(timedelta(hours=-5)))  # 03:30 UTC on the 2nd
    assert webtag_key_matches(webtag_access_key(TOKEN, late_in_new_york), TOKEN, "2024-01-02")
    assert webtag_key_matches(webtag_access_key(TOKEN, datetime(2024, 1, 1, 23, 59)), TOKEN, "2024-01-01")
    before = datetime.now(timezone.utc).date()
    key = webtag_access_key(TOKEN)
    after = datetime.now(timezone.utc).date()
    assert webtag_key_matches(key, TOKEN, before) or webtag_key_matches(key, TOKEN, after)


@pytest.mark.parametrize("day", ["2024-1-1", "01/01/2024", "2024-02-30", 20240101])
def test_bad_days_are_refused(day):
    with pytest.raises(ValueError):
        webtag_access_key(TOKEN, day)


def test_bad_tokens_are_refused_rather_than_hashed():
    with pytest.raises(ValueError, match="non-empty"):
        webtag_access_key("", "2024-01-01")
    with pytest.raises(ValueError, match="72"):
        webtag_access_key("t" * 63, "2024-01-01")  # 63 + 10 bytes: bcrypt would drop the end of the date


def test_a_non_bcrypt_key_does_not_match():
    assert not webtag_key_matches("not-a-hash", TOKEN, "2024-01-01")


def test_missing_bcrypt_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "bcrypt", None)  # what an uninstalled package looks like to import
    with pytest.raises(ImportError, match=r"airflow-provider-monetate\[webtag\]"):
        webtag_access_key(TOKEN, "2024-01-01")


# -- issue 12: the key of the day on every tracker call, and a refused key never tried again --------

class Clock:
    """A UTC clock the test moves; ``sleep`` moves it too and records the wait."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.waits: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += timedelta(seconds=seconds)


def access(clock, tokens=None, held=None):
    tokens = tokens if tokens is not None else [TOKEN]
    reads = iter(tokens)
    hold = (lambda *secrets: held.extend(secrets)) if held is not None else None
    return WebtagAccess(lambda: next(reads), clock=clock, sleep=clock.sleep, hold=hold)


def key_of(query: str) -> str:
    scheme, key = query.split("&")
    assert scheme == "scheme=a1webtag" and key.startswith("accessKey=")
    return key.removeprefix("accessKey=")


def test_the_query_carries_the_key_of_the_utc_day_unencoded():
    held: list[str] = []
    webtag = access(Clock(datetime(2024, 1, 1, 12, tzinfo=timezone.utc)), held=held)
    key = key_of(webtag.query())
    assert key.startswith("$2a$10$") and webtag_key_matches(key, TOKEN, "2024-01-01")
    assert key in held  # masked like the token: it grants a day's write access
    assert webtag.query() == webtag.query()  # one bcrypt a day, not one per call


def test_the_key_is_made_again_when_the_utc_date_changes_from_the_token_then_current():
    clock = Clock(datetime(2024, 1, 1, 22, tzinfo=timezone.utc))
    webtag = access(clock, tokens=[TOKEN, "tok-rotated-2"])
    first = key_of(webtag.query())
    clock.now += timedelta(hours=3)  # 01:00 UTC on the 2nd
    second = key_of(webtag.query())
    assert webtag_key_matches(first, TOKEN, "2024-01-01") and webtag_key_matches(second, "tok-rotated-2", "2024-01-02")


def test_a_call_just_before_midnight_waits_for_the_new_day():
    # A key made at 23:59:59 would reach CDP after midnight, when it is no longer the day's key.
    clock = Clock(datetime(2024, 1, 1, 23, 59, 55, tzinfo=timezone.utc))
    key = key_of(access(clock).query())
    assert clock.waits and clock.now.date() == date(2024, 1, 2) and sum(clock.waits) <= 6
    assert webtag_key_matches(key, TOKEN, "2024-01-02")
    earlier = Clock(datetime(2024, 1, 1, 23, 58, tzinfo=timezone.utc))
    assert webtag_key_matches(key_of(access(earlier).query()), TOKEN, "2024-01-01") and earlier.waits == []


def refusal(status=401):
    cls = ApiAuthError if status == 401 else ApiForbiddenError
    return cls("Acquia CDP", "POST", "/v2/1234/dw/tracker", status, ["INVALID_ACCESS_KEY: refused"], "why")


@pytest.mark.parametrize("status", [401, 403])
def test_after_a_refusal_no_call_is_sent_again(status):
    webtag = access(Clock(datetime(2024, 1, 1, 12, tzinfo=timezone.utc)))
    with pytest.raises(type(refusal(status))), webtag.call():
        raise refusal(status)
    sent = []
    with pytest.raises(type(refusal(status))) as info, webtag.call() as query:
        sent.append(query)
    assert sent == [] and info.value.status == status
    assert "not sent: an earlier call with the webtag access key was refused" in str(info.value)


def test_other_failures_do_not_close_the_gate():
    webtag = access(Clock(datetime(2024, 1, 1, 12, tzinfo=timezone.utc)))
    with pytest.raises(ApiUnavailableError), webtag.call():
        raise ApiUnavailableError("Acquia CDP", "POST", "/v2/1234/dw/tracker", 503, [])
    with webtag.call() as query:
        assert key_of(query)


def run_concurrently(webtag, first_answer, callers=8):
    """``callers`` threads call at once; the first to get through answers ``first_answer``."""
    started, sent, errors = threading.Barrier(callers), [], []
    lock = threading.Lock()

    def caller():
        started.wait()
        try:
            with webtag.call() as query:
                with lock:
                    sent.append(query)
                    first = len(sent) == 1
                if first:
                    time.sleep(0.05)  # let the others pile up behind the first
                    if first_answer:
                        raise first_answer
        except ApiError as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return sent, errors


def test_with_eight_in_flight_the_first_refusal_stops_the_others_from_being_sent():
    webtag = access(Clock(datetime(2024, 1, 1, 12, tzinfo=timezone.utc)))
    sent, errors = run_concurrently(webtag, refusal(401))
    assert len(sent) == 1 and len(errors) == 8
    assert sum("not sent" in str(e) for e in errors) == 7


def test_once_a_key_is_accepted_calls_go_out_together():
    webtag = access(Clock(datetime(2024, 1, 1, 12, tzinfo=timezone.utc)))
    sent, errors = run_concurrently(webtag, None)
    assert len(sent) == 8 and errors == []
