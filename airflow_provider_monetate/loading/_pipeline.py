"""Check every record first, then deliver: the pipeline behind every operator that posts records.

1. **Check**: read the source once; normalise each record, report rejections, encode the
   accepted rows once, cut them into batches and spool the batches to a temporary file.
   The input's fingerprint is computed on the way. Memory stays flat whatever the input
   size, and a source with more bad rows than allowed sends nothing, even a one-shot
   iterator.
2. **Deliver**: read the spooled batches back and send them (``_delivery.deliver``),
   skipping batches a previous try already delivered.
3. **Remember** (incremental syncs only, ``LoadPart.sync``): rows the sync's snapshot holds as they
   are were counted and never spooled in step 1; once every batch of every part is acknowledged,
   each part's next snapshot is written (``_incremental``).

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

from airflow_provider_monetate.exceptions import ConfigurationError, TooManyRejectedRowsError  # noqa: F401 - imported from here by callers
from airflow_provider_monetate.loading._batches import Batch, describe_batch, iter_batches
from airflow_provider_monetate.loading._checkpoints import Progress
from airflow_provider_monetate.loading._delivery import (
    IN_DOUBT_POLICIES,
    DeliveryReport,
    ProgressLog,
    check_in_doubt,
    deliver,
    in_doubt_error,
)
from airflow_provider_monetate.loading._duplicates import DUPLICATE_KEY_POLICIES, KeyIndex, leave_out_duplicates
from airflow_provider_monetate.loading._incremental import SyncDiff, SyncTarget
from airflow_provider_monetate.loading._refusals import refuse_bad_input as _refuse_rejected
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
    :param in_doubt: what to do with batches a previous try sent without an acknowledgement to a
        destination that cannot upsert them: ``fail`` (name them and stop), ``resend`` (send them
        again, which may duplicate rows) or ``skip`` (you checked they arrived: count them as
        delivered). Upserting destinations always resend them.
    :param dry_run: read, check and report; send nothing.
    :param on_duplicate_key: rows of a keyed part (``LoadPart.key``) that share a key:
        ``keep_last`` sends only the last of them by input order (the others are counted as
        ``rows_duplicate`` and reported), ``fail`` refuses the input before anything is sent.
    :param allow_empty: an input without rows succeeds (saying so in the summary and a
        warning); ``False`` refuses it before anything is sent.
    :param allow_shrink: an incremental sync whose input holds fewer than half the keys of its
        snapshot is sent; by default it is refused before anything is sent.
    """

    max_rows: int = 500
    max_bytes: int = 5_000_000
    max_in_flight: int = 4
    max_rejected_rows: int = 0
    in_doubt: str = "fail"
    dry_run: bool = False
    on_duplicate_key: str = "keep_last"
    allow_empty: bool = True
    allow_shrink: bool = False

    def __post_init__(self) -> None:
        if self.on_duplicate_key not in DUPLICATE_KEY_POLICIES:
            raise ConfigurationError(f"on_duplicate_key must be one of {', '.join(DUPLICATE_KEY_POLICIES)}, "
                                     f"got {self.on_duplicate_key!r}")
        if self.in_doubt not in IN_DOUBT_POLICIES:
            raise ConfigurationError(f"in_doubt must be one of {', '.join(IN_DOUBT_POLICIES)}, got {self.in_doubt!r}")

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
    rows_duplicate: int = 0  # left out (or, with on_duplicate_key="fail", refused): a later row has their key
    rows_unchanged: int = 0  # incremental sync: as the last sync sent them, not spooled
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
    rows_duplicate: int = 0  # not sent: a later row of the input has the same unique key
    input_empty: bool = False  # the input held no rows
    batches: int = 0
    retries: int = 0
    seconds: float = 0.0
    check_seconds: float = 0.0  # of ``seconds``: reading and checking, before the first request
    rows_per_second: float = 0.0
    dry_run: bool = False
    rejects: dict[str, Any] = field(default_factory=dict)
    dropped_fields: dict[str, int] = field(default_factory=dict)
    values_trimmed: dict[str, int] = field(default_factory=dict)  # per field: spaces trimmed from its values
    # An incremental sync's counts (``SyncDiff.counts``), left out of the dict of a full load: keys of the
    # input new to the snapshot, changed, unchanged (not sent); keys of the snapshot not in the input
    # (only reported); why the run sent every row; the snapshot, its generation (read, then written) and size.
    sync: str = "full"
    rows_new: int | None = None
    rows_changed: int | None = None
    rows_unchanged: int | None = None
    keys_removed: int | None = None
    full_sync_reason: str | None = None
    snapshot: str | None = None
    snapshot_generation: int | None = None
    snapshot_keys: int | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.sync == "incremental":
            return dict(self.__dict__)
        return {name: value for name, value in self.__dict__.items() if name not in _SYNC_FIELDS}


_SYNC_FIELDS = ("rows_new", "rows_changed", "rows_unchanged", "keys_removed", "full_sync_reason", "snapshot",
                "snapshot_generation", "snapshot_keys")


def check_records(
    source: RecordSource,
    normalize: Normalizer,
    rejects: RejectsReport,
    options: LoadOptions,
    *,
    exclude: Callable[[dict], bool] | None = None,
    key: str | Callable[[dict], Any] | None = None,
    sync: SyncDiff | None = None,
) -> CheckedInput:
    """Read every record once: normalise, reject, cut into batches, encode each batch once, spool.

    A row that can never be sent (it cannot be encoded as JSON, or is larger than a request on
    its own) is rejected like any other bad row. With ``key``, the rows whose key a later row
    repeats are found once every row is spooled (``_duplicates`` says how and why): reported,
    counted, and with ``on_duplicate_key="keep_last"`` left out of the spooled batches.

    :param exclude: drops an accepted row on purpose (e.g. a customer already erased);
        counted, not rejected.
    :param key: the rows' unique key: a field name, or a function ``row -> key``.
    :param sync: an incremental sync (needs ``key``): the rows its snapshot holds are counted, not spooled.
    """
    spool = tempfile.TemporaryFile(prefix="monetate-load-")  # noqa: SIM115 - handed to the caller
    checked = CheckedInput(spool=spool)
    keys = None if key is None else KeyIndex(key)
    try:
        digest = hashlib.sha256()
        records = source.iter(hash_into=digest, max_cell_chars=options.max_bytes)
        accepted = _accepted_rows(records, normalize, rejects, checked, exclude)
        if sync is not None:
            accepted = sync.unchanged_rows(accepted, checked)
        offset = 0
        for batch in iter_batches(accepted, max_rows=options.max_rows, max_bytes=options.max_bytes,
                                  reject=lambda found: _unsendable(found, rejects, checked),
                                  on_batch=_on_batch(keys, sync)):
            spool.write(batch.payload)
            checked.index.append((offset, len(batch.payload), batch.first_row, batch.last_row, batch.rows_count))
            offset += len(batch.payload)
        if key is not None:
            # Dropping duplicates changes the batches: a checkpoint from a try with another key
            # (or none) must not be resumed, so the key is part of what the checkpoint trusts.
            digest.update(f"|unique key: {getattr(key, '__qualname__', key)}|{options.on_duplicate_key}".encode())
        if sync is not None:  # the batches hold what the snapshot lacks: a checkpoint is for one snapshot
            digest.update(sync.checkpoint_tag.encode())
        checked.fingerprint = digest.hexdigest()
        if keys is not None:
            leave_out_duplicates(checked, keys, rejects, options.on_duplicate_key,
                                 more=None if sync is None else sync.resolve)
        if sync is not None:
            checked.rows_unchanged = sync.unchanged
        return checked
    except BaseException:
        spool.close()
        raise
    finally:
        if keys is not None:
            keys.close()


def _on_batch(keys: KeyIndex | None, sync: SyncDiff | None) -> Callable[[list], None] | None:
    """What notes each spooled batch's rows: the key index, and an incremental sync's staging."""
    if keys is None or sync is None:
        return None if keys is None else keys.add
    return lambda pairs: (keys.add(pairs), sync.spooled(pairs))


def _unsendable(rejections: list[Rejection], rejects: RejectsReport, checked: CheckedInput) -> None:
    """A row accepted by its checks that can never be sent: rejected after all."""
    for rejection in rejections:
        rejects.add(rejection)
    checked.rows_accepted -= 1


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
    :param key: the destination's unique key (a field name, or a function ``row -> key``): of the
        rows sharing a key, only the last by input order is sent (see ``LoadOptions.on_duplicate_key``).
    :param sync: send only the rows that changed since the last successful run (needs ``key`` and
        ``resend_safe``); its next snapshot is written once every batch of the load is acknowledged.
    """

    name: str
    source: RecordSource
    normalize: Normalizer
    send: Callable[[Batch], object]
    resend_safe: bool
    exclude: Callable[[dict], bool] | None = None
    key: str | Callable[[dict], Any] | None = None
    sync: SyncTarget | None = None


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
        checked, diffs = {}, {}
        for part in parts:
            label = f"{what} {part.name}".strip()
            diffs[part.name] = _begin_sync(part, spools, label)
            checked[part.name], summaries[part.name] = _check_part(part, options, rejects(part.name), label, clock,
                                                                   diffs[part.name])
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
        for name, diff in diffs.items():  # every batch of every part is acknowledged
            if diff is not None and not options.dry_run:
                summaries[name].snapshot_generation = diff.commit()
    for progress in finished:
        if progress is not None:
            progress.finish()
    return summaries


def _begin_sync(part: LoadPart, spools: contextlib.ExitStack, what: str) -> SyncDiff | None:
    """Open the part's incremental sync for the load (``None`` when the part has none)."""
    if part.sync is None:
        return None
    if part.key is None or not part.resend_safe:
        raise ConfigurationError(f"{what}: an incremental sync needs a unique key the destination upserts by "
                                 "(a diff needs a key); nothing was sent. Use a full load for this destination.")
    return spools.enter_context(part.sync.begin(part.key))


def _check_part(part: LoadPart, options: LoadOptions, rejects: RejectsReport, what: str,
                clock: Callable[[], float], sync: SyncDiff | None = None) -> tuple[CheckedInput, LoadSummary]:
    started = clock()
    summary = LoadSummary(source=part.source.describe(), dry_run=options.dry_run)
    with rejects:
        checked = check_records(part.source, part.normalize, rejects, options, exclude=part.exclude, key=part.key,
                                sync=sync)
    summary.rows_read = checked.rows_read
    summary.rows_excluded = checked.rows_excluded
    summary.rows_duplicate = checked.rows_duplicate
    summary.rows_rejected = (checked.rows_read - checked.rows_accepted - checked.rows_excluded
                             - checked.rows_duplicate - checked.rows_unchanged)
    if sync is not None:
        for name, value in sync.counts().items():
            setattr(summary, name, value)
    summary.input_empty = checked.rows_read == 0
    summary.rejects = rejects.summary()
    summary.seconds = clock() - started
    summary.check_seconds = round(summary.seconds, 3)
    log.info("%s: checked %d rows in %.1fs: %d accepted in %d batches, %d rejected, %d excluded, %d duplicate",
             what, checked.rows_read, summary.seconds, checked.rows_accepted, len(checked.index),
             summary.rows_rejected, summary.rows_excluded, summary.rows_duplicate)
    return checked, summary


def _deliver(checked: CheckedInput, summary: LoadSummary, part: LoadPart, options: LoadOptions,
             progress: Progress | None, what: str) -> None:
    if progress is not None and progress.plan.reason:
        log.warning("%s: %s", what, progress.plan.reason)
    skip = check_in_doubt(progress, resend_safe=part.resend_safe, policy=options.in_doubt,
                          describe=checked.describe)
    try:
        deliver(checked.batches(), part.send, max_in_flight=options.max_in_flight, progress=progress,
                progress_log=ProgressLog(what, checked.rows_accepted), report=summary, skip_in_doubt=skip)
    except Exception as error:
        # Name the batches this failure left in doubt now: a task with retries=0 never sees a retry's message.
        in_doubt = progress.in_doubt() if progress is not None and not part.resend_safe else set()
        if in_doubt:
            raise in_doubt_error(in_doubt, checked.describe, f"{what} failed ({error}).") from error
        raise
    summary.batches = summary.batches_sent + summary.batches_skipped + summary.batches_in_doubt_skipped
