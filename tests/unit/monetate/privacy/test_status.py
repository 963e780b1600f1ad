"""How a Customer ID Status answer is read: strings in any case, NOT_FOUND the only terminal state."""

from __future__ import annotations

import pytest

from airflow_provider_monetate.exceptions import UnexpectedResponseError
from airflow_provider_monetate.monetate.privacy import DeletionStatus
from airflow_provider_monetate.monetate.privacy._status import parse_deletion_status


@pytest.mark.parametrize(("raw", "status"), [
    ("NOT_FOUND", DeletionStatus.NOT_FOUND), ("not_found", DeletionStatus.NOT_FOUND),
    (" Not_Found ", DeletionStatus.NOT_FOUND), ("PENDING", DeletionStatus.PENDING), ("FOUND", DeletionStatus.FOUND)])
def test_statuses_are_read_in_any_case(raw, status):
    assert parse_deletion_status({"status": raw, "description": "d"}) == (status, "d")


def test_only_not_found_is_terminal():
    assert DeletionStatus.terminal_states() == {DeletionStatus.NOT_FOUND}


@pytest.mark.parametrize("body", [None, [], {"description": "x"}, {"status": "DELETED"}])
def test_an_unreadable_answer_is_an_error_without_the_body(body):
    with pytest.raises(UnexpectedResponseError, match=r"Unexpected deletion status body|Unknown deletion status"):
        parse_deletion_status(body)
