"""Acquia CDP hard erasure: the body, the answer as ledger statuses, the weekly limit, the session (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_monetate.acquia_cdp._erasure import (
    SessionToken,
    WeeklyLimit,
    erasure_body,
    is_limit_refusal,
    is_no_valid_customer,
    none_found,
    read_reply,
    requested_date,
    tenant_number,
)
from airflow_provider_monetate.exceptions import (
    ApiError,
    ConfigurationError,
    ErasureLimitError,
    UnexpectedResponseError,
)

NOW = datetime(2025, 1, 8, 12, tzinfo=timezone.utc)


def test_the_body_is_the_documented_one():
    assert erasure_body(["C-1"], requested=requested_date("2025-01-01T00:00:00.000000Z"), reason="GDPR",
                        tenant_id=tenant_number("1234")) == {
        "customerIds": ["C-1"], "requestedDate": "2025-01-01 00:00:00 UTC", "reason": "GDPR",
        "requestOrigin": "Data Erasure", "tenantId": 1234}
    with pytest.raises(ConfigurationError, match="1 to 200"):
        erasure_body([f"C{i}" for i in range(201)], requested="x", reason="GDPR", tenant_id=1)
    with pytest.raises(ConfigurationError, match="integer"):
        tenant_number("acme")


def test_each_list_of_the_answer_is_a_ledger_status():
    body = {"eventId": "e-42", "readyForDataErasure": ["A"], "pendingForDataErasure": ["B"],
            "failedToAccept": ["C"], "notFound": ["D", "E", "STRANGER"]}
    reply = read_reply(body, ["A", "B", "C", "D", "E", "F"], accepted_before={"E"}.__contains__)
    assert reply.event_id == "e-42"
    assert reply.statuses == {"A": "submitted", "B": "pending", "C": "failed", "D": "not_held", "E": "confirmed"}
    assert reply.unanswered == ["F"] and reply.unexpected == 1


def test_an_answer_without_the_lists_is_unexpected():
    with pytest.raises(UnexpectedResponseError, match="readyForDataErasure"):
        read_reply({"status": "ok"}, ["A"], lambda cid: False)


def test_no_valid_customer_id_reads_as_all_not_found():
    error = ApiError("Acquia CDP", "POST", "/v2/1234/dw/dataerasure", 404, ["No valid customer id in the request."])
    wrong_tenant = ApiError("Acquia CDP", "POST", "/v2/9/dw/dataerasure", 404, ["Unknown tenant 9."])
    assert is_no_valid_customer(error) and not is_no_valid_customer(wrong_tenant)
    assert none_found(["A", "B"], {"B"}.__contains__).statuses == {"A": "not_held", "B": "confirmed"}


@pytest.mark.parametrize("status", [400, 403, 409, 429])
def test_a_refusal_for_the_weekly_limit_is_told_by_its_words(status):
    limit = ApiError("Acquia CDP", "POST", "/p", status, ["Weekly data erasure limit of 9990 requests reached"])
    assert is_limit_refusal(limit)
    assert not is_limit_refusal(ApiError("Acquia CDP", "POST", "/p", status, ["reason is required"]))


def test_the_weekly_limit_counts_every_id_sent_in_the_last_seven_days():
    limit = WeeklyLimit()
    calls = [(NOW - timedelta(days=8), 9_000), (NOW - timedelta(days=3), 5_000), (NOW - timedelta(days=1), 4_000)]
    assert limit.used(calls, NOW) == 9_000
    limit.check(calls, NOW, 990, "erase")  # exactly up to the limit
    with pytest.raises(ErasureLimitError) as refused:
        limit.check(calls, NOW, 991, "erase")
    message = str(refused.value)
    assert "991 customer ID(s) would pass Acquia CDP's limit of 9990" in message and "nothing was sent" in message
    assert "990 fit now" in message and (NOW + timedelta(days=4)).isoformat() in message  # the 5,000 leave then


def test_more_than_a_week_of_ids_is_split():
    with pytest.raises(ErasureLimitError, match="runs of at most 9990"):
        WeeklyLimit().check([], NOW, 9_991, "erase")


def test_the_session_logs_in_at_the_first_call_again_after_a_401_and_out_at_the_end():
    logins, logouts = iter(["s1", "s2"]), []
    session = SessionToken(lambda: next(logins), logouts.append)
    assert not session.logged_in
    assert session.header() == "Bearer s1" and session.header() == "Bearer s1"
    session.renew("Bearer s1")
    assert session.header() == "Bearer s2"
    session.close()
    session.close()  # once
    assert logouts == ["s2"] and not session.logged_in


def test_a_session_never_used_never_logs_in_or_out():
    session = SessionToken(lambda: pytest.fail("logged in"), lambda token: pytest.fail("logged out"))
    session.close()
