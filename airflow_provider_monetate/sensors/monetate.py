"""MonetateDeletionSensor: wait until Monetate reports every erased customer ID gone."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from airflow_provider_monetate._compat import AirflowSensorTimeout, BaseSensorOperator, conf, configured_executors
from airflow_provider_monetate._data_fields import DataFieldsMixin, describe_customer_ids
from airflow_provider_monetate.exceptions import ConfigurationError, MonetateProviderError, ReceiptError
from airflow_provider_monetate.hooks.monetate import MonetateHook
from airflow_provider_monetate.loading._checkpoints import checkpoint_key
from airflow_provider_monetate.monetate.privacy._ledger import MONETATE, SETTLED, DeletionLedger, utc_now_iso
from airflow_provider_monetate.monetate.privacy._polling import ask_statuses
from airflow_provider_monetate.monetate.privacy._submission import customer_id_text
from airflow_provider_monetate.monetate.privacy._watch import (
    DeletionWatch,
    Submitted,
    check_receipt,
    delete_submitted_ids,
    read_submitted,
)
from airflow_provider_monetate.storage import (
    as_location,
    default_deletion_work_dir,
    default_ledger,
    warn_if_worker_local,
)
from airflow_provider_monetate.triggers.monetate import MonetateDeletionTrigger

__all__ = ["MonetateDeletionSensor"]

#: Reports list every ID inline up to this many; beyond, only the report file does.
INLINE_REPORT_MAX = 100
# The trigger reports its own timeout, naming the stragglers; the deferral timeout only
# catches a trigger that never fires (a triggerer down for a long time).
_DEFERRAL_BACKSTOP = timedelta(hours=1)


class MonetateDeletionSensor(DataFieldsMixin, BaseSensorOperator):
    """Wait until Monetate's Customer ID Status endpoint reports every ID ``NOT_FOUND``.

    Monetate erases customers in nightly batches, usually within 24-48 hours. Each poke asks
    about the IDs not yet settled (``max_concurrency`` calls at a time) and records each outcome
    in the proof-of-deletion ledger as it arrives: ``confirmed`` when Monetate answers
    ``NOT_FOUND`` for an ID it was seen holding (``FOUND`` or ``PENDING``, at the submit task's
    pre-check or at an earlier poke), ``gone_unverified`` when ``NOT_FOUND`` is the first answer
    ever seen for the ID (submitted with ``precheck=False``, or watched by ``customer_ids=``).
    IDs the pre-check found not held are settled ``not_held`` without a call. ``PENDING``,
    ``FOUND`` and ``UNKNOWN`` (an integer code whose description says nothing) keep it
    waiting; a 404 from the status endpoint of the privacy dataset reads as ``NOT_FOUND``. Past
    ``expected_completion`` it warns, naming the IDs still there; at ``timeout`` it fails,
    naming them, and asks you to open a Monetate support ticket.

    Confirmations are kept in a small state file (``work_dir``), so reschedule mode, retries
    and a restarted triggerer never ask about a confirmed ID again. With several workers, or
    a triggerer on another machine, put ``work_dir`` and the ledger on storage they share
    (an ``s3://...`` URI, say).

    Modes: ``deferrable=True`` (default: ``[operators] default_deferrable``) waits in the
    triggerer (:class:`~airflow_provider_monetate.triggers.monetate.MonetateDeletionTrigger`);
    otherwise ``mode="reschedule"`` (default) frees the worker between pokes, and ``"poke"``
    holds it.

    :param receipt: the submit task's receipt (``MonetateSubmitDeletionsOperator(...).output``):
        gives the dataset, the IDs file, the submission time, the ledger and ``hash_ids``. It
        must prove a submission, or the task fails before asking Monetate anything: not a dry
        run, and an IDs file whose ID count and SHA-256 are the receipt's ``count`` and
        ``ids_sha256``. Once the ledger holds every ID's confirmation, the IDs file is deleted.
    :param customer_ids: or the IDs themselves (a short list; use the receipt for large ones).
    :param privacy_dataset: the ``customer_data_privacy`` dataset; default: the receipt's (a
        different one is refused: the IDs were posted there).
    :param monetate_conn_id: the Monetate connection.
    :param max_concurrency: status calls in flight at once.
    :param expected_completion: warn about IDs still not gone this long after submission
        (the receipt's ``submitted_at``, else the first poke). Default 48 h.
    :param ledger: the proof-of-deletion ledger (local path or object storage URI); default:
        the receipt's, else ``$AIRFLOW_HOME/monetate/deletion_ledger``.
    :param hash_ids: write SHA-256 hashes instead of IDs to the ledger, logs and XCom;
        default: the receipt's, else ``False``.
    :param work_dir: where the state file and the per-ID report go; default: the receipt's,
        else ``$AIRFLOW_HOME/monetate/deletions``.
    :param deferrable: wait in the triggerer instead of a worker.
    :param poke_interval: seconds between pokes (default 1 h: deletions run nightly).
    :param timeout: seconds before failing (default 72 h).
    :return: the report: ``total`` and the counts ``confirmed``, ``not_held``,
        ``gone_unverified``; first and last confirmation times; the ledger; the per-ID report
        file; and (up to 100 IDs) ``customers`` (ID to the time its outcome was known) and
        ``outcomes`` (ID to its outcome).
    """

    data_fields = ("customer_ids",)  # never rendered as Jinja; shown as a count
    template_fields: Sequence[str] = (
        "receipt", "customer_ids", "privacy_dataset", "monetate_conn_id", "ledger", "work_dir",
    )

    def __init__(
        self,
        *,
        receipt: Mapping[str, Any] | None = None,
        customer_ids: Sequence[Any] | None = None,
        privacy_dataset: str | None = None,
        monetate_conn_id: str = MonetateHook.default_conn_name,
        max_concurrency: int = 32,
        expected_completion: timedelta | float = timedelta(hours=48),
        ledger: Any = None,
        hash_ids: bool | None = None,
        work_dir: Any = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: timedelta | float = timedelta(hours=1),
        timeout: timedelta | float = timedelta(hours=72),
        **kwargs,
    ) -> None:
        kwargs.setdefault("mode", "reschedule")
        super().__init__(poke_interval=_seconds(poke_interval), timeout=_seconds(timeout), **kwargs)
        if max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be at least 1")
        self.receipt = receipt
        self.customer_ids = customer_ids
        self.privacy_dataset = privacy_dataset
        self.monetate_conn_id = monetate_conn_id
        self.max_concurrency = max_concurrency
        self.expected_completion = _seconds(expected_completion)
        self.ledger = ledger
        self.hash_ids = hash_ids
        self.work_dir = work_dir
        self.deferrable = deferrable

    def describe_data(self, name: str, value: Any) -> Any:
        """Rendered fields show how many IDs (hashed, first few, with ``hash_ids``), never the IDs."""
        return describe_customer_ids(value, bool(self.hash_ids))

    # -- what to watch ---------------------------------------------------------------------

    def _receipt(self) -> Mapping[str, Any]:
        """The receipt, once it is shown to prove a submission (``{}`` when watching ``customer_ids``)."""
        if self.receipt is not None and self.data_value("customer_ids") is not None:
            raise ConfigurationError(f"{self.task_id}: pass only one of receipt= and customer_ids=.")
        if self.data_value("customer_ids") is not None:
            return {}
        if self.receipt is None:
            raise ReceiptError(
                f"{self.task_id}: the submit task returned nothing (receipt is None), so there is nothing to "
                "wait for. Pass receipt=<submit task>.output from a MonetateSubmitDeletionsOperator that ran "
                "(with do_xcom_push on), or customer_ids= to watch a short list of IDs."
            )
        if not isinstance(self.receipt, Mapping):
            raise ReceiptError(
                f"{self.task_id}: receipt must be the submit task's XCom value (e.g. receipt=submit.output), "
                f"not a {type(self.receipt).__name__}."
            )
        check_receipt(self.receipt, privacy_dataset=self.privacy_dataset, task_id=self.task_id)
        return self.receipt

    @cached_property
    def _settings(self) -> dict[str, Any]:
        """Everything the sensor and its trigger need, resolved once per task run."""
        receipt = self._receipt()
        dataset = self.privacy_dataset or receipt.get("dataset")
        if not dataset:
            raise ConfigurationError(f"{self.task_id}: privacy_dataset is required without a receipt.")
        hash_ids = self.hash_ids if self.hash_ids is not None else bool(receipt.get("hash_ids"))
        return {
            "dataset": dataset,
            "ids_path": receipt.get("ids_path"),
            "ids_sha256": receipt.get("ids_sha256"),
            "count": receipt.get("count"),
            "submitted_at": receipt.get("submitted_at"),
            "request_id": receipt.get("request_id"),
            "ledger": DeletionLedger(
                as_location(self.ledger or receipt.get("ledger")) or default_ledger(), hash_ids=hash_ids
            ),
            "work_dir": as_location(self.work_dir or receipt.get("work_dir")) or default_deletion_work_dir(),
        }

    @cached_property
    def _submitted(self) -> Submitted:
        """The IDs to watch with their request times, and what the submit task's pre-check saw
        (the IDs file checked against the receipt)."""
        settings = self._settings
        if settings["ids_path"]:
            return read_submitted(as_location(settings["ids_path"]), sha256=settings["ids_sha256"],
                                  count=settings["count"])
        ids = self.data_value("customer_ids")
        if isinstance(ids, (str, bytes, Mapping)):
            raise ConfigurationError(f"{self.task_id}: customer_ids must be a list of IDs.")
        targets: dict[str, str | None] = {}
        for position, item in enumerate(ids or ()):
            value = item.get("customer_id") if isinstance(item, Mapping) else item
            text, reason = customer_id_text(value)
            if text is None and value is not None and value != "" and not str(value).isspace():
                raise ConfigurationError(f"{self.task_id}: customer_ids[{position}]: {reason}.")
            if text:
                targets[text] = None
        return Submitted(targets)

    def _targets(self) -> dict[str, str | None]:
        """``{customer_id: delete_request_time}`` of every ID to watch."""
        return self._submitted.times

    def _provenance(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """What each confirmation record in the ledger says about where it came from."""
        ti = context["ti"]
        settings = self._settings
        return {"dataset": settings["dataset"], "submitted_at": settings["submitted_at"],
                "dag_id": ti.dag_id, "run_id": ti.run_id, "request_id": settings["request_id"]}

    def _watch(self, context: Mapping[str, Any]) -> DeletionWatch:
        settings = self._settings
        watch = DeletionWatch(settings["work_dir"], self._key(context), settings["ledger"], self._provenance(context))
        watch.take_precheck(self._submitted.held, settings["submitted_at"] or watch.started_at)
        return watch

    @staticmethod
    def _key(context: Mapping[str, Any]) -> str:
        ti = context["ti"]
        return checkpoint_key(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))

    def _expected_at(self, watch: DeletionWatch) -> float:
        submitted = self._settings["submitted_at"] or watch.started_at
        return _epoch(submitted) + self.expected_completion

    # -- running -----------------------------------------------------------------------------

    def execute(self, context: Any) -> dict[str, Any]:
        # The triggerer, and the workers of later pokes, must see the same state and ledger.
        warn_if_worker_local(self.log, configured_executors(), ledger=as_location(self._settings["ledger"].location),
                             work_dir=self._settings["work_dir"])
        if self.deferrable:
            self._defer(context)
        try:
            super().execute(context)
        except AirflowSensorTimeout:
            raise AirflowSensorTimeout(self._timeout_message(context)) from None
        return self._finish(context)

    def poke(self, context: Any) -> bool:
        targets = self._targets()
        watch = self._watch(context)
        pending = watch.pending(targets)
        if pending:
            statuses = self._check(pending)
            watch.observe(statuses, targets, utc_now_iso())
            pending = watch.pending(targets)
        self.log.info("%s", watch.progress(targets))
        if not pending:
            return True
        if time.time() >= self._expected_at(watch):
            self.log.warning("%s", watch.overdue_warning(targets))
        return False

    @cached_property
    def hook(self) -> MonetateHook:
        return MonetateHook(self.monetate_conn_id, pool_size=self.max_concurrency)

    def _check(self, pending: list[str]) -> dict[str, str]:
        """Statuses of ``pending``, ``max_concurrency`` calls at a time (see :func:`ask_statuses`)."""
        hook, dataset = self.hook, self._settings["dataset"]
        return ask_statuses(pending, lambda cid: hook.deletion_status(dataset, cid)[0], self.max_concurrency,
                            self.log)

    def _defer(self, context: Any) -> None:
        settings = self._settings
        targets = self._targets()  # the receipt is checked against its IDs file before deferring
        watch = self._watch(context)
        watch.save()  # records started_at, which the expected completion time may count from
        ids_path = settings["ids_path"]
        self.defer(
            trigger=MonetateDeletionTrigger(
                monetate_conn_id=self.monetate_conn_id,
                privacy_dataset=settings["dataset"],
                customer_ids=None if ids_path else list(targets),
                ids_path=str(ids_path) if ids_path else None,
                ids_sha256=settings["ids_sha256"],
                work_dir=str(settings["work_dir"]),
                state_key=self._key(context),
                ledger=settings["ledger"].location,
                hash_ids=settings["ledger"].hash_ids,
                provenance=self._provenance(context),
                poke_interval=self.poke_interval,
                deadline=time.time() + self.timeout,
                expected_at=self._expected_at(watch),
                max_concurrency=self.max_concurrency,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) + _DEFERRAL_BACKSTOP,
        )

    def execute_complete(self, context: Any, event: Mapping[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired: the report, or the failure it describes."""
        if event.get("status") == "success":
            return self._finish(context)
        if event.get("status") == "timeout":
            raise AirflowSensorTimeout(self._timeout_message(context))
        raise MonetateProviderError(event.get("message") or f"The deletion status trigger failed: {event}")

    # -- outcomes ------------------------------------------------------------------------------

    def _finish(self, context: Any) -> dict[str, Any]:
        """Every ID is settled: write the per-ID report, drop the state file, return the summary."""
        targets = self._targets()
        watch = self._watch(context)
        if watch.pending(targets):
            raise MonetateProviderError(
                f"The deletion status trigger reported every ID gone, but {watch.path} does not show it: the "
                "triggerer wrote its state where this worker cannot read it. Set work_dir (and ledger) to storage "
                "both can reach, e.g. an s3:// URI."
            )
        ledger: DeletionLedger = self._settings["ledger"]
        self._check_ledger_proves(targets, watch)
        report: dict[str, Any] = {
            "dataset": self._settings["dataset"],
            **watch.summary(targets, INLINE_REPORT_MAX),
            "ledger": ledger.location,
            "hash_ids": ledger.hash_ids,
            "report_path": self._write_report(context, targets, watch),
        }
        watch.finish()
        if self._settings["ids_path"]:
            # Retention: the raw IDs are no longer needed once the ledger proves every deletion.
            delete_submitted_ids(as_location(self._settings["ids_path"]))
            self.log.info("Deleted the submitted-IDs file %s: the ledger %s holds every ID's outcome",
                          self._settings["ids_path"], ledger.location)
        return report

    def _check_ledger_proves(self, targets: Mapping[str, Any], watch: DeletionWatch) -> None:
        """Before the work files go: read the ledger back; every ID must have its outcome there."""
        ledger: DeletionLedger = self._settings["ledger"]
        missing = ledger.unconfirmed(targets, system=MONETATE, settled=SETTLED)
        if missing:
            raise MonetateProviderError(
                f"Monetate confirmed every ID gone, but the ledger {ledger.location} has no confirmation for "
                f"{len(missing)} of {len(targets)} of them (its parts were removed, or it moved). The IDs file and "
                f"the state file {watch.path} are kept. Restore the ledger's parts and clear this task, or delete "
                "the state file and clear it: the sensor then asks Monetate again and records each confirmation."
            )

    def _timeout_message(self, context: Any) -> str:
        targets = self._targets()
        watch = self._watch(context)
        stragglers = watch.stragglers(targets)
        report_path = self._write_report(context, targets, watch)
        last = {status for _, status in stragglers}
        since = self._settings["submitted_at"] or watch.started_at
        message = (
            f"Monetate has not confirmed the deletion of {len(stragglers)} of {len(targets)} customer ID(s) in "
            f"privacy dataset {self._settings['dataset']!r} (waiting since {since}, timeout "
            f"{self.timeout / 3600:g} h). Still not gone: {watch.describe_stragglers(targets)}. "
            f"Per-ID report: {report_path}. Monetate's nightly batches normally finish within 48 hours: open a "
            "ticket with Monetate Technical Support (support.monetate.com) naming these IDs and the dataset."
        )
        if "FOUND" in last:
            message += (
                " FOUND means Monetate holds data for the ID but has no deletion queued: check that the IDs were "
                "posted to this dataset, and that no load sends them again (exclude_erased=)."
            )
        if "UNKNOWN" in last:
            message += (
                " UNKNOWN means Monetate answered an integer status code whose description did not say PENDING, "
                "FOUND or NOT_FOUND: no document maps the codes, so the provider never reads one as done. Ask "
                "Monetate what the code means."
            )
        return message

    def _write_report(self, context: Any, targets: Mapping[str, Any], watch: DeletionWatch) -> str:
        """The per-ID report in ``work_dir`` (see :meth:`DeletionWatch.write_report`)."""
        return watch.write_report(self._settings["work_dir"], f"{self._key(context)}.report.jsonl", targets)


def _seconds(value: timedelta | float) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()

