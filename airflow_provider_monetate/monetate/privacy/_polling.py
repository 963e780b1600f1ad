"""One round of deletion-status calls: the policy the sensor (threads) and the trigger (asyncio) share.

A round asks Monetate about every pending ID, ``max_concurrency`` calls at a time. Workers,
threads in the sensor and tasks in the trigger, take the next ID from :meth:`StatusRound.next_id`
until it gives ``None``, and report each answer or failure back. The first failure stops the
round: Monetate still unavailable after a call's own retries ends it early (the answers
gathered so far count, the rest are asked next round); any other failure is raised, because
it needs a person (a revoked key, a dataset that does not exist). No Airflow imports.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from airflow_provider_monetate.exceptions import ApiUnavailableError
from airflow_provider_monetate.monetate.privacy._status import DeletionStatus

__all__ = ["StatusRound", "ask_statuses"]


class StatusRound:
    """The IDs of one round, the statuses gathered, and how the round ends.

    Safe to share between threads; in asyncio, between tasks.

    :param pending: the IDs to ask about, in order.
    :param max_concurrency: status calls in flight at once.
    """

    def __init__(self, pending: Sequence[str], max_concurrency: int) -> None:
        self.pending = pending
        self.workers = min(max_concurrency, len(pending))
        self.statuses: dict[str, str] = {}
        self.failure: BaseException | None = None
        self._queue = iter(pending)
        self._lock = threading.Lock()

    def next_id(self) -> str | None:
        """The next ID to ask about, or ``None`` once all are taken or the round has failed."""
        with self._lock:
            return None if self.failure is not None else next(self._queue, None)

    def record(self, customer_id: str, status: DeletionStatus) -> None:
        """Keep one ID's status."""
        self.statuses[customer_id] = DeletionStatus(status).value

    def fail(self, error: BaseException) -> None:
        """A call failed: no worker takes another ID; the first failure is the one reported."""
        with self._lock:
            if self.failure is None:
                self.failure = error

    def finish(self, log: logging.Logger | logging.LoggerAdapter) -> dict[str, str]:
        """The statuses gathered; raises the round's failure unless it was Monetate being unavailable.

        :raises: the first failure, unless it is an :class:`ApiUnavailableError` (then a warning
            says how many IDs were checked and that the rest wait for the next round).
        """
        if self.failure is not None and not isinstance(self.failure, ApiUnavailableError):
            raise self.failure
        if self.failure is not None:
            log.warning(
                "Monetate is unavailable (%s); %d of %d IDs checked this round, the rest wait for the next.",
                self.failure, len(self.statuses), len(self.pending),
            )
        unknown = sum(status == DeletionStatus.UNKNOWN.value for status in self.statuses.values())
        if unknown:
            log.warning(
                "Monetate answered %d of %d ID(s) with an integer status code whose description does not say "
                "PENDING, FOUND or NOT_FOUND; no document maps the codes, so these are not read as done and wait "
                "for the next round.", unknown, len(self.statuses),
            )
        return self.statuses


def ask_statuses(
    pending: Sequence[str],
    status_of: Callable[[str], DeletionStatus],
    max_concurrency: int,
    log: logging.Logger | logging.LoggerAdapter,
) -> dict[str, str]:
    """One round in threads: the statuses of ``pending``, ``max_concurrency`` calls at a time.

    :param status_of: asks Monetate about one ID.
    :raises: as :meth:`StatusRound.finish`.
    """
    if not pending:
        return {}
    status_round = StatusRound(pending, max_concurrency)

    def work() -> None:
        while (customer_id := status_round.next_id()) is not None:
            try:
                status_round.record(customer_id, status_of(customer_id))
            except Exception as error:  # the round decides which failures end the task
                status_round.fail(error)

    with ThreadPoolExecutor(max_workers=status_round.workers, thread_name_prefix="deletion-status") as pool:
        for _ in range(status_round.workers):
            pool.submit(work)
    return status_round.finish(log)
