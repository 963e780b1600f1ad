"""Check every record first, then deliver: the pipeline behind every operator that posts records.

1. **Check**: read the source once; normalise each record, report rejections, encode the
   accepted rows once, cut them into batches and spool the batches to a temporary file.
   The input's fingerprint is computed on the way. Memory stays flat whatever the input
   size, and a source with more bad rows than allowed sends nothing, even a one-shot
   iterator.
2. **Deliver**: read the spooled batches back and send them (``_delivery.deliver``),
   skipping batches a previous try already delivered.

Reading, checking and encoding each row exactly once keeps the client's CPU per row close
to a plain ``json.dumps`` loop. No Airflow imports.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from airflow_provider_monetate.exceptions import TooManyRejectedRowsError
from airflow_provider_monetate.loading._batches import Batch, describe_batch, iter_batches
from airflow_provider_monetate.loading._checkpoints import Progress
from airflow_provider_monetate.loading._delivery import DeliveryReport, ProgressLog, check_in_doubt, deliver
from airflow_provider_monetate.loading._rejects import Rejection, RejectsReport
from airflow_provider_monetate.loading._sources import RecordSource

__all__ = ["CheckedInput", "LoadOptions", "LoadPart", "LoadSummary", "Normalizer", "check_records", "load_parts"]

log = logging.getLogger(__name__)

Normalizer = Callable[[int, dict], tuple[dict | None, list[Rejection]]]


@dataclass(frozen=True)
class LoadOptions:
    """How to batch and send.

    :param max_rows: rows per request.
    :param max_bytes: bytes per request body, envelope included.
    :param max_in_flight: requests in flight at once.
    :param max_rejected_rows: rejected rows tolerated before refusing to send anything.
    :param resend_in_doubt: resend batches a previous try sent without an acknowledgement,
        even when that could duplicate rows.
    :param dry_run: read, check and report; send nothing.
    """

    max_rows: int = 500
    max_bytes: int = 5_000_000
    max_in_flight: int = 4
    max_rejected_rows: int = 0
    resend_in_doubt: bool = False
    dry_run: bool = False

    @property
    def batch_settings(self) -> dict[str, int]:
        """What batch indices depend on (a change makes a checkpoint meaningless)."""
        return {"max_rows": self.max_rows, "max_bytes": self.max_bytes}


@dataclass
class CheckedInput:
    """The outcome of the check pass: counts, fingerprint, and the spooled batches."""

    spool: IO[bytes]
    fingerprint: str = ""
    rows_read: int = 0
    rows_accepted: int = 0
    rows_excluded: int = 0
    # (offset, length, first_row, last_row, rows): a few numbers per batch, never the rows
    index: list[tuple[int, int, int, int, int]] = field(default_factory=list)

    def batches(self) -> Iterator[Batch]:
        """The batches in index order, each read from the spool when it is needed."""
        for number, (offset, length, first, last, rows) in enumerate(self.index):
            self.spool.seek(offset)
            yield Batch(number, first, last, rows, self.spool.read(length))

    def describe(self, index: int) -> str:
        _, _, first, last, _ = self.index[index]
        return describe_batch(index, first, last)


@dataclass(kw_only=True)
class LoadSummary(DeliveryReport):
    """What a load did: the check pass's counts plus the delivery's (:class:`DeliveryReport`).

    Every field is small and safe for XCom and logs: counts, times and the rejects summary,
    never a row.
    """

    source: str
    rows_read: int = 0
    rows_rejected: int = 0
    rows_excluded: int = 0
    batches: int = 0
    retries: int = 0
    seconds: float = 0.0
    check_seconds: float = 0.0  # of ``seconds``: reading and checking, before the first request
    rows_per_second: float = 0.0
    dry_run: bool = False
    rejects: dict[str, Any] = field(default_factory=dict)
    dropped_fields: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_records(
    source: RecordSource,
    normalize: Normalizer,
    rejects: RejectsReport,
    options: LoadOptions,
    *,
    exclude: Callable[[dict], bool] | None = None,
) -> CheckedInput:
    """Read every record once: normalise, reject, cut into batches, encode each batch once, spool.

    :param exclude: drops an accepted row on purpose (e.g. a customer already erased);
        counted, not rejected.
    :raises RowTooLargeError: a single row does not fit in a request (nothing was sent).
    """
    spool = tempfile.TemporaryFile(prefix="monetate-load-")  # noqa: SIM115 - handed to the caller
    checked = CheckedInput(spool=spool)
    try:
        digest = hashlib.sha256()
        accepted = _accepted_rows(source.iter(hash_into=digest), normalize, rejects, checked, exclude)
        offset = 0
        for batch in iter_batches(accepted, max_rows=options.max_rows, max_bytes=options.max_bytes):
            spool.write(batch.payload)
            checked.index.append((offset, len(batch.payload), batch.first_row, batch.last_row, batch.rows_count))
            offset += len(batch.payload)
        checked.fingerprint = digest.hexdigest()
        return checked
    except BaseException:
        spool.close()
        raise


def _accepted_rows(records, normalize, rejects, checked, exclude) -> Iterator[tuple[int, dict]]:
    for number, record in records:
        checked.rows_read += 1
        row, rejections = normalize(number, record)
        if row is None:
            for rejection in rejections:
                rejects.add(rejection)
            continue
        if exclude is not None and exclude(row):
            checked.rows_excluded += 1
            continue
        checked.rows_accepted += 1
        yield number, row


@dataclass
class LoadPart:
    """One stream of records of a load, with its own batches, checkpoint and rejects report.

    :param name: names the part in messages, checkpoints and reports (``""`` for a load of one part).
    :param source: the records.
    :param normalize: checks and converts one record: ``(row_number, record) -> (row | None, rejections)``.
    :param send: posts one batch; raises on failure.
    :param resend_safe: a repeated batch cannot duplicate rows (the destination upserts).
    :param exclude: drops an accepted row on purpose (counted, not rejected).
    """

    name: str
    source: RecordSource
    normalize: Normalizer
    send: Callable[[Batch], object]
    resend_safe: bool
    exclude: Callable[[dict], bool] | None = None


def load_parts(
    parts: Sequence[LoadPart],
    *,
    options: LoadOptions,
    rejects: Callable[[str], RejectsReport],
    begin_progress: Callable[[str, str], Progress | None] = lambda name, fingerprint: None,
    before_delivery: Callable[[], None] = lambda: None,
    retries: Callable[[], int] = lambda: 0,
    what: str = "load",
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, LoadSummary]:
    """Check every part, refuse to send when any has too many bad rows, then deliver each in order.

    Checkpoints are finished (deleted) only once every part is delivered, so a retry after a
    later part failed does not resend the parts already delivered.

    :param rejects: opens the rejects report of a part, by name.
    :param begin_progress: opens the checkpoint of a part for an input fingerprint (``None``: no resume).
    :param before_delivery: called once everything is checked, before the rejected rows are counted
        against ``max_rejected_rows`` and before anything is sent; raises to stop.
    :param retries: reads the HTTP retry count, for the summaries.
    :param what: names the load in log lines.
    :param clock: seconds for the summaries' timings (injectable for tests).
    :raises TooManyRejectedRowsError: before anything is sent.
    :raises BatchesInDoubtError: a previous try left batches whose resend could duplicate rows.
    """
    summaries: dict[str, LoadSummary] = {}
    with contextlib.ExitStack() as spools:
        checked = {}
        for part in parts:
            label = f"{what} {part.name}".strip()
            checked[part.name], summaries[part.name] = _check_part(part, options, rejects(part.name), label, clock)
            spools.enter_context(checked[part.name].spool)
        before_delivery()  # a caller's veto explains its own rejections better than the count does
        _refuse_rejected(summaries, options, what)
        finished = []
        for part in parts:
            summary = summaries[part.name]
            started, retried = clock(), retries()
            if options.dry_run:
                summary.batches = len(checked[part.name].index)
            else:
                progress = begin_progress(part.name, checked[part.name].fingerprint)
                _deliver(checked[part.name], summary, part, options, progress, f"{what} {part.name}".strip())
                finished.append(progress)
            summary.retries = retries() - retried
            summary.seconds = round(summary.seconds + clock() - started, 3)
            summary.rows_per_second = round(summary.rows_sent / summary.seconds, 1) if summary.seconds else 0.0
    for progress in finished:
        if progress is not None:
            progress.finish()
    return summaries


def _check_part(part: LoadPart, options: LoadOptions, rejects: RejectsReport, what: str,
                clock: Callable[[], float]) -> tuple[CheckedInput, LoadSummary]:
    started = clock()
    summary = LoadSummary(source=part.source.describe(), dry_run=options.dry_run)
    with rejects:
        checked = check_records(part.source, part.normalize, rejects, options, exclude=part.exclude)
    summary.rows_read = checked.rows_read
    summary.rows_excluded = checked.rows_excluded
    summary.rows_rejected = checked.rows_read - checked.rows_accepted - checked.rows_excluded
    summary.rejects = rejects.summary()
    summary.seconds = clock() - started
    summary.check_seconds = round(summary.seconds, 3)
    log.info("%s: checked %d rows in %.1fs: %d accepted in %d batches, %d rejected, %d excluded", what,
             checked.rows_read, summary.seconds, checked.rows_accepted, len(checked.index),
             summary.rows_rejected, summary.rows_excluded)
    return checked, summary


def _refuse_rejected(summaries: dict[str, LoadSummary], options: LoadOptions, what: str) -> None:
    over = {name: s for name, s in summaries.items() if s.rows_rejected > options.max_rejected_rows}
    if over:
        details = " ".join(_rejected_detail(name, summary) for name, summary in over.items())
        scope = "every part is checked before any is sent; " if len(summaries) > 1 else ""
        raise TooManyRejectedRowsError(
            f"Nothing was sent to {what} ({scope}max_rejected_rows={options.max_rejected_rows}). {details}"
        )
    for name, summary in summaries.items():
        if summary.rows_rejected:
            log.warning("%s: %d row(s) rejected (at most %d allowed); the rest are sent. Report: %s",
                        f"{what} {name}".strip(), summary.rows_rejected, options.max_rejected_rows,
                        summary.rejects["path"])


def _deliver(checked: CheckedInput, summary: LoadSummary, part: LoadPart, options: LoadOptions,
             progress: Progress | None, what: str) -> None:
    if progress is not None and progress.plan.reason:
        log.warning("%s: %s", what, progress.plan.reason)
    check_in_doubt(progress, resend_safe=part.resend_safe, resend_in_doubt=options.resend_in_doubt,
                   describe=checked.describe)
    deliver(checked.batches(), part.send, max_in_flight=options.max_in_flight, progress=progress,
            progress_log=ProgressLog(what, checked.rows_accepted), report=summary)
    summary.batches = summary.batches_sent + summary.batches_skipped


def _rejected_detail(name: str, summary: LoadSummary) -> str:
    examples = "; ".join(
        f"row {e['row']}" + (f" field {e['field']!r}" if e["field"] else "") + f": {e['reason']}"
        for e in summary.rejects["examples"][:5]
    )
    where = f" Full report: {summary.rejects['path']}." if summary.rejects.get("path") else ""
    return (f"{name + ': ' if name else ''}{summary.rows_rejected} of {summary.rows_read} rows in "
            f"{summary.source} were rejected. First: {examples}.{where}")
