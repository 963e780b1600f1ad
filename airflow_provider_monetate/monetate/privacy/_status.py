"""What Monetate's Customer ID Status endpoint says about one customer, read the same way everywhere.

The sensor, the trigger, the submit operator's pre-check and the hook share
:class:`DeletionStatus` (the terminal state is ``NOT_FOUND``), :func:`parse_deletion_status`
and :func:`read_not_found`. The documents leave three things open, and each is read here:

* the status is a string in the seed's and the spec's examples, but the spec types it
  ``integer`` and no document maps codes to statuses. A string is read as itself. An integer
  (or a string of digits) is read from the answer's ``description``, never from the code
  itself: a code the description does not settle is ``UNKNOWN``, which never confirms a
  deletion (the ID keeps waiting, and the sensor says why);
* an ID Monetate never held may answer ``NOT_FOUND`` or a 404 with a body: the callers read
  such a 404 as ``NOT_FOUND`` once they know the privacy dataset exists (:func:`read_not_found`);
* ``PENDING`` may or may not mean "held" (the seed says it does); the pre-check and the ledger
  outcomes (``_ledger``) are what make a confirmation exact under both.

No Airflow imports.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import Enum
from typing import Any

from airflow_provider_monetate.exceptions import UnexpectedResponseError

__all__ = ["DeletionStatus", "parse_deletion_status", "read_not_found", "status_from_description"]


class DeletionStatus(str, Enum):
    """Per-customer status reported by Monetate's Customer ID Status endpoint."""

    PENDING = "PENDING"  # found and queued for removal by a nightly batch
    FOUND = "FOUND"  # data present, no deletion queued (not submitted, or seen again)
    NOT_FOUND = "NOT_FOUND"  # not in Monetate's stores: the expected end state
    UNKNOWN = "UNKNOWN"  # an integer code whose description does not say which: never a confirmation

    @classmethod
    def terminal_states(cls) -> frozenset[DeletionStatus]:
        return frozenset({cls.NOT_FOUND})

    @classmethod
    def held_states(cls) -> frozenset[DeletionStatus]:
        """The answers saying Monetate holds the customer (the seed: PENDING = found and queued)."""
        return frozenset({cls.PENDING, cls.FOUND})


# The seed's descriptions: "has been found ... and is pending removal", "has been found within
# Monetate's data stores", "has not been found within Monetate's data stores"; the spec's example:
# "is pending deletion".
_NOT_FOUND_TEXT = re.compile(r"\bnot\s+(?:been\s+)?found\b", re.IGNORECASE)
_PENDING_TEXT = re.compile(r"\bpending\b", re.IGNORECASE)
_FOUND_TEXT = re.compile(r"\bfound\b", re.IGNORECASE)
_CODE = re.compile(r"\s*\d+\s*")


def status_from_description(description: str, customer_id: str | None = None) -> DeletionStatus:
    """The status a description states, or ``UNKNOWN`` when it states none or several.

    The customer ID is blanked out first: an ID such as ``pending-7`` must not decide.
    """
    text = description.replace(customer_id, " ") if customer_id else description
    not_found, pending = bool(_NOT_FOUND_TEXT.search(text)), bool(_PENDING_TEXT.search(text))
    if not_found and pending:
        return DeletionStatus.UNKNOWN
    if not_found:
        return DeletionStatus.NOT_FOUND
    if pending:
        return DeletionStatus.PENDING
    return DeletionStatus.FOUND if _FOUND_TEXT.search(text) else DeletionStatus.UNKNOWN


def parse_deletion_status(data: Any, customer_id: str | None = None) -> tuple[DeletionStatus, str]:
    """Read ``{"status", "description"}``: a status name in any case, or an integer code.

    :param customer_id: the ID asked about, blanked out of the description before it is read.
    :raises UnexpectedResponseError: the body is not such an object, or the status is a string
        that names no status (nothing says what it would mean).
    """
    if not isinstance(data, dict) or "status" not in data:
        raise UnexpectedResponseError(f"Unexpected deletion status body: {type(data).__name__}")
    raw, description = data["status"], str(data.get("description") or "")
    is_number = isinstance(raw, (int, float)) and not isinstance(raw, bool)
    if is_number or (isinstance(raw, str) and _CODE.fullmatch(raw)):
        # The spec types the status as an integer and maps no code: the words decide, never the number.
        return status_from_description(description, customer_id), description
    name = str(raw).strip().upper()
    if name == DeletionStatus.UNKNOWN.value or name not in DeletionStatus.__members__:
        raise UnexpectedResponseError(
            f"Unknown deletion status {name[:40]!r}: Monetate documents PENDING, FOUND and NOT_FOUND only."
        )
    return DeletionStatus(name), description


def read_not_found(messages: Sequence[str]) -> tuple[DeletionStatus, str]:
    """A 404 from the status endpoint of a privacy dataset known to exist: the ID is not held.

    The caller must have checked the dataset (a 404 for a missing dataset is an error, never a
    confirmation); the body's messages become the description.
    """
    return DeletionStatus.NOT_FOUND, "; ".join(messages) or "404 from the Customer ID Status endpoint"
