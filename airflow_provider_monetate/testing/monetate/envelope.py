"""The Monetate response envelope: ``{"meta": ..., "data": ...}`` for answers and for errors."""

from __future__ import annotations

from typing import Any

from airflow_provider_monetate.testing.wire import ApiError, Response

__all__ = ["envelope", "error_response", "fail"]


def envelope(code: int, data: Any, **meta: Any) -> dict:
    """The ``{"meta": ..., "data": ...}`` body every Monetate response uses."""
    return {"meta": {"code": code, "errors": [], "warnings": [], **meta}, "data": data}


def error_response(code: int, errors: list[dict] | str, headers: dict | None = None) -> Response:
    """A Monetate error: ``data`` is null and ``meta.errors`` says why.

    :param code: HTTP status.
    :param errors: a message or a list of error objects.
    :param headers: extra headers (``Retry-After``).
    """
    if isinstance(errors, str):
        errors = [{"message": errors}]
    body = {"meta": {"code": code, "errors": errors, "warnings": []}, "data": None}
    return Response(code, body, headers or {})


def fail(code: int, errors: list[dict] | str, headers: dict | None = None) -> ApiError:
    """An :class:`ApiError` carrying :func:`error_response` (``raise fail(...)``)."""
    return ApiError(error_response(code, errors, headers))
