"""MonetateSubmitDeletionsOperator: erase customers through Monetate's Consumer Data Privacy API."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_provider_monetate._compat import configured_executors
from airflow_provider_monetate._data_fields import describe_customer_ids
from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.hooks.monetate import MonetateHook
from airflow_provider_monetate.loading._batches import Batch, encode_row
from airflow_provider_monetate.loading._checkpoints import checkpoint_key
from airflow_provider_monetate.loading._pipeline import LoadPart, Normalizer
from airflow_provider_monetate.loading._rejects import Rejection
from airflow_provider_monetate.loading._sources import RecordSource
from airflow_provider_monetate.monetate._datasets import PRIVACY_TYPE
from airflow_provider_monetate.monetate._rows import RowRules, to_utc_iso
from airflow_provider_monetate.monetate.privacy._ledger import (
    MONETATE,
    NOT_HELD,
    SUBMITTED,
    DeletionLedger,
    LedgerEntry,
    utc_now_iso,
)
from airflow_provider_monetate.monetate.privacy._submission import (
    BodyShapeChooser,
    Precheck,
    customer_id_text,
    shapes_to_try,
)
from airflow_provider_monetate.operators._erasure_request import ERASURE_REQUEST_FIELDS, ErasureRequestMixin
from airflow_provider_monetate.operators._load_base import RecordLoadOperator
from airflow_provider_monetate.storage import (
    Folder,
    as_location,
    default_deletion_work_dir,
    default_ledger,
    warn_if_worker_local,
)

__all__ = ["MonetateSubmitDeletionsOperator"]


class MonetateSubmitDeletionsOperator(ErasureRequestMixin, RecordLoadOperator):
    """Ask Monetate to erase customers: post their IDs to a ``customer_data_privacy`` dataset.

    The IDs come from a list (of strings, or of records with a ``customer_id``), an XCom, or
    a file (NDJSON, CSV or JSON array of objects; local or object storage), read, batched and
    delivered by the same machinery as every load (see :class:`RecordLoadOperator` for the
    batching and retry parameters). IDs are trimmed; duplicates are sent once (counted as
    ``duplicates``); empty ones are rejected, and with more than ``max_rejected_rows`` of
    them nothing is sent. Only ``customer_id`` and ``delete_request_time`` are posted; other
    input columns are never sent.

    Before the first deletion is posted, each ID's status is asked (``precheck=True``), so that
    the ledger, the receipt and the sensor tell ``confirmed`` (Monetate was seen holding the
    customer, then reported it gone) from ``not_held`` (Monetate answered ``NOT_FOUND`` before
    the submission: nothing to erase; the ID is still submitted, so that Monetate purges it if
    it ever sees it). A retry reuses the first try's answers.

    The documents disagree on the body (the privacy page's example is one flat object, the Data
    API spec's contract ``{"schema_rows": [...]}``) and on ``delete_request_time`` (its prose
    says ``YYYY-MM-DD``, its example is a date-time). With ``body="auto"`` and
    ``delete_request_time_format="auto"`` (the defaults) the first post finds the form Monetate
    takes: ``schema_rows`` before flat objects, a date-time before a date, the next one tried
    after a 400 (which processes nothing); the form taken is kept for the run and named in the
    receipt. Flat objects go one ID per request.

    A retried task skips the batches the previous try delivered and resends the ones it
    sent without an acknowledgement: the privacy dataset has no unique key, but asking twice
    to delete the same customer deletes nothing more, whereas a dropped request would leave
    a customer undeleted.

    Each batch Monetate acknowledges is recorded at once in the proof-of-deletion ledger, one
    ``submitted`` record per customer, so a task that fails on a later batch still leaves the
    customers already queued in the ledger. The submitted rows are written to an IDs file in
    ``work_dir`` (never to XCom, ``0600`` locally), published only when the whole submission
    succeeded; the receipt carries its ``count`` and SHA-256, which the sensor checks. A dry
    run writes neither. Monetate erases the customers in its nightly batches; wait for that with
    :class:`~airflow_provider_monetate.sensors.monetate.MonetateDeletionSensor` (``receipt=`` this
    task's output), which deletes the IDs file once the ledger holds every confirmation.

    :param privacy_dataset: the ``customer_data_privacy`` dataset name.
    :param customer_ids: the IDs: a list of strings, or of records with an ``id_field``; or
    :param source: a file of records with an ``id_field`` column.
    :param id_field: the input field holding the customer ID.
    :param delete_request_time: when the people asked to be erased: a datetime, an ISO date or
        ISO datetime (naive means UTC). Default: now. A record's own ``delete_request_time``
        field, when present, wins. A time in the future is refused.
    :param body: ``"auto"`` (default), ``"schema_rows"`` or ``"flat"``: the body of the posts.
    :param delete_request_time_format: ``"auto"`` (default), ``"datetime"`` or ``"date"``: how the
        request time is written in the posts (the ledger and the IDs file keep the full time).
    :param precheck: ask each ID's status before submitting (default ``True``). ``False`` skips
        those calls for very large requests: the sensor then records an ID ``NOT_FOUND`` at its
        first look as ``gone_unverified`` (it cannot tell "erased" from "never held").
    :param precheck_concurrency: status calls in flight at once for the pre-check.
    :param create_dataset_if_missing: create the privacy dataset when it does not exist.
    :param ledger: the proof-of-deletion ledger directory (local path or object storage URI);
        default ``$AIRFLOW_HOME/monetate/deletion_ledger``.
    :param hash_ids: write SHA-256 hashes of the IDs to the ledger instead of the IDs.
    :param work_dir: where the IDs file goes; default ``$AIRFLOW_HOME/monetate/deletions``.
        With several workers, use storage the sensor can read too.
    :param monetate_conn_id: the Monetate connection.

    With ``request_id`` (and ``received_at``, ``regime``: see :class:`ErasureRequestMixin`) the
    request is opened in the register beside the ledger before anything is sent, ``monetate``
    is recorded as asked once the IDs are checked, and every ledger record carries the id; the
    request's ``received_at`` is the default ``delete_request_time``. A run naming more customers
    than the mass-deletion guard allows fails before sending unless ``confirm_mass_deletion=True``.
    :return: the receipt: ``dataset``, ``count``, ``submitted_at``, ``delete_request_time``,
        ``ids_path``, ``ids_sha256``, ``dry_run``, ``work_dir``, ``ledger``, ``hash_ids``, the
        run counts, ``precheck`` with the counts ``held`` and ``not_held`` (``None`` without a
        pre-check), and ``body`` and ``delete_request_time_format``: the form Monetate took.
    """

    data_fields = (*RecordLoadOperator.data_fields, "customer_ids")
    template_fields: Sequence[str] = (
        *RecordLoadOperator.template_fields,
        "customer_ids", "privacy_dataset", "delete_request_time", "ledger", "work_dir", "monetate_conn_id",
        *ERASURE_REQUEST_FIELDS,
    )

    def __init__(
        self,
        *,
        privacy_dataset: str,
        customer_ids: Any = None,
        source: Any = None,
        id_field: str = "customer_id",
        delete_request_time: Any = None,
        body: str = "auto",
        delete_request_time_format: str = "auto",
        precheck: bool = True,
        precheck_concurrency: int = 32,
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
        self._shapes = shapes_to_try(body, delete_request_time_format)  # an unknown choice fails the DAG's parse
        self.body = body
        self.delete_request_time_format = delete_request_time_format
        if precheck_concurrency < 1:
            raise ConfigurationError("precheck_concurrency must be at least 1")
        self.precheck = precheck
        self.precheck_concurrency = precheck_concurrency
        self.create_dataset_if_missing = create_dataset_if_missing
        self.ledger = ledger
        self.hash_ids = hash_ids
        self.work_dir = work_dir
        self.monetate_conn_id = monetate_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        now = utc_now_iso()
        ledger_location = as_location(self.ledger) or default_ledger()
        request = self.open_erasure_request(ledger_location, self.hash_ids, context,
                                            received_default=self.delete_request_time, dry_run=self.dry_run)
        requested = self._request_time(now)
        source = self._id_source()
        hook = MonetateHook(self.monetate_conn_id, pool_size=max(self.max_in_flight, self.precheck_concurrency))
        self._ensure_dataset(hook)

        ti = context["ti"]
        work_location = as_location(self.work_dir) or default_deletion_work_dir()
        warn_if_worker_local(self.log, configured_executors(), ledger=ledger_location, work_dir=work_location)
        ledger = DeletionLedger(ledger_location, hash_ids=self.hash_ids)
        work_dir = Folder(work_location)
        task_key = checkpoint_key(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))
        ids = _SubmittedIds()
        precheck = Precheck(work_location, task_key, lambda cid: hook.deletion_status(self.privacy_dataset, cid)[0],
                            self.precheck_concurrency, self.log) if self.precheck else None
        chooser = BodyShapeChooser(self._shapes)
        what = f"Monetate deletions ({self.privacy_dataset})"

        def before_delivery() -> None:  # every ID is checked; nothing is sent yet
            self.guard_mass_deletion(len(ids.seen), what, self.dry_run)
            if not self.dry_run:
                self.ask_erasure(request, ledger_location, self.hash_ids, MONETATE, ids.seen, context)

        part = LoadPart("", source, self._normalizer(requested, now), self._sender(hook, ledger, ti, chooser, precheck,
                        ids), True, ids.first_sighting)
        summary = self.run_parts(
            context, [part], retries=lambda: hook.api.retries, before_delivery=before_delivery, what=what,
            destination=lambda _: hook.dataset_lineage(self.privacy_dataset))[""]
        ids_path, held = None, None  # a dry run submits nothing: no raw IDs kept on disk
        if not self.dry_run:
            held = {cid: was_held for cid, was_held in precheck.load().items() if cid in ids.seen} if precheck else None
            ids_path = ids.publish(work_dir, f"{task_key}.ids.ndjson", held or {})
            if precheck:
                precheck.discard()  # its answers are in the IDs file now
        self._log_submission(ids, summary, ids_path, ledger, held, chooser)
        return {
            "dataset": self.privacy_dataset, "request_id": request.request_id if request else None,
            "count": len(ids.seen), "submitted_at": utc_now_iso(),
            "delete_request_time": requested, "ids_path": ids_path,
            "ids_sha256": None if self.dry_run else ids.digest.hexdigest(), "work_dir": work_dir.location,
            "ledger": ledger.location, "hash_ids": self.hash_ids,
            **{key: summary[key] for key in ("rows_read", "rows_sent", "rows_already_sent", "rows_rejected")},
            "duplicates": summary["rows_excluded"], "rejects_path": summary["rejects"]["path"], "dry_run": self.dry_run,
            "precheck": held is not None, **_held_counts(held),
            "body": chooser.settled.body if chooser.settled else None,
            "delete_request_time_format": chooser.settled.time_format if chooser.settled else None,
        }

    def _log_submission(self, ids: _SubmittedIds, summary: dict[str, Any], ids_path: str | None,
                        ledger: DeletionLedger, held: dict[str, bool] | None, chooser: BodyShapeChooser) -> None:
        self.log.info(
            "%s %d customer ID(s) for deletion to %r (%d duplicate(s) sent once, %d rejected)%s%s; IDs in %s, "
            "ledger %s",
            "Dry run, would submit" if self.dry_run else "Submitted", len(ids.seen), self.privacy_dataset,
            summary["rows_excluded"], summary["rows_rejected"],
            "" if held is None else "; before submission Monetate held {held} and did not hold {not_held} "
            "(nothing to erase)".format(**_held_counts(held)),
            f", as {chooser.settled.describe()}" if chooser.settled and summary["rows_sent"] else "",
            ids_path or "no file (dry run)", ledger.location,
        )

    def _sender(self, hook: MonetateHook, ledger: DeletionLedger, ti: Any, chooser: BodyShapeChooser,
                precheck: Precheck | None, ids: _SubmittedIds) -> Callable[[Batch], None]:
        """Posts one batch in the form Monetate takes, then records its IDs in the ledger as ``submitted``
        (and, for an ID the pre-check found not held, ``not_held``).

        The first call asks the pre-check (once, before anything is posted). The rows of a batch
        are recorded as soon as Monetate acknowledges them (with flat bodies, each row is its own
        request: the rows acknowledged before a failure are recorded too), so a task that fails
        later still leaves these customers in the ledger (and ``exclude_erased`` keeps them out
        of later loads). A retry skips acknowledged batches, so it does not record them again. A
        crash between the acknowledgement and the ledger write leaves the batch in doubt: the
        retry resends it (deleting twice is harmless) and records it then.
        """

        def post(body: bytes) -> None:
            hook.post_rows(self.privacy_dataset, body=body, retry_ambiguous=True)

        def send(batch: Batch) -> None:
            held = precheck.ask(ids.seen) if precheck else {}  # every ID is known: the check pass is over
            acknowledged: list[dict[str, Any]] = []
            try:
                chooser.post(json.loads(b"[" + batch.payload + b"]"), post, acknowledged)
            finally:
                self._record(ledger, ti, acknowledged, held, precheck.checked_at if precheck else None)

        return send

    def _record(self, ledger: DeletionLedger, ti: Any, rows: list[dict[str, Any]], held: dict[str, bool],
                checked_at: str | None) -> None:
        """``submitted`` for each acknowledged row; ``not_held`` (when the pre-check asked) for those not held."""
        at = utc_now_iso()
        where = (self.privacy_dataset, ti.dag_id, ti.run_id, self._request_id)
        ledger.append(itertools.chain(
            (LedgerEntry(row["customer_id"], MONETATE, SUBMITTED, row["delete_request_time"], at, None, *where)
             for row in rows),
            (LedgerEntry(row["customer_id"], MONETATE, NOT_HELD, row["delete_request_time"], at, checked_at, *where)
             for row in rows if held.get(row["customer_id"]) is False),
        ))

    def _normalizer(self, requested: str, now: str) -> Normalizer:
        """Checks one input record: its ID, and its ``delete_request_time`` (default ``requested``,
        never after ``now``)."""
        rules = RowRules.from_schema({"type": PRIVACY_TYPE})

        def normalize(number: int, record: dict) -> tuple[dict | None, list[Rejection]]:
            customer_id, reason = customer_id_text(record.get(self.id_field))
            if customer_id is None:
                return None, [Rejection(number, self.id_field, reason or "missing or empty customer ID")]
            when = record.get("delete_request_time") or requested
            row, rejections = rules.normalize(number, {"customer_id": customer_id, "delete_request_time": when})
            if row is not None and row["delete_request_time"] > now:
                reason = "in the future; it is when the person asked, so it must be past"
                return None, [Rejection(number, "delete_request_time", reason)]
            return row, rejections

        return normalize

    def _request_time(self, now: str) -> str:
        """The default ``delete_request_time`` (else ``received_at``, else now) as UTC ISO-8601; refuses the
        future before sending."""
        given = self.delete_request_time if self.delete_request_time not in (None, "") else self.received_at
        if given in (None, ""):
            return now
        try:
            requested = to_utc_iso(given)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{self.task_id}: delete_request_time: {exc}. Nothing was sent.") from None
        if requested > now:
            raise ConfigurationError(
                f"{self.task_id}: delete_request_time {requested} is in the future (now {now}); it is when the "
                "people asked to be erased. Nothing was sent."
            )
        return requested

    def describe_data(self, name: str, value: Any) -> Any:
        """Rendered fields show how many IDs (hashed, first few, with ``hash_ids``), never the IDs."""
        if name == "customer_ids":
            return describe_customer_ids(value, self.hash_ids)
        return super().describe_data(name, value)

    def _id_source(self) -> RecordSource:
        if (self.data_value("customer_ids") is None) == (self.source is None):
            raise ConfigurationError(f"{self.task_id}: pass exactly one of customer_ids= and source=.")
        if self.source is not None:
            return self.record_source()
        ids = self.data_value("customer_ids")
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


class _SubmittedIds:
    """The distinct IDs of a submission, in input order, with their request times; then the IDs file."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}  # customer_id -> delete_request_time
        self.digest = hashlib.sha256()

    def first_sighting(self, row: dict) -> bool:
        """``exclude`` for the load: True for an ID already seen."""
        if row["customer_id"] in self.seen:
            return True
        self.seen[row["customer_id"]] = row["delete_request_time"]
        return False

    def publish(self, work_dir: Folder, name: str, held: dict[str, bool]) -> str:
        """Write the IDs file (one ``{customer_id, delete_request_time, held?}`` line per ID, ``held`` as
        the pre-check saw it) and return its location; :attr:`digest` is its SHA-256."""
        with work_dir.create(name) as file:
            for customer_id, requested in self.seen.items():
                line: dict[str, Any] = {"customer_id": customer_id, "delete_request_time": requested}
                if customer_id in held:
                    line["held"] = held[customer_id]
                data = encode_row(line) + b"\n"
                self.digest.update(data)
                file.write(data)
        return str(work_dir.path(name))


def _held_counts(held: dict[str, bool] | None) -> dict[str, int | None]:
    """``held`` and ``not_held`` for the receipt: how many IDs the pre-check found held, and not."""
    if held is None:
        return {"held": None, "not_held": None}
    not_held = sum(1 for was_held in held.values() if not was_held)
    return {"held": len(held) - not_held, "not_held": not_held}
