"""Acquia CDP timestamps: every system timestamp is an epoch number, in seconds or milliseconds.

:func:`to_epoch` converts a ``datetime``, a date, an ISO-8601 string or an epoch number to the
configured unit, and refuses a number that looks like the other unit. No Airflow imports.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from airflow_provider_monetate.exceptions import ConfigurationError, InvalidValueError
from airflow_provider_monetate.loading._values import parse_iso_datetime

__all__ = ["parse_timestamp_unit", "to_epoch"]

_UNITS = {"s": "s", "sec": "s", "second": "s", "seconds": "s", "ms": "ms", "millisecond": "ms", "milliseconds": "ms"}
# Epoch numbers are accepted from 1973-03-03 to 2286-11-20: 9-10 digits in seconds, 12-13 in
# milliseconds. Outside that span a number is most likely in the other unit, or a date such as
# 20240501 (YYYYMMDD); a datetime or ISO string is taken whatever its year.
_EPOCH_SPANS = {"s": (10**8, 10**10), "ms": (10**11, 10**13)}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_UNIT_DELTAS = {"s": timedelta(seconds=1), "ms": timedelta(milliseconds=1)}
_EPOCH_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def parse_timestamp_unit(value: str | None) -> str:
    """``"s"`` or ``"ms"`` from a parameter or connection extra (``seconds``, ``ms``, ...; default seconds).

    :raises ConfigurationError: an unknown unit.
    """
    if value is None or value == "":
        return "s"
    unit = _UNITS.get(str(value).strip().lower())
    if unit is None:
        raise ConfigurationError(f"timestamp_unit must be 's' (seconds) or 'ms' (milliseconds), got {value!r}")
    return unit


def to_epoch(value: Any, unit: str) -> int | float | None:
    """Convert a moment to the epoch number CDP expects.

    :param value: a ``datetime`` (pendulum included; naive means UTC), a ``date`` (midnight
        UTC), an ISO-8601 string starting with a calendar date, or an epoch number (also as
        a digit string) already in ``unit``. ``None`` and ``""`` give ``None``.
    :param unit: ``"s"`` or ``"ms"``.
    :return: an ``int`` (a non-integral epoch number keeps its fraction).
    :raises InvalidValueError: the value cannot be read, is of another type, or is an epoch
        number outside 1973-03-03 .. 2286-11-20 in ``unit``, which is what a value in the other
        unit looks like (13 digits where seconds are expected, 10 where milliseconds are); the
        message never contains the value.
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
        raise InvalidValueError("expected a datetime, an ISO-8601 string or an epoch number, got bool")
    elif isinstance(value, int | float | Decimal):
        return _epoch_number(value, unit)
    elif value is None:
        return None
    elif not isinstance(value, date):
        raise InvalidValueError(
            f"expected a datetime, an ISO-8601 string or an epoch number, got {type(value).__name__}"
        )
    elif not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    # datetime.__sub__ gives an exact stdlib timedelta, for pendulum too; naive means UTC.
    delta = datetime.__sub__(value, _EPOCH if value.tzinfo else _NAIVE_EPOCH)
    return delta // _UNIT_DELTAS[unit]


def _epoch_number(number: int | float | Decimal, unit: str) -> int | float:
    if not (number.is_finite() if isinstance(number, Decimal) else math.isfinite(number)):
        raise InvalidValueError("an epoch number must be finite, got NaN or infinity")
    low, high = _EPOCH_SPANS[unit]
    if not low <= number < high:
        digits = len(str(int(abs(number))))
        other_digits, other = (range(12, 14), "milliseconds") if unit == "s" else (range(9, 11), "seconds")
        hint = f" It looks like {other}." if number > 0 and digits in other_digits else ""
        expected = "epoch seconds (9-10 digits)" if unit == "s" else "epoch milliseconds (12-13 digits)"
        raise InvalidValueError(f"{'negative ' if number < 0 else ''}{digits}-digit epoch number where {expected} are "
                         f"expected.{hint} Check timestamp_unit, or pass a datetime or ISO-8601 string.")
    if isinstance(number, int):
        return number
    return int(number) if number == int(number) else float(number)
