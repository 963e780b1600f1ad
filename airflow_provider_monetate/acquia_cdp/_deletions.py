"""Acquia CDP soft deletes: customer identifiers turned into ``DeleteFlag`` records.

:class:`DeletionRules` turns one customer row into a deletion *unit* (the records to send
together); :func:`custom_entity_deletions` does the same for custom entity records named by
their key; :func:`merge_units` builds one tracker payload from units. Only key fields are
ever sent, so a deletion never updates other attributes. No Airflow imports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_monetate.acquia_cdp._entities import (
    DELETE_FLAG,
    SOURCE_SYSTEM_ID,
    collection_misspelling,
    entity_name,
    identifier_problem,
    key_field,
)
from airflow_provider_monetate.acquia_cdp._payload import MISSING_SOURCE_SYSTEM_ID
from airflow_provider_monetate.exceptions import ConfigurationError, InvalidValueError
from airflow_provider_monetate.loading._rejects import Rejection

__all__ = ["DeletionRules", "custom_entity_deletions", "merge_units"]

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

    :param source_system_id: for rows without their own ``SourceSystemID``; ``None`` rejects them.
    :param delete_addresses: also soft-delete the row's address records.
    """

    def __init__(self, *, source_system_id: str | None = None, delete_addresses: bool = False) -> None:
        self.source_system_id = source_system_id
        self.delete_addresses = delete_addresses
        #: Records each unit carried, per collection (accepted rows only).
        self.records: Counter[str] = Counter()
        #: Rows refused for want of a SourceSystemID (no default configured).
        self.missing_source_system_id = 0

    def normalize(self, row_number: int, record: Mapping[str, Any]) -> tuple[dict | None, list[Rejection]]:
        """Build the deletion unit of one row.

        :param row_number: the row's number, for rejections.
        :param record: ``SourceCustomerNumber`` or ``UUID``, optionally ``SourceSystemID`` and
            (with ``delete_addresses``) ``SourceAddressNumber`` / ``SourceCustomerAddressXrefNumber``.
        :return: ``(unit, [])`` or ``(None, rejections)``.
        """
        rejections: list[Rejection] = []
        values: dict[str, Any] = {}
        names = ["SourceCustomerNumber", "UUID", SOURCE_SYSTEM_ID]
        if self.delete_addresses:
            names += ["SourceAddressNumber", "SourceCustomerAddressXrefNumber"]
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
        customer = {name: values[name] for name in ("SourceCustomerNumber", "UUID") if values[name] is not None}
        if not customer:
            rejections.append(Rejection(row_number, "SourceCustomerNumber", "missing: CDP deletes only customers "
                                        "identified by SourceCustomerNumber or UUID"))
        if rejections:
            return None, rejections
        flags = {SOURCE_SYSTEM_ID: system, DELETE_FLAG: True}
        unit: dict[str, list[dict]] = {"customers": [{**customer, **flags}]}
        address, xref = values.get("SourceAddressNumber"), values.get("SourceCustomerAddressXrefNumber")
        if xref is not None:
            link = {"SourceCustomerAddressXrefNumber": xref, **customer}
            if address is not None:
                link["SourceAddressNumber"] = address
            unit["CustomerAddressXref"] = [{**link, **flags}]
        if address is not None:
            unit["Address"] = [{"SourceAddressNumber": address, **flags}]
        for collection, records in unit.items():
            self.records[collection] += len(records)
        return unit, rejections


def custom_entity_deletions(custom_entities: Mapping[str, Iterable[Any]] | None,
                            source_system_id: str) -> list[dict[str, list[dict]]]:
    """Deletion units for custom entity records named by their ``Source{Entity}Number``.

    :param custom_entities: ``{"PetInfo": ["PET-1", "PET-2"], ...}``.
    :param source_system_id: the records' ``SourceSystemID``.
    :raises ConfigurationError: an entity without explicit numbers, an empty number, or an entity that
        is not custom (customers, addresses, transactions, transaction items, events).
    """
    units = []
    for collection, numbers in (custom_entities or {}).items():
        entity = entity_name(collection)
        if entity in _NOT_CUSTOM or collection_misspelling(collection):
            raise ConfigurationError(
                f"{collection!r} is not a custom entity: customers come from the input, addresses from "
                "delete_addresses=True, and transactions, transaction items and events are never deleted"
            )
        key = key_field(entity)
        if isinstance(numbers, str | bytes) or not isinstance(numbers, Iterable):
            raise ConfigurationError(f"custom entity {collection!r} needs a list of {key} values")
        numbers = list(numbers)
        if not numbers or any(n is None or n == "" or isinstance(n, bool) for n in numbers):
            raise ConfigurationError(
                f"custom entity {collection!r} needs explicit, non-empty {key} values: CDP deletes custom entity "
                f"records only by their SourceEntityNumber ({key})"
            )
        units += [{collection: [{key: n, SOURCE_SYSTEM_ID: source_system_id, DELETE_FLAG: True}]} for n in numbers]
    return units


def merge_units(units: Iterable[Mapping[str, list[dict]]]) -> dict[str, list[dict]]:
    """One tracker payload from deletion units, collection by collection (customers first)."""
    payload: dict[str, list[dict]] = {}
    for unit in units:
        for collection, records in unit.items():
            payload.setdefault(collection, []).extend(records)
    return payload
