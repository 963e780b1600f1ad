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
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from airflow_provider_monetate.exceptions import BatchesInDoubtError
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
    """

    rows_sent: int = 0
    rows_already_sent: int = 0
    batches_sent: int = 0
    batches_skipped: int = 0
    batches_resent: int = 0


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


def check_in_doubt(progress: Progress | None, *, resend_safe: bool, resend_in_doubt: bool,
                   describe: Callable[[int], str] = lambda i: f"batch {i}") -> set[int]:
    """The previous try's unacknowledged batches, or an error when resending them is unsafe.

    :param resend_safe: a repeat cannot duplicate (e.g. the dataset upserts by a unique key).
    :param resend_in_doubt: the user's explicit consent to resend anyway.
    """
    in_doubt = progress.plan.in_doubt if progress else set()
    if in_doubt and not resend_safe and not resend_in_doubt:
        names = ", ".join(describe(i) for i in sorted(in_doubt)[:20])
        raise BatchesInDoubtError(
            f"A previous try sent {len(in_doubt)} batch(es) without an acknowledgement: {names}. The "
            "destination has no unique key, so resending could duplicate those rows. Check the destination, "
            "then re-run with resend_in_doubt=True to send them again (or clear the checkpoint to start over)."
        )
    return in_doubt


def deliver(
    batches: Iterable[Batch],
    send: Callable[[Batch], object],
    *,
    max_in_flight: int = 4,
    progress: Progress | None = None,
    progress_log: ProgressLog | None = None,
    report: DeliveryReport | None = None,
) -> DeliveryReport:
    """Send every batch not acknowledged before, at most ``max_in_flight`` at once.

    :param batches: the batches, in index order, produced lazily.
    :param send: posts one batch; raises on failure.
    :param progress: the checkpoint to skip from and record into; ``None`` for no retry safety.
    :param progress_log: periodic progress logging.
    :param report: where to count (a :class:`DeliveryReport` or a subclass); default a new one.
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
                failure = failure or error
                continue
            if progress:
                progress.mark_acked(batch.index)
            report.batches_sent += 1
            report.rows_sent += batch.rows_count
            report.batches_resent += batch.index in in_doubt
        if progress_log:
            progress_log.update(report.rows_sent + report.rows_already_sent)

    with ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="deliver") as pool:
        for batch in batches:
            if batch.index in skip:
                report.batches_skipped += 1
                report.rows_already_sent += batch.rows_count
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
