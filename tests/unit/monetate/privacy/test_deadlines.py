"""The deadline guard's decision: warn at 50% and 80% of a request's time, overdue past its due date."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.monetate.privacy._deadlines import check_deadlines
from airflow_provider_monetate.monetate.privacy._requests import ErasureRequest


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def request(rid: str, *, settled: bool = False) -> ErasureRequest:
    """Received 1 May, due 31 May (30 days): 50% on 16 May, 80% on 25 May."""
    r = ErasureRequest(rid, "2024-05-01T00:00:00.000000Z", 30, "2024-05-31T00:00:00.000000Z",
                       "2024-05-31T00:00:00.000000Z", "2024-05-01T00:00:00.000000Z")
    progress = r.system("acquia_cdp")
    progress.asked = {"C1"}
    if settled:
        progress.timeline = {"C1": [("confirmed", "2024-05-02T00:00:00.000000Z")]}
    return r


@pytest.mark.parametrize(
    ("now", "warned", "overdue"),
    [
        (utc(2024, 5, 15, 23), {}, []),
        (utc(2024, 5, 16), {0.5: ["R-1"]}, []),
        (utc(2024, 5, 25), {0.8: ["R-1"]}, []),  # only the highest threshold reached
        (utc(2024, 5, 30, 23, 59), {0.8: ["R-1"]}, []),
        (utc(2024, 5, 31), {}, ["R-1"]),
    ],
)
def test_warns_at_half_and_four_fifths_and_is_overdue_at_the_due_date(now, warned, overdue):
    check = check_deadlines([request("R-1"), request("DONE", settled=True)], now)
    assert {t: [r.request_id for r in found] for t, found in check.warnings.items() if found} == warned
    assert [r.request_id for r in check.overdue] == overdue
    assert [r.request_id for r in check.open] == ["R-1"]  # a closed request is never reported


def test_messages_name_the_requests_and_the_systems_still_open():
    check = check_deadlines([request("R-1")], utc(2024, 6, 2))
    assert "R-1 (30, received 2024-05-01, due 2024-05-31, 107% of its time): open in acquia_cdp (1 not_sent)" \
        in check.overdue_message()
    assert check.summary()["overdue"] == ["R-1"]
    late = check_deadlines([request("R-1")], utc(2024, 5, 26))
    assert late.warning_messages() == [
        "1 erasure request(s) have used 80% or more of their time: "
        "R-1 (30, received 2024-05-01, due 2024-05-31, 83% of its time): open in acquia_cdp (1 not_sent)"
    ]


def test_only_the_requests_asked_for():
    check = check_deadlines([request("R-1"), request("R-2")], utc(2024, 6, 2), request_ids=["R-2"])
    assert [r.request_id for r in check.overdue] == ["R-2"]
    with pytest.raises(ConfigurationError, match="No erasure request 'R-9'"):
        check_deadlines([request("R-1")], utc(2024, 6, 2), request_ids=["R-9"])


def test_thresholds_are_shares_of_the_time():
    with pytest.raises(ConfigurationError, match="between 0 and 1"):
        check_deadlines([], utc(2024, 6, 2), warn_at=(50, 80))
