"""Acquia CDP tracker payload rules: what a record must look like before it is sent.

The DW Tracker takes ``{"customers": [...], "transactions": [...], ...}`` where every record
is a FLAT object (a nested object or array draws 400/422), an empty string is an error
(omit the attribute or send null), timestamps are epoch numbers, and attribute names are
case-sensitive. Records without ``SourceSystemID`` are filed under CDP's default ``KFK_0``,
which mixes sources and, per Acquia, risks accidental removals of customers.

:class:`EntityRules` checks and converts one entity's records for ingestion;
:class:`DeletionRules` turns customer identifiers into ``DeleteFlag`` soft deletes. Both are
:data:`~airflow_provider_monetate.record_load.Normalizer` callables. A problem becomes a
:class:`~airflow_provider_monetate.rejects.Rejection` naming the field (and, for nested
values, the path inside it) but never the value, which may be customer data. No Airflow imports.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from airflow_provider_monetate.rejects import Rejection
from airflow_provider_monetate.value_parsing import parse_boolean, parse_iso_datetime

__all__ = [
    "DEFAULT_SOURCE_SYSTEM_ID",
    "KNOWN_TIMESTAMP_FIELDS",
    "DeletionRules",
    "EntityRules",
    "custom_entity_deletions",
    "entity_name",
    "key_field",
    "merge_units",
    "nested_path",
    "parse_timestamp_unit",
    "to_epoch",
]

SOURCE_SYSTEM_ID = "SourceSystemID"
DELETE_FLAG = "DeleteFlag"
DEFAULT_SOURCE_SYSTEM_ID = "KFK_0"  # what CDP files a record under when SourceSystemID is missing
#: Epoch-valued attributes of the standard entities (``Timestamp`` is the seed's example field).
KNOWN_TIMESTAMP_FIELDS = ("EventTimeStamp", "TransactionTimeStamp", "InvoiceDate", "ShipDate", "Timestamp")
KEYLESS_ENTITIES = frozenset({"Event"})
#: Entities :class:`DeletionRules` builds itself, or must never delete, so they cannot be
#: passed as custom entities.
_NOT_CUSTOM = frozenset({"Customer", "Address", "CustomerAddressXref", "Transaction", "TransactionItem", "Event"})

_UNITS = {"s": "s", "sec": "s", "second": "s", "seconds": "s", "ms": "ms", "millisecond": "ms", "milliseconds": "ms"}
# Epoch numbers are accepted from 1973-03-03 to 2286-11-20: 9-10 digits in seconds, 12-13 in
# milliseconds. Outside that span a number is most likely in the other unit, or a date such as
# 20240501 (YYYYMMDD); a datetime or ISO string is taken whatever its year.
_EPOCH_SPANS = {"s": (10**8, 10**10), "ms": (10**11, 10**13)}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_UNIT_DELTAS = {"s": timedelta(seconds=1), "ms": timedelta(milliseconds=1)}
_EPOCH_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_PASS_THROUGH = (int, bool, type(None))  # floats are checked for NaN by _plain
_KFK0_HAZARD = (
    "no SourceSystemID and no default: CDP would file the record under KFK_0, mixing it with every "
    "other source that forgets its ID and risking accidental removals of customers"
)

# Field kinds, decided once per field name.
_PLAIN, _TIMESTAMP, _DELETE_FLAG, _MISCASED = range(4)


class _Invalid(Exception):
    """A value the rules refuse; the argument is the rejection reason."""


def entity_name(collection: str) -> str:
    """The entity behind a collection key: first letter upper-cased, one plural ``s`` removed.

    ``customers`` -> ``Customer``, ``transactionItems`` -> ``TransactionItem``,
    ``Address`` -> ``Address`` (``ss`` is not a plural), ``PetInfo`` -> ``PetInfo``.
    """
    name = collection[:1].upper() + collection[1:]
    if name.endswith("s") and not name.endswith("ss"):
        name = name[:-1]
    return name


def key_field(entity: str) -> str | None:
    """The upsert key ``Source{Entity}Number``, or ``None`` for events (they have no key)."""
    return None if entity in KEYLESS_ENTITIES else f"Source{entity}Number"


def parse_timestamp_unit(value: str | None) -> str:
    """``"s"`` or ``"ms"`` from a parameter or connection extra (``seconds``, ``ms``, ...; default seconds).

    :raises ValueError: an unknown unit.
    """
    if value is None or value == "":
        return "s"
    unit = _UNITS.get(str(value).strip().lower())
    if unit is None:
        raise ValueError(f"timestamp_unit must be 's' (seconds) or 'ms' (milliseconds), got {value!r}")
    return unit


def to_epoch(value: Any, unit: str) -> int | float | None:
    """Convert a moment to the epoch number CDP expects.

    :param value: a ``datetime`` (pendulum included; naive means UTC), a ``date`` (midnight
        UTC), an ISO-8601 string starting with a calendar date, or an epoch number (also as
        a digit string) already in ``unit``. ``None`` and ``""`` give ``None``.
    :param unit: ``"s"`` or ``"ms"``.
    :return: an ``int`` (a non-integral epoch number keeps its fraction).
    :raises ValueError: the value cannot be read, or it is an epoch number outside 1973-03-03
        .. 2286-11-20 in ``unit``, which is what a value in the other unit looks like (13 digits
        where seconds are expected, 10 where milliseconds are); the message never contains the value.
    :raises TypeError: a value of another type.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit() and text.isascii():  # first: fromisoformat would read 20240501 as a date
            return _epoch_number(int(text), unit)
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            if not text:
                return None
            if _EPOCH_NUMBER.fullmatch(text):
                return _epoch_number(Decimal(text) if "." in text else int(text), unit)
            value = parse_iso_datetime(text)
    elif isinstance(value, bool):
        raise TypeError("expected a datetime, an ISO-8601 string or an epoch number, got bool")
    elif isinstance(value, int | float | Decimal):
        return _epoch_number(value, unit)
    elif value is None:
        return None
    elif not isinstance(value, date):
        raise TypeError(f"expected a datetime, an ISO-8601 string or an epoch number, got {type(value).__name__}")
    elif not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    # datetime.__sub__ gives an exact stdlib timedelta, for pendulum too; naive means UTC.
    delta = datetime.__sub__(value, _EPOCH if value.tzinfo else _NAIVE_EPOCH)
    return delta // _UNIT_DELTAS[unit]


def _epoch_number(number: int | float | Decimal, unit: str) -> int | float:
    if not (number.is_finite() if isinstance(number, Decimal) else math.isfinite(number)):
        raise ValueError("an epoch number must be finite, got NaN or infinity")
    low, high = _EPOCH_SPANS[unit]
    if not low <= number < high:
        digits = len(str(int(abs(number))))
        other_digits, other = (range(12, 14), "milliseconds") if unit == "s" else (range(9, 11), "seconds")
        hint = f" It looks like {other}." if number > 0 and digits in other_digits else ""
        expected = "epoch seconds (9-10 digits)" if unit == "s" else "epoch milliseconds (12-13 digits)"
        raise ValueError(f"{'negative ' if number < 0 else ''}{digits}-digit epoch number where {expected} are "
                         f"expected.{hint} Check timestamp_unit, or pass a datetime or ISO-8601 string.")
    if isinstance(number, int):
        return number
    return int(number) if number == int(number) else float(number)


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
    """A JSON scalar, or :class:`_Invalid`; empty strings become ``None``."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _Invalid("a number must be finite, got NaN or infinity")
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise _Invalid("a number must be finite, got NaN or infinity")
    if isinstance(value, datetime | date):
        raise _Invalid("a date or datetime in a field not listed in timestamp_fields; list it there to convert it")
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float):
        return value
    raise _Invalid(f"a {type(value).__name__} cannot be sent as a CDP attribute")


def _delete_flag(value: Any) -> bool | None:
    if value is None:
        return None
    try:
        return parse_boolean(value)
    except ValueError:
        raise _Invalid("DeleteFlag must be true or false") from None


class EntityRules:
    """Checks and converts the records of one entity collection for the tracker.

    Field names are kept exactly as given: CDP attribute names are case-sensitive. A field
    that differs only in case from one these rules act on (``sourceSystemId``,
    ``eventTimestamp``) is rejected, since CDP would store it as another attribute.

    :param collection: the payload key, e.g. ``customers``, ``transactionItems``, ``events``,
        or a custom entity such as ``PetInfo``.
    :param source_system_id: put on records without one; ``None`` rejects such records.
    :param timestamp_fields: further epoch fields besides :data:`KNOWN_TIMESTAMP_FIELDS`.
    :param unit: epoch unit, ``"s"`` or ``"ms"``.
    """

    def __init__(self, collection: str, *, source_system_id: str | None = None,
                 timestamp_fields: Iterable[str] = (), unit: str = "s") -> None:
        if not collection or not isinstance(collection, str):
            raise ValueError(f"an entity collection name must be a non-empty string, got {collection!r}")
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
                            raise _Invalid(_nested(name, value))
                        value = _plain(value)
                elif kind == _TIMESTAMP:
                    if value == "":
                        self.empty_strings += 1
                    value = to_epoch(value, self.unit)
                elif kind == _DELETE_FLAG:
                    if self.key_field is None and value is not None:
                        raise _Invalid("the Event entity has no DeleteFlag (events are constant); remove it")
                    value = _delete_flag(value)
                else:
                    raise _Invalid(f"differs only in case from {self._by_lower[name.lower()]!r}; CDP attribute "
                                   "names are case-sensitive")
            except (_Invalid, ValueError, TypeError) as exc:
                rejections.append(Rejection(row_number, name, exc.args[0]))
                continue
            out[name] = value
        if out.get(SOURCE_SYSTEM_ID) is None and not any(r.field == SOURCE_SYSTEM_ID for r in rejections):
            if self.source_system_id is None:
                self.missing_source_system_id += 1
                rejections.append(Rejection(row_number, SOURCE_SYSTEM_ID, _KFK0_HAZARD))
            else:
                out[SOURCE_SYSTEM_ID] = self.source_system_id
                self.filled_source_system_id += 1
        key = self.key_field
        if key is not None and out.get(key) is None and not any(r.field == key for r in rejections):
            rejections.append(Rejection(row_number, key, f"missing: CDP upserts {self.entity} records by {key}"))
        if rejections:
            return None, rejections
        return out, rejections


def _identifier(record: Mapping[str, Any], name: str) -> Any:
    """A key value usable as-is, ``None`` when absent or empty; raises :class:`_Invalid` otherwise."""
    value = record.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Invalid(f"{name} must be a string or an integer, got {type(value).__name__}")
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
            except _Invalid as exc:
                rejections.append(Rejection(row_number, name, exc.args[0]))
        if rejections:
            return None, rejections
        system = values[SOURCE_SYSTEM_ID] or self.source_system_id
        if system is None:
            self.missing_source_system_id += 1
            rejections.append(Rejection(row_number, SOURCE_SYSTEM_ID, _KFK0_HAZARD))
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
    :raises ValueError: an entity without explicit numbers, an empty number, or an entity that
        is not custom (customers, addresses, transactions, transaction items, events).
    """
    units = []
    for collection, numbers in (custom_entities or {}).items():
        entity = entity_name(collection)
        if entity in _NOT_CUSTOM:
            raise ValueError(
                f"{collection!r} is not a custom entity: customers come from the input, addresses from "
                "delete_addresses=True, and transactions, transaction items and events are never deleted"
            )
        key = key_field(entity)
        if isinstance(numbers, str | bytes) or not isinstance(numbers, Iterable):
            raise ValueError(f"custom entity {collection!r} needs a list of {key} values")
        numbers = list(numbers)
        if not numbers or any(n is None or n == "" or isinstance(n, bool) for n in numbers):
            raise ValueError(
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
