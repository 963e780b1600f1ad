"""Acquia CDP tracker payload rules: what a record must look like before it is sent.

The DW Tracker takes ``{"customers": [...], "transactions": [...], ...}`` where every record
is a FLAT object (a nested object or array draws 400/422), an empty string is an error
(omit the attribute or send null), timestamps are epoch numbers, and attribute names are
case-sensitive. Records without ``SourceSystemID`` are filed under CDP's default ``KFK_0``,
which mixes sources and, per Acquia, risks accidental removals of customers.

:class:`EntityRules` checks and converts one entity's records for ingestion (a
:data:`~airflow_provider_monetate.loading._pipeline.Normalizer`); soft deletes are built in
``_deletions``. A problem becomes a
:class:`~airflow_provider_monetate.loading._rejects.Rejection` naming the field (and, for nested
values, the path inside it) but never the value, which may be customer data. No Airflow imports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from airflow_provider_monetate.acquia_cdp._entities import (
    DELETE_FLAG,
    KFK0_HAZARD,
    SOURCE_SYSTEM_ID,
    entity_name,
    identifier_problem,
    is_identifier,
    key_field,
)
from airflow_provider_monetate.acquia_cdp._epoch import parse_timestamp_unit, to_epoch
from airflow_provider_monetate.exceptions import ConfigurationError, InvalidValueError
from airflow_provider_monetate.loading._rejects import Rejection
from airflow_provider_monetate.loading._values import parse_boolean

__all__ = ["KNOWN_TIMESTAMP_FIELDS", "EntityRules", "nested_path"]

#: Epoch-valued attributes of the standard entities (``Timestamp`` is the seed's example field).
KNOWN_TIMESTAMP_FIELDS = ("EventTimeStamp", "TransactionTimeStamp", "InvoiceDate", "ShipDate", "Timestamp")
_PASS_THROUGH = (int, bool, type(None))  # floats are checked for NaN by _plain
#: The rejection reason of a record that would be filed under KFK_0.
MISSING_SOURCE_SYSTEM_ID = f"no SourceSystemID and no default: {KFK0_HAZARD}"

# Field kinds, decided once per field name.
_PLAIN, _TIMESTAMP, _DELETE_FLAG, _MISCASED, _IDENTIFIER = range(5)


def nested_path(name: str, value: Any) -> str | None:
    """Where a value stops being flat, e.g. ``Address.City`` or ``Tags[0]``; ``None`` if it is flat.

    :param name: the attribute name the path starts with.
    :param value: the attribute's value.
    """
    if isinstance(value, Mapping):
        for key, inner in value.items():
            return nested_path(f"{name}.{key}", inner) or f"{name}.{key}"
        return f"{name} (empty object)"
    if isinstance(value, list | tuple | set | frozenset):
        for index, inner in enumerate(value):
            return nested_path(f"{name}[{index}]", inner) or f"{name}[{index}]"
        return f"{name} (empty array)"
    return None


def _nested(name: str, value: Any) -> str:
    """The rejection reason for a nested value."""
    path = nested_path(name, value)
    what = "object" if isinstance(value, Mapping) else "array"
    return f"nested {what} at {path}: CDP accepts flat records only (400/422); flatten it into top-level attributes"


def _plain(value: Any) -> Any:
    """A JSON scalar, or :class:`InvalidValueError`; empty strings become ``None``."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidValueError("a number must be finite, got NaN or infinity")
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidValueError("a number must be finite, got NaN or infinity")
    if isinstance(value, datetime | date):
        raise InvalidValueError(
            "a date or datetime in a field not listed in timestamp_fields; list it there to convert it"
        )
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float):
        return value
    raise InvalidValueError(f"a {type(value).__name__} cannot be sent as a CDP attribute")


def _delete_flag(value: Any) -> bool | None:
    if value is None:
        return None
    try:
        return parse_boolean(value)
    except ValueError:
        raise InvalidValueError("DeleteFlag must be true or false") from None


class EntityRules:
    """Checks and converts the records of one entity collection for the tracker.

    Field names are kept exactly as given: CDP attribute names are case-sensitive. A field
    that differs only in case from one these rules act on (``sourceSystemId``,
    ``eventTimestamp``) is rejected, since CDP would store it as another attribute.
    Identifiers (``SourceSystemID`` and every ``Source…Number``, the entity's key or a reference
    to another entity's) are text or integers, never blank (an empty string is null, as for any
    attribute), and a record's ``SourceSystemID`` is never ``KFK_0``.

    :param collection: the payload key, e.g. ``customers``, ``transactionItems``, ``events``,
        or a custom entity such as ``PetInfo``.
    :param source_system_id: put on records without one; ``None`` rejects such records.
    :param timestamp_fields: further epoch fields besides :data:`KNOWN_TIMESTAMP_FIELDS`.
    :param unit: epoch unit, ``"s"`` or ``"ms"``.
    """

    def __init__(self, collection: str, *, source_system_id: str | None = None,
                 timestamp_fields: Iterable[str] = (), unit: str = "s") -> None:
        if not collection or not isinstance(collection, str):
            raise ConfigurationError(f"an entity collection name must be a non-empty string, got {collection!r}")
        self.collection = collection
        self.entity = entity_name(collection)
        self.key_field = key_field(self.entity)
        self.source_system_id = source_system_id
        self.unit = parse_timestamp_unit(unit)
        self._timestamps = frozenset(KNOWN_TIMESTAMP_FIELDS) | frozenset(timestamp_fields)
        acted_on = {*self._timestamps, SOURCE_SYSTEM_ID, DELETE_FLAG, *([self.key_field] if self.key_field else [])}
        self._by_lower = {name.lower(): name for name in acted_on}
        self._kinds: dict[str, int] = {}
        #: Records that got the default SourceSystemID.
        self.filled_source_system_id = 0
        #: Records refused for want of a SourceSystemID (no default configured).
        self.missing_source_system_id = 0
        #: Empty strings sent as null.
        self.empty_strings = 0

    @property
    def resend_safe(self) -> bool:
        """Keyed entities upsert by their ``Source…Number``: a repeat replaces, never duplicates."""
        return self.key_field is not None

    def _kind(self, name: str) -> int:
        if name in self._timestamps:
            kind = _TIMESTAMP
        elif name == DELETE_FLAG:
            kind = _DELETE_FLAG
        elif str(name).lower() in self._by_lower and name not in self._by_lower.values():
            kind = _MISCASED
        elif is_identifier(name):
            kind = _IDENTIFIER
        else:
            kind = _PLAIN
        self._kinds[name] = kind
        return kind

    def normalize(self, row_number: int, record: Mapping[str, Any]) -> tuple[dict | None, list[Rejection]]:
        """Check one record and convert it to what the tracker accepts.

        :param row_number: the record's row number, for rejections.
        :param record: attribute name to value.
        :return: ``(record, [])``, or ``(None, rejections)`` when anything is wrong.
        """
        out: dict[str, Any] = {}
        rejections: list[Rejection] = []
        kinds = self._kinds
        for name, value in record.items():
            kind = kinds.get(name)
            if kind is None:
                kind = self._kind(name)
            try:
                if kind == _PLAIN:
                    if type(value) is str:  # the common case, kept cheap
                        if not value:
                            value = None
                            self.empty_strings += 1
                    elif type(value) not in _PASS_THROUGH:
                        if isinstance(value, Mapping | list | tuple | set | frozenset):
                            raise InvalidValueError(_nested(name, value))
                        value = _plain(value)
                elif kind == _TIMESTAMP:
                    if value == "":
                        self.empty_strings += 1
                    value = to_epoch(value, self.unit)
                elif kind == _IDENTIFIER:
                    if value == "":
                        value = None
                        self.empty_strings += 1
                    elif value is not None and (problem := identifier_problem(name, value)):
                        raise InvalidValueError(problem)
                elif kind == _DELETE_FLAG:
                    if self.key_field is None and value is not None:
                        raise InvalidValueError("the Event entity has no DeleteFlag (events are constant); remove it")
                    value = _delete_flag(value)
                else:
                    known = self._by_lower[name.lower()]
                    raise InvalidValueError(f"differs only in case from {known!r}; CDP attribute "
                                   "names are case-sensitive")
            except (ValueError, TypeError) as exc:  # InvalidValueError is both
                rejections.append(Rejection(row_number, name, exc.args[0]))
                continue
            out[name] = value
        if out.get(SOURCE_SYSTEM_ID) is None and not any(r.field == SOURCE_SYSTEM_ID for r in rejections):
            if self.source_system_id is None:
                self.missing_source_system_id += 1
                rejections.append(Rejection(row_number, SOURCE_SYSTEM_ID, MISSING_SOURCE_SYSTEM_ID))
            else:
                out[SOURCE_SYSTEM_ID] = self.source_system_id
                self.filled_source_system_id += 1
        key = self.key_field
        if key is not None and out.get(key) is None and not any(r.field == key for r in rejections):
            rejections.append(Rejection(row_number, key, f"missing: CDP upserts {self.entity} records by {key}"))
        if rejections:
            return None, rejections
        return out, rejections
