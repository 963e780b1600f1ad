"""Request batches bounded by row count and size, each encoded to JSON once.

Up to ``max_rows`` rows are encoded with one ``msgspec`` call (far cheaper than one call per
row, and several times cheaper than ``json``); only a group that exceeds ``max_bytes`` is
encoded row by row and cut to fit. A request body wraps the stored payload, so sending (or
re-sending) a batch costs no further encoding. Batch indices depend only on the input and
the limits, so a retry that reads the same input with the same limits gets the same batches
under the same indices.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import msgspec

from airflow_provider_monetate.exceptions import ConfigurationError, InputError, RowTooLargeError

__all__ = ["ENVELOPE_OVERHEAD", "Batch", "describe_batch", "encode_row", "envelope", "iter_batches"]

#: Bytes reserved per request for the envelope around the rows: ``{"schema_rows":[...]}``
#: plus small extra fields such as ``"_sent_time"``.
ENVELOPE_OVERHEAD = 256

_msgspec_encode = msgspec.json.Encoder().encode
# msgspec writes NaN and infinity as null, which would silently lose the value. Where its
# output holds a null, json (C code, refusing such floats) looks at the value again; what
# json cannot encode but msgspec can (a datetime, say) is not its concern here.
_refuse_non_finite = json.JSONEncoder(allow_nan=False, default=lambda _: None).encode


def encode_row(row: Any) -> bytes:
    """Encode a row (or a list of rows) as compact UTF-8 JSON.

    :param row: a JSON-serialisable value, normally a dict of the scalars the record rules
        produce.
    :raises TypeError: a value is not JSON-serialisable.
    :raises ValueError: a float is NaN or infinite.
    """
    data = _msgspec_encode(row)
    if b"null" in data:
        _refuse_non_finite(row)
    return data


@dataclass(slots=True)
class Batch:
    """Rows that go in one request.

    :param index: 0-based batch number, stable for the same input and limits.
    :param first_row: input row number of the first row.
    :param last_row: input row number of the last row.
    :param rows_count: number of rows.
    :param payload: the rows as compact JSON, comma-joined (the inside of the JSON array).
    """

    index: int
    first_row: int
    last_row: int
    rows_count: int
    payload: bytes

    def describe(self) -> str:
        """Name the batch for messages, e.g. ``batch 7 (rows 3501-4000)``."""
        return describe_batch(self.index, self.first_row, self.last_row)

    def body(self, key: str = "schema_rows", extra: dict[str, Any] | None = None) -> bytes:
        """Build the request body ``{"<key>":[rows...], <extra fields>}`` as UTF-8 JSON.

        :param key: top-level field holding the rows (``"customers"`` for Acquia CDP, say).
        :param extra: further top-level fields, e.g. ``{"_sent_time": "..."}``; they should
            fit within the envelope overhead the batch was sized with.
        :raises ValueError: ``extra`` contains ``key``.
        """
        return envelope(self.payload, key, extra)


def describe_batch(index: int, first_row: int, last_row: int) -> str:
    """``batch 7 (rows 3501-4000)``: how messages name a batch."""
    if first_row == last_row:
        return f"batch {index} (row {first_row})"
    return f"batch {index} (rows {first_row}-{last_row})"


def envelope(payload: bytes, key: str = "schema_rows", extra: dict[str, Any] | None = None) -> bytes:
    """Wrap comma-joined encoded rows as ``{"<key>":[payload], <extra fields>}``."""
    tail = b""
    if extra:
        if key in extra:
            raise ConfigurationError(f"extra fields must not include the rows key {key!r}")
        tail = b"," + encode_row(extra)[1:-1]
    return b"".join((b"{", encode_row(key), b":[", payload, b"]", tail, b"}"))


def iter_batches(
    numbered_rows: Iterable[tuple[int, Any]],
    *,
    max_rows: int = 500,
    max_bytes: int = 5_000_000,
    envelope_overhead: int = ENVELOPE_OVERHEAD,
) -> Iterator[Batch]:
    """Group ``(row_number, row)`` pairs into batches of encoded rows.

    Rows are taken ``max_rows`` at a time; a group whose encoding fits in ``max_bytes`` is
    one batch, a larger group is cut row by row into batches that fit.

    :param numbered_rows: ``(row_number, row)`` pairs, e.g. from ``RecordSource.iter``.
    :param max_rows: most rows per batch.
    :param max_bytes: most bytes per request body, envelope included.
    :param envelope_overhead: bytes reserved for the envelope and extra fields.
    :raises ValueError: the limits are invalid, or (while iterating) a row cannot be
        encoded as JSON.
    :raises RowTooLargeError: (while iterating) one row alone exceeds ``max_bytes``.
    """
    if max_rows < 1:
        raise ConfigurationError(f"max_rows must be at least 1, got {max_rows}")
    if max_bytes <= envelope_overhead:
        raise ConfigurationError(f"max_bytes ({max_bytes}) must be larger than envelope_overhead ({envelope_overhead})")
    return _batches(iter(numbered_rows), max_rows, max_bytes - envelope_overhead)


def _batches(numbered_rows: Iterator[tuple[int, Any]], max_rows: int, room: int) -> Iterator[Batch]:
    index = 0
    while group := list(islice(numbered_rows, max_rows)):
        try:
            payload = encode_row([row for _, row in group])[1:-1]
        except (TypeError, ValueError):
            payload = None  # the row-by-row path names the culprit
        if payload is not None and len(payload) <= room:
            yield Batch(index, group[0][0], group[-1][0], len(group), payload)
            index += 1
            continue
        for batch in _cut(group, room, index):
            yield batch
            index += 1


def _cut(group: list[tuple[int, Any]], room: int, index: int) -> Iterator[Batch]:
    """Encode rows one by one and cut them greedily into batches of at most ``room`` bytes."""
    numbers: list[int] = []
    encoded: list[bytes] = []
    size = 0
    for row_number, row in group:
        try:
            data = encode_row(row)
        except (TypeError, ValueError) as exc:
            raise InputError(f"row {row_number} cannot be encoded as JSON: {exc}") from None
        if len(data) > room:
            raise RowTooLargeError(row_number, len(data) + ENVELOPE_OVERHEAD, room + ENVELOPE_OVERHEAD)
        if encoded and size + 1 + len(data) > room:
            yield Batch(index, numbers[0], numbers[-1], len(encoded), b",".join(encoded))
            index += 1
            numbers, encoded, size = [], [], 0
        size += len(data) + 1 if encoded else len(data)
        numbers.append(row_number)
        encoded.append(data)
    if encoded:
        yield Batch(index, numbers[0], numbers[-1], len(encoded), b",".join(encoded))
