"""AsyncApiClient over httpx (MockTransport): what it sends, and how it performs each step.

The decisions themselves are tested in test_policy.py and, for both clients, test_equivalence.py.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from airflow_provider_monetate.exceptions import ApiAuthError, ApiUnavailableError, ApiValidationError
from airflow_provider_monetate.http import USER_AGENT, AsyncApiClient, ErrorHints, RetryPolicy, one_connection_client

BASE = "https://api.test"


class Credential:
    def __init__(self) -> None:
        self.version = 1
        self.rejected: list[str] = []

    def header(self) -> str:
        return f"Token secret-{self.version}"

    async def renew(self, rejected: str) -> None:
        await asyncio.sleep(0)  # a real renewal awaits a thread
        self.rejected.append(rejected)
        self.version += 1


def run(client: AsyncApiClient, answers, **call):
    """One call through ``client``; ``answers`` are responses or exceptions, in order."""
    seen: list[httpx.Request] = []
    answers = iter(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def main():
        async with httpx.AsyncClient(base_url=BASE, transport=httpx.MockTransport(handler)) as http:
            return await client.request(http, call.pop("method", "GET"), call.pop("path", "/x/"), **call)

    return asyncio.run(main()), seen


@pytest.fixture
def waits():
    return []


@pytest.fixture
def client(waits):
    async def sleep(seconds):
        waits.append(seconds)

    return AsyncApiClient("Monetate", credential=Credential(), hints=ErrorHints(unauthorized="check it"),
                          retry=RetryPolicy(max_attempts=3), sleep=sleep, rand=lambda: 0.5)


def test_sends_params_body_headers_and_credential(client):
    response, (request,) = run(client, [httpx.Response(201, json={})], method="POST", path="/rows/",
                               params={"x": "1"}, json={"a": 1}, headers={"X-Trace": "t"})
    assert response.status_code == 201
    assert request.url.params["x"] == "1" and request.content == b'{"a":1}'
    assert request.headers["Authorization"] == "Token secret-1" and request.headers["X-Trace"] == "t"


def test_401_awaits_one_renewal_with_the_rejected_header(client):
    _, seen = run(client, [httpx.Response(401), httpx.Response(200, json={})])
    assert client.credential.rejected == ["Token secret-1"]
    assert [r.headers["Authorization"] for r in seen] == ["Token secret-1", "Token secret-2"]
    with pytest.raises(ApiAuthError, match="check it"):
        run(client, [httpx.Response(401), httpx.Response(401)])


def test_without_a_credential_a_401_is_final(waits):
    client = AsyncApiClient("Monetate", retry=RetryPolicy(max_attempts=3))
    with pytest.raises(ApiAuthError):
        run(client, [httpx.Response(401)])


def test_error_messages_never_hold_the_credential(client):
    with pytest.raises(ApiValidationError) as info:
        run(client, [httpx.Response(422, json={"meta": {"errors": ["bad Token secret-1"]}})])
    assert info.value.messages == ["bad Token ***"]


def test_retries_are_counted_and_slept(client, waits):
    run(client, [httpx.Response(503), httpx.Response(429, headers={"Retry-After": "4"}), httpx.Response(200)])
    assert waits == [0.5, 4.0] and client.retries == 2


def test_default_sleep_is_asyncio_sleep_looked_up_at_call_time(monkeypatch):
    slept = []

    async def fake_sleep(seconds):
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    client = AsyncApiClient("Monetate", retry=RetryPolicy(), rand=lambda: 0.5)
    run(client, [httpx.Response(503), httpx.Response(200)])
    assert slept == [0.5]


def test_a_transport_failure_is_named_not_chained(client):
    request = httpx.Request("POST", BASE + "/rows/")
    with pytest.raises(ApiUnavailableError) as info:
        run(client, [httpx.ReadTimeout("slow", request=request)], method="POST", path="/rows/",
            retry_ambiguous=False)
    assert info.value.failure == "ReadTimeout" and info.value.in_doubt and info.value.__cause__ is None
    assert info.value.messages == ["no answer from api.test within the read timeout after sending"]


def test_one_connection_client():
    async def main():
        async with one_connection_client("https://api.test", timeout=7.0) as http:
            pool = http._transport._pool
            return http.headers, http.timeout, pool._max_connections, pool._max_keepalive_connections

    headers, timeout, max_connections, keepalive = asyncio.run(main())
    assert headers["User-Agent"] == USER_AGENT and headers["Accept"] == "application/json"
    assert (timeout.read, timeout.connect) == (7.0, 10.0) and max_connections == keepalive == 1
