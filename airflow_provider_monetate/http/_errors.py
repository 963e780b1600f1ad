"""From an error response to the provider's exception: messages, redaction, the status table.

Pure: no HTTP library is imported. :func:`response_messages` reads any response object with
``json()`` and ``text`` (``requests`` and ``httpx`` both qualify), so the sync and the async
client report an error in the same words.

Invariants:

* the credential that was sent never appears in a message (the API may echo it back);
* a status not in :data:`STATUS_ERRORS` becomes a plain :class:`ApiError` (the retried statuses
  only reach here as :class:`ApiUnavailableError`, built by the retry policy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_monetate.exceptions import (
    ApiAuthError,
    ApiError,
    ApiForbiddenError,
    ApiNotFoundError,
    ApiValidationError,
)

# At most this many of an API's error entries are quoted; a rejected batch can list thousands.
MAX_MESSAGES = 20


@dataclass(frozen=True)
class ErrorHints:
    """What to tell the user for the statuses that need a human."""

    unauthorized: str = "Check the credentials in the connection."
    forbidden: str = "The credential was revoked or lacks permission; retrying will not help."
    not_found: str = "The resource was not found."


# Status -> (exception class, the ErrorHints field that becomes its hint, or None for no hint).
STATUS_ERRORS: dict[int, tuple[type[ApiError], str | None]] = {
    400: (ApiValidationError, None),
    401: (ApiAuthError, "unauthorized"),
    403: (ApiForbiddenError, "forbidden"),
    404: (ApiNotFoundError, "not_found"),
    409: (ApiValidationError, None),
    413: (ApiValidationError, None),
    415: (ApiValidationError, None),
    422: (ApiValidationError, None),
}


def error_for(service: str, method: str, path: str, status: int, messages: list[str], hints: ErrorHints) -> ApiError:
    """The exception for an error status that is not retried (see :data:`STATUS_ERRORS`)."""
    cls, hint_field = STATUS_ERRORS.get(status, (ApiError, None))
    hint = getattr(hints, hint_field) if hint_field else ""
    return cls(service, method, path, status, messages, hint)


def response_messages(response: Any, header: str | None) -> list[str]:
    """Error messages from either API's error body (a ``requests`` or ``httpx`` response), with
    the credential that was sent (the part of ``header`` after the scheme) redacted."""
    try:
        body = response.json()
    except ValueError:  # both libraries raise a ValueError subclass for a body that is not JSON
        text = response.text.strip()[:200]
        messages = [text] if text else []
    else:
        messages = _body_messages(body)
    secret = header.partition(" ")[2] if header else ""
    if secret:
        messages = [m.replace(secret, "***") for m in messages]
    return messages


def _body_messages(body: Any) -> list[str]:
    """Monetate puts errors in ``meta.errors``; Acquia CDP in ``errorCode``/``userMessage``."""
    if not isinstance(body, dict):
        return []
    if "errorCode" in body or "userMessage" in body:
        return [f"{body.get('errorCode', 'ERROR')}: {body.get('userMessage') or ''}".strip()]
    errors = (body.get("meta") or {}).get("errors") or []
    messages = []
    for error in errors[:MAX_MESSAGES]:
        if isinstance(error, dict):
            messages.append(", ".join(f"{k}={v}" for k, v in error.items()))
        else:
            messages.append(str(error))
    if len(errors) > MAX_MESSAGES:
        messages.append(f"... {len(errors) - MAX_MESSAGES} more")
    return messages
