"""AcquiaCdpEraseCustomersOperator: erase customers from Acquia CDP through its GDPR/CCPA data erasure API."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from airflow_provider_monetate._compat import configured_executors
from airflow_provider_monetate._data_fields import describe_customer_ids
from airflow_provider_monetate.acquia_cdp._erasure import (
    ERASED_COLLECTION,
    ERASURE_DATASET,
    MAX_IDS_PER_CALL,
    REQUEST_ORIGIN,
    ErasureReply,
    SessionToken,
    WeeklyLimit,
    erasure_body,
    is_limit_refusal,
    is_no_valid_customer,
    none_found,
    read_reply,
    requested_date,
    tenant_number,
)
from airflow_provider_monetate.exceptions import ApiError, ConfigurationError, ErasureLimitError, MonetateProviderError
from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook
from airflow_provider_monetate.loading._batches import Batch
from airflow_provider_monetate.loading._pipeline import LoadPart
from airflow_provider_monetate.loading._rejects import Rejection
from airflow_provider_monetate.loading._sources import RecordSource
from airflow_provider_monetate.monetate.privacy._ledger import (
    ACQUIA_CDP,
    PENDING,
    SUBMITTED,
    DeletionLedger,
    LedgerEntry,
    utc_now_iso,
)
from airflow_provider_monetate.monetate.privacy._register import ErasureRegister, checked_time
from airflow_provider_monetate.monetate.privacy._requests import CCPA, GDPR, regime_of
from airflow_provider_monetate.monetate.privacy._submission import customer_id_text
from airflow_provider_monetate.operators._erasure_request import ERASURE_REQUEST_FIELDS, ErasureRequestMixin
from airflow_provider_monetate.operators._load_base import RecordLoadOperator
from airflow_provider_monetate.storage import as_location, default_ledger, warn_if_worker_local

__all__ = ["AcquiaCdpEraseCustomersOperator"]


class AcquiaCdpEraseCustomersOperator(ErasureRequestMixin, RecordLoadOperator):
    """Erase customers from Acquia CDP: its GDPR/CCPA data erasure API, not a ``DeleteFlag`` soft delete.

    The IDs (a list, an XCom, or a file with an ``id_field`` column) are checked and de-duplicated
    first; then, before anything is sent, the mass-deletion guard, the request register (with
    ``request_id``) and the weekly limit have their say: CDP takes 9,990 erasure requests a week,
    counted here from the register (every ID sent in the last 7 days), so a run that would pass it
    stops before sending and says when room frees up. The calls carry at most 200 IDs each, with
    ``requestedDate``, ``reason``, ``requestOrigin`` and ``tenantId``, authenticated by a session
    token from ``/authentication?action=login`` (logged in at the first call, logged out at the
    end, also when a call fails). Each answer goes to the ledger at once (``dataset:
    dataerasure``, CDP's ``eventId`` as ``reference``): ``readyForDataErasure`` is ``submitted``,
    ``pendingForDataErasure`` ``pending``, ``failedToAccept`` ``failed``, ``notFound`` ``not_held``,
    or ``confirmed`` for a customer whose erasure CDP accepted before: no status call is
    documented, so a later run with the same customers is what confirms their erasure (each such
    run counts against the weekly limit; give it ``fail_on_not_found=False``, the default). A retry
    skips the calls a previous try delivered.

    :param customer_ids: the IDs CDP knows the customers by (``SourceCustomerNumber`` or ``UUID``);
        or ``records``/``source`` with an ``id_field`` column.
    :param id_field: the input field holding the ID.
    :param reason: the body's ``reason``; default ``GDPR`` or ``CCPA`` from ``regime`` (required with
        a custom regime).
    :param requested_date: when the people asked (the body's ``requestedDate``); default the request's
        ``received_at``, else now.
    :param request_origin: the body's ``requestOrigin`` (default ``Data Erasure``).
    :param fail_on_not_found: ``failOnNotFound=true``: CDP refuses a whole call with an unknown ID.
    :param ledger: the ledger (and register) location; default ``$AIRFLOW_HOME/monetate/deletion_ledger``.
    :param hash_ids: store SHA-256 hashes of the IDs in the ledger and the register.
    :param acquia_cdp_conn_id: the Acquia CDP connection (login/password: the integration user).
    :param batch_size: IDs per call, at most 200 (the default).
    :param max_in_flight: calls at once (default 1).
    :return: the run summary plus ``calls``, ``event_ids``, ``statuses`` (how many IDs got each),
        ``unanswered``, ``request_id``, ``ledger``, ``requested_date``.
    """

    data_fields = (*RecordLoadOperator.data_fields, "customer_ids")
    template_fields: Sequence[str] = (
        *RecordLoadOperator.template_fields, "customer_ids", "reason", "requested_date", "ledger",
        "acquia_cdp_conn_id", *ERASURE_REQUEST_FIELDS,
    )

    def __init__(self, *, customer_ids: Any = None, id_field: str = "customer_id", reason: str | None = None,
                 requested_date: Any = None, request_origin: str = REQUEST_ORIGIN, fail_on_not_found: bool = False,
                 ledger: Any = None, hash_ids: bool = False,
                 acquia_cdp_conn_id: str = AcquiaCdpHook.default_conn_name, batch_size: int = MAX_IDS_PER_CALL,
                 max_in_flight: int = 1, **kwargs: Any) -> None:
        if not 1 <= batch_size <= MAX_IDS_PER_CALL:
            raise ConfigurationError(f"batch_size must be 1..{MAX_IDS_PER_CALL}: the erasure API takes at most "
                                     f"{MAX_IDS_PER_CALL} customer IDs per call (a larger call is refused with 400)")
        super().__init__(batch_size=batch_size, max_in_flight=max_in_flight, **kwargs)
        self.customer_ids = customer_ids
        self.id_field = id_field
        self.reason = reason
        self.requested_date = requested_date
        self.request_origin = request_origin
        self.fail_on_not_found = fail_on_not_found
        self.ledger = ledger
        self.hash_ids = hash_ids
        self.acquia_cdp_conn_id = acquia_cdp_conn_id

    def describe_data(self, name: str, value: Any) -> Any:
        if name == "customer_ids":
            return describe_customer_ids(value, self.hash_ids)
        return super().describe_data(name, value)

    def record_source(self) -> RecordSource:
        """The IDs: ``customer_ids``, or exactly one of ``records`` and ``source``."""
        ids = self.data_value("customer_ids")
        if ids is None:
            return super().record_source()
        if self.data_value("records") is not None or self.source is not None:
            raise ConfigurationError(f"{self.task_id}: pass exactly one of customer_ids=, records= and source=.")
        if isinstance(ids, str | bytes | dict) or not isinstance(ids, Sequence):
            raise ConfigurationError(f"{self.task_id}: customer_ids must be a list of IDs.")
        return RecordSource([{self.id_field: cid} for cid in ids])

    def execute(self, context: Any) -> dict[str, Any]:
        source = self.record_source()
        hook = AcquiaCdpHook(self.acquia_cdp_conn_id, pool_size=self.max_in_flight)
        tenant = tenant_number(hook.tenant_id)
        location = as_location(self.ledger) or default_ledger()
        warn_if_worker_local(self.log, configured_executors(), ledger=location)
        request = self.open_erasure_request(location, self.hash_ids, context, received_default=self.requested_date,
                                            dry_run=self.dry_run)
        requested = self._requested(request.received_at if request else None)
        run = _ErasureRun(self, hook, tenant, location, requested, context)
        session = SessionToken(hook.login_session, hook.logout_session)
        part = LoadPart("", source, self._normalize, run.sender(session), True, run.first_sighting)
        try:
            summary = self.run_parts(
                context, [part], before_delivery=lambda: run.before_delivery(request), what="Acquia CDP erasure",
                destination=lambda _: hook.entity_dataset(ERASED_COLLECTION))[""]
        finally:
            self._log_out(session)
        self.log.info("%s", run.describe())
        return {**summary, **run.result(), "request_id": request.request_id if request else None,
                "ledger": str(location), "requested_date": requested_date(requested)}

    def _normalize(self, number: int, record: dict) -> tuple[dict | None, list[Rejection]]:
        customer_id, reason = customer_id_text(record.get(self.id_field))
        if customer_id is None:
            return None, [Rejection(number, self.id_field, reason or "missing or empty customer ID")]
        return {"customer_id": customer_id}, []

    def _requested(self, received: str | None) -> str:
        """When the people asked (UTC ISO-8601): ``requested_date``, else the request's receipt, else now."""
        given = self.requested_date if self.requested_date not in (None, "") else received
        return checked_time(given, f"{self.task_id}: requested_date") if given is not None else utc_now_iso()

    def erasure_reason(self) -> str:
        """The body's ``reason``: given, or the regime's name (GDPR, CCPA)."""
        if self.reason and str(self.reason).strip():
            return str(self.reason).strip()
        name = regime_of(self.regime).name
        if name in (GDPR, CCPA):
            return str(name).upper()
        raise ConfigurationError(f"{self.task_id}: reason= is required with regime={self.regime!r}: the erasure API "
                                 "asks why (e.g. 'GDPR', 'CCPA', 'customer request'). Nothing was sent.")

    def _log_out(self, session: SessionToken) -> None:
        """Log the session out; a failure is a warning (the session expires on its own), never the task's error."""
        try:
            session.close()
        except MonetateProviderError as exc:
            self.log.warning("Logging out of Acquia CDP's erasure session failed (%s); it expires on its own.", exc)


class _ErasureRun:
    """One run's state: the distinct IDs, the ledger's view, the answers; its sender and pre-delivery checks."""

    def __init__(self, task: AcquiaCdpEraseCustomersOperator, hook: AcquiaCdpHook, tenant: int, location: Any,
                 requested: str, context: Any) -> None:
        self.task, self.hook, self.tenant, self.location, self.requested = task, hook, tenant, location, requested
        self.context = context
        self.reason = task.erasure_reason()
        self.ledger = DeletionLedger(location, hash_ids=task.hash_ids)
        self.register = ErasureRegister(location, hash_ids=task.hash_ids)
        self.ids: dict[str, None] = {}
        self.statuses: Counter[str] = Counter()
        self.event_ids: list[str] = []
        self.calls = 0  # answered calls (a 404 "no valid customer id" has no eventId)
        self.unanswered = 0
        self._lock = threading.Lock()
        ti = context["ti"]
        self.accepted, self.done = _ledger_view(self.ledger, ti.dag_id, ti.run_id)

    def first_sighting(self, row: dict) -> bool:
        """``exclude`` for the load: True for an ID already seen."""
        if row["customer_id"] in self.ids:
            return True
        self.ids[row["customer_id"]] = None
        return False

    def accepted_before(self, customer_id: str) -> bool:
        """Whether CDP accepted this customer's erasure and no later answer settled it."""
        return self.ledger.stored_id(customer_id) in self.accepted

    def before_delivery(self, request: Any) -> None:
        """Every ID is checked, nothing is sent: the guard, the register's ask, the weekly limit."""
        task, count = self.task, len(self.ids)
        task.guard_mass_deletion(count, "Acquia CDP erasure", task.dry_run)
        if task.fail_on_not_found:
            again = sum(1 for cid in self.ids
                        if self.accepted_before(cid) and self.ledger.stored_id(cid) not in self.done)
            if again:
                raise ConfigurationError(
                    f"{task.task_id}: {again} of the IDs were accepted for erasure by CDP before; asking again "
                    "confirms them once CDP no longer finds them, which fail_on_not_found=True would turn into a "
                    "refused call. "
                    "Pass fail_on_not_found=False. Nothing was sent.")
        if not task.dry_run:
            task.ask_erasure(request, self.location, task.hash_ids, ACQUIA_CDP, self.ids, self.context)
        now = datetime.now(timezone.utc)
        wanted = sum(1 for cid in self.ids if self.ledger.stored_id(cid) not in self.done)  # a retry skips those
        try:
            WeeklyLimit().check(self.register.erasure_calls(ACQUIA_CDP, now - WeeklyLimit().window), now, wanted,
                                task.task_id)
        except ErasureLimitError as exc:
            if not task.dry_run:
                raise
            task.log.warning("Dry run: %s", exc)

    def sender(self, session: SessionToken) -> Callable[[Batch], None]:
        def send(batch: Batch) -> None:
            sent = [row["customer_id"] for row in json.loads(b"[" + batch.payload + b"]")]
            self.register.record_erasure_call(ACQUIA_CDP, len(sent), request_id=self.task._request_id)
            body = erasure_body(sent, requested=requested_date(self.requested), reason=self.reason,
                                tenant_id=self.tenant, request_origin=self.task.request_origin)
            try:
                answer = self.hook.erase_customers(body, session=session, fail_on_not_found=self.task.fail_on_not_found)
                reply = read_reply(answer, sent, self.accepted_before)
            except ApiError as exc:
                reply = self._refusal(exc, sent)
            self._record(reply)

        return send

    def _refusal(self, error: ApiError, sent: list[str]) -> ErasureReply:
        """What a refused call means: no ID known (all ``notFound``), or an error naming what to do."""
        if is_no_valid_customer(error) and not self.task.fail_on_not_found:
            return none_found(sent, self.accepted_before)
        if is_limit_refusal(error):
            raise ErasureLimitError(
                f"{self.task.task_id}: Acquia CDP refused an erasure call of {len(sent)} IDs for its weekly limit "
                f"({error.status}): it counts erasures this register does not know of (the UI, another pipeline). "
                "The calls before it are in the ledger; run again once a week has passed since those.") from None
        if self.task.fail_on_not_found and error.status in (400, 404):
            raise type(error)(error.service, error.method, error.path, error.status, error.messages,
                              hint="With fail_on_not_found=True CDP refuses a whole call when one ID is unknown: "
                                   "nothing in this call was erased; the calls before it are in the ledger. Remove "
                                   "the unknown IDs or run with fail_on_not_found=False") from None
        raise error

    def _record(self, reply: ErasureReply) -> None:
        """The answer's statuses to the ledger at once, each with CDP's eventId."""
        ti, at, task = self.context["ti"], utc_now_iso(), self.task
        self.ledger.append(
            LedgerEntry(cid, ACQUIA_CDP, status, self.requested, at, None if status == SUBMITTED else at,
                        ERASURE_DATASET, ti.dag_id, ti.run_id, task._request_id, reply.event_id)
            for cid, status in reply.statuses.items())
        with self._lock:
            self.statuses.update(reply.statuses.values())
            self.event_ids += [reply.event_id] if reply.event_id else []
            self.calls += 1
            self.unanswered += len(reply.unanswered)

    def result(self) -> dict[str, Any]:
        return {"calls": self.calls, "event_ids": list(self.event_ids), "statuses": dict(self.statuses),
                "unanswered": self.unanswered}

    def describe(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.statuses.items())) or "nothing answered"
        extra = f"; {self.unanswered} ID(s) in no list of CDP's answers (still open)" if self.unanswered else ""
        return f"Acquia CDP erasure: {len(self.ids)} customer ID(s), {self.calls} call(s): {counts}{extra}"


def _ledger_view(ledger: DeletionLedger, dag_id: str, run_id: str) -> tuple[set[str], set[str]]:
    """From the ledger's erasure-API records: the IDs whose latest status there is ``submitted`` or
    ``pending`` (accepted, not yet settled), and the IDs this DAG run already sent (a retry skips them)."""
    latest: dict[str, str] = {}
    done: set[str] = set()
    for record in ledger.records(system=ACQUIA_CDP):
        if record.get("dataset") != ERASURE_DATASET:
            continue
        latest[record["customer_id"]] = record["status"]
        if (record.get("dag_id"), record.get("run_id")) == (dag_id, run_id):
            done.add(record["customer_id"])
    return {cid for cid, status in latest.items() if status in (SUBMITTED, PENDING)}, done
