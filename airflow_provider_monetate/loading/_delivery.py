"""Send batches with a bounded number in flight, recording progress for retry safety.

Shared by every operator that posts records (Monetate rows, privacy deletions, CDP
entities). Batches are produced lazily on the calling thread (reading, checking and
encoding cost CPU) and sent by at most ``max_in_flight`` worker threads (waiting on the
network costs none), so memory holds at most ``max_in_flight + 1`` batches.

No Airflow imports: the operators own logging setup, XCom and templating.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from airflow_provider_monetate.exceptions import ApiError, BatchesInDoubtError
from airflow_provider_monetate.loading._batches import Batch
from airflow_provider_monetate.loading._checkpoints import Progress

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    """What one delivery did; :class:`~airflow_provider_monetate.loading.LoadSummary` extends it.

    :param rows_sent: rows in the batches acknowledged in this try.
    :param rows_already_sent: rows in the batches a previous try delivered (not sent again).
    :param batches_sent: batches acknowledged in this try.
    :param batches_skipped: batches acknowledged by a previous try and not sent again.
    :param batches_resent: batches in doubt from a previous try that were sent again.
    :param rows_in_doubt_skipped: rows of in-doubt batches counted as delivered (``in_doubt="skip"``).
    :param batches_in_doubt_skipped: those batches.
    :param bytes_sent: bytes of row JSON in the batches acknowledged in this try (request bodies less
        their envelope), the size lineage reports.
    """

    rows_sent: int = 0
    rows_already_sent: int = 0
    batches_sent: int = 0
    batches_skipped: int = 0
    batches_resent: int = 0
    rows_in_doubt_skipped: int = 0
    batches_in_doubt_skipped: int = 0
    bytes_sent: int = 0


class ProgressLog:
    """Log rows, rate and ETA at most every ``interval`` seconds."""

    def __init__(self, what: str, total_rows: int | None, interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.total_rows = total_rows
        self.interval = interval
        self._clock = clock
        self._started = clock()
        self._last = self._started

    def update(self, rows_done: int) -> None:
        now = self._clock()
        if now - self._last < self.interval:
            return
        self._last = now
        rate = rows_done / max(now - self._started, 1e-9)
        if self.total_rows:
            eta = (self.total_rows - rows_done) / rate if rate else float("inf")
            log.info("%s: %d/%d rows (%.0f rows/s, ETA %.0fs)", self.what, rows_done, self.total_rows, rate, eta)
        else:
            log.info("%s: %d rows (%.0f rows/s)", self.what, rows_done, rate)


IN_DOUBT_POLICIES = ("fail", "resend", "skip")


def in_doubt_error(in_doubt: set[int], describe: Callable[[int], str], why: str) -> BatchesInDoubtError:
    """The error that names batches which may have been processed, and what the user can do."""
    names = ", ".join(describe(i) for i in sorted(in_doubt)[:20])
    more = f" and {len(in_doubt) - 20} more" if len(in_doubt) > 20 else ""
    return BatchesInDoubtError(
        f"{why} {len(in_doubt)} batch(es) may have been processed without an acknowledgement: {names}{more}. "
        "The destination has no unique key, so resending could duplicate those rows. Check the destination, "
        "then run the task again with in_doubt='resend' to send them again, or in_doubt='skip' to count them "
        "as delivered and send the rest."
    )


def check_in_doubt(progress: Progress | None, *, resend_safe: bool, policy: str = "fail",
                   describe: Callable[[int], str] = lambda i: f"batch {i}") -> set[int]:
    """Apply ``policy`` to the previous try's unacknowledged batches; return the ones to skip.

    Resend-safe destinations (upserts) resend them whatever the policy.

    :param resend_safe: a repeat cannot duplicate (e.g. the dataset upserts by a unique key).
    :param policy: ``fail`` (raise, naming them), ``resend`` (send them again) or ``skip`` (the user
        checked they arrived: count them as delivered).
    :raises BatchesInDoubtError: with ``fail``, when there are such batches.
    """
    in_doubt = progress.plan.in_doubt if progress else set()
    if not in_doubt or resend_safe or policy == "resend":
        return set()
    if policy == "skip":
        return set(in_doubt)
    raise in_doubt_error(in_doubt, describe, "A previous try ended with")


def deliver(
    batches: Iterable[Batch],
    send: Callable[[Batch], object],
    *,
    max_in_flight: int = 4,
    progress: Progress | None = None,
    progress_log: ProgressLog | None = None,
    report: DeliveryReport | None = None,
    skip_in_doubt: Collection[int] = frozenset(),
) -> DeliveryReport:
    """Send every batch not acknowledged before, at most ``max_in_flight`` at once.

    A batch whose send fails in a way that proves nothing was processed (an API error that is
    not in doubt: a 4xx, or a 429/503 outage or refused connection outlasting the retries) is
    marked not sent, so only batches that may have been processed are left in doubt.

    :param batches: the batches, in index order, produced lazily.
    :param send: posts one batch; raises on failure.
    :param progress: the checkpoint to skip from and record into; ``None`` for no retry safety.
    :param progress_log: periodic progress logging.
    :param report: where to count (a :class:`DeliveryReport` or a subclass); default a new one.
    :param skip_in_doubt: in-doubt batches of a previous try to count as delivered, unsent.
    :raises: the first send error, after the batches already in flight have finished (so
        their acknowledgements are recorded).
    """
    report = report if report is not None else DeliveryReport()
    skip = progress.plan.skip if progress else set()
    in_doubt = progress.plan.in_doubt if progress else set()
    pending: dict[Future, Batch] = {}
    failure: BaseException | None = None

    def send_one(batch: Batch) -> None:
        if progress:
            # Persisted before sending, so a crash leaves the batch in doubt, not lost. Written
            # on the worker thread: the write overlaps other batches' network waits.
            progress.mark_started(batch.index)
        send(batch)

    def settle(done: Iterable[Future]) -> None:
        nonlocal failure
        for future in done:
            batch = pending.pop(future)
            error = future.exception()
            if error is not None:
                if progress and _proves_not_processed(error):
                    progress.mark_not_sent(batch.index)
                failure = failure or error
                continue
            if progress:
                progress.mark_acked(batch.index)
            report.batches_sent += 1
            report.rows_sent += batch.rows_count
            report.bytes_sent += len(batch.payload)
            report.batches_resent += batch.index in in_doubt
        if progress_log:
            progress_log.update(report.rows_sent + report.rows_already_sent)

    with ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="deliver") as pool:
        for batch in batches:
            if batch.index in skip:
                report.batches_skipped += 1
                report.rows_already_sent += batch.rows_count
                continue
            if batch.index in skip_in_doubt:
                if progress:
                    progress.mark_acked(batch.index)
                report.batches_in_doubt_skipped += 1
                report.rows_in_doubt_skipped += batch.rows_count
                continue
            while len(pending) >= max_in_flight:
                settle(wait(pending, return_when=FIRST_COMPLETED).done)
            if failure:
                break
            pending[pool.submit(send_one, batch)] = batch
        settle(wait(pending).done)
    if progress:
        progress.flush()
    if failure:
        raise failure
    return report


def _proves_not_processed(error: BaseException) -> bool:
    """An API answered in a way that means the call was not processed: any ``ApiError`` that is not
    in doubt. Anything else (a timeout after sending, a crash, a bug) may have been processed."""
    return isinstance(error, ApiError) and not getattr(error, "in_doubt", False)
