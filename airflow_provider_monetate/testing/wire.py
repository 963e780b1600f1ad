"""The contract between the HTTP server and the service packages.

The services (``monetate/``, ``acquia_cdp/``) never touch sockets: a :class:`Service`
resolves a path to a route name and a :data:`Handler`, which takes a :class:`Request` and
returns a :class:`Response` (or raises :class:`ApiError` carrying one). That keeps them
testable and keeps fault injection, counters and logging in one place (``server``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

__all__ = ["ApiError", "Handler", "Request", "Resolved", "Response", "Service"]

_UNSET: Any = object()
# msgspec (installed by Airflow) decodes and encodes several times faster than json: the
# emulator's own CPU is not the client's, and should not slow the clients it serves.
_decode = msgspec.json.Decoder().decode


def _text_subclass(value: Any) -> str:
    # A stored MULTI_STRING is a str subclass (monetate.schema.MultiString): answered as its text.
    if isinstance(value, str):
        return str(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


_encode = msgspec.json.Encoder(enc_hook=_text_subclass).encode


@dataclass
class Request:
    """An incoming HTTP request.

    :param method: upper-case HTTP method.
    :param path: URL path without the query string.
    :param query: query parameters (first value of each name).
    :param raw_query: the query string as sent.
    :param headers: request headers (case-insensitive mapping).
    :param body: raw request body.
    """

    method: str
    path: str
    query: dict[str, str]
    raw_query: str
    headers: Mapping[str, str]
    body: bytes = b""
    _json: Any = field(default=_UNSET, repr=False)

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header value, or ``default``."""
        value = self.headers.get(name)
        return default if value is None else value

    @property
    def target(self) -> str:
        """Path plus query string, as the client sent it."""
        return f"{self.path}?{self.raw_query}" if self.raw_query else self.path

    def json(self) -> Any:
        """The body decoded as JSON (cached).

        :raises ValueError: the body is empty or not valid JSON.
        """
        if self._json is _UNSET:
            if not self.body:
                raise ValueError("request body is empty")
            try:
                self._json = _decode(self.body)
            except ValueError:  # json also reads NaN, a BOM or lone surrogates, and words errors
                self._json = json.loads(self.body)
        return self._json


@dataclass
class Response:
    """An outgoing response.

    :param status: HTTP status code.
    :param body: JSON-serialisable body; ``None`` sends an empty body.
    :param headers: extra response headers.
    :param rows: records accepted by this call (feeds the ``rows_received`` counter).
    :param auth_calls: tokens minted by this call (feeds the ``auth_calls`` counter).
    """

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    auth_calls: int = 0

    def encode(self) -> bytes:
        """The body as bytes (compact JSON)."""
        if self.body is None:
            return b""
        return _encode(self.body)


class ApiError(Exception):
    """Raised by handlers to answer with an error response right away.

    :param response: the response to send.
    """

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


Handler = Callable[[Request, dict], Response]
#: What :meth:`Service.resolve` finds: route name (``None``: counted as unmatched, never
#: faulted), the handler, and the parameters taken from the path.
Resolved = tuple[str | None, Handler, dict]


class Service(Protocol):
    """What the server needs from a service package (``MonetateService``, ``CdpService``)."""

    def resolve(self, method: str, path: str) -> Resolved | None:
        """The route for a request, or ``None`` when the path is not this service's."""

    def error(self, status: int, message: str, headers: dict | None = None) -> Response:
        """An error in this API's envelope (injected faults)."""

    def not_found(self, path: str) -> Response:
        """The answer to a path no route matches, in this API's envelope."""

    def reset(self, users: bool = False) -> None:
        """Forget data, tokens and configuration (and users, if asked)."""
