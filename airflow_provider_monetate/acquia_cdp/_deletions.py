"""Acquia CDP soft deletes: customer identifiers turned into ``DeleteFlag`` records.

:class:`DeletionRules` turns one customer row into a deletion *unit* (the records to send
together); :func:`custom_entity_deletions` does the same for custom entity records named by
their key; :func:`merge_units` builds one tracker payload from units. Only key fields are
ever sent, so a deletion never updates other attributes. No Airflow imports.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from airflow_provider_monetate.acquia_cdp._entities import (
    DELETE_FLAG,
    SOURCE_SYSTEM_ID,
    EntityNaming,
    collection_misspelling,
    entity_name,
    identifier_problem,
)
from airflow_provider_monetate.acquia_cdp._payload import CUSTOMER_UUID, MISSING_SOURCE_SYSTEM_ID
from airflow_provider_monetate.exceptions import ConfigurationError, InvalidValueError
from airflow_provider_monetate.loading._batches import Batch
from airflow_provider_monetate.loading._rejects import Rejection

__all__ = ["DeletionRules", "custom_entity_deletions", "deletion_sender", "merge_units"]

#: Entities :class:`DeletionRules` builds itself, or must never delete, so they cannot be
#: passed as custom entities.
_NOT_CUSTOM = frozenset({"Customer", "Address", "CustomerAddressXref", "Transaction", "TransactionItem", "Event"})


def _identifier(record: Mapping[str, Any], name: str) -> Any:
    """A key value usable as-is, ``None`` when absent or empty; raises :class:`InvalidValueError` otherwise
    (not text or an integer, blank, or a ``SourceSystemID`` of ``KFK_0``)."""
    value = record.get(name)
    if value is None or value == "":
        return None
    problem = identifier_problem(name, value)
    if problem:
        raise InvalidValueError(f"{name} {problem}")
    return value


class DeletionRules:
    """Turns one customer identifier row into a deletion *unit*: the soft deletes to send together.

    A unit is ``{"customers": [{"SourceCustomerNumber" | "UUID", "SourceSystemID", "DeleteFlag": true}]}``
    plus, with ``delete_addresses``, ``Address`` and ``CustomerAddressXref`` records for the
    row's ``SourceAddressNumber`` and ``SourceCustomerAddressXrefNumber``. Only key fields are
    sent: a deletion never updates other attributes. Transactions and events are never part of
    a unit (see :class:`~airflow_provider_monetate.operators.acquia_cdp.AcquiaCdpDeleteCustomersOperator`).
    The collection keys and key columns are ``naming``'s (the defaults above unless overridden):
    a row names each record by the same column it is sent under.

    :param source_system_id: for rows without their own ``SourceSystemID``; ``None`` rejects them.
    :param delete_addresses: also soft-delete the row's address records.
    :param naming: collection keys and key columns per entity (``customers``, ``Address``,
        ``CustomerAddressXref``).
    """

    def __init__(self, *, source_system_id: str | None = None, delete_addresses: bool = False,
                 naming: EntityNaming | None = None) -> None:
        self.source_system_id = source_system_id
        self.delete_addresses = delete_addresses
        self.naming = naming = naming or EntityNaming()
        self.customer_key = naming.key_field("customers")
        self._address_key, self._xref_key = naming.key_field("Address"), naming.key_field("CustomerAddressXref")
        self._customers = naming.collection("customers")
        #: Records each unit carried, per collection (accepted rows only).
        self.records: Counter[str] = Counter()
        #: Rows refused for want of a SourceSystemID (no default configured).
        self.missing_source_system_id = 0

    def customer_ids(self, unit: Mapping[str, list[dict]]) -> list[str]:
        """The customers a unit (or a payload of units) deletes, as text: key, else UUID."""
        return [str(c[self.customer_key] if c.get(self.customer_key) is not None else c[CUSTOMER_UUID])
                for c in unit.get(self._customers, ())]

    def normalize(self, row_number: int, record: Mapping[str, Any]) -> tuple[dict | None, list[Rejection]]:
        """Build the deletion unit of one row.

        :param row_number: the row's number, for rejections.
        :param record: ``SourceCustomerNumber`` or ``UUID``, optionally ``SourceSystemID`` and
            (with ``delete_addresses``) ``SourceAddressNumber`` / ``SourceCustomerAddressXrefNumber``.
        :return: ``(unit, [])`` or ``(None, rejections)``.
        """
        rejections: list[Rejection] = []
        values: dict[str, Any] = {}
        names = [self.customer_key, CUSTOMER_UUID, SOURCE_SYSTEM_ID]
        if self.delete_addresses:
            names += [self._address_key, self._xref_key]
        for name in names:
            try:
                values[name] = _identifier(record, name)
            except InvalidValueError as exc:
                rejections.append(Rejection(row_number, name, exc.args[0]))
        if rejections:
            return None, rejections
        system = values[SOURCE_SYSTEM_ID] or self.source_system_id
        if system is None:
            self.missing_source_system_id += 1
            rejections.append(Rejection(row_number, SOURCE_SYSTEM_ID, MISSING_SOURCE_SYSTEM_ID))
        customer = {name: values[name] for name in (self.customer_key, CUSTOMER_UUID) if values[name] is not None}
        if not customer:
            rejections.append(Rejection(row_number, self.customer_key, "missing: CDP deletes only customers "
                                        f"identified by {self.customer_key} or {CUSTOMER_UUID}"))
        if rejections:
            return None, rejections
        unit = self._unit(customer, values, {SOURCE_SYSTEM_ID: system, DELETE_FLAG: True})
        for collection, records in unit.items():
            self.records[collection] += len(records)
        return unit, rejections

    def _unit(self, customer: dict, values: dict[str, Any], flags: dict[str, Any]) -> dict[str, list[dict]]:
        unit: dict[str, list[dict]] = {self._customers: [{**customer, **flags}]}
        address, xref = values.get(self._address_key), values.get(self._xref_key)
        if xref is not None:
            link = {self._xref_key: xref, **customer}
            if address is not None:
                link[self._address_key] = address
            unit[self.naming.collection("CustomerAddressXref")] = [{**link, **flags}]
        if address is not None:
            unit[self.naming.collection("Address")] = [{self._address_key: address, **flags}]
        return unit


def custom_entity_deletions(custom_entities: Mapping[str, Iterable[Any]] | None, source_system_id: str,
                            naming: EntityNaming | None = None) -> list[dict[str, list[dict]]]:
    """Deletion units for custom entity records named by their ``Source{Entity}Number``.

    :param custom_entities: ``{"PetInfo": ["PET-1", "PET-2"], ...}``.
    :param source_system_id: the records' ``SourceSystemID``.
    :param naming: each entity's collection key and key column, when not the defaults.
    :raises ConfigurationError: an entity without explicit numbers, an empty number, or an entity that
        is not custom (customers, addresses, transactions, transaction items, events).
    """
    naming = naming or EntityNaming()
    units = []
    for collection, numbers in (custom_entities or {}).items():
        entity = entity_name(collection)
        if entity in _NOT_CUSTOM or collection_misspelling(collection):
            raise ConfigurationError(
                f"{collection!r} is not a custom entity: customers come from the input, addresses from "
                "delete_addresses=True, and transactions, transaction items and events are never deleted"
            )
        key, wire = naming.key_field(collection), naming.collection(collection)
        if isinstance(numbers, str | bytes) or not isinstance(numbers, Iterable):
            raise ConfigurationError(f"custom entity {collection!r} needs a list of {key} values")
        numbers = list(numbers)
        if not numbers or any(n is None or n == "" or isinstance(n, bool) for n in numbers):
            raise ConfigurationError(
                f"custom entity {collection!r} needs explicit, non-empty {key} values: CDP deletes custom entity "
                f"records only by their SourceEntityNumber ({key})"
            )
        units += [{wire: [{key: n, SOURCE_SYSTEM_ID: source_system_id, DELETE_FLAG: True}]} for n in numbers]
    return units


def merge_units(units: Iterable[Mapping[str, list[dict]]]) -> dict[str, list[dict]]:
    """One tracker payload from deletion units, collection by collection (customers first)."""
    payload: dict[str, list[dict]] = {}
    for unit in units:
        for collection, records in unit.items():
            payload.setdefault(collection, []).extend(records)
    return payload


def deletion_sender(post: Callable[[dict], object], rules: DeletionRules, record: Callable[[list[str]], None] | None,
                    sent: Counter[str]) -> Callable[[Batch], None]:
    """Sends a batch of deletion units as one tracker payload (``post``), then gives ``record`` the
    customers it deleted and counts its records per collection in ``sent``. Thread-safe.

    ``record`` runs only once CDP accepted the batch: a crash before it leaves the batch
    unacknowledged, so the retry sends and records it again.
    """
    lock = threading.Lock()

    def send(batch: Batch) -> None:
        payload = merge_units(json.loads(b"[" + batch.payload + b"]"))  # a few small records a unit
        post(payload)
        if record is not None:
            record(rules.customer_ids(payload))
        with lock:
            sent.update({collection: len(records) for collection, records in payload.items()})
    return send
