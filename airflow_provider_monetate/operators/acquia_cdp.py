"""Operators that load entities into Acquia CDP's DW Tracker and soft-delete customers.

Both check every record of every entity before the first request, so a bad row in one
entity stops all of them: each entity is checked into its own spool, and only when every
entity has passed are the spools delivered, one entity after another, in the order given.
Checking, batching, concurrency, retries, checkpoints and the rejects report are the
shared record-load pipeline's (``airflow_provider_monetate.loading``); the CDP
payload rules are in ``airflow_provider_monetate.acquia_cdp``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_provider_monetate._compat import configured_executors
from airflow_provider_monetate._data_fields import describe_data
from airflow_provider_monetate.acquia_cdp._deletions import DeletionRules, custom_entity_deletions, merge_units
from airflow_provider_monetate.acquia_cdp._entities import DEFAULT_SOURCE_SYSTEM_ID, KFK0_HAZARD, collection_misspelling
from airflow_provider_monetate.acquia_cdp._epoch import parse_timestamp_unit
from airflow_provider_monetate.acquia_cdp._payload import EntityRules
from airflow_provider_monetate.exceptions import ConfigurationError, MissingSourceSystemIdError
from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook
from airflow_provider_monetate.loading._batches import Batch
from airflow_provider_monetate.loading._pipeline import LoadPart
from airflow_provider_monetate.loading._sources import RecordSource
from airflow_provider_monetate.monetate.privacy._ledger import ACQUIA_CDP, DeletionLedger
from airflow_provider_monetate.operators._load_base import RecordLoadOperator
from airflow_provider_monetate.storage import as_location, warn_if_worker_local

__all__ = ["AcquiaCdpDeleteCustomersOperator", "AcquiaCdpIngestOperator"]

# CDP entity names are identifiers; they also name each entity's checkpoint and rejects file.
_COLLECTION = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


class _CdpLoadOperator(RecordLoadOperator):
    """What both CDP operators share: the hook, the SourceSystemID default, and the
    check-every-entity-then-deliver-each pipeline.

    :param source_system_id: put on every record without one; default: the connection's
        ``source_system_id`` extra.
    :param max_in_flight: tracker requests in flight at once, default 8. CDP publishes no rate
        limit and each call mostly waits on the network; 429 and 503 answers are retried with
        backoff (honouring ``Retry-After``). Lower it if your Acquia contact asks you to.
    :param acquia_cdp_conn_id: the Acquia CDP connection.
    :param token_store: where the bearer token is read from: a
        :class:`~airflow_provider_monetate.acquia_cdp.tokens.TokenStore`, a Variable name, or
        ``{"class": ..., "kwargs": ...}``; default: the connection's ``token_variable`` extra.
    """

    def __init__(
        self,
        *,
        source_system_id: str | None = None,
        max_in_flight: int = 8,
        acquia_cdp_conn_id: str = AcquiaCdpHook.default_conn_name,
        token_store: Any = None,
        **kwargs,
    ) -> None:
        super().__init__(max_in_flight=max_in_flight, **kwargs)
        self.source_system_id = source_system_id
        self.acquia_cdp_conn_id = acquia_cdp_conn_id
        self.token_store = token_store

    def _hook(self) -> AcquiaCdpHook:
        """The hook, reading the token from ``token_store`` when one is given."""
        return AcquiaCdpHook(self.acquia_cdp_conn_id, token_store=self.token_store, pool_size=self.max_in_flight)

    def _default_source_system_id(self, hook: AcquiaCdpHook) -> str | None:
        value = self.source_system_id if self.source_system_id is not None else hook.source_system_id
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(f"{self.task_id}: source_system_id must be a non-empty string.")
        if value == DEFAULT_SOURCE_SYSTEM_ID:
            raise ConfigurationError(
                f"{self.task_id}: source_system_id {DEFAULT_SOURCE_SYSTEM_ID!r} is CDP's default for records "
                "without one; name your source system instead."
            )
        return value

    def _missing_source_system_id(self, what: str) -> MissingSourceSystemIdError:
        """The error for records without SourceSystemID; ``what`` says which records."""
        return MissingSourceSystemIdError(
            f"Nothing was sent to Acquia CDP: {what} and no default SourceSystemID is set. "
            f"{KFK0_HAZARD[0].upper()}{KFK0_HAZARD[1:]}. Set source_system_id= on the task or the "
            "'source_system_id' extra of connection "
            f"{self.acquia_cdp_conn_id!r}, or give each record its SourceSystemID."
        )

    def _load_entities(self, context: Any, hook: AcquiaCdpHook, parts: Sequence[LoadPart],
                       refuse: Callable[[], None] = lambda: None) -> dict[str, dict[str, Any]]:
        """Check every entity, then (if all passed) deliver each; return ``{collection: summary}``.

        :param refuse: called once all are checked, before anything is sent; raises to stop.
        """
        return self.run_parts(context, parts, retries=lambda: hook.api.retries, before_delivery=refuse,
                              what="Acquia CDP")


class AcquiaCdpIngestOperator(_CdpLoadOperator):
    """Load entities into Acquia CDP through the DW Tracker: checked, batched, concurrent, retry-safe.

    Every record must be flat (a nested object or array fails the task before anything is
    sent, naming the entity, row and field path), gets ``SourceSystemID`` when it has none,
    has its timestamp fields converted to epoch numbers, and has empty strings sent as null
    (CDP refuses empty strings). Field names are kept exactly: CDP attribute names are
    case-sensitive. Every entity is checked before any is sent; entities are then delivered
    in the order given (put ``customers`` first).

    Keyed entities upsert by their ``Source{Entity}Number`` (``SourceCustomerNumber``,
    ``SourceTransactionNumber``, ...; required on each record), so a repeated batch is
    harmless and is resent after a timeout. Events have no key: a batch whose answer was
    lost is not resent on its own (see ``resend_in_doubt``). See :class:`RecordLoadOperator`
    for the batching and retry parameters; ``records``/``source`` are replaced by ``entities``.

    :param entities: ``{"customers": ..., "transactions": ..., "transactionItems": ...,
        "events": ..., "<CustomEntity>": ...}``; each value is a list of dicts (or an XCom of
        one) or a file (local path or object storage URI: NDJSON, CSV or JSON, optionally gzipped).
    :param source_system_id: ``SourceSystemID`` for records without one; default: the
        connection's ``source_system_id`` extra. With neither, a record without one fails the
        task: CDP would file it under ``KFK_0``.
    :param timestamp_fields: further fields to convert besides ``EventTimeStamp``,
        ``TransactionTimeStamp``, ``InvoiceDate``, ``ShipDate`` and ``Timestamp``. A
        ``datetime``, ISO-8601 string or epoch number is accepted; an epoch number that looks
        like the other unit (13 digits for seconds, 10 for milliseconds) is rejected.
    :param timestamp_unit: ``s`` or ``ms``; default: the connection's ``timestamp_unit`` extra, else seconds.
    :param acquia_cdp_conn_id: the Acquia CDP connection.
    :return: ``{collection: run summary}`` (rows read / sent / rejected, batches, retries,
        seconds, rows/s, SourceSystemIDs filled, empty strings nulled).
    """

    data_fields = ("entities",)  # records are never rendered as Jinja; a file path or an XCom per entity is
    template_fields: Sequence[str] = (
        "entities", "source_system_id", "timestamp_unit", "rejects_path", "checkpoint_dir", "acquia_cdp_conn_id",
    )

    def __init__(
        self,
        *,
        entities: Mapping[str, Any],
        timestamp_fields: Sequence[str] | None = None,
        timestamp_unit: str | None = None,
        **kwargs,
    ) -> None:
        if kwargs.get("records") is not None or kwargs.get("source") is not None:
            raise ConfigurationError("AcquiaCdpIngestOperator takes each entity's records or file in entities=.")
        super().__init__(**kwargs)
        self.entities = entities
        self.timestamp_fields = list(timestamp_fields or ())
        self.timestamp_unit = timestamp_unit

    def execute(self, context: Any) -> dict[str, dict[str, Any]]:
        entities = self._checked_entities()
        hook = self._hook()
        default = self._default_source_system_id(hook)
        try:
            unit = parse_timestamp_unit(self.timestamp_unit or hook.timestamp_unit)
        except ValueError as exc:
            raise ConfigurationError(f"{self.task_id}: {exc}") from None
        rules = {c: EntityRules(c, source_system_id=default, timestamp_fields=self.timestamp_fields, unit=unit)
                 for c in entities}
        loads = [  # keyed entities upsert by Source{Entity}Number: of rows sharing one, only the last is sent
            LoadPart(collection, self._entity_source(collection, value), rules[collection].normalize,
                     _entity_sender(hook, collection, rules[collection].resend_safe), rules[collection].resend_safe,
                     key=rules[collection].key_field)
            for collection, value in entities.items()
        ]

        def refuse() -> None:
            missing = [f"{r.missing_source_system_id} in {c}" for c, r in rules.items() if r.missing_source_system_id]
            if missing:
                raise self._missing_source_system_id(f"records have no SourceSystemID ({', '.join(missing)})")

        summaries = self._load_entities(context, hook, loads, refuse)
        for collection, summary in summaries.items():
            summary["source_system_id_filled"] = rules[collection].filled_source_system_id
            summary["empty_strings_nulled"] = rules[collection].empty_strings
        return summaries

    def resolve_data(self, name: str, value: Any, context: Any, jinja_env: Any) -> Any:
        """``entities`` one level deep: each entity's file path is rendered and its XCom resolved;
        records themselves are never rendered."""
        resolve = super().resolve_data
        value = resolve(name, value, context, jinja_env)
        if isinstance(value, Mapping):
            return {collection: resolve(collection, source, context, jinja_env) for collection, source in value.items()}
        return value

    def describe_data(self, name: str, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {collection: describe_data(records) for collection, records in value.items()}
        return super().describe_data(name, value)

    def _checked_entities(self) -> dict[str, Any]:
        entities = self.data_value("entities")
        if not isinstance(entities, Mapping) or not entities:
            raise ConfigurationError(f"{self.task_id}: entities must be a non-empty dict of collection -> records.")
        for collection, value in entities.items():
            if not isinstance(collection, str) or not _COLLECTION.fullmatch(collection):
                raise ConfigurationError(
                    f"{self.task_id}: entity name {collection!r} is not a CDP entity collection (letters, digits, _)."
                )
            if expected := collection_misspelling(collection):
                raise ConfigurationError(
                    f"{self.task_id}: entity collection {collection!r} is spelled {expected!r} in CDP's tracker "
                    "payload (collection keys are case-sensitive); rename it. Nothing was read or sent."
                )
            if value is None:
                raise ConfigurationError(f"{self.task_id}: entity {collection!r} has no records or file (None).")
        return dict(entities)

    def _entity_source(self, collection: str, value: Any) -> RecordSource:
        try:
            return RecordSource(as_location(value), self.format)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{self.task_id}: entity {collection!r}: {exc}") from None


def _entity_sender(hook: AcquiaCdpHook, collection: str, resend_safe: bool) -> Callable[[Batch], object]:
    def send(batch: Batch) -> None:
        hook.post_entities(body=batch.body(collection), retry_ambiguous=resend_safe)
    return send


class AcquiaCdpDeleteCustomersOperator(_CdpLoadOperator):
    """Soft-delete customers in Acquia CDP: ``DeleteFlag: true`` upserts, keyed by customer.

    Each customer is sent as ``{"SourceCustomerNumber" (or "UUID"), "SourceSystemID",
    "DeleteFlag": true}`` and nothing else, so a deletion never updates other attributes. A
    row with neither identifier fails the task before anything is sent. CDP marks the record
    deleted in its base tables at once and drops it from the summary (BI) tables at the next
    full refresh; it offers no way to read the result back, so the ledger can only record the
    deletion as ``submitted``.

    What is deliberately not deleted:

    * **Transactions and transaction items** are never deleted: removing them would change
      historical sales figures. Acquia recommends keeping them; to detach them from the
      person, re-send them with :class:`AcquiaCdpIngestOperator` (same
      ``SourceTransactionNumber``) pointing at an anonymous customer labelled "Unidentified".
    * **Events** have no ``DeleteFlag`` (the Event entity is constant); none is ever sent.
    * **Addresses** only with ``delete_addresses=True``, as ``Address`` and
      ``CustomerAddressXref`` records named by the row's ``SourceAddressNumber`` and
      ``SourceCustomerAddressXrefNumber``; they travel in the same request as their customer,
      since CDP applies sub-entity deletes only together with the Customer entity.
    * **Custom entities** (e.g. ``PetInfo``) only for the ``SourceEntityNumber`` values listed
      in ``custom_entities``; they are sent by the same task, after the customers.

    :param customer_numbers: ``SourceCustomerNumber`` values (a list, or an XCom of one); or
        ``records``/``source`` (see :class:`RecordLoadOperator`) with rows holding
        ``SourceCustomerNumber`` or ``UUID``, optionally ``SourceSystemID`` and the address keys.
    :param source_system_id: for rows without their own; default: the connection's
        ``source_system_id`` extra; with neither the task fails (CDP would use ``KFK_0``).
    :param delete_addresses: also soft-delete the rows' ``Address`` / ``CustomerAddressXref`` records.
    :param custom_entities: ``{"PetInfo": ["PET-1", ...]}``: custom entity records to soft-delete,
        by their ``Source{Entity}Number``; an entity without explicit numbers is an error.
    :param ledger_path: the proof-of-deletion ledger directory (local path or object storage
        URI); each customer is recorded there (system ``acquia_cdp``, status ``submitted``) as
        soon as CDP accepts its batch.
    :param ledger_hash_ids: store SHA-256 hashes of the customer IDs in the ledger.
    :param delete_request_time: when the people asked to be erased (UTC ISO-8601), for the ledger.
    :param acquia_cdp_conn_id: the Acquia CDP connection.
    :return: ``{collection: run summary}``; the ``customers`` summary also counts the records
        sent per collection (``records_sent``) and names the ledger.
    """

    data_fields = (*RecordLoadOperator.data_fields, "customer_numbers", "custom_entities")
    template_fields: Sequence[str] = (
        *RecordLoadOperator.template_fields, "customer_numbers", "custom_entities", "source_system_id",
        "ledger_path", "delete_request_time", "acquia_cdp_conn_id",
    )

    def __init__(
        self,
        *,
        customer_numbers: Sequence[str] | None = None,
        delete_addresses: bool = False,
        custom_entities: Mapping[str, Sequence[str]] | None = None,
        ledger_path: Any = None,
        ledger_hash_ids: bool = False,
        delete_request_time: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.customer_numbers = customer_numbers
        self.delete_addresses = delete_addresses
        self.custom_entities = custom_entities
        self.ledger_path = ledger_path
        self.ledger_hash_ids = ledger_hash_ids
        self.delete_request_time = delete_request_time

    def record_source(self) -> RecordSource:
        """The customers: ``customer_numbers``, or exactly one of ``records`` and ``source``."""
        numbers = self.data_value("customer_numbers")
        given = [numbers is not None, self.data_value("records") is not None, self.source is not None]
        if sum(given) != 1:
            raise ConfigurationError(f"{self.task_id}: pass exactly one of customer_numbers=, records= and source=.")
        if numbers is None:
            return super().record_source()
        if isinstance(numbers, str | bytes) or not isinstance(numbers, Sequence):
            raise ConfigurationError(f"{self.task_id}: customer_numbers must be a list of SourceCustomerNumbers.")
        return RecordSource([{"SourceCustomerNumber": number} for number in numbers])

    def describe_data(self, name: str, value: Any) -> Any:
        if name == "customer_numbers":
            return describe_data(value, "customer numbers")
        if name == "custom_entities" and isinstance(value, Mapping):
            return {entity: describe_data(numbers, "entity numbers") for entity, numbers in value.items()}
        return super().describe_data(name, value)

    def execute(self, context: Any) -> dict[str, dict[str, Any]]:
        source = self.record_source()
        if self.delete_addresses and self.data_value("customer_numbers") is not None:
            raise ConfigurationError(
                f"{self.task_id}: delete_addresses=True needs rows with SourceAddressNumber or "
                "SourceCustomerAddressXrefNumber (records= or source=), not bare customer_numbers."
            )
        hook = self._hook()
        default = self._default_source_system_id(hook)
        rules = DeletionRules(source_system_id=default, delete_addresses=self.delete_addresses)
        ledger = self._ledger()
        sent: dict[str, int] = {}
        loads = [LoadPart("customers", source, rules.normalize, self._unit_sender(hook, ledger, context, sent),
                          resend_safe=True)]
        custom_entities = self.data_value("custom_entities")
        if custom_entities:
            if default is None:
                raise self._missing_source_system_id(
                    f"custom entity deletions ({', '.join(custom_entities)}) carry no SourceSystemID of their own"
                )
            try:
                units = custom_entity_deletions(custom_entities, default)
            except ValueError as exc:
                raise ConfigurationError(f"{self.task_id}: {exc}") from None
            for collection in custom_entities:
                records = [record for unit in units for record in unit.get(collection, ())]
                loads.append(LoadPart(collection, RecordSource(records), _as_is,
                                      _entity_sender(hook, collection, True), resend_safe=True))

        def refuse() -> None:
            if rules.missing_source_system_id:
                raise self._missing_source_system_id(
                    f"{rules.missing_source_system_id} customer row(s) have no SourceSystemID"
                )

        summaries = self._load_entities(context, hook, loads, refuse)
        summaries["customers"]["records_sent"] = dict(sent)
        summaries["customers"]["ledger"] = ledger.location if ledger else None
        return summaries

    def _ledger(self) -> DeletionLedger | None:
        if not self.ledger_path:
            return None
        location = as_location(self.ledger_path)
        warn_if_worker_local(self.log, configured_executors(), ledger_path=location)
        return DeletionLedger(location, hash_ids=self.ledger_hash_ids)

    def _unit_sender(self, hook: AcquiaCdpHook, ledger: DeletionLedger | None, context: Any,
                     sent: dict[str, int]) -> Callable[[Batch], object]:
        ti = context["ti"]
        lock = threading.Lock()

        def send(batch: Batch) -> None:
            payload = merge_units(_decode(batch))
            hook.post_entities(payload=payload, retry_ambiguous=True)
            if ledger is not None:
                # Recorded only once CDP accepted the batch; a crash before this line leaves the
                # batch unacknowledged, so the retry sends and records it again.
                ledger.record_submitted(
                    (str(c.get("SourceCustomerNumber") or c["UUID"]) for c in payload["customers"]),
                    system=ACQUIA_CDP, delete_request_time=self.delete_request_time, dataset="customers",
                    dag_id=ti.dag_id, run_id=ti.run_id,
                )
            with lock:
                for collection, records in payload.items():
                    sent[collection] = sent.get(collection, 0) + len(records)
        return send


def _as_is(row_number: int, record: dict) -> tuple[dict, list]:
    return record, []


def _decode(batch: Batch) -> list[dict]:
    """The batch's rows again (deletion units: a few small records each)."""
    return json.loads(b"[" + batch.payload + b"]")
