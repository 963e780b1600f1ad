"""Admin HTTP API under ``/__emulator__/``: the Emulator's Python methods over HTTP.

Routes (JSON bodies; query parameters where noted)::

    GET    /__emulator__/health
    GET    /__emulator__/clock
    POST   /__emulator__/clock                    {"advance": s} | {"set": epoch}
    GET    /__emulator__/faults
    POST   /__emulator__/faults                   {"route", "kind", "count", "status", "seconds", "retry_after"}
    DELETE /__emulator__/faults
    GET    /__emulator__/counters
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
from typing import TYPE_CHECKING, Any

from airflow_provider_monetate.testing.wire import Request, Response

if TYPE_CHECKING:
    from airflow_provider_monetate.testing.server import Emulator

ADMIN_PREFIX = "/__emulator__/"
_DEACTIVATE = re.compile(r"monetate/users/(?P<username>[^/]+)/deactivate")


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
        emu = self.emulator
        key = (method, path)
        if key == ("GET", "health"):
            return Response(200, {"status": "ok"})
        if path == "clock" and method in ("GET", "POST"):
            if method == "POST":
                if "set" in body:
                    emu.clock.set(float(_need(body, "set")))
                elif "advance" in body:
                    emu.clock.advance(float(_need(body, "advance")))
                else:
                    raise ValueError("send {'advance': seconds} or {'set': epoch}")
            return Response(200, emu.clock.snapshot())
        if path == "faults":
            if method == "GET":
                return Response(200, {"faults": emu.faults.snapshot()})
            if method == "POST":
                fields = ("route", "kind", "count", "status", "seconds", "retry_after")
                unknown = set(body) - set(fields)
                if unknown:
                    raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
                emu.inject(**body)
                return Response(201, {"faults": emu.faults.snapshot()})
            if method == "DELETE":
                emu.clear_faults()
                return Response(200, {"faults": []})
        if key == ("GET", "counters"):
            return Response(200, {"counters": emu.counters()})
        if key == ("GET", "requests"):
            return Response(200, {"requests": emu.requests()})
        if key == ("POST", "reset"):
            emu.reset(users=bool(body.get("users", False)))
            return Response(200, {"status": "reset"})
        if key == ("POST", "expire-tokens"):
            return Response(200, {"expired": emu.expire_tokens(body.get("service", "all"))})
        if path == "config" and method in ("GET", "POST"):
            return Response(200, emu.configure(**body) if method == "POST" else emu.config())
        if key == ("POST", "monetate/users"):
            emu.add_monetate_user(_need(body, "username"), _need(body, "public_key_pem"), _need(body, "shortname"))
            return Response(201, {"username": _need(body, "username")})
        match = _DEACTIVATE.fullmatch(path)
        if match and method == "POST":
            emu.deactivate_monetate_key(match["username"])
            return Response(200, {"username": match["username"], "active": False})
        if key == ("GET", "monetate/rows"):
            args = (_need(query, "shortname"), _need(query, "dataset"), query.get("environment", "production"))
            return Response(200, {"rows": emu.monetate_rows(*args)})
        if key == ("GET", "monetate/privacy"):
            args = (_need(query, "shortname"), _need(query, "customer_id"), query.get("environment", "production"))
            return Response(200, {"status": emu.privacy_status(*args)})
        if key == ("POST", "cdp/users"):
            emu.add_cdp_user(
                _need(body, "login"),
                _need(body, "password"),
                body.get("environment", "CS"),
                body.get("tenant_id", "1234"),
            )
            return Response(201, {"login": _need(body, "login")})
        if key == ("POST", "cdp/tokens"):
            return Response(201, {"access_token": emu.issue_cdp_token(_need(body, "login"))})
        if key == ("GET", "cdp/records"):
            return Response(200, {"records": emu.cdp_records(_need(query, "tenant_id"), _need(query, "entity"))})
        if key == ("GET", "cdp/stats"):
            return Response(200, emu.cdp_stats())
        return Response(404, {"error": f"no admin route {method} {ADMIN_PREFIX}{path}"})
