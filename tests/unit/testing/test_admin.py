"""The admin API's own answers: routing, the 400/404 error forms, and each route's reply.

The admin client (``test_client.py``) goes through the happy paths; this checks what a
raw HTTP caller sees.
"""

from __future__ import annotations

import pytest
import requests

TIMEOUT = 10


def _admin(emulator, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{emulator.url}/__emulator__/{path}", timeout=TIMEOUT, **kwargs)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "nope"), ("PUT", "faults"), ("GET", "reset"), ("DELETE", "clock"), ("GET", "monetate/users/x/deactivate")],
)
def test_unknown_routes_are_404_naming_method_and_path(emulator, method, path):
    response = _admin(emulator, method, path)
    assert response.status_code == 404
    assert response.json() == {"error": f"no admin route {method} /__emulator__/{path}"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "error"),
    [
        ("POST", "reset", {"data": b"{nope"}, "invalid JSON"),
        ("POST", "reset", {"json": [1, 2]}, "the body must be a JSON object"),
        ("POST", "monetate/users", {"json": {"shortname": "s"}}, "missing required field 'username'"),
        ("GET", "monetate/rows", {"params": {"dataset": "d"}}, "missing required field 'shortname'"),
        ("POST", "faults", {"json": {"route": "*", "kind": "drop", "when": 1}}, "unknown fault fields: when"),
        ("POST", "clock", {"json": {"rewind": 5}}, "send {'advance': seconds} or {'set': epoch}"),
        ("POST", "expire-tokens", {"json": {"service": "ftp"}}, "service must be"),
        ("POST", "config", {"json": {"colour": "blue"}}, "colour"),
    ],
)
def test_bad_input_is_400_with_the_reason(emulator, method, path, kwargs, error):
    response = _admin(emulator, method, path, **kwargs)
    assert response.status_code == 400
    assert error in response.json()["error"]


def test_unknown_names_are_404(emulator):
    response = _admin(emulator, "POST", "monetate/users/ghost/deactivate")
    assert response.status_code == 404
    assert response.json() == {"error": "not found: ghost"}
    assert _admin(emulator, "POST", "cdp/tokens", json={"login": "ghost"}).status_code == 404
    unknown_shop = {"shortname": "nope", "customer_id": "C"}
    assert _admin(emulator, "GET", "monetate/privacy", params=unknown_shop).status_code == 404


def test_route_replies(emulator):
    assert _admin(emulator, "GET", "health/").json() == {"status": "ok"}  # slashes around the path are ignored
    assert _admin(emulator, "POST", "faults", json={"route": "*", "kind": "drop"}).status_code == 201
    assert _admin(emulator, "DELETE", "faults").json() == {"faults": []}
    assert _admin(emulator, "POST", "reset").json() == {"status": "reset"}
    assert _admin(emulator, "POST", "expire-tokens").json() == {"expired": 0}
    assert _admin(emulator, "POST", "config", json={"invalidation": "evict_oldest"}).json() == emulator.config()
    created = _admin(emulator, "POST", "cdp/users", json={"login": "etl-2", "password": "pw"})
    assert (created.status_code, created.json()) == (201, {"login": "etl-2"})
    assert emulator.cdp_stats()["users"]["etl-2"]["environment"] == "CS"
    assert _admin(emulator, "POST", f"monetate/users/{emulator.monetate_username}/deactivate").json() == {
        "username": emulator.monetate_username,
        "active": False,
    }
