"""What Monetate's Customer ID Status endpoint says about one customer, read the same way everywhere.

The sensor, the trigger and the hook share :class:`DeletionStatus` (the terminal state is
``NOT_FOUND``) and :func:`parse_deletion_status`. No Airflow imports.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from airflow_provider_monetate.exceptions import UnexpectedResponseError

__all__ = ["DeletionStatus", "parse_deletion_status"]


class DeletionStatus(str, Enum):
    """Per-customer status reported by Monetate's Customer ID Status endpoint."""

    PENDING = "PENDING"  # found and queued for removal by a nightly batch
    FOUND = "FOUND"  # data present, no deletion queued (not submitted, or seen again)
    NOT_FOUND = "NOT_FOUND"  # not in Monetate's stores: the expected end state

    @classmethod
    def terminal_states(cls) -> frozenset[DeletionStatus]:
        return frozenset({cls.NOT_FOUND})


def parse_deletion_status(data: Any) -> tuple[DeletionStatus, str]:
    """Read ``{"status", "description"}``; the spec types status as integer, examples as string.

    :raises UnexpectedResponseError: the body is not such an object, or the status is unknown.
    """
    if not isinstance(data, dict) or "status" not in data:
        raise UnexpectedResponseError(f"Unexpected deletion status body: {type(data).__name__}")
    raw = str(data["status"]).strip().upper()
    try:
        status = DeletionStatus(raw)
    except ValueError:
        raise UnexpectedResponseError(f"Unknown deletion status {raw!r}") from None
    return status, str(data.get("description") or "")
