"""Request batches bounded by row count and size, built from rows encoded once.

Each row is encoded to compact JSON exactly once; a request body is then assembled by
joining the encoded rows, so sending (or re-sending) a batch costs no further encoding.
Batch indices depend only on the input and the limits, so a retry that reads the same
input with the same limits gets the same batches under the same indices.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["ENVELOPE_OVERHEAD", "Batch", "RowTooLargeError", "encode_row", "iter_batches", "iter_encoded_batches"]

#: Bytes reserved per request for the envelope around the rows: ``{"schema_rows":[...]}``
#: plus small extra fields such as ``"_sent_time"``.
ENVELOPE_OVERHEAD = 256

# NaN and Infinity are not JSON; refusing them here beats a 400 from the API.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def encode_row(row: Any) -> bytes:
    """Encode a row as compact UTF-8 JSON.

    :param row: a JSON-serialisable value, normally a dict.
    :raises TypeError: a value is not JSON-serialisable.
    :raises ValueError: a float is NaN or infinite.
    """
    return _encode(row).encode()


class RowTooLargeError(ValueError):
    """A single row that does not fit in a request on its own.

    :param row_number: the row's number.
    :param nbytes: its encoded size plus the envelope overhead.
    :param max_bytes: the request size limit.
    """

    def __init__(self, row_number: int, nbytes: int, max_bytes: int) -> None:
        super().__init__(
            f"row {row_number} is {nbytes} bytes encoded (with the request envelope), "
            f"more than the {max_bytes}-byte request limit"
        )
        self.row_number = row_number
        self.nbytes = nbytes


@dataclass(slots=True)
class Batch:
    """Rows that go in one request.

    :param index: 0-based batch number, stable for the same input and limits.
    :param row_numbers: the input row numbers of the rows, in order.
    :param encoded_rows: the rows as compact JSON.
    :param nbytes: size counted against ``max_bytes``: the rows, the commas between them
        and the envelope overhead.
    """

    index: int
    row_numbers: list[int]
    encoded_rows: list[bytes]
    nbytes: int

    @property
    def rows_count(self) -> int:
        """Number of rows in the batch."""
        return len(self.encoded_rows)

    @property
    def first_row(self) -> int:
        """Row number of the first row."""
        return self.row_numbers[0]

    @property
    def last_row(self) -> int:
        """Row number of the last row."""
        return self.row_numbers[-1]

    def describe(self) -> str:
        """Name the batch for messages, e.g. ``batch 7 (rows 3501-4000)``."""
        if self.first_row == self.last_row:
            return f"batch {self.index} (row {self.first_row})"
        return f"batch {self.index} (rows {self.first_row}-{self.last_row})"

    def body(self, key: str = "schema_rows", extra: dict[str, Any] | None = None) -> bytes:
        """Build the request body ``{"<key>":[rows...], <extra fields>}`` as UTF-8 JSON.

        :param key: top-level field holding the rows (``"customers"`` for Acquia CDP, say).
        :param extra: further top-level fields, e.g. ``{"_sent_time": "..."}``; they should
            fit within the envelope overhead the batch was sized with.
        :raises ValueError: ``extra`` contains ``key``.
        """
        tail = b""
        if extra:
            if key in extra:
                raise ValueError(f"extra fields must not include the rows key {key!r}")
            tail = b"," + encode_row(extra)[1:-1]
        return b"".join((b"{", encode_row(key), b":[", b",".join(self.encoded_rows), b"]", tail, b"}"))


def iter_batches(
    numbered_rows: Iterable[tuple[int, Any]],
    *,
    max_rows: int = 500,
    max_bytes: int = 5_000_000,
    envelope_overhead: int = ENVELOPE_OVERHEAD,
) -> Iterator[Batch]:
    """Group ``(row_number, row)`` pairs into batches of encoded rows.

    A batch closes when it holds ``max_rows`` rows, or before the next row would take it
    past ``max_bytes``.

    :param numbered_rows: ``(row_number, row)`` pairs, e.g. from ``iter_records``.
    :param max_rows: most rows per batch.
    :param max_bytes: most bytes per request body, envelope included.
    :param envelope_overhead: bytes reserved for the envelope and extra fields.
    :raises ValueError: the limits are invalid, or (while iterating) a row cannot be
        encoded as JSON.
    :raises RowTooLargeError: (while iterating) one row alone exceeds ``max_bytes``.
    """
    return iter_encoded_batches(
        ((number, _encode_numbered(number, row)) for number, row in numbered_rows),
        max_rows=max_rows, max_bytes=max_bytes, envelope_overhead=envelope_overhead,
    )


def _encode_numbered(row_number: int, row: Any) -> bytes:
    try:
        return _encode(row).encode()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"row {row_number} cannot be encoded as JSON: {exc}") from None


def iter_encoded_batches(
    numbered_encoded: Iterable[tuple[int, bytes]],
    *,
    max_rows: int = 500,
    max_bytes: int = 5_000_000,
    envelope_overhead: int = ENVELOPE_OVERHEAD,
) -> Iterator[Batch]:
    """Group ``(row_number, encoded_row)`` pairs into batches; see :func:`iter_batches`.

    For rows encoded earlier (e.g. spooled to disk by a checking pass).
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    if max_bytes <= envelope_overhead:
        raise ValueError(f"max_bytes ({max_bytes}) must be larger than envelope_overhead ({envelope_overhead})")
    return _cut(numbered_encoded, max_rows, max_bytes, envelope_overhead)


def _cut(numbered_encoded: Iterable[tuple[int, bytes]], max_rows: int, max_bytes: int,
         envelope_overhead: int) -> Iterator[Batch]:
    index = 0
    numbers: list[int] = []
    encoded: list[bytes] = []
    size = envelope_overhead
    for row_number, data in numbered_encoded:
        if len(data) + envelope_overhead > max_bytes:
            raise RowTooLargeError(row_number, len(data) + envelope_overhead, max_bytes)
        if encoded and size + 1 + len(data) > max_bytes:
            yield Batch(index, numbers, encoded, size)
            index += 1
            numbers, encoded, size = [], [], envelope_overhead
        size += len(data) + 1 if encoded else len(data)
        numbers.append(row_number)
        encoded.append(data)
        if len(encoded) == max_rows:
            yield Batch(index, numbers, encoded, size)
            index += 1
            numbers, encoded, size = [], [], envelope_overhead
    if encoded:
        yield Batch(index, numbers, encoded, size)
