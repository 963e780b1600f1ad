"""Admin HTTP API under ``/__emulator__/``: the Emulator's Python methods over HTTP.

Routes (JSON bodies; query parameters where noted)::

    GET    /__emulator__/health
    GET    /__emulator__/clock
    POST   /__emulator__/clock                    {"advance": s} | {"set": epoch}
    GET    /__emulator__/faults
    POST   /__emulator__/faults                   {"route", "kind", "count", "status", "seconds", "retry_after"}
    DELETE /__emulator__/faults
    GET    /__emulator__/counters
    GET    /__emulator__/in-flight                -> {"in_flight": {route: {"in_flight": n, "peak": n}}}
    POST   /__emulator__/in-flight/reset          peaks restart from the requests in flight now
    GET    /__emulator__/requests
    POST   /__emulator__/reset                    {"users": false}
    POST   /__emulator__/expire-tokens            {"service": "all" | "monetate" | "cdp"} -> {"expired": n}
    GET    /__emulator__/config
    POST   /__emulator__/config                   {"invalidation", "extend_seconds", "nightly_batch_hour",
                                                   "environments", "token_limits"}
    POST   /__emulator__/monetate/users           {"username", "public_key_pem", "shortname"}
    POST   /__emulator__/monetate/users/{username}/deactivate
    GET    /__emulator__/monetate/rows            ?shortname=&dataset=[&environment=]
    GET    /__emulator__/monetate/privacy         ?shortname=&customer_id=[&environment=]
    POST   /__emulator__/cdp/users                {"login", "password", "environment", "tenant_id"}
    POST   /__emulator__/cdp/tokens               {"login"} -> {"access_token"}
    GET    /__emulator__/cdp/records              ?tenant_id=&entity=
    GET    /__emulator__/cdp/stats

Answers are plain JSON; errors are ``{"error": message}`` with 400 (bad input) or 404.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_monetate.testing.wire import Request, Response

if TYPE_CHECKING:
    from airflow_provider_monetate.testing.server import Emulator

__all__ = ["ADMIN_PREFIX", "AdminApi"]

ADMIN_PREFIX = "/__emulator__/"
_DEACTIVATE = re.compile(r"monetate/users/(?P<username>[^/]+)/deactivate")
_FAULT_FIELDS = ("route", "kind", "count", "status", "seconds", "retry_after")

AdminHandler = Callable[[dict[str, str], dict[str, Any]], Response]


def _need(mapping: dict, name: str) -> Any:
    """A required body/query value (missing -> 400, not 404)."""
    if name not in mapping:
        raise ValueError(f"missing required field {name!r}")
    return mapping[name]


class AdminApi:
    """Dispatches admin requests to an :class:`Emulator`.

    :param emulator: the emulator to control.
    """

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        # (method, path) -> handler(query, body); one more route takes a user name (_DEACTIVATE).
        self._routes: dict[tuple[str, str], AdminHandler] = {
            ("GET", "health"): lambda query, body: Response(200, {"status": "ok"}),
            ("GET", "clock"): lambda query, body: Response(200, emulator.clock.snapshot()),
            ("POST", "clock"): self._move_clock,
            ("GET", "faults"): lambda query, body: Response(200, {"faults": emulator.faults.snapshot()}),
            ("POST", "faults"): self._inject,
            ("DELETE", "faults"): self._clear_faults,
            ("GET", "counters"): lambda query, body: Response(200, {"counters": emulator.counters()}),
            ("GET", "in-flight"): lambda query, body: Response(200, {"in_flight": emulator.in_flight()}),
            ("POST", "in-flight/reset"): self._reset_peaks,
            ("GET", "requests"): lambda query, body: Response(200, {"requests": emulator.requests()}),
            ("POST", "reset"): self._reset,
            ("POST", "expire-tokens"): self._expire_tokens,
            ("GET", "config"): lambda query, body: Response(200, emulator.config()),
            ("GET", "readings"): lambda query, body: Response(200, emulator.readings.snapshot()),
            ("POST", "readings"): lambda query, body: Response(200, emulator.set_readings(body)),
            ("POST", "config"): lambda query, body: Response(200, emulator.configure(**body)),
            ("POST", "monetate/users"): self._add_monetate_user,
            ("GET", "monetate/rows"): self._monetate_rows,
            ("GET", "monetate/privacy"): self._privacy_status,
            ("POST", "cdp/users"): self._add_cdp_user,
            ("POST", "cdp/tokens"): self._issue_cdp_token,
            ("GET", "cdp/records"): self._cdp_records,
            ("GET", "cdp/stats"): lambda query, body: Response(200, emulator.cdp_stats()),
        }

    def handle(self, request: Request) -> Response:
        """Answer one admin request."""
        try:
            body = request.json() if request.body else {}
        except ValueError as exc:
            return Response(400, {"error": f"invalid JSON: {exc}"})
        if not isinstance(body, dict):
            return Response(400, {"error": "the body must be a JSON object"})
        path = request.path[len(ADMIN_PREFIX) :].strip("/")
        try:
            return self._dispatch(request.method, path, request.query, body)
        except KeyError as exc:
            return Response(404, {"error": f"not found: {exc.args[0] if exc.args else exc}"})
        except (ValueError, TypeError) as exc:
            return Response(400, {"error": str(exc)})

    def _dispatch(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> Response:
        handler = self._routes.get((method, path))
        if handler is not None:
            return handler(query, body)
        match = _DEACTIVATE.fullmatch(path)
        if match and method == "POST":
            self.emulator.deactivate_monetate_key(match["username"])
            return Response(200, {"username": match["username"], "active": False})
        return Response(404, {"error": f"no admin route {method} {ADMIN_PREFIX}{path}"})

    # --- core: clock, faults, reset, tokens ------------------------------------------

    def _move_clock(self, query: dict[str, str], body: dict[str, Any]) -> Response:
        if "set" in body:
            self.emulator.clock.set(float(_need(body, "set")))
        elif "advance" in body:
            self.emulator.clock.advance(float(_need(body, "advance")))
        else:
            raise ValueError("send {'advance': seconds} or {'set': epoch}")
        return Response(200, self.emulator.clock.snapshot())

    def _inject(self, query: dict[str, str], body: dict[str, Any]) -> Response:
        unknown = set(body) - set(_FAULT_FIELDS)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        self.emulator.inject(**body)
        return Response(201, {"faults": self.emulator.faults.snapshot()})

    def _clear_faults(self, query: dict[str, str], body: dict[str, Any]) -> Response:
        self.emulator.clear_faults()
        return Response(200, {"faults": []})

    def _reset_peaks(self, query: dict[str, str], body: dict[str, Any]) -> Response:
        self.emulator.reset_peaks()
        return Response(200, {"in_flight": self.emulator.in_flight()})

    def _reset(self, query: dict[str, str], body: dict[str, Any]) -> Response:
        self.emulator.reset(users=bool(body.get("users", False)))
        return Response(200, {"status": "reset"})

    def _expire_tokens(self, query: dict[str, str], body: dict[str, Any]) -> Response:
        return Response(200, {"expired": self.emulator.expire_tokens(body.get("service", "all"))})

    # --- Monetate --------------------------------------------------------------------

    def _add_monetate_user(self, query: dict[str, str], body: dict[str, Any]) -> Response:
        username = _need(body, "username")
        self.emulator.add_monetate_user(username, _need(body, "public_key_pem"), _need(body, "shortname"))
        return Response(201, {"username": username})

    def _monetate_rows(self, query: dict[str, str], body: dict[str, Any]) -> Response:
        args = (_need(query, "shortname"), _need(query, "dataset"), query.get("environment", "production"))
        return Response(200, {"rows": self.emulator.monetate_rows(*args)})

    def _privacy_status(self, query: dict[str, str], body: dict[str, Any]) -> Response:
        args = (_need(query, "shortname"), _need(query, "customer_id"), query.get("environment", "production"))
        return Response(200, {"status": self.emulator.privacy_status(*args)})

    # --- Acquia CDP ------------------------------------------------------------------

    def _add_cdp_user(self, query: dict[str, str], body: dict[str, Any]) -> Response:
        login, password = _need(body, "login"), _need(body, "password")
        self.emulator.add_cdp_user(login, password, body.get("environment", "CS"), body.get("tenant_id", "1234"),
                                   body.get("scheme", "a1user"))
        return Response(201, {"login": login})

    def _issue_cdp_token(self, query: dict[str, str], body: dict[str, Any]) -> Response:
        return Response(201, {"access_token": self.emulator.issue_cdp_token(_need(body, "login"))})

    def _cdp_records(self, query: dict[str, str], body: dict[str, Any]) -> Response:
        records = self.emulator.cdp_records(_need(query, "tenant_id"), _need(query, "entity"))
        return Response(200, {"records": records})
