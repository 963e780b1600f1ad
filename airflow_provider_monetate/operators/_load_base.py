"""The Airflow side shared by every operator that posts records.

Resolves the input (records from Python or XCom, or a file: local path or object storage
URI), where the rejects report and the checkpoint live, and hands the run summary to XCom,
to the task's outlet assets and to OpenLineage (:class:`OpenLineageMixin`).
:class:`IncrementalSyncMixin` adds ``sync="incremental"``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_monetate._compat import BaseOperator, configured_executors
from airflow_provider_monetate._data_fields import DataFieldsMixin
from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.lineage import LineageDataset, TaskLineage, source_dataset
from airflow_provider_monetate.loading._checkpoints import CheckpointStore, checkpoint_key
from airflow_provider_monetate.loading._delivery import IN_DOUBT_POLICIES
from airflow_provider_monetate.loading._duplicates import DUPLICATE_KEY_POLICIES
from airflow_provider_monetate.loading._incremental import SyncTarget, sync_fingerprint
from airflow_provider_monetate.loading._pipeline import LoadOptions, LoadPart, load_parts
from airflow_provider_monetate.loading._rejects import RejectsReport
from airflow_provider_monetate.loading._snapshots import SnapshotStore, snapshot_name
from airflow_provider_monetate.loading._sources import RecordSource
from airflow_provider_monetate.operators._lineage import OpenLineageMixin
from airflow_provider_monetate.storage import (
    as_location,
    default_checkpoint_dir,
    default_rejects_dir,
    snapshot_dir,
    warn_if_worker_local,
)

SYNC_MODES = ("full", "incremental")


class RecordLoadOperator(OpenLineageMixin, DataFieldsMixin, BaseOperator):
    """Base of the operators that check records, then post them in batches, retry-safely.

    :param records: the records: an iterable of dicts, or an XCom of one. Never rendered as Jinja
        (a row may hold ``{{``); Airflow's Rendered Template view shows only their count.
    :param source: or a file: a local path or an object storage URI / ``ObjectStoragePath``;
        NDJSON (``.ndjson``, ``.jsonl``), CSV or a JSON array, optionally gzip-compressed.
    :param format: ``ndjson``, ``csv`` or ``json`` when the file name does not say.
    :param batch_size: rows per request.
    :param max_batch_bytes: bytes per request body.
    :param max_in_flight: requests in flight at once.
    :param max_rejected_rows: rejected rows tolerated; with more, nothing is sent.
    :param rejects_path: where the rejects report (JSON Lines) goes; default
        ``$AIRFLOW_HOME/monetate/rejects/<task instance>.jsonl``.
    :param checkpoint_dir: where progress is kept for retries; default
        ``$AIRFLOW_HOME/monetate/checkpoints``. With several workers, use storage they share
        (e.g. an ``s3://`` URI) so a retry on another worker can resume.
    :param in_doubt: batches a failed try sent without an acknowledgement, to a destination that
        cannot upsert them (they may or may not have arrived): ``"fail"`` (default: the task fails
        naming them, already on the try that left them), ``"resend"`` (send them again; may
        duplicate rows) or ``"skip"`` (you checked they arrived: count them as delivered, send the rest).
    :param resend_in_doubt: the older spelling of ``in_doubt="resend"``.
    :param dry_run: read, check and report everything; send nothing.
    :param on_duplicate_key: rows of one input that share the destination's unique key (a
        Monetate dataset's ``unique_key``, a CDP entity's ``Source{Entity}Number``):
        ``"keep_last"`` (default) sends only the last of them by input order and counts the
        others as ``rows_duplicate`` (listed in the rejects report); ``"fail"`` sends nothing.
    :param allow_empty: an input without rows succeeds, with ``input_empty`` in the summary and
        a warning (default); ``False`` fails the task before anything is sent.
    """

    template_fields: Sequence[str] = ("records", "source", "rejects_path", "checkpoint_dir")
    data_fields = ("records",)  # an XCom or a list of rows: resolved, never rendered, shown as a count

    def __init__(
        self,
        *,
        records: Any = None,
        source: Any = None,
        format: str | None = None,
        batch_size: int = 500,
        max_batch_bytes: int = 5_000_000,
        max_in_flight: int = 4,
        max_rejected_rows: int = 0,
        rejects_path: Any = None,
        checkpoint_dir: Any = None,
        in_doubt: str | None = None,
        resend_in_doubt: bool = False,
        dry_run: bool = False,
        on_duplicate_key: str = "keep_last",
        allow_empty: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if on_duplicate_key not in DUPLICATE_KEY_POLICIES:
            raise ConfigurationError(f"{self.task_id}: on_duplicate_key must be one of "
                                     f"{', '.join(DUPLICATE_KEY_POLICIES)}, got {on_duplicate_key!r}")
        self.on_duplicate_key = on_duplicate_key
        self.allow_empty = allow_empty
        self.records = records
        self.source = source
        self.format = format
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes
        self.max_in_flight = max_in_flight
        self.max_rejected_rows = max_rejected_rows
        self.rejects_path = rejects_path
        self.checkpoint_dir = checkpoint_dir
        self.in_doubt = in_doubt or ("resend" if resend_in_doubt else "fail")
        if self.in_doubt not in IN_DOUBT_POLICIES:
            raise ConfigurationError(
                f"{self.task_id}: in_doubt must be one of {', '.join(IN_DOUBT_POLICIES)}, got {self.in_doubt!r}"
            )
        self.dry_run = dry_run

    def record_source(self) -> RecordSource:
        """The input, from exactly one of ``records`` and ``source``."""
        records = self.data_value("records")
        if (records is None) == (self.source is None):
            raise ConfigurationError(f"{self.task_id}: pass exactly one of records= and source=.")
        if records is not None:
            return RecordSource(records)
        return RecordSource(as_location(self.source), self.format)

    def load_options(self) -> LoadOptions:
        return LoadOptions(
            max_rows=self.batch_size, max_bytes=self.max_batch_bytes, max_in_flight=self.max_in_flight,
            max_rejected_rows=self.max_rejected_rows, in_doubt=self.in_doubt, dry_run=self.dry_run,
            on_duplicate_key=self.on_duplicate_key, allow_empty=self.allow_empty,
        )

    def run_parts(
        self,
        context: Any,
        parts: Sequence[LoadPart],
        *,
        retries: Callable[[], int] = lambda: 0,
        before_delivery: Callable[[], None] = lambda: None,
        what: str,
        destination: Callable[[str], LineageDataset],
    ) -> dict[str, dict[str, Any]]:
        """Check every part, then deliver each (see :func:`load_parts`); return ``{name: summary}``.

        Each named part gets its own checkpoint and rejects report (``<task>.<name>``).

        :param destination: a part's name -> the dataset it writes to, for lineage.
        """
        ti = context["ti"]
        key = checkpoint_key(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))
        checkpoints = as_location(self.checkpoint_dir) or default_checkpoint_dir()
        warn_if_worker_local(self.log, configured_executors(), checkpoint_dir=checkpoints)
        store = CheckpointStore(checkpoints)
        options = self.load_options()
        self.task_lineage = TaskLineage(
            inputs=[dataset for part in parts if (dataset := source_dataset(part.source.location))],
            outputs={part.name: destination(part.name) for part in parts},
        )
        summaries = load_parts(
            parts,
            options=options,
            rejects=lambda name: RejectsReport(self._rejects_target(key, name)),
            begin_progress=lambda name, fingerprint: store.begin(_part_key(key, name), fingerprint,
                                                                 options.batch_settings),
            before_delivery=before_delivery,
            retries=retries,
            what=what,
        )
        result = {}
        for name, summary in summaries.items():
            result[name] = summary.as_dict()
            self.log.info(
                "%s: %d rows read, %d sent, %d rejected, %d excluded, %d already sent by a previous try; "
                "%d batches, %d retries, %.1fs (%.0f rows/s)%s%s",
                f"{what} {name}".strip(), summary.rows_read, summary.rows_sent, summary.rows_rejected,
                summary.rows_excluded, summary.rows_already_sent, summary.batches, summary.retries,
                summary.seconds, summary.rows_per_second, _sync_note(summary),
                " (dry run, nothing sent)" if summary.dry_run else "",
            )
        self.task_lineage.summaries = result
        self._attach_to_outlets(context, result.values())
        return result

    def _rejects_target(self, key: str, name: str) -> Any:
        """``rejects_path`` (with ``.<part>`` before ``.jsonl`` for named parts), else in the default folder."""
        if self.rejects_path:
            path = str(self.rejects_path)
            return as_location(f"{path.removesuffix('.jsonl')}.{name}.jsonl" if name else path)
        return default_rejects_dir() / f"{_part_key(key, name)}.jsonl"

    def _attach_to_outlets(self, context: Any, summaries: Iterable[dict[str, Any]]) -> None:
        """Put the run counts (summed over parts) on each outlet asset's event, for asset-scheduled DAGs."""
        events = context.get("outlet_events")
        if not events or not self.outlets:
            return
        summaries = list(summaries)
        names = ["rows_read", "rows_sent", "rows_rejected", "rows_excluded"]
        if any(s.get("sync") == "incremental" for s in summaries):
            names += ["rows_new", "rows_changed", "rows_unchanged", "keys_removed"]
        counts: dict[str, Any] = {k: sum(s.get(k) or 0 for s in summaries) for k in names}
        counts["dry_run"] = self.dry_run
        for outlet in self.outlets:
            events[outlet].extra = {**events[outlet].extra, **counts}


class IncrementalSyncMixin:
    """``sync="incremental"`` for a load operator: send only the rows that changed since the last successful run.

    Each sync (connection and dataset or entity; and map index, for a mapped task) keeps a snapshot of
    a hash per key of the row as it was last sent, in ``<checkpoint_dir>/snapshots``. A run sends the
    rows that are new or changed, counts the unchanged ones, and reports the snapshot's keys missing
    from the input as removed (they are never deleted); the summary has ``rows_new``, ``rows_changed``,
    ``rows_unchanged``, ``keys_removed``. The new snapshot is written only once every batch is
    acknowledged, so a failed run is followed by one that sends again what it could not confirm.

    :param sync: ``"full"`` (default) sends every row; ``"incremental"`` sends new and changed rows,
        for destinations with a unique key only (a task without one fails before sending).
    :param full_resync: send every row once and rebuild the snapshot. A change to the destination,
        the dataset's fields or the normalisation settings does the same by itself.
    :param allow_shrink: send an input holding fewer than half the keys of the snapshot; by default
        such a run fails before sending (a broken upstream query is the usual cause).
    """

    def __init__(self, *, sync: str = "full", full_resync: bool = False, allow_shrink: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if sync not in SYNC_MODES:
            raise ConfigurationError(f"{self.task_id}: sync must be one of {', '.join(SYNC_MODES)}, got {sync!r}")
        self.sync, self.full_resync, self.allow_shrink = sync, full_resync, allow_shrink

    def load_options(self) -> LoadOptions:
        return dataclasses.replace(super().load_options(), allow_shrink=self.allow_shrink)

    def sync_target(self, context: Any, conn_id: str, target: str, *, keyed: bool, what: str,
                    **settings: Any) -> SyncTarget | None:
        """The sync of ``target`` when ``sync="incremental"`` (else ``None``).

        :param keyed: the destination upserts by a key; without one the task fails before sending.
        :param settings: what the rows' normalisation depends on (destination, fields, rule settings):
            a change makes the next run full.
        :raises ConfigurationError: ``sync="incremental"`` for a destination without a key.
        """
        if self.sync != "incremental":
            return None
        if not keyed:
            raise ConfigurationError(
                f"{self.task_id}: sync='incremental' needs a key to diff by, and {what} has none (a diff needs a "
                "key: a dataset's unique_key, a CDP entity's Source{Entity}Number; CDP events have none). Nothing "
                "was sent. Use sync='full' for it."
            )
        map_index = getattr(context["ti"], "map_index", -1)
        store = SnapshotStore(snapshot_dir(as_location(self.checkpoint_dir)))
        return SyncTarget(store, snapshot_name(conn_id, target, map_index), sync_fingerprint(settings), what,
                          self.full_resync)

    def entity_syncs(self, context: Any, destination: Any, rules: Mapping[str, Any]) -> dict[str, SyncTarget | None]:
        """Acquia CDP ingestion: each entity's sync, its settings read from its ``EntityRules`` and the task's
        ``timestamp_fields`` and ``collection_names``; the connection is ``acquia_cdp_conn_id``."""
        conn_id = getattr(self, "acquia_cdp_conn_id", "")
        task = {name: getattr(self, name, None) for name in ("timestamp_fields", "collection_names")}
        return {collection: self.sync_target(
            context, conn_id, collection, keyed=rule.resend_safe, what=f"Acquia CDP {collection}",
            destination=destination, collection=rule.collection, key_field=rule.key_field, unit=rule.unit,
            source_system_id=rule.source_system_id, guess_timestamps=rule.guess_timestamps, **task,
        ) for collection, rule in rules.items()}


def _sync_note(summary: Any) -> str:
    if summary.sync != "incremental":
        return ""
    return (f"; incremental: {summary.rows_new} new, {summary.rows_changed} changed, {summary.rows_unchanged} "
            f"unchanged, {summary.keys_removed} keys removed (not deleted)"
            + (f"; full run: {summary.full_sync_reason}" if summary.full_sync_reason else ""))


def _part_key(key: str, name: str) -> str:
    """The checkpoint / report name of a part: the task's, plus ``.<part>`` for named parts."""
    if not name:
        return key
    short = name if len(name) <= 32 else f"{name[:15]}_{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    return f"{key}.{short}"
