"""The spec checker used by the hook tests must itself reject what the spec forbids."""

from __future__ import annotations

import json

import pytest

from tests.support.openapi_check import NotInSpec, check_request

DATA = "https://x/api/data/v1/shop/production"


@pytest.mark.parametrize(
    ("method", "url", "auth", "body"),
    [
        ("POST", f"{DATA}/data/ds/", "Bearer t", {"schema_rows": []}),  # wrong scheme word
        ("POST", f"{DATA}/data/ds/", "Token t", {"rows": []}),  # wrong envelope
        ("POST", f"{DATA}/data/ds/", "Token t", [{"a": 1}]),  # bare list
        ("DELETE", f"{DATA}/schema/ds/", "Token t", None),  # no such operation
        ("POST", f"{DATA}/schema/", "Token t", {"name": "1bad", "fields": {"a": {"data_type": "STRING"}}}),
        ("POST", f"{DATA}/schema/", "Token t", {"name": "ok", "type": "event", "fields": {}}),  # fields >= 1
        ("GET", "https://x/api/auth/v0/refresh/", "Token t", None),  # auth API wants JWT
    ],
)
def test_checker_rejects_what_the_spec_forbids(method, url, auth, body):
    with pytest.raises(AssertionError):
        check_request(method, url, {"Authorization": auth}, json.dumps(body) if body is not None else None)


def test_seed_override_allows_empty_privacy_fields():
    body = json.dumps({"name": "gdpr", "type": "customer_data_privacy", "fields": {}})
    assert check_request("POST", f"{DATA}/schema/", {"Authorization": "Token t"}, body) == "/schema/"


def test_paths_outside_the_spec_are_reported():
    with pytest.raises(NotInSpec):
        check_request("GET", f"{DATA}/customer-data-privacy/gdpr/?id=1", {"Authorization": "Token t"}, None)
