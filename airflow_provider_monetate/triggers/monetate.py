"""MonetateDeletionTrigger: wait in the triggerer until Monetate reports every customer ID gone.

The deferrable side of :class:`~airflow_provider_monetate.sensors.monetate.MonetateDeletionSensor`.
Each round asks Monetate's Customer ID Status endpoint about the IDs not yet confirmed,
``max_concurrency`` at a time over ``httpx``, then sleeps ``poke_interval``.
Confirmations are written to the proof-of-deletion ledger and to the sensor's state file as
they arrive, so a restarted triggerer (or the sensor, resumed) does not ask again.

The serialized kwargs name the connection, never a token: the trigger mints its own through
:class:`~airflow_provider_monetate.hooks.monetate.MonetateHook` (JWT signing and the token
call run in a thread), and applies the provider's retry rules to every status call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from airflow_provider_monetate._compat import BaseTrigger, TriggerEvent
from airflow_provider_monetate.exceptions import ApiNotFoundError, ConfigurationError, MonetateProviderError
from airflow_provider_monetate.hooks.monetate import MonetateHook
from airflow_provider_monetate.http import AsyncApiClient, one_connection_client
from airflow_provider_monetate.monetate import _auth as monetate_auth
from airflow_provider_monetate.monetate.privacy._ledger import DeletionLedger, utc_now_iso
from airflow_provider_monetate.monetate.privacy._polling import StatusRound
from airflow_provider_monetate.monetate.privacy._status import DeletionStatus, parse_deletion_status, read_not_found
from airflow_provider_monetate.monetate.privacy._watch import DeletionWatch, Submitted, read_submitted
from airflow_provider_monetate.storage import as_location

__all__ = ["MonetateDeletionTrigger"]


class MonetateDeletionTrigger(BaseTrigger):
    """Poll Monetate until every customer ID is settled (``NOT_FOUND``, or not held), or the deadline passes.

    Fires one event: ``{"status": "success"}``, ``{"status": "timeout"}`` (after the last
    round at ``deadline``) or ``{"status": "error", "message": ...}``, each with the counts
    ``total`` and ``remaining``. The per-ID detail stays in the state file.

    :param monetate_conn_id: the Monetate connection.
    :param privacy_dataset: the ``customer_data_privacy`` dataset the IDs were posted to.
    :param customer_ids: the IDs to watch (short lists); or
    :param ids_path: the submitted-IDs file (a local path or an object storage URI).
    :param ids_sha256: the receipt's fingerprint of that file: a file changed since the sensor
        checked it ends the trigger with an error, before any status call.
    :param work_dir: where the sensor's state file lives (a local path or an object storage URI).
    :param state_key: the sensor task instance's key, naming its state file.
    :param ledger: the proof-of-deletion ledger (a local path or an object storage URI).
    :param hash_ids: write SHA-256 hashes of the IDs to the ledger and logs.
    :param provenance: ``dataset``, ``submitted_at``, ``dag_id``, ``run_id`` for the ledger.
    :param poke_interval: seconds between rounds.
    :param deadline: epoch seconds; the round at this time is the last.
    :param expected_at: epoch seconds; rounds after it warn, naming the IDs still not gone.
    :param max_concurrency: status calls in flight at once.
    """

    def __init__(
        self,
        *,
        monetate_conn_id: str,
        privacy_dataset: str,
        customer_ids: list[str] | None = None,
        ids_path: str | None = None,
        ids_sha256: str | None = None,
        work_dir: str,
        state_key: str,
        ledger: str,
        hash_ids: bool = False,
        provenance: dict[str, Any] | None = None,
        poke_interval: float = 3600.0,
        deadline: float,
        expected_at: float,
        max_concurrency: int = 32,
    ) -> None:
        super().__init__()
        if (customer_ids is None) == (ids_path is None):
            raise ConfigurationError("MonetateDeletionTrigger takes exactly one of customer_ids and ids_path")
        self.monetate_conn_id = monetate_conn_id
        self.privacy_dataset = privacy_dataset
        self.customer_ids = customer_ids
        self.ids_path = ids_path
        self.ids_sha256 = ids_sha256
        self.work_dir = work_dir
        self.state_key = state_key
        self.ledger = ledger
        self.hash_ids = hash_ids
        self.provenance = provenance or {}
        self.poke_interval = poke_interval
        self.deadline = deadline
        self.expected_at = expected_at
        self.max_concurrency = max_concurrency

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "monetate_conn_id": self.monetate_conn_id,
                "privacy_dataset": self.privacy_dataset,
                "customer_ids": self.customer_ids,
                "ids_path": self.ids_path,
                "ids_sha256": self.ids_sha256,
                "work_dir": self.work_dir,
                "state_key": self.state_key,
                "ledger": self.ledger,
                "hash_ids": self.hash_ids,
                "provenance": self.provenance,
                "poke_interval": self.poke_interval,
                "deadline": self.deadline,
                "expected_at": self.expected_at,
                "max_concurrency": self.max_concurrency,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            payload = await self._wait_until_gone()
        except MonetateProviderError as exc:  # API and configuration errors carry a user-facing message
            payload = {"status": "error", "message": str(exc)}
        yield TriggerEvent(payload)

    def _load(self) -> tuple[dict[str, str | None], DeletionWatch]:
        """Read the IDs, what the submit task's pre-check saw, and the state (blocking file I/O, run in a thread)."""
        if self.ids_path is not None:
            submitted = read_submitted(as_location(self.ids_path), sha256=self.ids_sha256)
        else:
            submitted = Submitted(dict.fromkeys(self.customer_ids or ()))
        ledger = DeletionLedger(as_location(self.ledger), hash_ids=self.hash_ids)
        watch = DeletionWatch(as_location(self.work_dir), self.state_key, ledger, self.provenance)
        watch.take_precheck(submitted.held, self.provenance.get("submitted_at") or watch.started_at)
        return submitted.times, watch

    async def _wait_until_gone(self) -> dict[str, Any]:
        targets, watch = await asyncio.to_thread(self._load)
        hook = MonetateHook(self.monetate_conn_id)
        # Reading the connection is blocking (secrets backend, or the triggerer's supervisor).
        host, data_path = await asyncio.to_thread(lambda: (hook.host, hook.data_path))
        client = AsyncStatusClient(hook, f"{data_path}/customer-data-privacy/{self.privacy_dataset}/",
                                   self.privacy_dataset)
        while True:
            pending = watch.pending(targets)
            if pending:
                # A token lasts as little as 15 minutes and rounds are hours apart: ask the
                # process-wide cache each round, which mints only when needed.
                await client.refresh_token()
                statuses = await self._round(client, host, hook.timeout, pending)
                await asyncio.to_thread(watch.observe, statuses, targets, utc_now_iso())
                pending = watch.pending(targets)
            self.log.info("%s", watch.progress(targets))
            counts = {"total": len(targets), "remaining": len(pending)}
            if not pending:
                return {"status": "success", **counts}
            now = time.time()
            if now >= self.deadline:
                return {"status": "timeout", **counts}
            if now >= self.expected_at:
                self.log.warning("%s", watch.overdue_warning(targets))
            await asyncio.sleep(min(self.poke_interval, self.deadline - now))

    async def _round(self, client: AsyncStatusClient, host: str, timeout: float, pending: list[str]) -> dict[str, str]:
        """Statuses of ``pending``, ``max_concurrency`` calls at a time (see :class:`StatusRound`).

        Each worker has its own one-connection ``httpx.AsyncClient``: httpcore's pool does work
        proportional to its connection count on every request, so one pool of 64 connections
        ran about 6 times slower than 64 pools of one (bench/bench_monetate_deletion_status.py).
        """
        status_round = StatusRound(pending, self.max_concurrency)

        async def work() -> None:
            async with one_connection_client(host, timeout=timeout) as http:
                while (customer_id := status_round.next_id()) is not None:
                    try:
                        status_round.record(customer_id, await client.status(http, customer_id))
                    except Exception as error:  # the round decides which failures end the trigger
                        status_round.fail(error)

        await asyncio.gather(*(work() for _ in range(status_round.workers)))
        return status_round.finish(self.log)


class AsyncStatusClient:
    """``GET {data_path}/customer-data-privacy/{dataset}/?id=`` with the provider's rules.

    A thin Monetate wrapper over :class:`~airflow_provider_monetate.http.AsyncApiClient`, which
    applies the same retry decisions as the hooks' session: a 401 mints a new token once (one
    mint for all the calls that saw the same dead token) and repeats the call; 429, 5xx,
    timeouts and dropped connections back off with jitter, waiting at least what
    ``Retry-After`` asks, within the hook's retry budget. A status read changes nothing, so
    every failure is safe to repeat.

    One instance serves all the workers of a round, which share its token.

    A 404 is read as ``NOT_FOUND`` (an ID Monetate never held) once the hook has checked, in a
    thread, that the privacy dataset exists (:meth:`MonetateHook.is_privacy_dataset`).

    :param hook: the Monetate hook (token minting, error hints, retry budget). Its connection
        must already be read: the hints come from ``hook.api``, which reads ``hook.host``.
    :param path: the status endpoint path.
    :param privacy_dataset: the dataset that path asks about.
    """

    def __init__(self, hook: MonetateHook, path: str, privacy_dataset: str) -> None:
        self._hook = hook
        self.path = path
        self.privacy_dataset = privacy_dataset
        self._token = ""
        # The hook's redactor: an error body echoing any credential the hook has held is redacted.
        self.api = AsyncApiClient("Monetate", credential=self, hints=hook.api.hints, retry=hook.retry,
                                  redactor=hook.redactor)

    async def refresh_token(self) -> None:
        self._token = (await asyncio.to_thread(self._hook.get_token)).token

    async def status(self, http: httpx.AsyncClient, customer_id: str) -> DeletionStatus:
        """One ID's status, asked over ``http`` (a client whose ``base_url`` is the API host)."""
        try:
            response = await self.api.request(http, "GET", self.path, params={"id": customer_id})
        except ApiNotFoundError as error:
            if not await asyncio.to_thread(self._hook.is_privacy_dataset, self.privacy_dataset):
                raise
            return read_not_found(error.messages)[0]
        return parse_deletion_status(_json(response).get("data"), customer_id)[0]

    # -- the AsyncCredential the client sends and renews --------------------------------------

    def header(self) -> str:
        return f"Token {self._token}"

    async def renew(self, rejected: str) -> None:
        # The cache mints once per rejected token, however many calls saw it rejected.
        hook = self._hook
        token = await asyncio.to_thread(
            monetate_auth.TOKEN_CACHE.replace, hook.cache_key, rejected.removeprefix("Token "), hook.mint_token
        )
        self._token = token.token


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
