"""STRING and MULTI_STRING values: converted for Monetate, a MULTI_STRING's commas handled as the task chose.

Monetate's Data API spec calls MULTI_STRING a "comma-separated string" and points to the product
catalog's comma escaping, which it does not reproduce (the catalog quotes; others guess a
backslash). A server may therefore honour CSV-style quoting, backslash escaping, or split at
every comma (the emulator's ``monetate.multi_string_commas`` reading). ``multi_string_commas``:

* ``"reject"`` (default): an item holding a comma, starting with a double quote or ending with a
  backslash is a rejection naming the item's position, so no reading can split or join an item;
* ``"quote"``: such an item is enclosed in double quotes, its quotes doubled (``"a, b",c``);
* ``"backslash"``: each comma of an item is preceded by a backslash (``a\\, b,c``).

A string value is taken as already joined the way the task chose. No reason holds the value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from airflow_provider_monetate.exceptions import InvalidValueError
from airflow_provider_monetate.loading._values import value_pattern

__all__ = [
    "MULTI_STRING_COMMAS", "MULTI_STRING_FAST", "TRIM", "describe", "is_finite", "multi_string_converter",
    "to_string", "trim_unambiguous",
]

#: How a MULTI_STRING item holding a comma is sent (see the module docstring).
MULTI_STRING_COMMAS = ("reject", "quote", "backslash")
TRIM = str.strip


def describe(value: Any) -> str:
    if isinstance(value, str):
        return f"str with pattern {value_pattern(value)!r}"
    return type(value).__name__


def is_finite(number: Any) -> bool:
    return number.is_finite() if isinstance(number, Decimal) else math.isfinite(number)


def to_string(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    # Numeric identifiers often arrive as numbers from warehouses; their text is unambiguous.
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool) and is_finite(value):
        return str(value)
    raise InvalidValueError(f"expected a string, got {describe(value)}")


_CHOOSE = "choose multi_string_commas='quote' or 'backslash' for the way your Monetate account splits it"


def _check_item(position: int, text: str, commas: str) -> None:
    """Refuse an item that some reading of Monetate's MULTI_STRING would split or join."""
    if commas == "reject":
        if "," in text:
            reason = f"contains a comma, which Monetate may read as a separator: {_CHOOSE}"
        elif text.startswith('"'):
            reason = f"starts with a double quote, which Monetate may read as quoting: {_CHOOSE}"
        elif text.endswith("\\"):
            reason = f"ends with a backslash, which Monetate may read as escaping the next comma: {_CHOOSE}"
        else:
            return
    elif commas == "backslash" and text.endswith("\\"):
        reason = ("ends with a backslash, which backslash escaping would read as escaping the next comma: "
                  "choose multi_string_commas='quote', or remove the backslash")
    else:
        return
    raise InvalidValueError(f"item {position} {reason}")


def _quoted(text: str) -> str:
    # The catalog's CSV-style quoting: an item holding a comma or a quote is enclosed in quotes,
    # its quotes doubled.
    return '"' + text.replace('"', '""') + '"' if "," in text or '"' in text else text


_ENCODERS: dict[str, Callable[[str], str]] = {
    "reject": str, "quote": _quoted, "backslash": lambda text: text.replace(",", "\\,"),
}


def multi_string_converter(commas: str) -> Callable[[Any], str | None]:
    """The MULTI_STRING converter for one ``multi_string_commas`` option (see the module docstring)."""
    encode = _ENCODERS[commas]

    def convert(value: Any) -> str | None:
        if isinstance(value, str):
            text = value.strip()  # taken as already joined the way the task chose
            if commas == "reject":
                for position, piece in enumerate(text.split(","), 1):
                    _check_item(position, piece.strip(), commas)
            return text or None
        if not isinstance(value, (list, tuple)):
            raise InvalidValueError(f"expected a list of strings or a comma-separated string, got {describe(value)}")
        items = []
        for position, item in enumerate(value, 1):
            try:
                text = None if item is None else to_string(item)
            except InvalidValueError as exc:
                raise InvalidValueError(f"item {position}: {exc.args[0]}") from None
            if text:
                _check_item(position, text, commas)
                items.append(encode(text))
        return ",".join(items) or None

    return convert


def trim_unambiguous(value: str) -> str:
    """A MULTI_STRING string trimmed, when no reading of the separators can differ (else the general path)."""
    if '"' in value or "\\" in value:
        raise InvalidValueError("a quote or a backslash: checked item by item")
    return value.strip()


MULTI_STRING_FAST: dict[str, dict[type, Callable[[Any], Any] | None]] = {
    "reject": {str: trim_unambiguous}, "quote": {str: TRIM}, "backslash": {str: TRIM},
}
