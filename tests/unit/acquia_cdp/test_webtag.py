"""The CDP webtag access key: bcrypt (cost 10, $2a$) of the token followed by the UTC date."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta, timezone

import pytest

from airflow_provider_monetate.acquia_cdp._webtag import webtag_access_key, webtag_key_matches

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
