"""The sync hooks and the async trigger decide alike: one table of scenarios, run through both clients.

Each scenario is a script of what the server does on each send (a status, a status with
``Retry-After``, or a transport failure of some kind). It is played to :class:`ApiSession`
through a requests adapter and to :class:`AsyncApiClient` through ``httpx.MockTransport``, with
the same fake clock (every send takes :data:`SEND_SECONDS`, every wait advances it), the same
jitter sequence and a credential that counts its renewals. Both runs must produce the same
record: the ``Authorization`` of every send, the renewals, every wait, and the final response
status or the exception's type, status, ``in_doubt``, ``attempts`` and text. Each scenario also
states the expected number of sends and result, so the table documents the rules.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import ssl
from dataclasses import dataclass
from http.client import RemoteDisconnected

import httpx
import pytest
import requests
from requests.adapters import BaseAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError
from urllib3.exceptions import SSLError as Urllib3SSLError

from airflow_provider_monetate.exceptions import (
    ApiAuthError,
    ApiError,
    ApiForbiddenError,
    ApiNotFoundError,
    ApiUnavailableError,
    ApiValidationError,
)
from airflow_provider_monetate.http import ApiSession, AsyncApiClient, ErrorHints, RetryPolicy
from airflow_provider_monetate.http._errors import STATUS_ERRORS
from airflow_provider_monetate.http._policy import MAYBE_PROCESSED, NOT_PROCESSED

BASE = "https://api.test"
POLICY = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=8.0, max_elapsed=30.0)
HINTS = ErrorHints(unauthorized="renew it", forbidden="ask", not_found="missing")
SEND_SECONDS = 2.0
JITTER = (0.25, 0.75)

# Each library's exception for each kind of transport failure, chained as the library chains it
# (test_transport.py checks these chains against real sockets), so that both describe it alike.
REQUESTS_FAILURES = {
    "refused": lambda: _from_max_retry(requests.ConnectionError("refused"), _during(
        NewConnectionError(None, "Failed to establish a new connection"), ConnectionRefusedError(111, "refused"))),
    "connect_timeout": lambda: requests.ConnectTimeout("connect timed out"),
    "tls_handshake": lambda: _from_max_retry(requests.exceptions.SSLError("tls"), _during(
        Urllib3SSLError("verify failed"), _verify_failed())),
    "read_timeout": lambda: requests.ReadTimeout("read timed out"),
    "dropped": lambda: _from_max_retry(requests.ConnectionError("aborted"), _during(ProtocolError(
        "Connection aborted."), RemoteDisconnected("Remote end closed connection without response"))),
}
HTTPX_FAILURES = {
    "refused": lambda request: _during(httpx.ConnectError("All connection attempts failed", request=request),
                                       ConnectionRefusedError(111, "Connect call failed")),
    "connect_timeout": lambda request: httpx.ConnectTimeout("connect timed out", request=request),
    "tls_handshake": lambda request: _during(httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]", request=request),
                                             _verify_failed()),
    "read_timeout": lambda request: httpx.ReadTimeout("read timed out", request=request),
    "dropped": lambda request: httpx.RemoteProtocolError("Server disconnected", request=request),
}


def _verify_failed() -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error.verify_message = "self-signed certificate"
    return error


def _from_max_retry(outer: BaseException, reason: BaseException) -> BaseException:
    outer.__context__ = MaxRetryError(None, "/rows/", reason)
    return outer


def _during(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__context__ = inner
    return outer


@dataclass(frozen=True)
class Scenario:
    name: str
    script: tuple  # per send: a status, (status, Retry-After), or a key of *_FAILURES
    sends: int
    result: int | type[ApiError]
    in_doubt: bool | None = None
    retry_ambiguous: bool = True
    credential: bool = True


S = Scenario
SCENARIOS = [
    S("200", (200,), 1, 200),
    S("204", (204,), 1, 204),
    S("503 503 200", (503, 503, 200), 3, 200),
    S("429 with Retry-After 7, then 200", ((429, "7"), 200), 2, 200),
    S("429 asking past the time budget", ((429, "60"),), 1, ApiUnavailableError, False),
    S("503 until the attempt budget", (503,) * 4, 4, ApiUnavailableError, False),
    S("503 until the time budget", ((503, "20"), (503, "20")), 2, ApiUnavailableError, False),
    S("401 renewed, then 200", (401, 200), 2, 200),
    S("401 401: renewed once", (401, 401), 2, ApiAuthError),
    S("401 without a renewable credential", (401,), 1, ApiAuthError, credential=False),
    S("401 503 401: one renewal per call", (401, 503, 401), 3, ApiAuthError),
    S("refused 503 401 200", ("refused", 503, 401, 200), 4, 200, retry_ambiguous=False),
    S("500, not safe to repeat", (500,), 1, ApiUnavailableError, True, retry_ambiguous=False),
    S("502, not safe to repeat", (502,), 1, ApiUnavailableError, True, retry_ambiguous=False),
    S("500 502 504 200, safe to repeat", (500, 502, 504, 200), 4, 200),
    S("504 until the attempt budget", (504,) * 4, 4, ApiUnavailableError, True),
    S("503, not safe to repeat (not processed)", (503, 200), 2, 200, retry_ambiguous=False),
    *[S(f"{status}, {'safe' if ambiguous else 'not safe'} to repeat", (status,), 1,
        STATUS_ERRORS.get(status, (ApiError,))[0], retry_ambiguous=ambiguous)
      for status in (400, 403, 404, 405, 409, 413, 415, 418, 422, 501) for ambiguous in (True, False)],
    *[S(f"{kind} then 200, not safe to repeat", (kind, 200), 2, 200, retry_ambiguous=False)
      for kind in ("refused", "connect_timeout", "tls_handshake")],
    *[S(f"{kind}, not safe to repeat", (kind,), 1, ApiUnavailableError, True, retry_ambiguous=False)
      for kind in ("read_timeout", "dropped")],
    *[S(f"{kind} then 200, safe to repeat", (kind, 200), 2, 200) for kind in HTTPX_FAILURES],
    S("refused until the attempt budget", ("refused",) * 4, 4, ApiUnavailableError, False, retry_ambiguous=False),
    S("dropped until the attempt budget", ("dropped",) * 4, 4, ApiUnavailableError, True),
]


class Run:
    """One scenario's world: the script, a fake clock, jitter, and what happened."""

    def __init__(self, scenario: Scenario) -> None:
        self.script = iter(scenario.script)
        self.now = 100.0
        self.rand = itertools.cycle(JITTER).__next__
        self.sent: list[str | None] = []
        self.renewed: list[str] = []
        self.waits: list[float] = []
        self.version = 1

    def clock(self) -> float:
        return self.now

    def answer(self, authorization: str | None):
        """The next scripted answer: ``(status, headers, body)`` or a failure kind."""
        self.sent.append(authorization)
        self.now += SEND_SECONDS
        step = next(self.script, None)
        if step is None:
            raise AssertionError(f"sent more than the {len(self.sent) - 1} answers scripted")
        if isinstance(step, str):
            return step
        status, retry_after = step if isinstance(step, tuple) else (step, None)
        headers = {"Content-Type": "application/json", **({"Retry-After": retry_after} if retry_after else {})}
        body = {"data": "ok"} if status < 400 else {"meta": {"errors": [f"rejected {authorization}"]}}
        return status, headers, json.dumps(body).encode()

    def wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def header(self) -> str:
        return f"Token tok-{self.version}"

    def renew_now(self, rejected: str) -> None:
        self.renewed.append(rejected)
        self.version += 1

    def record(self, result) -> dict:
        if isinstance(result, ApiError):
            text = str(result)
            if getattr(result, "failure", None):  # the libraries name the same failure differently
                text = text.replace(result.failure, "<failure>")
            result = (type(result), result.status, getattr(result, "in_doubt", None),
                      getattr(result, "attempts", None), text)
        return {"sent": self.sent, "renewed": self.renewed, "waits": self.waits, "result": result}


class SyncCredential:
    def __init__(self, run: Run) -> None:
        self.header, self.renew = run.header, run.renew_now


class AsyncCredential:
    def __init__(self, run: Run) -> None:
        self.header, self._run = run.header, run

    async def renew(self, rejected: str) -> None:
        self._run.renew_now(rejected)


class ScriptAdapter(BaseAdapter):
    """A requests transport that plays the script."""

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run

    def send(self, request, **kwargs):
        answer = self.run.answer(request.headers.get("Authorization"))
        if isinstance(answer, str):
            raise REQUESTS_FAILURES[answer]()
        response = requests.Response()
        response.status_code, headers, response._content = answer
        response.headers.update(headers)
        response.request, response.url, response.encoding = request, request.url, "utf-8"
        return response

    def close(self) -> None:
        pass


def run_sync(scenario: Scenario) -> dict:
    run = Run(scenario)
    session = ApiSession("Monetate", BASE, credential=SyncCredential(run) if scenario.credential else None,
                         hints=HINTS, retry=POLICY, sleep=run.wait, clock=run.clock)
    session._rand = run.rand
    session.session.mount("https://", ScriptAdapter(run))
    try:
        result = session.request("POST", "/rows/", json={"a": 1}, retry_ambiguous=scenario.retry_ambiguous)
    except ApiError as exc:
        return run.record(exc)
    return run.record(result.status_code)


def run_async(scenario: Scenario) -> dict:
    run = Run(scenario)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = run.answer(request.headers.get("Authorization"))
        if isinstance(answer, str):
            raise HTTPX_FAILURES[answer](request)
        status, headers, body = answer
        return httpx.Response(status, headers=headers, content=body)

    async def sleep(seconds: float) -> None:
        run.wait(seconds)

    client = AsyncApiClient("Monetate", credential=AsyncCredential(run) if scenario.credential else None,
                            hints=HINTS, retry=POLICY, sleep=sleep, clock=run.clock, rand=run.rand)

    async def main():
        async with httpx.AsyncClient(base_url=BASE, transport=httpx.MockTransport(handler)) as http:
            return await client.request(http, "POST", "/rows/", json={"a": 1},
                                        retry_ambiguous=scenario.retry_ambiguous)

    try:
        result = asyncio.run(main())
    except ApiError as exc:
        return run.record(exc)
    return run.record(result.status_code)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_sync_and_async_decide_alike(scenario):
    sync, async_ = run_sync(scenario), run_async(scenario)
    assert sync == async_
    assert len(sync["sent"]) == scenario.sends
    result = sync["result"]
    if isinstance(scenario.result, int):
        assert result == scenario.result
    else:
        assert result[0] is scenario.result
        assert result[2] is scenario.in_doubt  # None for the errors that carry no in_doubt
        if scenario.result is ApiUnavailableError:
            assert result[3] == scenario.sends


def test_waits_renewals_and_redaction_are_what_the_rules_say():
    record = run_sync(Scenario("", (503, (429, "7"), 401, 503), 4, ApiUnavailableError, False))
    assert record == run_async(Scenario("", (503, (429, "7"), 401, 503), 4, ApiUnavailableError, False))
    assert record["waits"] == [0.25, 7.0]  # 1s * 0.25; then Retry-After beats 2s * 0.75
    assert record["renewed"] == ["Token tok-1"]
    assert record["sent"] == ["Token tok-1", "Token tok-1", "Token tok-1", "Token tok-2"]
    assert record["result"][4] == (
        "Monetate POST /rows/ -> 503: rejected Token ***. Gave up after 4 attempts in 15s")


def test_the_table_covers_every_status_and_failure_kind():
    statuses = {s if isinstance(s, int) else s[0] for c in SCENARIOS for s in c.script if not isinstance(s, str)}
    kinds = {s for c in SCENARIOS for s in c.script if isinstance(s, str)}
    assert set(STATUS_ERRORS) | NOT_PROCESSED | MAYBE_PROCESSED | {200} <= statuses
    assert kinds == set(REQUESTS_FAILURES) == set(HTTPX_FAILURES)
    assert {ApiAuthError, ApiForbiddenError, ApiNotFoundError, ApiValidationError, ApiError,
            ApiUnavailableError} == {c.result for c in SCENARIOS if not isinstance(c.result, int)}
