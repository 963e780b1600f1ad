"""Value parsing shared by the Monetate row rules and the Acquia CDP payload rules.

Errors describe a value by its shape (digits as ``9``, letters as ``a``), never its content:
rejections end up in logs and reports, and the values are customer data. No Airflow imports.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pendulum

from airflow_provider_monetate.exceptions import InvalidValueError

_CALENDAR_DATE = re.compile(r"\d{4}-?\d{2}-?\d{2}")
_BOOLEAN_STRINGS = {"true": True, "false": False, "1": True, "0": False}
_PATTERN_CHARS = 32


def value_pattern(text: str) -> str:
    """The shape of a string without its content, e.g. ``'99/99/9999'``."""
    shape = "".join("9" if c.isdigit() else "a" if c.isalpha() else c for c in text[:_PATTERN_CHARS])
    return shape + "..." if len(text) > _PATTERN_CHARS else shape


def parse_iso_datetime(text: str) -> datetime:
    """Parse an ISO-8601 datetime that starts with a calendar date.

    ``datetime.fromisoformat`` first (fast); then pendulum for the forms it does not read on
    Python 3.10 (``Z``, odd fractions) or at all (basic format ``20240501T120000Z``). Only
    strings that start with a full date reach pendulum, which would read ``12:00`` as today.

    :raises ValueError: not such a string; the message shows its pattern only.
    """
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        if _CALENDAR_DATE.match(text):
            try:
                parsed = pendulum.parse(text, strict=True)
            except ValueError:  # pendulum's ParserError is a ValueError
                parsed = None
            if isinstance(parsed, datetime):
                return parsed
    raise InvalidValueError(f"not an ISO-8601 datetime: pattern {value_pattern(text)!r}")


def parse_boolean(value: Any) -> bool | None:
    """``True``/``False`` from a bool, 1/0, or ``"true"``/``"false"``/``"1"``/``"0"`` (any case);
    ``None`` for a blank string.

    :raises ValueError: anything else.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        if text in _BOOLEAN_STRINGS:
            return _BOOLEAN_STRINGS[text]
    raise InvalidValueError("expected true or false")
