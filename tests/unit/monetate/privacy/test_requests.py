"""Legal deadlines and a request's progress per system and customer (pure)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.monetate.privacy._requests import (
    ErasureRequest,
    SystemProgress,
    checked_due_extension,
    regime_of,
)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("regime", "received", "due"),
    [
        ("gdpr", utc(2024, 5, 1, 9, 30), utc(2024, 6, 1, 9, 30)),  # one calendar month
        ("GDPR", utc(2024, 1, 31), utc(2024, 2, 29)),  # no 31 February: the month's last day
        ("ccpa", utc(2024, 5, 1), utc(2024, 6, 15)),  # 45 days
        (30, utc(2024, 5, 1), utc(2024, 5, 31)),
        ("14", utc(2024, 12, 25), utc(2025, 1, 8)),  # a number of days, as a template renders it
    ],
)
def test_due_dates_by_regime(regime, received, due):
    assert regime_of(regime).due(received) == due


@pytest.mark.parametrize("regime", ["hipaa", 0, -3, True, None, "", "3.5"])
def test_an_unknown_regime_is_refused_naming_the_choices(regime):
    with pytest.raises(ConfigurationError, match=r"'gdpr' .*'ccpa' .*number of days"):
        regime_of(regime)


def request(regime="gdpr", received="2024-05-01T00:00:00.000000Z", due="2024-06-01T00:00:00.000000Z"):
    return ErasureRequest("R-1", received, regime, due, due, received)


def test_gdpr_extends_by_two_further_months_at_most():
    r = request()
    assert checked_due_extension(r, "2024-08-01", "complex request") == "2024-08-01T00:00:00.000000Z"
    with pytest.raises(ConfigurationError, match=r"2024-08-01T00:00:00\.000000Z at most"):
        checked_due_extension(r, "2024-08-02", "complex request")


def test_ccpa_extends_once_by_45_days():
    r = request("ccpa", due="2024-06-15T00:00:00.000000Z")
    r.first_due_at = r.due_at
    assert checked_due_extension(r, "2024-07-30", "volume") == "2024-07-30T00:00:00.000000Z"
    with pytest.raises(ConfigurationError, match="at most"):
        checked_due_extension(r, "2024-07-31", "volume")
    r.extensions.append({"due_at": "2024-07-01T00:00:00.000000Z", "reason": "volume"})
    with pytest.raises(ConfigurationError, match="allows it once"):
        checked_due_extension(r, "2024-07-20", "again")


def test_an_extension_needs_a_reason_and_a_later_date():
    with pytest.raises(ConfigurationError, match="needs a reason"):
        checked_due_extension(request(), "2024-07-01", "  ")
    with pytest.raises(ConfigurationError, match="not after the current one"):
        checked_due_extension(request(), "2024-05-20", "because")


def test_a_custom_regime_extends_without_a_legal_limit():
    assert checked_due_extension(request(30), "2030-01-01", "agreed with the person").startswith("2030-01-01")


def test_a_request_closes_when_every_system_settles_and_its_response_time_counts_from_receipt():
    r = request()
    monetate = r.system("monetate")
    monetate.asked = {"C1", "C2"}
    monetate.timeline = {"C1": [("submitted", "2024-05-01T10:00:00.000000Z"),
                                ("confirmed", "2024-05-03T02:00:00.000000Z")]}
    assert not r.closed and monetate.status("C2") == "not_sent"
    assert r.describe().endswith("open in monetate (1 confirmed, 1 not_sent)")
    monetate.timeline["C2"] = [("not_held", "2024-05-02T00:00:00.000000Z")]
    assert r.closed and r.response_at == "2024-05-03T02:00:00.000000Z" and r.response_days == 2.08
    assert r.nature_of_response() == "deleted; no data held"


def test_failed_pending_and_reappeared_keep_a_system_open():
    for status in ("submitted", "pending", "failed", "reappeared"):
        progress = SystemProgress("acquia_cdp", {"C1"}, {"C1": [(status, "2024-05-02T00:00:00.000000Z")]})
        assert not progress.settled and progress.settled_at is None


def test_a_denied_system_counts_as_answered_with_its_basis():
    r = request()
    r.system("monetate").timeline = {"C1": [("confirmed", "2024-05-02T00:00:00.000000Z")]}
    cdp = r.system("acquia_cdp")
    cdp.asked = {"C1"}
    cdp.denied, cdp.denied_at = "legal hold", "2024-05-04T00:00:00.000000Z"
    assert r.closed and r.response_at == "2024-05-04T00:00:00.000000Z"
    assert r.nature_of_response() == "deleted; denied in acquia_cdp: legal hold"


def test_how_much_of_its_time_a_request_has_used():
    r = request()
    assert r.elapsed(utc(2024, 5, 1)) == 0
    assert r.elapsed(utc(2024, 5, 16, 12)) == pytest.approx(0.5)
    assert r.elapsed(utc(2024, 6, 1)) == 1
