"""Operators for Monetate datasets: create or extend a dataset, post records to it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from airflow_provider_monetate._compat import BaseOperator
from airflow_provider_monetate.exceptions import ConfigurationError, DatasetConflictError
from airflow_provider_monetate.hooks.monetate import MonetateHook
from airflow_provider_monetate.loading._pipeline import LoadPart
from airflow_provider_monetate.monetate._datasets import (
    PRIVACY_TYPE,
    check_definition,
    customer_dataset_refusal,
    field_conflicts,
)
from airflow_provider_monetate.monetate._rows import RowRules
from airflow_provider_monetate.monetate.privacy._ledger import DeletionLedger
from airflow_provider_monetate.operators._load_base import IncrementalSyncMixin, RecordLoadOperator
from airflow_provider_monetate.storage import as_location

__all__ = ["MonetateCreateDatasetOperator", "MonetatePostRecordsOperator"]


class MonetateCreateDatasetOperator(BaseOperator):
    """Create a Monetate dataset when missing; add missing fields when it exists.

    Running it twice changes nothing. A field that exists with another type or role, or a
    dataset of another type, fails the task: the Data API can add fields but not change them.

    :param name: the dataset (schema) name.
    :param type: the schema type, e.g. ``event``, ``attribute``, ``customer_data_privacy``.
    :param fields: ``{name: {"data_type": ..., "identifier": bool, "unique_key": bool,
        "event_time": bool}}``; may be ``{}`` for ``customer_data_privacy``.
    :param named_identifier: the Identifier Name; Monetate does not use a dataset until set.
    :param allow_customer_dataset: create a customer dataset (type ``attribute``) through the API
        although Monetate advises against it ("Creating a customer dataset schema via the API is
        not recommended at this time."); without it, creating one fails the task, while an existing
        one still gains its missing fields.
    :param monetate_conn_id: the Monetate connection.
    :return: the dataset's schema as Monetate reports it.
    """

    template_fields: Sequence[str] = ("name", "type", "fields", "named_identifier", "monetate_conn_id")

    def __init__(
        self,
        *,
        name: str,
        type: str,
        fields: dict[str, dict[str, Any]] | None = None,
        named_identifier: str | None = None,
        allow_customer_dataset: bool = False,
        monetate_conn_id: str = MonetateHook.default_conn_name,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.type = type
        self.fields = fields or {}
        self.named_identifier = named_identifier
        self.allow_customer_dataset = allow_customer_dataset
        self.monetate_conn_id = monetate_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        problems = check_definition(self.name, self.type, self.fields)
        if problems:
            raise ConfigurationError(f"Dataset {self.name!r} is not valid; nothing was sent: " + "; ".join(problems))
        hook = MonetateHook(self.monetate_conn_id)
        existing = hook.find_schema(self.name)
        if existing is None:
            refusal = customer_dataset_refusal(self.name, self.type, self.allow_customer_dataset)
            if refusal:
                raise ConfigurationError(refusal)
            body = {"name": self.name, "type": self.type, "fields": self.fields}
            if self.named_identifier:
                body["named_identifier"] = self.named_identifier
            self.log.info("Creating %s dataset %r with %d field(s)", self.type, self.name, len(self.fields))
            return hook.create_schema(body)
        return self._extend(hook, existing)

    def _extend(self, hook: MonetateHook, existing: dict[str, Any]) -> dict[str, Any]:
        if existing.get("type") and existing["type"] != self.type:
            raise DatasetConflictError(
                f"Dataset {self.name!r} exists as type {existing['type']!r}, not {self.type!r}; a dataset's "
                "type cannot change. Use another name."
            )
        existing_fields = existing.get("fields") or {}
        conflicts = field_conflicts(self.fields, existing_fields)
        if conflicts:
            raise DatasetConflictError(
                f"Dataset {self.name!r} exists with conflicting field(s): {'; '.join(conflicts)}. The Data API "
                "adds fields but cannot change them."
            )
        missing = {name: spec for name, spec in self.fields.items() if name not in existing_fields}
        changed = False
        if missing and self.type != PRIVACY_TYPE:
            self.log.info("Adding field(s) %s to dataset %r", sorted(missing), self.name)
            hook.patch_schema(self.name, fields=missing)
            changed = True
        if self.named_identifier and existing.get("named_identifier") != self.named_identifier:
            hook.patch_schema(self.name, named_identifier=self.named_identifier)
            changed = True
        if not changed:
            self.log.info("Dataset %r already matches; nothing to change", self.name)
            return existing
        return hook.get_schema(self.name)


class MonetatePostRecordsOperator(IncrementalSyncMixin, RecordLoadOperator):
    """Post records to a Monetate dataset: checked, streamed, concurrent and retry-safe.

    Rows are checked and normalised against the dataset's schema (fetched once): DATETIME to
    UTC ISO-8601 ``...Z``, NUMBER, BOOLEAN, MULTI_STRING from lists, the identifier present,
    unknown fields rejected or dropped. The whole input is checked before the first request,
    so by default a file with a bad row sends nothing. A retried try resumes after the
    batches the previous try delivered; see :class:`RecordLoadOperator` for the input and
    batching parameters, and :class:`IncrementalSyncMixin` for ``sync="incremental"`` (datasets
    with a ``unique_key``: send only the rows new or changed since the last successful run).

    :param dataset: the dataset name.
    :param unknown_fields: ``reject`` (default) a row with a field the dataset lacks, or
        ``drop`` such fields (counted in the summary).
    :param multi_string_commas: how a MULTI_STRING list item holding a comma is sent, which
        Monetate's documents leave open: ``reject`` (default) rejects the row, naming row and field
        (as it does an item starting with ``"`` or ending with ``\\``), so no server can split an
        item; ``quote`` sends ``"a, b",c`` (the product catalog's quoting); ``backslash`` sends
        ``a\\, b,c``. Choose the one your Monetate account reads: the other one splits the item.
    :param exclude_erased: a proof-of-deletion ledger (local path or object storage URI, see
        :class:`~airflow_provider_monetate.monetate.privacy._ledger.DeletionLedger`): rows whose identifier
        the ledger lists as erased (deletion submitted or confirmed, in any system) are not sent,
        so a deleted customer does not come back with the next load; counted as ``rows_excluded``.
        A location holding no ledger (missing, empty, mistyped) fails the task before anything is sent.
    :param allow_empty_ledger: accept an ``exclude_erased`` location that holds no ledger yet (before
        the first erasure), sending every row and saying so in the log.
    :param monetate_conn_id: the Monetate connection.
    :return: the run summary: rows read / sent / rejected / excluded, batches, retries, seconds, rows/s;
        with ``sync="incremental"`` also rows new / changed / unchanged and keys removed.
    """

    template_fields: Sequence[str] = (
        *RecordLoadOperator.template_fields, "dataset", "exclude_erased", "monetate_conn_id",
    )

    def __init__(
        self,
        *,
        dataset: str,
        unknown_fields: str = "reject",
        multi_string_commas: str = "reject",
        exclude_erased: Any = None,
        allow_empty_ledger: bool = False,
        monetate_conn_id: str = MonetateHook.default_conn_name,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.unknown_fields = unknown_fields
        self.multi_string_commas = multi_string_commas
        self.exclude_erased = exclude_erased
        self.allow_empty_ledger = allow_empty_ledger
        self.monetate_conn_id = monetate_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        hook = MonetateHook(self.monetate_conn_id, pool_size=self.max_in_flight)
        schema = hook.get_schema(self.dataset)
        rules = RowRules.from_schema(schema, unknown_fields=self.unknown_fields,
                                     multi_string_commas=self.multi_string_commas)
        upserts = rules.has_unique_key  # a repeated batch replaces its rows instead of duplicating them
        sync = self.sync_target(context, self.monetate_conn_id, self.dataset, keyed=upserts,
                                what=f"Monetate dataset {self.dataset}", destination=f"{hook.host}{hook.data_path}",
                                type=schema.get("type"), fields=schema.get("fields") or {},
                                unknown_fields=self.unknown_fields, multi_string_commas=self.multi_string_commas)

        def send(batch) -> None:
            hook.post_rows(self.dataset, body=batch.body("schema_rows"), retry_ambiguous=upserts)

        exclude = self._erased_filter(rules)
        # Of rows sharing the unique key, only the last is sent (or, on_duplicate_key="fail", none).
        load = LoadPart("", self.record_source(), rules.normalize, send, upserts, exclude, key=rules.unique_key_field,
                        sync=sync)
        summary = self.run_parts(context, [load], retries=lambda: hook.api.retries,
                                 what=f"Monetate dataset {self.dataset}",
                                 destination=lambda _: hook.dataset_lineage(self.dataset))[""]
        summary["dropped_fields"] = dict(rules.dropped_fields)
        summary["values_trimmed"] = dict(rules.values_trimmed)
        if rules.values_trimmed:
            self.log.info("Leading or trailing whitespace was trimmed from text values: %s (values per field)",
                          dict(rules.values_trimmed))
        return summary

    def _erased_filter(self, rules: RowRules) -> Callable[[dict], bool] | None:
        """``row -> True`` for rows of customers the ``exclude_erased`` ledger lists as erased."""
        if self.exclude_erased is None:
            return None
        if not str(self.exclude_erased).strip():
            raise ConfigurationError(
                "exclude_erased is empty (a template that rendered to nothing?); nothing was sent. Pass the "
                "ledger's location, or leave exclude_erased unset to send every row."
            )
        field = rules.identifier_field
        if field is None:
            raise ConfigurationError(
                f"exclude_erased needs an identifier field, and dataset {self.dataset!r} has none; nothing was sent."
            )
        ledger = DeletionLedger(as_location(self.exclude_erased))
        if not ledger.has_parts():
            # Reading no ledger would exclude nobody: the erased customers would be sent again.
            if not self.allow_empty_ledger:
                raise ConfigurationError(
                    f"exclude_erased={ledger.location!r} holds no proof-of-deletion ledger (the location does not "
                    "exist, is empty, or has no ledger part file); nothing was sent. Point it at the ledger= of "
                    "your deletion tasks, or pass allow_empty_ledger=True if no customer has been erased yet."
                )
            self.log.warning("exclude_erased=%s holds no ledger part yet (allow_empty_ledger=True): no row is "
                             "excluded", ledger.location)
            return None
        erased = ledger.erased()
        self.log.info("Not sending rows of the %d customer(s) the ledger %s lists as erased", len(erased),
                      self.exclude_erased)
        return lambda row: row.get(field) in erased
