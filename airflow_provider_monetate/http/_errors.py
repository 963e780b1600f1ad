"""From an error response to the provider's exception: messages, redaction, the status table.

Pure: no HTTP library is imported. :func:`response_messages` reads any response object with
``json()`` and ``text`` (``requests`` and ``httpx`` both qualify), so the sync and the async
client report an error in the same words.

Invariants:

* no credential a :class:`Redactor` holds appears in a message, in any form it holds (the API may
  echo it back): a client adds every ``Authorization`` it sends, a hook every secret it reads or
  mints; a credential once held stays redacted (a body may echo a token renewed away);
* a body is redacted whole before it is cut to :data:`MAX_TEXT`, so a cut cannot leave part of a
  secret;
* a status not in :data:`STATUS_ERRORS` becomes a plain :class:`ApiError` (the retried statuses
  only reach here as :class:`ApiUnavailableError`, built by the retry policy).
"""

from __future__ import annotations

import base64
import binascii
import threading
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
# A body that is not JSON (an HTML error page) is quoted up to this many characters, once redacted.
MAX_TEXT = 200
# PEM body lines shorter than this (the last, padded line) are too short to be told from other text.
_MIN_PEM_LINE = 16
REDACTED = "***"


class Redactor:
    """The credentials one hook or client has held, each in every form it may be echoed in.

    Thread-safe; a secret is never removed. :meth:`redact` replaces the longest secrets first, so a
    secret that contains another (a header value and its token) is never left half-shown.
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._longest_first: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def __contains__(self, secret: object) -> bool:
        return secret in self._secrets

    def add(self, *secrets: str | None) -> bool:
        """Hold ``secrets`` (empty ones are ignored); ``True`` when any was new."""
        new = {secret for secret in secrets if secret and secret not in self._secrets}
        if not new:
            return False
        with self._lock:
            self._secrets |= new
            self._longest_first = tuple(sorted(self._secrets, key=len, reverse=True))
        return True

    def add_header(self, header: str | None) -> bool:
        """Hold an ``Authorization`` value's credential; for ``Basic`` also the password inside it."""
        scheme, _, credential = (header or "").partition(" ")
        added = self.add(credential or scheme)
        if scheme.lower() == "basic" and credential:
            try:
                password = base64.b64decode(credential, validate=True).decode().partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                return added
            added = self.add(password) or added
        return added

    def add_basic(self, login: str, password: str) -> bool:
        """Hold a password and the ``Basic`` credential made from it."""
        basic = base64.b64encode(f"{login}:{password}".encode()).decode()
        return self.add(password, basic)

    def add_pem(self, pem: str) -> bool:
        """Hold a PEM key whole and each line of its body, in case a part of it is echoed."""
        lines = [line.strip() for line in pem.replace("\\n", "\n").splitlines()]
        body = [line for line in lines if len(line) >= _MIN_PEM_LINE and "-----" not in line and ":" not in line]
        return self.add(pem, pem.strip(), *body)

    def redact(self, text: str) -> str:
        """``text`` with every form of every held secret replaced by ``***``."""
        for secret in self._longest_first:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


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


def response_messages(response: Any, redactor: Redactor) -> list[str]:
    """Error messages from either API's error body (a ``requests`` or ``httpx`` response), with
    every credential ``redactor`` holds redacted; a body that is not JSON is redacted, then cut."""
    try:
        body = response.json()
    except ValueError:  # both libraries raise a ValueError subclass for a body that is not JSON
        text = redactor.redact(response.text.strip())
        if len(text) > MAX_TEXT:
            text = text[:MAX_TEXT] + "..."
        return [text] if text else []
    return [redactor.redact(message) for message in _body_messages(body)]


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
