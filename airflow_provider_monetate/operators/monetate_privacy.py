"""MonetateSubmitDeletionsOperator: erase customers through Monetate's Consumer Data Privacy API."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.hooks.monetate import MonetateHook
from airflow_provider_monetate.loading._batches import encode_row
from airflow_provider_monetate.loading._checkpoints import checkpoint_key
from airflow_provider_monetate.loading._pipeline import Normalizer
from airflow_provider_monetate.loading._rejects import Rejection
from airflow_provider_monetate.loading._sources import RecordSource
from airflow_provider_monetate.monetate._datasets import PRIVACY_TYPE
from airflow_provider_monetate.monetate._rows import RowRules, to_utc_iso
from airflow_provider_monetate.monetate.privacy._ledger import (
    MONETATE,
    SUBMITTED,
    DeletionLedger,
    LedgerEntry,
    utc_now_iso,
)
from airflow_provider_monetate.monetate.privacy._watch import read_submitted_ids
from airflow_provider_monetate.operators._load_base import RecordLoadOperator
from airflow_provider_monetate.storage import Folder, as_location, default_deletion_work_dir, default_ledger

__all__ = ["MonetateSubmitDeletionsOperator"]


class MonetateSubmitDeletionsOperator(RecordLoadOperator):
    """Ask Monetate to erase customers: post their IDs to a ``customer_data_privacy`` dataset.

    The IDs come from a list (of strings, or of records with a ``customer_id``), an XCom, or
    a file (NDJSON, CSV or JSON array of objects; local or object storage), read, batched and
    delivered by the same machinery as every load (see :class:`RecordLoadOperator` for the
    batching and retry parameters). IDs are trimmed; duplicates are sent once (counted as
    ``duplicates``); empty ones are rejected, and with more than ``max_rejected_rows`` of
    them nothing is sent. Only ``customer_id`` and ``delete_request_time`` are posted; other
    input columns are never sent.

    A retried task skips the batches the previous try delivered and resends the ones it
    sent without an acknowledgement: the privacy dataset has no unique key, but asking twice
    to delete the same customer deletes nothing more, whereas a dropped request would leave
    a customer undeleted.

    The submitted rows are written to an IDs file in ``work_dir`` (never to XCom), and one
    ``submitted`` record per customer to the proof-of-deletion ledger. Monetate erases them
    in its nightly batches; wait for that with
    :class:`~airflow_provider_monetate.sensors.monetate.MonetateDeletionSensor` (``receipt=`` this
    task's output).

    :param privacy_dataset: the ``customer_data_privacy`` dataset name.
    :param customer_ids: the IDs: a list of strings, or of records with an ``id_field``; or
    :param source: a file of records with an ``id_field`` column.
    :param id_field: the input field holding the customer ID.
    :param delete_request_time: when the people asked to be erased: a datetime, an ISO date or
        ISO datetime (naive means UTC). Default: now. A record's own ``delete_request_time``
        field, when present, wins. A time in the future is refused.
    :param create_dataset_if_missing: create the privacy dataset when it does not exist.
    :param ledger: the proof-of-deletion ledger directory (local path or object storage URI);
        default ``$AIRFLOW_HOME/monetate/deletion_ledger``.
    :param hash_ids: write SHA-256 hashes of the IDs to the ledger instead of the IDs.
    :param work_dir: where the IDs file goes; default ``$AIRFLOW_HOME/monetate/deletions``.
        With several workers, use storage the sensor can read too.
    :param monetate_conn_id: the Monetate connection.
    :return: the receipt: ``dataset``, ``count``, ``submitted_at``, ``delete_request_time``,
        ``ids_path``, ``work_dir``, ``ledger``, ``hash_ids`` and the run counts.
    """

    template_fields: Sequence[str] = (
        *RecordLoadOperator.template_fields,
        "customer_ids", "privacy_dataset", "delete_request_time", "ledger", "work_dir", "monetate_conn_id",
    )

    def __init__(
        self,
        *,
        privacy_dataset: str,
        customer_ids: Any = None,
        source: Any = None,
        id_field: str = "customer_id",
        delete_request_time: Any = None,
        create_dataset_if_missing: bool = False,
        ledger: Any = None,
        hash_ids: bool = False,
        work_dir: Any = None,
        monetate_conn_id: str = MonetateHook.default_conn_name,
        **kwargs,
    ) -> None:
        super().__init__(source=source, **kwargs)
        self.privacy_dataset = privacy_dataset
        self.customer_ids = customer_ids
        self.id_field = id_field
        self.delete_request_time = delete_request_time
        self.create_dataset_if_missing = create_dataset_if_missing
        self.ledger = ledger
        self.hash_ids = hash_ids
        self.work_dir = work_dir
        self.monetate_conn_id = monetate_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        now = utc_now_iso()
        requested = self._request_time(now)
        source = self._id_source()
        hook = MonetateHook(self.monetate_conn_id, pool_size=self.max_in_flight)
        self._ensure_dataset(hook)

        ti = context["ti"]
        work_dir = Folder(as_location(self.work_dir) or default_deletion_work_dir())
        ids_name = f"{checkpoint_key(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, 'map_index', -1))}.ids.ndjson"
        seen: set[str] = set()

        def send(batch) -> None:
            hook.post_rows(self.privacy_dataset, body=batch.body("schema_rows"), retry_ambiguous=True)

        # The IDs file is published only when the whole run succeeds (Folder.create), so a
        # receipt never points at a partial list.
        with work_dir.create(ids_name) as ids_file:
            summary = self.run_load(
                context, normalize=self._normalizer(requested, now), send=send, resend_safe=True,
                exclude=_keep_first_sighting(seen, ids_file), retries=lambda: hook.api.retries,
                what=f"Monetate deletions ({self.privacy_dataset})", source=source,
            )
        submitted_at = utc_now_iso()
        ids_path = work_dir.path(ids_name)
        ledger = DeletionLedger(as_location(self.ledger) or default_ledger(), hash_ids=self.hash_ids)
        if not self.dry_run:
            ledger.append(
                LedgerEntry(cid, MONETATE, SUBMITTED, asked, submitted_at, None, self.privacy_dataset, ti.dag_id,
                            ti.run_id)
                for cid, asked in read_submitted_ids(ids_path).items()
            )
        self.log.info(
            "%s %d customer ID(s) for deletion to %r (%d duplicate(s) sent once, %d rejected); IDs in %s, ledger %s",
            "Dry run, would submit" if self.dry_run else "Submitted", len(seen), self.privacy_dataset,
            summary["rows_excluded"], summary["rows_rejected"], ids_path, ledger.location,
        )
        return {
            "dataset": self.privacy_dataset, "count": len(seen), "submitted_at": submitted_at,
            "delete_request_time": requested, "ids_path": str(ids_path), "work_dir": work_dir.location,
            "ledger": ledger.location, "hash_ids": self.hash_ids,
            **{key: summary[key] for key in ("rows_read", "rows_sent", "rows_already_sent", "rows_rejected")},
            "duplicates": summary["rows_excluded"], "rejects_path": summary["rejects"]["path"], "dry_run": self.dry_run,
        }

    def _normalizer(self, requested: str, now: str) -> Normalizer:
        """Checks one input record: its ID, and its ``delete_request_time`` (default ``requested``,
        never after ``now``)."""
        rules = RowRules.from_schema({"type": PRIVACY_TYPE})

        def normalize(number: int, record: dict) -> tuple[dict | None, list[Rejection]]:
            customer_id = record.get(self.id_field)
            if customer_id is None or (isinstance(customer_id, str) and not customer_id.strip()):
                return None, [Rejection(number, self.id_field, "missing or empty customer ID")]
            when = record.get("delete_request_time") or requested
            row, rejections = rules.normalize(number, {"customer_id": customer_id, "delete_request_time": when})
            if row is not None and row["delete_request_time"] > now:
                reason = "in the future; it is when the person asked, so it must be past"
                return None, [Rejection(number, "delete_request_time", reason)]
            return row, rejections

        return normalize

    def _request_time(self, now: str) -> str:
        """The default ``delete_request_time`` as UTC ISO-8601; refuses the future before sending."""
        if self.delete_request_time in (None, ""):
            return now
        try:
            requested = to_utc_iso(self.delete_request_time)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{self.task_id}: delete_request_time: {exc}. Nothing was sent.") from None
        if requested > now:
            raise ConfigurationError(
                f"{self.task_id}: delete_request_time {requested} is in the future (now {now}); it is when the "
                "people asked to be erased. Nothing was sent."
            )
        return requested

    def _id_source(self) -> RecordSource:
        if (self.customer_ids is None) == (self.source is None):
            raise ConfigurationError(f"{self.task_id}: pass exactly one of customer_ids= and source=.")
        if self.source is not None:
            return self.record_source()
        ids = self.customer_ids
        if isinstance(ids, (str, bytes, Mapping)):
            raise ConfigurationError(
                f"{self.task_id}: customer_ids must be a list (of IDs, or of records with {self.id_field!r}), not "
                f"a {type(ids).__name__}. To pass an XCom, use the task's .output (or render_template_as_native_obj)."
            )
        return RecordSource([item if isinstance(item, Mapping) else {self.id_field: item} for item in ids])

    def _ensure_dataset(self, hook: MonetateHook) -> None:
        """Fail before sending unless the dataset exists and is a privacy dataset (or create it)."""
        schema = hook.find_schema(self.privacy_dataset)
        if schema is None:
            if not self.create_dataset_if_missing:
                raise ConfigurationError(
                    f"Privacy dataset {self.privacy_dataset!r} does not exist; nothing was sent. Create it (type "
                    f"{PRIVACY_TYPE}) or pass create_dataset_if_missing=True."
                )
            self.log.info("Creating the %s dataset %r", PRIVACY_TYPE, self.privacy_dataset)
            hook.create_schema({"name": self.privacy_dataset, "type": PRIVACY_TYPE, "fields": {}})
        elif schema.get("type") and schema["type"] != PRIVACY_TYPE:
            raise ConfigurationError(
                f"Dataset {self.privacy_dataset!r} is of type {schema['type']!r}, not {PRIVACY_TYPE}: posting IDs "
                "there would erase nobody. Nothing was sent."
            )


def _keep_first_sighting(seen: set[str], ids_file: Any) -> Callable[[dict], bool]:
    """``exclude`` for the load: True for an ID already seen; a first sighting goes to the IDs file."""

    def duplicate(row: dict) -> bool:
        if row["customer_id"] in seen:
            return True
        seen.add(row["customer_id"])
        ids_file.write(encode_row(row) + b"\n")
        return False

    return duplicate
