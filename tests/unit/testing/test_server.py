"""The Emulator: lifecycle, paths no service claims, reset, and expiring tokens on demand."""

from __future__ import annotations

import socket

import pytest
import requests

from airflow_provider_monetate.testing import Emulator, EmulatorClient
from tests.unit.testing.helpers import ATTRIBUTE_FIELDS, TIMEOUT


def test_standalone_emulator_lifecycle():
    with Emulator() as emu:
        url = emu.url
        assert url.startswith("http://127.0.0.1:")
        assert requests.get(f"{url}/__emulator__/health", timeout=TIMEOUT).json() == {"status": "ok"}
        port = emu.port
    with pytest.raises(RuntimeError):
        _ = emu.url
    with socket.socket() as sock:  # the port is released
        sock.bind(("127.0.0.1", port))


def test_unmatched_paths_are_404_and_counted(emulator):
    cdp_style = requests.get(f"{emulator.url}/v2/1234/dw/purge", timeout=TIMEOUT)  # MCP-only: not served
    assert cdp_style.status_code == 404
    assert cdp_style.json()["errorCode"] == "NOT_FOUND"
    monetate_style = requests.get(f"{emulator.url}/api/other/v1/", timeout=TIMEOUT)
    assert monetate_style.status_code == 404
    assert monetate_style.json()["meta"]["code"] == 404
    assert emulator.counters()["unmatched"]["statuses"] == {404: 2}


def test_reset_keeps_users_unless_asked(emulator, api, mint):
    api.create_schema("attrs", ATTRIBUTE_FIELDS)
    emulator.inject("monetate.data", "status")
    emulator.clock.advance(1000)
    emulator.configure(invalidation="evict_oldest")
    emulator.emulator.reset()
    assert emulator.counters()["monetate.schema"]["requests"] == 0
    assert emulator.requests() == []
    assert emulator.faults.snapshot() == []
    assert emulator.clock.offset == 0
    assert emulator.config()["invalidation"] == "all_previous"
    assert api.get("schema/").status_code == 401  # tokens are data: gone
    fresh = mint()
    assert fresh.status_code == 200  # the user survived
    emulator.emulator.reset(users=True)
    assert mint().status_code == 401


def test_expire_tokens_forces_reauthentication(emulator, api, cdp, mint):
    cdp_token = cdp.create().json()["access_token"]
    assert api.get("schema/").status_code == 200
    client = EmulatorClient(emulator.url)
    assert client.expire_tokens("monetate") == 1
    assert api.get("schema/").status_code == 401
    assert cdp.verify(cdp_token).status_code == 200
    assert emulator.expire_tokens("cdp") == 1
    assert cdp.verify(cdp_token).status_code == 401
    assert mint().status_code == 200  # new tokens work
    with pytest.raises(ValueError):
        emulator.expire_tokens("everything")


def test_an_emulator_bug_answers_500_and_shows_the_traceback(emulator, cdp, monkeypatch, capsys):
    def broken(request, params):
        raise RuntimeError("boom")

    monkeypatch.setattr(emulator.emulator.cdp, "tracker", broken)
    response = cdp.track({"customers": []}, emulator.issue_cdp_token())
    assert response.status_code == 500
    assert response.json()["meta"]["code"] == 500  # Monetate's envelope, whatever the route
    assert "RuntimeError: boom" in capsys.readouterr().err
    assert emulator.counters()["cdp.tracker"]["statuses"] == {500: 1}
