"""Rows checked and normalised against a Monetate dataset schema before they are sent.

:class:`RowRules` turns a schema (as ``GET .../schema/{name}/`` returns it) into one
converter per field, so checking a row is a single pass over its fields. A row with any
problem is not sent; each problem becomes a :class:`~airflow_provider_monetate.loading._rejects.Rejection`
whose reason names the field and the kind of problem but never the value, which may be
customer data. Where a bad value's format matters, the reason shows its *pattern*
(digits as ``9``, letters as ``a``: ``"99/99/9999"``) instead.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from airflow_provider_monetate.exceptions import ConfigurationError, InvalidValueError
from airflow_provider_monetate.loading._rejects import Rejection
from airflow_provider_monetate.loading._values import parse_boolean, parse_iso_datetime
from airflow_provider_monetate.monetate._datasets import DATA_TYPES, PRIVACY_TYPE
from airflow_provider_monetate.monetate._text import (
    MULTI_STRING_COMMAS,
    MULTI_STRING_FAST,
    TRIM,
    describe,
    is_finite,
    multi_string_converter,
    to_string,
    trim_unambiguous,
)

__all__ = ["MULTI_STRING_COMMAS", "RowRules", "to_utc_iso"]

# A customer_data_privacy dataset may be created with "fields": {}; its type supplies these
# two columns, and a deletion row needs both.
_IMPLIED_FIELDS: dict[str, dict[str, dict[str, Any]]] = {
    PRIVACY_TYPE: {
        "customer_id": {"data_type": "STRING", "identifier": True},
        "delete_request_time": {"data_type": "DATETIME", "required": True},
    }
}

_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# Only strings that start with a full calendar date reach the lenient parser, which would
# otherwise read "12:00" as today at noon and "now" as now.


def to_utc_iso(value: Any) -> str:
    """Format a moment as Monetate's DATETIME text: UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.

    :param value: a ``datetime`` (including ``pendulum.DateTime``); a ``date`` (midnight
        UTC); or an ISO-8601 string starting with a calendar date, with ``Z`` or an offset.
        Naive datetimes and strings without an offset are taken as UTC. Numbers are refused:
        epoch seconds and milliseconds cannot be told apart.
    :raises InvalidValueError: the value is of another type, or a string that is not ISO-8601;
        the message shows its pattern only.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}T00:00:00.000000Z"
    elif isinstance(value, str):
        text = value.strip()
        moment = parse_iso_datetime(text)
        # Fast path: a UTC string in extended format (YYYY-MM-DD?HH:MM:SS...) is sliced rather
        # than formatted from the parsed datetime, which costs several times more. Parsing
        # has already validated it; "24:00" is excluded in case a parser rolls it over.
        if (
            not moment.utcoffset()
            and text[4:5] == text[7:8] == "-"
            and text[13:14] == text[16:17] == ":"
            and text[11:13] != "24"
        ):
            return f"{text[:10]}T{text[11:19]}.{moment.microsecond:06d}Z"
    else:
        raise InvalidValueError(f"expected a datetime, date or ISO-8601 string, got {type(value).__name__}")
    offset = moment.utcoffset()
    if offset:
        try:
            moment -= offset  # wall clock minus offset is the UTC wall clock; tzinfo is not printed
        except OverflowError:
            raise InvalidValueError("datetime is out of range once converted to UTC") from None
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z"
    )


class RowRules:
    """Per-field converters for one dataset schema.

    :param fields: the schema's ``fields`` map: name to ``{"data_type", "identifier",
        "unique_key", "required", ...}``.
    :param unknown_fields: ``"reject"`` a row that has a field the schema lacks, or
        ``"drop"`` such fields (counted in :attr:`dropped_fields`).
    :param multi_string_commas: how a MULTI_STRING list item holding a comma is sent (the spec
        leaves Monetate's reading open; see :mod:`._text`): ``"reject"`` (default) rejects the row,
        as it does an item starting with a double quote or ending with a backslash, so no reading
        can split or join an item; ``"quote"`` sends ``"a, b",c``; ``"backslash"`` sends ``a\\, b,c``.
    :raises ValueError: an unknown data type, more than one identifier or unique key, or a
        bad ``unknown_fields`` or ``multi_string_commas``.
    """

    def __init__(
        self, fields: Mapping[str, Mapping[str, Any]], *, unknown_fields: str = "reject",
        multi_string_commas: str = "reject",
    ) -> None:
        if unknown_fields not in ("reject", "drop"):
            raise ConfigurationError(f"unknown_fields must be 'reject' or 'drop', got {unknown_fields!r}")
        if multi_string_commas not in MULTI_STRING_COMMAS:
            raise ConfigurationError(
                f"multi_string_commas must be 'reject', 'quote' or 'backslash', got {multi_string_commas!r}")
        converters = {**_CONVERTERS, "MULTI_STRING": multi_string_converter(multi_string_commas)}
        fast_converters = {**_FAST_CONVERTERS, "MULTI_STRING": MULTI_STRING_FAST[multi_string_commas]}
        self._drop_unknown = unknown_fields == "drop"
        #: How many times each unknown field was dropped (with ``unknown_fields="drop"``).
        self.dropped_fields: Counter[str] = Counter()
        #: Per field, how many values of accepted rows had leading or trailing whitespace trimmed.
        self.values_trimmed: Counter[str] = Counter()
        self._trimmed_types: frozenset[str] = frozenset()
        self._converters: dict[str, Callable[[Any], Any]] = {}
        self._fast: dict[str, dict[type, Callable[[Any], Any] | None]] = {}
        self._required: list[tuple[str, str]] = []
        identifiers, unique_keys = [], []
        for name, spec in fields.items():
            data_type = str(spec.get("data_type", "")).upper()
            if data_type not in converters:
                raise ConfigurationError(
                    f"field {name!r} has data_type {spec.get('data_type')!r}; expected one of {', '.join(DATA_TYPES)}"
                )
            self._converters[name] = converters[data_type]
            self._fast[name] = fast_converters[data_type]
            if data_type in _TRIMMED_TYPES:
                self._trimmed_types |= {name}
            if spec.get("identifier"):
                identifiers.append(name)
                self._required.append((name, "missing required identifier"))
            elif spec.get("unique_key"):
                self._required.append((name, "missing required unique key"))
            elif spec.get("required"):
                self._required.append((name, "missing required field"))
            if spec.get("unique_key"):
                unique_keys.append(name)
        if len(identifiers) > 1 or len(unique_keys) > 1:
            raise ConfigurationError(
                f"a schema has at most one identifier and one unique key, got identifiers {identifiers} "
                f"and unique keys {unique_keys}"
            )
        self._required_names = frozenset(name for name, _ in self._required)
        self._identifier = identifiers[0] if identifiers else None
        self._unique_key = unique_keys[0] if unique_keys else None

    @classmethod
    def from_schema(
        cls, schema: Mapping[str, Any], *, unknown_fields: str = "reject", multi_string_commas: str = "reject",
    ) -> RowRules:
        """Build the rules for a schema as the Data API returns it.

        :param schema: ``{"name", "type", "fields": {...}}``; for a ``customer_data_privacy``
            dataset the type supplies ``customer_id`` and ``delete_request_time``.
        :param unknown_fields: ``"reject"`` or ``"drop"``; see :class:`RowRules`.
        :param multi_string_commas: ``"reject"``, ``"quote"`` or ``"backslash"``; see :class:`RowRules`.
        """
        fields = dict(_IMPLIED_FIELDS.get(schema.get("type") or "", {}))
        fields.update(schema.get("fields") or {})
        return cls(fields, unknown_fields=unknown_fields, multi_string_commas=multi_string_commas)

    @property
    def identifier_field(self) -> str | None:
        """The field that links a row to a person, if the schema has one."""
        return self._identifier

    @property
    def unique_key_field(self) -> str | None:
        """The field that makes a write an upsert, if the schema has one."""
        return self._unique_key

    @property
    def has_unique_key(self) -> bool:
        """Whether resending a row replaces it (True) or adds a duplicate (False)."""
        return self._unique_key is not None

    def normalize(self, row_number: int, row: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[Rejection]]:
        """Check a row and convert its values to what Monetate expects.

        None values, empty strings and missing optional fields are left out of the result
        (Monetate stores left-out fields as null). Text (STRING, GOOGLE_PRODUCT_CATEGORY,
        MULTI_STRING) is trimmed of leading and trailing whitespace, and each accepted row's
        trimmed values are counted in :attr:`values_trimmed`: padded exports (CHAR columns, CSV
        cells) would otherwise store ``"C42   "`` apart from ``"C42"``.

        :param row_number: the row's number, for the rejections.
        :param row: field name to value.
        :return: ``(normalised_row, [])``, or ``(None, rejections)`` if anything is wrong.
        """
        # Fast path for the usual case: every value of a type its field takes as it is, or
        # converts without error. Anything else (a bad value, an unknown field, a type the
        # table lacks) is done again by the general path, which words the rejections.
        fast = self._fast
        out: dict[str, Any] = {}
        trimmed: list[str] | None = None
        try:
            for name, value in row.items():
                convert = fast[name][value.__class__]
                if convert is not None:
                    converted = convert(value)
                    # str.strip returns the very same string when there is nothing to trim
                    if converted is not value and (convert is TRIM or convert is trim_unambiguous):
                        trimmed = [name] if trimmed is None else [*trimmed, name]
                    if converted is None or converted == "":
                        continue
                    value = converted
                out[name] = value
        except (KeyError, TypeError, ValueError):
            return self._normalize_each(row_number, row)
        if self._required_names <= out.keys():
            if trimmed is not None:
                self.values_trimmed.update(trimmed)
            return out, []
        return self._normalize_each(row_number, row)

    def _normalize_each(self, row_number: int, row: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[Rejection]]:
        converters = self._converters
        out: dict[str, Any] = {}
        rejections: list[Rejection] = []
        trimmed = [name for name, value in row.items() if name in self._trimmed_types and _has_outer_space(value)]
        for name, value in row.items():
            convert = converters.get(name)
            if convert is None:
                if self._drop_unknown:
                    self.dropped_fields[name] += 1
                else:
                    rejections.append(Rejection(row_number, name, "unknown field (not in the dataset schema)"))
                continue
            if value is None:
                continue
            try:
                value = convert(value)
            except InvalidValueError as exc:
                rejections.append(Rejection(row_number, name, exc.args[0]))
                continue
            if value is not None:
                out[name] = value
        for name, reason in self._required:
            if name not in out and not any(r.field == name for r in rejections):
                rejections.append(Rejection(row_number, name, reason))
        if rejections:
            return None, rejections
        self.values_trimmed.update(trimmed)
        return out, rejections


def _has_outer_space(value: Any) -> bool:
    """Whether trimming changes the text, or an item of a list of texts."""
    if isinstance(value, str):
        return value != value.strip()
    return isinstance(value, list | tuple) and any(isinstance(item, str) and item != item.strip() for item in value)


def _to_number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        raise InvalidValueError("expected a number, got bool")
    if isinstance(value, int):
        return int(value)
    if isinstance(value, (float, Decimal)):
        if not is_finite(value):
            raise InvalidValueError("expected a finite number, got NaN or infinity")
        if isinstance(value, Decimal) and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _INTEGER.fullmatch(text):
            return int(text)
        if _DECIMAL.fullmatch(text):
            number = float(text)
            if math.isfinite(number):
                return number
    raise InvalidValueError(f"expected a number, got {describe(value)}")


def _to_datetime(value: Any) -> str | None:
    if isinstance(value, str) and not value.strip():
        return None
    try:
        return to_utc_iso(value)
    except (TypeError, ValueError):
        raise InvalidValueError(f"expected an ISO-8601 datetime, got {describe(value)}") from None


def _to_boolean(value: Any) -> bool | None:
    try:
        return parse_boolean(value)
    except ValueError:
        raise InvalidValueError(f"expected a boolean (true/false or 1/0), got {describe(value)}") from None


def _utc_text(text: str) -> str:
    """The common DATETIME string, already UTC in extended format, sliced rather than formatted."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is timezone.utc and text[4:5] == text[7:8] == "-" and text[13:14] == text[16:17] == ":":
        if len(text) == 20:  # no fraction: "2024-05-01T12:00:00Z"
            return text[:10] + "T" + text[11:19] + ".000000Z"
        return f"{text[:10]}T{text[11:19]}.{moment.microsecond:06d}Z"
    return to_utc_iso(text)


def _finite_float(value: float) -> float:
    if math.isfinite(value):
        return value
    raise InvalidValueError("not finite")


_TRIMMED_TYPES = ("STRING", "GOOGLE_PRODUCT_CATEGORY", "MULTI_STRING")

# Per data type, the value types converted without the general path: ``None`` keeps the
# value as it is. Exact types only (``bool`` is not an ``int`` here).
_FAST_CONVERTERS: dict[str, dict[type, Callable[[Any], Any] | None]] = {
    "STRING": {str: TRIM},
    "GOOGLE_PRODUCT_CATEGORY": {str: TRIM},
    "NUMBER": {int: None, float: _finite_float},
    "DATETIME": {str: _utc_text, datetime: to_utc_iso},
    "BOOLEAN": {bool: None},
}

# MULTI_STRING's converters depend on the multi_string_commas option: RowRules adds them.
_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "STRING": to_string,
    "GOOGLE_PRODUCT_CATEGORY": to_string,
    "NUMBER": _to_number,
    "DATETIME": _to_datetime,
    "BOOLEAN": _to_boolean,
}
