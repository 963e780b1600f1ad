"""How a Customer ID Status answer is read: strings in any case, integer codes by their words, 404s."""

from __future__ import annotations

import pytest

from airflow_provider_monetate.exceptions import UnexpectedResponseError
from airflow_provider_monetate.monetate.privacy import DeletionStatus
from airflow_provider_monetate.monetate.privacy._status import (
    parse_deletion_status,
    read_not_found,
    status_from_description,
)


@pytest.mark.parametrize(("raw", "status"), [
    ("NOT_FOUND", DeletionStatus.NOT_FOUND), ("not_found", DeletionStatus.NOT_FOUND),
    (" Not_Found ", DeletionStatus.NOT_FOUND), ("PENDING", DeletionStatus.PENDING), ("FOUND", DeletionStatus.FOUND)])
def test_statuses_are_read_in_any_case(raw, status):
    assert parse_deletion_status({"status": raw, "description": "d"}) == (status, "d")


def test_only_not_found_is_terminal_and_unknown_is_neither_held_nor_gone():
    assert DeletionStatus.terminal_states() == {DeletionStatus.NOT_FOUND}
    assert DeletionStatus.held_states() == {DeletionStatus.PENDING, DeletionStatus.FOUND}


@pytest.mark.parametrize("body", [None, [], {"description": "x"}, {"status": "DELETED"}, {"status": "UNKNOWN"},
                                  {"status": None}, {"status": True}])
def test_an_unreadable_answer_is_an_error_without_the_body(body):
    with pytest.raises(UnexpectedResponseError, match=r"Unexpected deletion status body|Unknown deletion status"):
        parse_deletion_status(body)


# -- integer codes (the spec's "type: integer"; no document maps the codes) ------------------------------------

SEED = {  # the seed's words for each status, and the spec example's
    "The customer_id C1 has been found within Monetate's data stores and is pending removal.": "PENDING",
    "The customer_id A3001 is pending deletion.": "PENDING",
    "The customer_id C1 has been found within Monetate's data stores.": "FOUND",
    "The customer_id C1 has not been found within Monetate's data stores.": "NOT_FOUND",
    "The customer_id C1 has not been found.": "NOT_FOUND",
    "NOT FOUND": "NOT_FOUND",
}


@pytest.mark.parametrize(("description", "status"), SEED.items())
@pytest.mark.parametrize("code", [0, 1, 2, 3, 99, 2.0, " 2 "])
def test_an_integer_code_is_read_from_its_description_whatever_the_number(description, status, code):
    assert parse_deletion_status({"status": code, "description": description}) == (DeletionStatus(status),
                                                                                    description)


@pytest.mark.parametrize("description", [
    "", None, "Status 2.", "Deletion requested.",
    "Not found; pending removal.",  # says two things: not read as either
])
def test_an_integer_code_its_description_does_not_settle_is_unknown(description):
    assert parse_deletion_status({"status": 2, "description": description})[0] is DeletionStatus.UNKNOWN


def test_the_customer_id_never_decides_the_reading():
    words = "The customer_id not-found-pending has been found within Monetate's data stores."
    assert status_from_description(words, "not-found-pending") is DeletionStatus.FOUND
    assert parse_deletion_status({"status": 1, "description": words}, "not-found-pending")[0] is DeletionStatus.FOUND


def test_a_404_of_a_known_privacy_dataset_reads_as_not_found_with_its_words():
    assert read_not_found(["message=The customer_id C1 has not been found."]) == (
        DeletionStatus.NOT_FOUND, "message=The customer_id C1 has not been found.")
    assert read_not_found([])[0] is DeletionStatus.NOT_FOUND
