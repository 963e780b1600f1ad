"""MonetateDeletionTrigger serialisation and its async status client's retry rules (httpx MockTransport)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from types import SimpleNamespace

import httpx
import pytest

from airflow_provider_monetate.exceptions import ApiAuthError, ApiNotFoundError, ApiUnavailableError
from airflow_provider_monetate.hooks.monetate import DeletionStatus
from airflow_provider_monetate.http import ErrorHints, Redactor, RetryPolicy
from airflow_provider_monetate.monetate import _auth as monetate_auth
from airflow_provider_monetate.triggers import monetate as trigger_module
from airflow_provider_monetate.triggers.monetate import AsyncStatusClient, MonetateDeletionTrigger

PATH = "/api/data/v1/shop/production/customer-data-privacy/gdpr/"

KWARGS = {
    "monetate_conn_id": "monetate_prod",
    "privacy_dataset": "gdpr",
    "ids_path": "s3://bucket/deletions/run.ids.ndjson",
    "ids_sha256": "0123abcd" * 8,
    "work_dir": "s3://bucket/deletions",
    "state_key": "erase__run__wait__-1.0123456789abcdef",
    "ledger": "s3://bucket/ledger",
    "hash_ids": True,
    "provenance": {"dataset": "gdpr", "submitted_at": "2024-05-01T10:00:00.000000Z", "dag_id": "erase", "run_id": "r"},
    "poke_interval": 3600.0,
    "deadline": 1_714_800_000.0,
    "expected_at": 1_714_700_000.0,
    "max_concurrency": 16,
}


def test_serialize_round_trip():
    trigger = MonetateDeletionTrigger(**KWARGS)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_monetate.triggers.monetate.MonetateDeletionTrigger"
    assert kwargs == {**KWARGS, "customer_ids": None}
    json.dumps(kwargs)  # stored as JSON in the metadata DB
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_serialized_kwargs_carry_the_connection_id_and_no_credential(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MONETATE_PROD", json.dumps({"conn_type": "monetate", "password": "PEM"}))
    kwargs = MonetateDeletionTrigger(**KWARGS).serialize()[1]
    assert kwargs["monetate_conn_id"] == "monetate_prod"
    assert not any(word in json.dumps(kwargs).lower() for word in ("token", "jwt", "password", "pem"))


def test_takes_exactly_one_source_of_ids():
    with pytest.raises(ValueError, match="exactly one of customer_ids and ids_path"):
        MonetateDeletionTrigger(**{**KWARGS, "customer_ids": ["C1"]})


# -- the async status client -----------------------------------------------------------------------

class FakeHook:
    """What AsyncStatusClient uses of MonetateHook: tokens from the shared cache, hints, retry budget."""

    def __init__(self, privacy_dataset_exists: bool = False) -> None:
        self.minted = 0
        self.privacy_dataset_exists = privacy_dataset_exists
        self.dataset_checks: list[str] = []
        self.cache_key = ("monetate_test", id(self))
        self.retry = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.02, max_elapsed=30)
        self.api = SimpleNamespace(hints=ErrorHints(not_found="the privacy dataset does not exist"))
        self.redactor = Redactor()

    def mint_token(self) -> monetate_auth.MonetateToken:
        self.minted += 1
        now = time.time()
        return monetate_auth.MonetateToken(f"token-{self.minted}", now, 3600, now + 3600)

    def get_token(self) -> monetate_auth.MonetateToken:
        return monetate_auth.TOKEN_CACHE.get(self.cache_key, self.mint_token)

    def is_privacy_dataset(self, name: str) -> bool:
        self.dataset_checks.append(name)
        return self.privacy_dataset_exists


def ok(status="PENDING", description="..."):
    return httpx.Response(200, json={"meta": {"code": 200}, "data": {"status": status, "description": description}})


def run_client(handler, ids, hook=None):
    """Ask about ``ids`` concurrently; return (results or the exception, hook, requests seen)."""
    hook = hook or FakeHook()
    seen: list[httpx.Request] = []

    def recorder(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    async def main():
        async with httpx.AsyncClient(base_url="https://api.example", transport=httpx.MockTransport(recorder)) as http:
            client = AsyncStatusClient(hook, PATH, "gdpr")
            await client.refresh_token()
            return await asyncio.gather(*(client.status(http, cid) for cid in ids), return_exceptions=True)

    return asyncio.run(main()), hook, seen


@pytest.fixture
def no_wait(monkeypatch):
    """Record backoff delays instead of sleeping them."""
    delays: list[float] = []

    async def fake_sleep(seconds):
        delays.append(seconds)

    monkeypatch.setattr(trigger_module.asyncio, "sleep", fake_sleep)
    return delays


def test_status_is_parsed_and_the_token_sent():
    results, _, seen = run_client(lambda r: ok("NOT_FOUND"), ["C1"])
    assert results == [DeletionStatus.NOT_FOUND]
    assert seen[0].url.path == PATH and seen[0].url.params["id"] == "C1"
    assert seen[0].headers["Authorization"] == "Token token-1"


def test_401_mints_one_new_token_for_all_calls_and_continues():
    def handler(request):
        if request.headers["Authorization"] == "Token token-1":
            return httpx.Response(401, json={"meta": {"errors": ["token expired"]}})
        return ok("NOT_FOUND")

    results, hook, seen = run_client(handler, [f"C{i}" for i in range(8)])
    assert results == [DeletionStatus.NOT_FOUND] * 8
    assert hook.minted == 2  # the first token, then ONE re-mint shared by the 8 calls that saw the 401
    assert sum(r.headers["Authorization"] == "Token token-2" for r in seen) == 8


def test_a_second_401_is_an_auth_error_without_the_token():
    results, hook, _ = run_client(lambda r: httpx.Response(401, json={"meta": {"errors": [
        f"bad {r.headers['Authorization'].split()[1]}"]}}), ["C1"])
    (error,) = results
    assert isinstance(error, ApiAuthError) and hook.minted == 2
    assert "token-" not in str(error) and "***" in str(error)


def test_429_waits_what_retry_after_asks(no_wait):
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}), ok()])
    results, _, seen = run_client(lambda r: next(answers), ["C1"])
    assert results == [DeletionStatus.PENDING] and len(seen) == 2
    assert no_wait == [7.0]


def test_5xx_and_dropped_connections_are_retried(no_wait):
    calls = itertools.count()

    def handler(request):
        n = next(calls)
        if n == 0:
            return httpx.Response(500)
        if n == 1:
            raise httpx.ReadTimeout("slow", request=request)
        if n == 2:
            return httpx.Response(503)
        return ok("FOUND")

    results, _, seen = run_client(handler, ["C1"])
    assert results == [DeletionStatus.FOUND] and len(seen) == 4 and len(no_wait) == 3


def test_retries_are_bounded(no_wait):
    results, _, seen = run_client(lambda r: httpx.Response(502), ["C1"])
    (error,) = results
    assert isinstance(error, ApiUnavailableError) and error.attempts == 4 and len(seen) == 4
    assert "Gave up after 4 attempts" in str(error)


def test_404_is_not_retried_and_says_what_is_missing():
    results, hook, seen = run_client(lambda r: httpx.Response(404, json={"meta": {"errors": ["no such dataset"]}}),
                                     ["C1"])
    (error,) = results
    assert isinstance(error, ApiNotFoundError) and len(seen) == 1 and hook.dataset_checks == ["gdpr"]
    assert "no such dataset" in str(error) and "the privacy dataset does not exist" in str(error)


# -- the readings of the documents (issue 12): integer codes, a 404 for an ID never held ----------------------

SEED_WORDS = {
    "PENDING": "The customer_id C1 has been found within Monetate's data stores and is pending removal.",
    "FOUND": "The customer_id C1 has been found within Monetate's data stores.",
    "NOT_FOUND": "The customer_id C1 has not been found within Monetate's data stores.",
}


@pytest.mark.parametrize("status", ["PENDING", "FOUND", "NOT_FOUND"])
def test_an_integer_status_is_read_from_its_description_never_from_the_code(status):
    for code in (0, 7, "2"):  # no document maps the codes: the same code reads as the words say
        results, _, _ = run_client(lambda r, code=code: ok(code, SEED_WORDS[status]), ["C1"])
        assert results == [DeletionStatus(status)]


def test_an_integer_status_the_description_does_not_settle_is_unknown_never_done():
    results, _, _ = run_client(lambda r: ok(2, "Status 2."), ["C1"])
    assert results == [DeletionStatus.UNKNOWN]


def test_a_404_for_an_id_is_not_found_once_the_privacy_dataset_is_known_to_exist():
    hook = FakeHook(privacy_dataset_exists=True)
    body = {"meta": {"code": 404, "errors": [{"message": SEED_WORDS["NOT_FOUND"]}]}, "data": None}
    results, hook, seen = run_client(lambda r: httpx.Response(404, json=body), ["C1", "C2"], hook)
    assert results == [DeletionStatus.NOT_FOUND] * 2 and len(seen) == 2  # not retried
    assert set(hook.dataset_checks) == {"gdpr"}
