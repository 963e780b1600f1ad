"""The Acquia CDP error envelope (``errorCode``, ``userMessage``, ``developerMessage``, ...)."""

from __future__ import annotations

from typing import Any

from airflow_provider_monetate.testing.wire import ApiError, Response

__all__ = ["FAULT_CODES", "cdp_error", "fail"]

#: ``errorCode`` of an injected fault, by status (others answer ``E<status>``).
FAULT_CODES = {
    429: "TOO_MANY_REQUESTS",
    500: "E500_INTERNAL_SERVER_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


def cdp_error(
    status: int,
    code: str,
    user_message: str,
    developer_message: str | None = None,
    additional_info: Any = None,
    headers: dict | None = None,
) -> Response:
    """A response with the CDP error envelope.

    :param status: HTTP status.
    :param code: ``errorCode`` (``INVALID_TOKEN``, ``TOKEN_LIMIT_EXCEEDED``, ...).
    :param user_message: readable explanation.
    :param developer_message: technical detail (defaults to ``code``).
    :param additional_info: structured detail (e.g. the list of payload errors).
    :param headers: extra headers.
    """
    body = {
        "errorCode": code,
        "userMessage": user_message,
        "developerMessage": developer_message or code,
        "linkToErrorDoc": None,
        "linkToResourceDoc": None,
        "additionalInfo": additional_info,
    }
    return Response(status, body, headers or {})


def fail(status: int, code: str, message: str, developer: str | None = None, info: Any = None) -> ApiError:
    """An :class:`ApiError` carrying :func:`cdp_error` (``raise fail(...)``)."""
    return ApiError(cdp_error(status, code, message, developer, info))
