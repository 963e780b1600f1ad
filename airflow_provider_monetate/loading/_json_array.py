"""A streaming reader of a top-level JSON array: one element at a time, whatever its size.

The text is decoded into a sliding buffer; each element is parsed with ``json``'s
``raw_decode``, and a parse that runs out of buffered text reads more and tries again. Memory
holds one element and a chunk of text, never the array. No Airflow imports.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

from airflow_provider_monetate.exceptions import RecordSourceError

__all__ = ["json_type", "read_json_array"]

_TEXT_CHUNK = 1 << 16
# A JSON-array element is buffered whole; past this size it is refused rather than letting a
# malformed file (an unclosed string, say) pull the rest of the input into memory.
_MAX_ELEMENT_CHARS = 64 << 20
# Running out of buffered text shows up as a decode error within the last few characters
# (e.g. a number or "\uXXXX" escape cut in half); errors further back are real.
_TRUNCATION_TAIL = 16
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def read_json_array(stream: Any, source: str) -> Iterator[tuple[int, dict]]:
    """``(row_number, record)`` pairs of the array in a binary stream (an empty input has none)."""
    return iter(_JsonArrayReader(io.TextIOWrapper(stream, encoding="utf-8-sig"), source))


class _JsonArrayReader:
    """Walks a top-level JSON array one element at a time over a sliding text buffer."""

    def __init__(self, text: io.TextIOBase, source: str) -> None:
        self._text = text
        self._source = source
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._decode = json.JSONDecoder().raw_decode

    def __iter__(self) -> Iterator[tuple[int, dict]]:
        if self._peek() == "":
            return  # an empty input has no rows, as in the other formats
        if self._peek() != "[":
            raise RecordSourceError("expected a JSON array (the input must start with '[')", source=self._source)
        self._pos += 1
        row_number = 0
        if self._peek() == "]":
            self._pos += 1
        else:
            while True:
                row_number += 1
                record = self._element(row_number)
                if type(record) is not dict:
                    raise RecordSourceError(
                        f"is a JSON {json_type(record)}, expected an object",
                        source=self._source,
                        row_number=row_number,
                    )
                yield row_number, record
                after = self._peek()
                self._pos += 1
                if after == "]":
                    break
                if after != ",":
                    problem = "the array is not closed" if after == "" else "expected ',' or ']' after it"
                    raise RecordSourceError(problem, source=self._source, row_number=row_number)
        if self._peek() != "":
            raise RecordSourceError("unexpected data after the closing ']'", source=self._source)

    def _fill(self, at_least: int = 0) -> bool:
        """Append at least ``at_least`` more characters; False at end of input."""
        if self._pos >= _TEXT_CHUNK:
            self._buf = self._buf[self._pos :]
            self._pos = 0
        chunk = self._text.read(max(at_least, _TEXT_CHUNK))
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def _peek(self) -> str:
        """Skip whitespace and return the next character without consuming it ('' at the end)."""
        while True:
            self._pos = _WHITESPACE.match(self._buf, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if self._eof or not self._fill():
                return ""

    def _element(self, row_number: int) -> Any:
        self._peek()
        while True:
            buf, pos = self._buf, self._pos
            try:
                value, end = self._decode(buf, pos)
            except json.JSONDecodeError as exc:
                truncated = exc.pos >= len(buf) - _TRUNCATION_TAIL or exc.msg.startswith("Unterminated string")
                if not truncated or self._eof or not self._grow(row_number):
                    raise RecordSourceError(
                        f"is not valid JSON ({exc.msg})", source=self._source, row_number=row_number
                    ) from None
                continue
            # An object that decodes is complete (it ends with "}"); a top-level number cut at
            # the buffer's end decodes short, but it is refused as a non-object either way.
            self._pos = end
            return value

    def _grow(self, row_number: int) -> bool:
        pending = len(self._buf) - self._pos
        if pending > _MAX_ELEMENT_CHARS:
            raise RecordSourceError(
                f"element is larger than {_MAX_ELEMENT_CHARS >> 20} MiB or is malformed",
                source=self._source,
                row_number=row_number,
            )
        # Read as much again as is pending, so a large element is re-parsed O(log n) times.
        return self._fill(pending)
