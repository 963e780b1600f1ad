"""Counters per route, requests in flight per route, and a request log with secrets redacted."""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode

from airflow_provider_monetate.testing.routes import ROUTES

__all__ = [
    "REDACTED",
    "UNMATCHED",
    "Counters",
    "InFlight",
    "RequestLog",
    "loggable_headers",
    "redact_authorization",
    "redact_target",
]

REDACTED = "[REDACTED]"
UNMATCHED = "unmatched"

# Query parameter names that may carry a secret (accessKey, token, password, jwt, ...).
_SECRET_NAME = re.compile(r"token|passw|secret|key|jwt|credential|assertion|signature", re.IGNORECASE)
# Headers worth keeping in the log; everything else is left out.
_LOGGED_HEADERS = ("Authorization", "Content-Type", "User-Agent")


def redact_authorization(value: str | None) -> str | None:
    """Keep only the scheme word of an ``Authorization`` header (``"Token [REDACTED]"``)."""
    if not value:
        return value
    scheme, _, credential = value.partition(" ")
    return f"{scheme} {REDACTED}" if credential else REDACTED


def redact_target(path: str, raw_query: str) -> str:
    """Path plus query string with secret-looking parameter values replaced."""
    if not raw_query:
        return path
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    safe = [(k, REDACTED if _SECRET_NAME.search(k) else v) for k, v in pairs]
    return f"{path}?{urlencode(safe, safe='[]')}"


def loggable_headers(headers) -> dict[str, str]:
    """The few headers the log keeps, with credentials redacted."""
    kept = {}
    for name in _LOGGED_HEADERS:
        value = headers.get(name)
        if value is not None:
            kept[name] = redact_authorization(value) if name == "Authorization" else value
    return kept


def _empty_counter() -> dict:
    return {"requests": 0, "statuses": {}, "dropped": 0, "rows_received": 0, "auth_calls": 0}


class Counters:
    """Per-route counts: requests, statuses seen, dropped calls, rows received, auth calls.

    ``rows_received`` counts records the emulator accepted (Monetate rows in a 201, CDP
    records in a 200); ``auth_calls`` counts tokens minted (Monetate refresh, CDP create,
    CDP login).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, dict] = {}
        self.reset()

    def reset(self) -> None:
        """Zero everything."""
        with self._lock:
            self._data = {route: _empty_counter() for route in ROUTES}

    def record(self, route: str | None, status: int | None, rows: int = 0, auth_calls: int = 0) -> None:
        """Count one call.

        :param route: route name (``None`` for a path no route matched).
        :param status: HTTP status sent, or ``None`` for a dropped connection.
        :param rows: records accepted.
        :param auth_calls: tokens minted.
        """
        key = route or UNMATCHED
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                entry = self._data[key] = _empty_counter()
            entry["requests"] += 1
            if status is None:
                entry["dropped"] += 1
            else:
                entry["statuses"][status] = entry["statuses"].get(status, 0) + 1
            entry["rows_received"] += rows
            entry["auth_calls"] += auth_calls

    def snapshot(self) -> dict[str, dict]:
        """A deep copy: ``{route: {"requests", "statuses": {status: n}, ...}}``."""
        with self._lock:
            return {route: {**c, "statuses": dict(c["statuses"])} for route, c in self._data.items()}


class InFlight:
    """Requests being answered per route, and the most answered at once since the last reset.

    A request counts from the moment it has been read until its answer has been written (latency
    and slow faults included), so a route's ``peak`` is how many calls clients had open against it
    at once: e.g. that two mapped load tasks with ``max_in_flight=1`` in a pool of two slots never
    had more than two POSTs open, and did have two (they overlapped).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now: dict[str, int] = {}
        self._peak: dict[str, int] = {}

    @contextmanager
    def track(self, route: str | None) -> Iterator[None]:
        """Count one request to ``route`` while the block runs; ``None`` (admin calls) is not counted."""
        if route is None:
            yield
            return
        with self._lock:
            now = self._now[route] = self._now.get(route, 0) + 1
            self._peak[route] = max(self._peak.get(route, 0), now)
        try:
            yield
        finally:
            with self._lock:
                self._now[route] -= 1

    def reset_peaks(self) -> None:
        """Start a new measurement: each route's peak becomes the number in flight now."""
        with self._lock:
            self._peak = {route: now for route, now in self._now.items() if now}

    def snapshot(self) -> dict[str, dict[str, int]]:
        """``{route: {"in_flight": n, "peak": n}}`` for every route (and any other name counted)."""
        with self._lock:
            names = [*ROUTES, *sorted(set(self._now) - set(ROUTES))]
            return {name: {"in_flight": self._now.get(name, 0), "peak": self._peak.get(name, 0)} for name in names}


class RequestLog:
    """Bounded, thread-safe log of API calls (admin calls are not logged)."""

    def __init__(self, maxlen: int = 50_000) -> None:
        self._entries: deque[dict] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def add(self, entry: dict) -> None:
        """Append an entry (already redacted)."""
        entry.setdefault("timestamp", time.time())
        with self._lock:
            self._entries.append(entry)

    def snapshot(self) -> list[dict]:
        """Entries, oldest first."""
        with self._lock:
            return [dict(e) for e in self._entries]

    def reset(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
