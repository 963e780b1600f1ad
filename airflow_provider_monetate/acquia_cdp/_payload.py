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
import re
from collections import Counter
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
)
from airflow_provider_monetate.acquia_cdp._entities import key_field as entity_key_field
from airflow_provider_monetate.acquia_cdp._epoch import parse_timestamp_unit, to_epoch
from airflow_provider_monetate.exceptions import ConfigurationError, InvalidValueError
from airflow_provider_monetate.loading._rejects import Rejection
from airflow_provider_monetate.loading._values import parse_boolean

__all__ = ["KNOWN_TIMESTAMP_FIELDS", "EntityRules", "guessed_timestamps_warning", "looks_like_timestamp_name",
           "nested_path"]

#: Epoch-valued attributes of the standard entities (``Timestamp`` is the seed's example field).
KNOWN_TIMESTAMP_FIELDS = ("EventTimeStamp", "TransactionTimeStamp", "InvoiceDate", "ShipDate", "Timestamp")
#: The attribute a customer may be named by instead of its key (the seed: customers "having a
#: SourceCustomerNumber or Universally Unique Identifier (UUID)").
CUSTOMER_UUID = "UUID"
# Names and texts that look like timestamps when timestamp_fields is not given (see EntityRules).
_TIMESTAMP_NAME = re.compile(r"\w*(?:Date|Time|TimeStamp|Timestamp)")
_ISO_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?")
_GUESS_FIX = ("pass timestamp_fields=[...] naming exactly the fields that hold timestamps (an explicit list "
              "turns this guessing off)")
_PASS_THROUGH = (int, bool, type(None))  # floats are checked for NaN by _plain
#: The rejection reason of a record that would be filed under KFK_0.
MISSING_SOURCE_SYSTEM_ID = f"no SourceSystemID and no default: {KFK0_HAZARD}"

# Field kinds, decided once per field name.
_PLAIN, _TIMESTAMP, _DELETE_FLAG, _MISCASED, _IDENTIFIER, _GUESSED = range(6)


def guessed_timestamps_warning(guessed: Mapping[str, Mapping[str, int]], unit: str) -> str | None:
    """The warning for values converted because they looked like timestamps, else ``None``.

    :param guessed: ``{collection: {field: count}}`` (:attr:`EntityRules.guessed_timestamps`).
    """
    fields = [f"{collection}.{field} ({n})" for collection, counts in guessed.items() for field, n in counts.items()]
    if not fields:
        return None
    return (f"Converted to epoch {'seconds' if unit == 's' else 'milliseconds'} because they look like timestamps "
            f"(the seed wants every system timestamp as epoch): {', '.join(fields)}. {_GUESS_FIX[0].upper()}"
            f"{_GUESS_FIX[1:]}.")


def looks_like_timestamp_name(name: str) -> bool:
    """Whether an attribute's name says it holds a moment: it ends in ``Date``, ``Time`` or ``TimeStamp``."""
    return _TIMESTAMP_NAME.fullmatch(name) is not None


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
    Identifiers (``SourceSystemID``, the entity's key and every ``Source…Number``, its own or a
    reference to another entity's) are text or integers, never blank (an empty string is null,
    as for any attribute), and a record's ``SourceSystemID`` is never ``KFK_0``. A customer
    without its key may be named by its ``UUID``.

    Timestamps: the seed wants every system timestamp as an epoch number, and only some of
    their names are documented. :data:`KNOWN_TIMESTAMP_FIELDS` and ``timestamp_fields`` are
    always converted. Without ``timestamp_fields`` (``None``) the rules also guess: a field
    whose name ends in ``Date``, ``Time`` or ``TimeStamp``, and any ``datetime``, ``date`` or
    ISO-8601 text (``2024-05-01``, ``2024-05-01T12:00:00Z``), is converted too and counted in
    :attr:`guessed_timestamps` (by field, never a value) for the operator to warn about; a
    field guessed by its name whose value is not a moment is rejected, naming the way out. A
    list, even empty, says exactly which fields besides the known ones hold timestamps and
    turns the guessing off.

    :param collection: the payload key, e.g. ``customers``, ``transactionItems``, ``events``,
        or a custom entity such as ``PetInfo``.
    :param source_system_id: put on records without one; ``None`` rejects such records.
    :param timestamp_fields: further epoch fields besides :data:`KNOWN_TIMESTAMP_FIELDS`;
        ``None`` guesses them (see above).
    :param unit: epoch unit, ``"s"`` or ``"ms"``.
    :param key_field: the attribute the entity upserts by; default ``Source{Entity}Number``.
    """

    def __init__(self, collection: str, *, source_system_id: str | None = None,
                 timestamp_fields: Iterable[str] | None = None, unit: str = "s",
                 key_field: str | None = None) -> None:
        if not collection or not isinstance(collection, str):
            raise ConfigurationError(f"an entity collection name must be a non-empty string, got {collection!r}")
        self.collection = collection
        self.entity = entity_name(collection)
        self.key_field = entity_key_field(self.entity) if key_field is None or self.entity == "Event" else key_field
        self.alternate_key = CUSTOMER_UUID if self.entity == "Customer" else None
        self.source_system_id = source_system_id
        self.unit = parse_timestamp_unit(unit)
        self.guess_timestamps = timestamp_fields is None
        self._timestamps = frozenset(KNOWN_TIMESTAMP_FIELDS) | frozenset(timestamp_fields or ())
        keys = [name for name in (self.key_field, self.alternate_key) if name]
        acted_on = {*self._timestamps, SOURCE_SYSTEM_ID, DELETE_FLAG, *keys}
        self._by_lower = {name.lower(): name for name in acted_on}
        self._kinds: dict[str, int] = {}
        #: Records that got the default SourceSystemID.
        self.filled_source_system_id = 0
        #: Records refused for want of a SourceSystemID (no default configured).
        self.missing_source_system_id = 0
        #: Empty strings sent as null.
        self.empty_strings = 0
        #: Values converted to epoch because they looked like timestamps, by field.
        self.guessed_timestamps: Counter[str] = Counter()

    @property
    def resend_safe(self) -> bool:
        """Keyed entities upsert by their ``Source…Number``: a repeat replaces, never duplicates."""
        return self.key_field is not None

    @property
    def repeat_key(self) -> str | Any:
        """What rows repeat by, for finding them: the key field, or (customers, who may be named by
        ``UUID``) :meth:`upsert_key`; ``None`` for events."""
        return self.upsert_key if self.alternate_key else self.key_field

    def upsert_key(self, row: Mapping[str, Any]) -> Any:
        """What CDP upserts an accepted row by: its key, else (customers) its ``UUID``, tagged apart."""
        value = row.get(self.key_field) if self.key_field else None
        if value is None and self.alternate_key and row.get(self.alternate_key) is not None:
            return (self.alternate_key, row[self.alternate_key])
        return value

    def _kind(self, name: str) -> int:
        if name in self._timestamps:
            kind = _TIMESTAMP
        elif name == DELETE_FLAG:
            kind = _DELETE_FLAG
        elif str(name).lower() in self._by_lower and name not in self._by_lower.values():
            kind = _MISCASED
        elif name == self.key_field or name == self.alternate_key or is_identifier(name):
            kind = _IDENTIFIER
        elif self.guess_timestamps and looks_like_timestamp_name(name):
            kind = _GUESSED
        else:
            kind = _PLAIN
        self._kinds[name] = kind
        return kind

    def _guessed(self, name: str, value: Any) -> Any:
        """A value guessed to be a moment, as epoch; counted. A rejection (InvalidValueError) when it is not."""
        try:
            converted = to_epoch(value, self.unit)
        except InvalidValueError as exc:
            raise InvalidValueError(f"looks like a timestamp (by its name) but {exc.args[0][:1].lower()}"
                                    f"{exc.args[0][1:]}; {_GUESS_FIX}") from None
        if converted is not None:
            self.guessed_timestamps[name] += 1
        return converted

    def _plain_value(self, name: str, value: Any) -> Any:
        """A value of a field these rules do not act on, checked (and, guessing, converted if a moment)."""
        if type(value) is str:  # the common case, kept cheap
            if not value:
                self.empty_strings += 1
                return None
            if self.guess_timestamps and value[:1].isdigit() and _ISO_TEXT.fullmatch(value):
                return self._guessed(name, value)
            return value
        if type(value) in _PASS_THROUGH:
            return value
        if isinstance(value, Mapping | list | tuple | set | frozenset):
            raise InvalidValueError(_nested(name, value))
        if self.guess_timestamps and isinstance(value, datetime | date):
            return self._guessed(name, value)
        return _plain(value)

    def _value(self, name: str, value: Any, kind: int) -> Any:
        """The value to send for a guessed timestamp, a DeleteFlag or a miscased name (the other kinds
        are handled inline by :meth:`normalize`); raises InvalidValueError (the rejection reason)."""
        if kind == _GUESSED:
            if value == "":
                self.empty_strings += 1
            return self._guessed(name, value)
        if kind == _DELETE_FLAG:
            if self.key_field is None and value is not None:
                raise InvalidValueError("the Event entity has no DeleteFlag (events are constant); remove it")
            return _delete_flag(value)
        known = self._by_lower[name.lower()]
        raise InvalidValueError(f"differs only in case from {known!r}; CDP attribute names are case-sensitive")

    def normalize(self, row_number: int, record: Mapping[str, Any]) -> tuple[dict | None, list[Rejection]]:
        """Check one record and convert it to what the tracker accepts.

        :param row_number: the record's row number, for rejections.
        :param record: attribute name to value.
        :return: ``(record, [])``, or ``(None, rejections)`` when anything is wrong.
        """
        out: dict[str, Any] = {}
        rejections: list[Rejection] = []
        kinds = self._kinds
        guess = self.guess_timestamps
        for name, value in record.items():
            kind = kinds.get(name)
            if kind is None:
                kind = self._kind(name)
            if kind == _PLAIN:  # the common cases, kept cheap: text that cannot be a date, ints, bools
                kind_of_value = type(value)
                if kind_of_value is str:
                    if value and not (guess and "0" <= value[0] <= "9"):
                        out[name] = value
                        continue
                elif kind_of_value in _PASS_THROUGH:
                    out[name] = value
                    continue
            try:
                if kind == _IDENTIFIER:  # inline: every record has some
                    if value == "":
                        value = None
                        self.empty_strings += 1
                    elif value is not None and (problem := identifier_problem(name, value)):
                        raise InvalidValueError(problem)
                elif kind == _TIMESTAMP:
                    if value == "":
                        self.empty_strings += 1
                    value = to_epoch(value, self.unit)
                else:
                    value = self._plain_value(name, value) if kind == _PLAIN else self._value(name, value, kind)
            except (ValueError, TypeError) as exc:  # InvalidValueError is both
                rejections.append(Rejection(row_number, name, exc.args[0]))
                continue
            out[name] = value
        self._complete(row_number, out, rejections)
        if rejections:
            return None, rejections
        return out, rejections

    def _complete(self, row_number: int, out: dict[str, Any], rejections: list[Rejection]) -> None:
        """Fill or refuse the SourceSystemID, and refuse a keyed record without its key."""
        if out.get(SOURCE_SYSTEM_ID) is None and not any(r.field == SOURCE_SYSTEM_ID for r in rejections):
            if self.source_system_id is None:
                self.missing_source_system_id += 1
                rejections.append(Rejection(row_number, SOURCE_SYSTEM_ID, MISSING_SOURCE_SYSTEM_ID))
            else:
                out[SOURCE_SYSTEM_ID] = self.source_system_id
                self.filled_source_system_id += 1
        key = self.key_field
        if key is None or out.get(key) is not None or any(r.field in (key, self.alternate_key) for r in rejections):
            return
        if self.alternate_key is None:
            rejections.append(Rejection(row_number, key, f"missing: CDP upserts {self.entity} records by {key}"))
        elif out.get(self.alternate_key) is None:
            rejections.append(Rejection(row_number, key, f"missing: CDP upserts {self.entity} records by {key} "
                                        f"or {self.alternate_key}; give one of them"))
