"""Operators that load entities into Acquia CDP's DW Tracker and soft-delete customers.

Both check every record of every entity before the first request, so a bad row in one
entity stops all of them: each entity is checked into its own spool, and only when every
entity has passed are the spools delivered, one entity after another, in the order given.
Checking, batching, concurrency, retries, checkpoints and the rejects report are the shared
record-load pipeline's (``airflow_provider_monetate.loading``); the CDP rules, ``acquia_cdp``'s.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_provider_monetate._compat import AirflowFailException, configured_executors
from airflow_provider_monetate._data_fields import describe_data
from airflow_provider_monetate.acquia_cdp._deletions import DeletionRules, custom_entity_deletions, deletion_sender
from airflow_provider_monetate.acquia_cdp._entities import (
    EntityNaming,
    checked_source_system_id,
    collection_problem,
    missing_source_system_id,
)
from airflow_provider_monetate.acquia_cdp._epoch import parse_timestamp_unit
from airflow_provider_monetate.acquia_cdp._payload import EntityRules, guessed_timestamps_warning
from airflow_provider_monetate.acquia_cdp._webtag import WEBTAG_SCHEME
from airflow_provider_monetate.exceptions import (
    ApiAuthError,
    ApiForbiddenError,
    ConfigurationError,
    MissingSourceSystemIdError,
)
from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook
from airflow_provider_monetate.loading._batches import Batch
from airflow_provider_monetate.loading._pipeline import LoadPart
from airflow_provider_monetate.loading._sources import RecordSource
from airflow_provider_monetate.monetate.privacy._ledger import ACQUIA_CDP, DeletionLedger
from airflow_provider_monetate.operators._erasure_request import ERASURE_REQUEST_FIELDS, ErasureRequestMixin
from airflow_provider_monetate.operators._load_base import IncrementalSyncMixin, RecordLoadOperator
from airflow_provider_monetate.storage import as_location, warn_if_worker_local

__all__ = ["AcquiaCdpDeleteCustomersOperator", "AcquiaCdpIngestOperator"]


class _CdpLoadOperator(RecordLoadOperator):
    """What both CDP operators share: the hook, the SourceSystemID default, the entity naming,
    and the check-every-entity-then-deliver-each pipeline.

    :param source_system_id: put on every record without one; default: the connection's
        ``source_system_id`` extra.
    :param max_in_flight: tracker requests in flight at once, default 8. CDP publishes no rate
        limit and each call mostly waits on the network; 429 and 503 answers are retried with
        backoff (honouring ``Retry-After``). Lower it if your Acquia contact asks you to.
    :param key_fields: ``{"PetInfo": "SourcePetNumber"}``: an entity's key where it is not
        ``Source{Entity}Number``. ``collection_names``: ``{"Address": "addresses"}``: the key a
        collection is sent under (the documents name none for addresses and custom entities).
    :param acquia_cdp_conn_id: the Acquia CDP connection.
    :param token_store: where the bearer token is read from: a
        :class:`~airflow_provider_monetate.acquia_cdp.tokens.TokenStore`, a Variable name, or
        ``{"class": ..., "kwargs": ...}``; default: the connection's ``token_variable`` extra.

    Scheme ``a1webtag``: a refused access key fails the task without retries (AirflowFailException):
    Acquia warns that failed access-key attempts block the account.
    """

    def __init__(
        self,
        *,
        source_system_id: str | None = None,
        max_in_flight: int = 8,
        key_fields: Mapping[str, str] | None = None,
        collection_names: Mapping[str, str] | None = None,
        acquia_cdp_conn_id: str = AcquiaCdpHook.default_conn_name,
        token_store: Any = None,
        **kwargs,
    ) -> None:
        super().__init__(max_in_flight=max_in_flight, **kwargs)
        self.source_system_id = source_system_id
        self.key_fields = key_fields
        self.collection_names = collection_names
        self.acquia_cdp_conn_id = acquia_cdp_conn_id
        self.token_store = token_store

    def _naming(self, names: Sequence[str]) -> EntityNaming:
        """The entity naming of this task, every override checked against the collections it sends."""
        try:
            naming = EntityNaming(self.collection_names, self.key_fields)
            naming.check(names)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{self.task_id}: {exc}. Nothing was read or sent.") from None
        return naming

    def _hook(self) -> AcquiaCdpHook:
        """The hook, reading the token from ``token_store`` when one is given."""
        return AcquiaCdpHook(self.acquia_cdp_conn_id, token_store=self.token_store, pool_size=self.max_in_flight)

    def _default_source_system_id(self, hook: AcquiaCdpHook) -> str | None:
        value = self.source_system_id if self.source_system_id is not None else hook.source_system_id
        try:
            return checked_source_system_id(value)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{self.task_id}: {exc}.") from None

    def _missing_source_system_id(self, what: str) -> MissingSourceSystemIdError:
        """The error for records without SourceSystemID; ``what`` says which records."""
        return missing_source_system_id(what, self.acquia_cdp_conn_id)

    def _load_entities(self, context: Any, hook: AcquiaCdpHook, parts: Sequence[LoadPart],
                       refuse: Callable[[], None] = lambda: None) -> dict[str, dict[str, Any]]:
        """Check every entity, then (if all passed) deliver each; return ``{collection: summary}``.

        :param refuse: called once all are checked, before anything is sent; raises to stop.
        :raises AirflowFailException: a webtag access key was refused (not to be retried by Airflow).
        """
        try:
            return self.run_parts(context, parts, retries=lambda: hook.api.retries, before_delivery=refuse,
                                  what="Acquia CDP", destination=hook.entity_dataset)
        except (ApiAuthError, ApiForbiddenError) as exc:
            if hook.scheme != WEBTAG_SCHEME:
                raise
            raise AirflowFailException(f"{self.task_id}: {exc}. The task is not retried for the same reason.") from exc


class AcquiaCdpIngestOperator(IncrementalSyncMixin, _CdpLoadOperator):
    """Load entities into Acquia CDP through the DW Tracker: checked, batched, concurrent, retry-safe.

    Every record must be flat (a nested object or array fails the task before anything is sent, naming the
    entity, row and field path), gets ``SourceSystemID`` when it has none, has its timestamps converted to epoch
    numbers, and has empty strings sent as null (CDP refuses empty strings). Field names are kept exactly: CDP
    attribute names are case-sensitive. Every entity is checked before any is sent; entities are then delivered
    in the order given (put ``customers`` first).

    Keyed entities upsert by their ``Source{Entity}Number`` (``SourceCustomerNumber``, ``SourceTransactionNumber``,
    ...; required on each record; ``key_fields`` sets another; a customer may be named by its ``UUID`` instead), so
    a repeated batch is harmless and is resent after a timeout, and ``sync="incremental"`` sends only what changed
    (:class:`IncrementalSyncMixin`). Events have no key: a batch whose answer was lost is not resent on its own (see
    ``resend_in_doubt``). See :class:`RecordLoadOperator` for batching and retries (``entities`` replaces ``records``).

    :param entities: ``{"customers": ..., "transactions": ..., "transactionItems": ...,
        "events": ..., "<CustomEntity>": ...}``; each value is a list of dicts (or an XCom of
        one) or a file (local path or object storage URI: NDJSON, CSV or JSON, optionally gzipped).
    :param source_system_id: ``SourceSystemID`` for records without one; default: the
        connection's ``source_system_id`` extra. With neither, a record without one fails the
        task: CDP would file it under ``KFK_0``.
    :param timestamp_fields: the fields holding timestamps besides ``EventTimeStamp``,
        ``TransactionTimeStamp``, ``InvoiceDate``, ``ShipDate``, ``Timestamp``. Not given: a field
        named ``…Date``/``…Time``/``…TimeStamp`` and any ``datetime`` or ISO-8601 text is converted
        too, counted in ``timestamps_guessed`` and warned about; a list (even empty) turns that off.
        An epoch number that looks like the other unit (13 digits for seconds) is rejected.
    :param timestamp_unit: ``s`` or ``ms``; default: the connection's ``timestamp_unit`` extra, else seconds.
    :param acquia_cdp_conn_id: the Acquia CDP connection.
    :return: ``{collection: run summary}`` (rows read / sent / rejected, batches, retries,
        seconds, rows/s, SourceSystemIDs filled, empty strings nulled, timestamps guessed).
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
        self.timestamp_fields = None if timestamp_fields is None else list(timestamp_fields)
        self.timestamp_unit = timestamp_unit

    def execute(self, context: Any) -> dict[str, dict[str, Any]]:
        entities = self._checked_entities()
        naming = self._naming(list(entities))
        hook = self._hook()
        default = self._default_source_system_id(hook)
        try:
            unit = parse_timestamp_unit(self.timestamp_unit or hook.timestamp_unit)
        except ValueError as exc:
            raise ConfigurationError(f"{self.task_id}: {exc}") from None
        rules = {c: EntityRules(c, source_system_id=default, timestamp_fields=self.timestamp_fields, unit=unit,
                                key_field=naming.key_field(c)) for c in entities}
        syncs = self.entity_syncs(context, hook.settings, rules)  # sync="incremental": keyed entities only
        loads = [  # keyed entities upsert by their key: of rows sharing one, only the last is sent
            LoadPart(collection, self._entity_source(collection, value), rules[collection].normalize,
                     _entity_sender(hook, naming.collection(collection), rules[collection].resend_safe),
                     rules[collection].resend_safe, key=rules[collection].repeat_key, sync=syncs[collection])
            for collection, value in entities.items()
        ]

        def refuse() -> None:
            missing = [f"{r.missing_source_system_id} in {c}" for c, r in rules.items() if r.missing_source_system_id]
            if missing:
                raise self._missing_source_system_id(f"records have no SourceSystemID ({', '.join(missing)})")

        summaries = self._load_entities(context, hook, loads, refuse)
        for collection, summary in summaries.items():
            rule = rules[collection]
            summary.update(source_system_id_filled=rule.filled_source_system_id,
                           empty_strings_nulled=rule.empty_strings, timestamps_guessed=dict(rule.guessed_timestamps))
        warning = guessed_timestamps_warning({c: s["timestamps_guessed"] for c, s in summaries.items()}, unit)
        if warning:
            self.log.warning("%s", warning)
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
            if problem := collection_problem(collection):
                raise ConfigurationError(f"{self.task_id}: {problem}. Nothing was read or sent.")
            if value is None:
                raise ConfigurationError(f"{self.task_id}: entity {collection!r} has no records or file (None).")
        return dict(entities)

    def _entity_source(self, collection: str, value: Any) -> RecordSource:
        try:
            return RecordSource(as_location(value), self.format)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{self.task_id}: entity {collection!r}: {exc}") from None


def _entity_sender(hook: AcquiaCdpHook, collection: str, resend_safe: bool) -> Callable[[Batch], object]:
    return lambda batch: hook.post_entities(body=batch.body(collection), retry_ambiguous=resend_safe,
                                            collections=(collection,))


class AcquiaCdpDeleteCustomersOperator(ErasureRequestMixin, _CdpLoadOperator):
    """Soft-delete customers in Acquia CDP: ``DeleteFlag: true`` upserts, keyed by customer.

    Each customer is sent as ``{"SourceCustomerNumber" (or "UUID"), "SourceSystemID", "DeleteFlag": true}``
    and nothing else, so a deletion never updates other attributes; a row with neither identifier fails the
    task before anything is sent. CDP drops the record from its summary (BI) tables at the next full refresh
    but keeps the person's data, and offers no read-back: the ledger records ``submitted`` only, so the CDP
    part of a request stays open. To erase a person, use ``AcquiaCdpEraseCustomersOperator``.

    What is deliberately not deleted:

    * **Transactions and transaction items** are never deleted: Acquia recommends keeping them (removing them
      would change historical sales figures); to detach them from the person, re-send them with
      :class:`AcquiaCdpIngestOperator` (same ``SourceTransactionNumber``) pointing at an "Unidentified" customer.
    * **Events** have no ``DeleteFlag`` (the Event entity is constant); none is ever sent.
    * **Addresses** only with ``delete_addresses=True``, as ``Address`` and ``CustomerAddressXref`` records
      named by the row's ``SourceAddressNumber`` and ``SourceCustomerAddressXrefNumber``, in the same request
      as their customer (CDP applies sub-entity deletes only together with the Customer entity). Their keys
      are a guess: ``collection_names={"Address": "addresses", ...}`` and ``key_fields`` set others.
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
    :param ledger_path: the proof-of-deletion ledger (local path or object storage URI): each customer is
        recorded (``acquia_cdp``, ``submitted``) once CDP accepts its batch; ``ledger_hash_ids``: as hashes.
    :param delete_request_time: when the people asked to be erased (UTC ISO-8601), for the ledger.
    Also ``request_id``, ``received_at``, ``regime`` (needs ``ledger_path``) and the mass-deletion guard's
    ``confirm_mass_deletion``, ``mass_deletion_threshold``, ``last_load_customers``: see ErasureRequestMixin.
    :param acquia_cdp_conn_id: the Acquia CDP connection.
    :return: ``{collection: run summary}``; the ``customers`` summary also counts the records
        sent per collection (``records_sent``) and names the ledger.
    """

    data_fields = (*RecordLoadOperator.data_fields, "customer_numbers", "custom_entities")
    template_fields: Sequence[str] = (
        *RecordLoadOperator.template_fields, "customer_numbers", "custom_entities", "source_system_id",
        "ledger_path", "delete_request_time", "acquia_cdp_conn_id", *ERASURE_REQUEST_FIELDS,
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

    def _deletion_naming(self) -> EntityNaming:
        custom = self.data_value("custom_entities") or {}
        return self._naming(["customers", "Address", "CustomerAddressXref", *custom])

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
        key = self._deletion_naming().key_field("customers")
        return RecordSource([{key: number} for number in numbers])

    def describe_data(self, name: str, value: Any) -> Any:
        if name == "customer_numbers":
            return describe_data(value, "customer numbers")
        if name == "custom_entities" and isinstance(value, Mapping):
            return {entity: describe_data(numbers, "entity numbers") for entity, numbers in value.items()}
        return super().describe_data(name, value)

    def execute(self, context: Any) -> dict[str, dict[str, Any]]:
        source = self.record_source()
        if self.delete_addresses and self.data_value("customer_numbers") is not None:
            raise ConfigurationError(f"{self.task_id}: delete_addresses=True needs rows with SourceAddressNumber or "
                                     "SourceCustomerAddressXrefNumber (records=, source=), not bare customer_numbers.")
        naming = self._deletion_naming()
        hook = self._hook()
        default = self._default_source_system_id(hook)
        rules = DeletionRules(source_system_id=default, delete_addresses=self.delete_addresses, naming=naming)
        ledger = self._ledger()
        request = self.open_erasure_request(as_location(self.ledger_path), self.ledger_hash_ids, context,
                                            received_default=self.delete_request_time, dry_run=self.dry_run)
        sent: Counter[str] = Counter()
        loads = [LoadPart("customers", source, rules.normalize,
                          self._unit_sender(hook, rules, ledger, context, sent, request), resend_safe=True)]
        custom_entities = self.data_value("custom_entities")
        if custom_entities:
            if default is None:
                raise self._missing_source_system_id(
                    f"custom entity deletions ({', '.join(custom_entities)}) carry no SourceSystemID of their own"
                )
            try:
                units = custom_entity_deletions(custom_entities, default, naming)
            except ValueError as exc:
                raise ConfigurationError(f"{self.task_id}: {exc}") from None
            for collection, wire in ((c, naming.collection(c)) for c in custom_entities):
                loads.append(LoadPart(collection, RecordSource([r for unit in units for r in unit.get(wire, ())]),
                                      _as_is, _entity_sender(hook, wire, True), resend_safe=True))

        def refuse() -> None:
            if rules.missing_source_system_id:
                raise self._missing_source_system_id(f"{rules.missing_source_system_id} customer row(s) have no "
                                                     "SourceSystemID")
            self.guard_mass_deletion(rules.records[naming.collection("customers")], "CDP soft deletes", self.dry_run)

        summaries = self._load_entities(context, hook, loads, refuse)
        summaries["customers"]["records_sent"] = dict(sent)
        summaries["customers"]["ledger"] = ledger.location if ledger else None
        return summaries

    def _ledger(self) -> DeletionLedger | None:
        if not self.ledger_path:
            return None
        warn_if_worker_local(self.log, configured_executors(), ledger_path=as_location(self.ledger_path))
        return DeletionLedger(as_location(self.ledger_path), hash_ids=self.ledger_hash_ids)

    def _unit_sender(self, hook: AcquiaCdpHook, rules: DeletionRules, ledger: DeletionLedger | None, context: Any,
                     sent: Counter[str], request: Any) -> Callable[[Batch], object]:
        ti = context["ti"]

        def record(customer_ids: list[str]) -> None:  # a soft delete's customers are asked as CDP accepts them
            self.ask_erasure(request, as_location(self.ledger_path), self.ledger_hash_ids, ACQUIA_CDP, customer_ids,
                             context)
            ledger.record_submitted(customer_ids, system=ACQUIA_CDP, delete_request_time=self.delete_request_time,
                                    dataset="customers", dag_id=ti.dag_id, run_id=ti.run_id,
                                    request_id=request.request_id if request else None)

        return deletion_sender(lambda payload: hook.post_entities(payload=payload, retry_ambiguous=True), rules,
                               None if ledger is None else record, sent)


def _as_is(row_number: int, record: dict) -> tuple[dict, list]:
    return record, []
