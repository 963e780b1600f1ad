"""Shared helpers for the emulator's own tests: HTTP clients for both APIs, sample data."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import requests

__all__ = [
    "ATTRIBUTE_FIELDS",
    "KEYED_FIELDS",
    "TIMEOUT",
    "CdpApi",
    "DataApi",
    "FreshTokenApi",
    "assert_cdp_error",
    "basic",
    "customer",
    "epoch",
    "event_row",
    "refresh",
]

TIMEOUT = 10

ATTRIBUTE_FIELDS = {
    "customer_id": {"data_type": "STRING", "identifier": True},
    "points": {"data_type": "NUMBER"},
}
KEYED_FIELDS = {
    "event_id": {"data_type": "STRING", "unique_key": True},
    "customer_id": {"data_type": "STRING", "identifier": True},
    "occurred_at": {"data_type": "DATETIME", "event_time": True},
    "points": {"data_type": "NUMBER"},
    "tiers": {"data_type": "MULTI_STRING"},
    "vip": {"data_type": "BOOLEAN"},
}
CDP_ERROR_KEYS = {
    "errorCode",
    "userMessage",
    "developerMessage",
    "linkToErrorDoc",
    "linkToResourceDoc",
    "additionalInfo",
}


# --- Monetate ---------------------------------------------------------------------------


class DataApi:
    """A Monetate Data API session for one shortname/environment."""

    def __init__(self, url: str, token: str, shortname: str = "testshop", environment: str = "production"):
        self.base = f"{url}/api/data/v1/{shortname}/{environment}/"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.base + path, timeout=TIMEOUT, **kwargs)

    def post(self, path: str, body, **kwargs) -> requests.Response:
        return self.session.post(self.base + path, json=body, timeout=TIMEOUT, **kwargs)

    def patch(self, path: str, body) -> requests.Response:
        return self.session.patch(self.base + path, json=body, timeout=TIMEOUT)

    def create_schema(self, name: str, fields: dict, schema_type: str | None = "attribute", **extra) -> dict:
        body = {"name": name, "fields": fields, **extra}
        if schema_type is not None:
            body["type"] = schema_type
        response = self.post("schema/", body)
        assert response.status_code == 201, response.text
        return response.json()["data"]

    def post_rows(self, name: str, rows: list[dict]) -> requests.Response:
        return self.post(f"data/{name}/", {"schema_rows": rows})


class FreshTokenApi(DataApi):
    """Mints a new token per call: for tests that jump the clock past token lifetimes."""

    def __init__(self, emulator, mint):
        super().__init__(emulator.url, "unused")
        self._mint = mint

    def _refresh(self):
        self.session.headers["Authorization"] = "Token " + self._mint().json()["data"]["token"]

    def get(self, path, **kwargs):
        self._refresh()
        return super().get(path, **kwargs)

    def post(self, path, body, **kwargs):
        self._refresh()
        return super().post(path, body, **kwargs)


def refresh(url: str, authorization: str | None, ttl=None) -> requests.Response:
    headers = {"Authorization": authorization} if authorization is not None else {}
    params = {"ttl": ttl} if ttl is not None else None
    return requests.get(f"{url}/api/auth/v0/refresh/", headers=headers, params=params, timeout=TIMEOUT)


def event_row(i: int = 1, **overrides) -> dict:
    """A valid row of a ``KEYED_FIELDS`` (event) dataset."""
    row = {
        "event_id": f"e-{i}",
        "customer_id": f"C{i}",
        "occurred_at": "2024-05-01T12:00:00.000000Z",
        "points": 10,
        "tiers": "gold,vip",
        "vip": True,
    }
    row.update(overrides)
    return row


def epoch(text: str) -> float:
    """Epoch seconds of a naive ISO date-time read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


# --- Acquia CDP -------------------------------------------------------------------------


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


class CdpApi:
    def __init__(self, emulator):
        self.url = emulator.url
        self.emulator = emulator
        self.session = requests.Session()

    def basic(self, login=None, password=None) -> str:
        return basic(login or self.emulator.cdp_login, password or self.emulator.cdp_password)

    def create(self, login=None, password=None, scheme="a1user") -> requests.Response:
        return self.session.post(
            f"{self.url}/token",
            params={"action": "create", "scheme": scheme},
            headers={"Authorization": self.basic(login, password)},
            timeout=TIMEOUT,
        )

    def verify(self, token: str) -> requests.Response:
        return self.session.get(
            f"{self.url}/token",
            params={"scheme": "a1user"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        )

    def track(self, body, token: str, tenant="1234", content_type="application/json", raw: bytes | None = None):
        data = raw if raw is not None else json.dumps(body).encode()
        return self.session.post(
            f"{self.url}/v2/{tenant}/dw/tracker",
            params={"scheme": "a1user"},
            data=data,
            headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
            timeout=TIMEOUT,
        )


def assert_cdp_error(response, status: int, code: str) -> dict:
    """The response is a CDP error envelope with this status and ``errorCode``; returns the body."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == CDP_ERROR_KEYS
    assert body["errorCode"] == code
    assert body["userMessage"]
    return body


def customer(number: str, **attrs) -> dict:
    """A CDP customer record from source system ``crm``."""
    return {"SourceSystemID": "crm", "SourceCustomerNumber": number, **attrs}
