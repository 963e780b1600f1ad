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
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

import msgspec

from airflow_provider_monetate.exceptions import ConfigurationError, InputError, RowTooLargeError
from airflow_provider_monetate.loading._rejects import Rejection

__all__ = ["ENVELOPE_OVERHEAD", "Batch", "describe_batch", "encode_lines", "encode_row", "envelope", "iter_batches"]

#: Bytes reserved per request for the envelope around the rows: ``{"schema_rows":[...]}``
#: plus small extra fields such as ``"_sent_time"``.
ENVELOPE_OVERHEAD = 256

_msgspec_encoder = msgspec.json.Encoder()
_msgspec_encode = _msgspec_encoder.encode
# msgspec writes NaN and infinity as null, which would silently lose the value. Where its
# output holds a null, json (C code, refusing such floats) looks at the value again; what
# json cannot encode but msgspec can (a datetime, say) is not its concern here.
_refuse_non_finite = json.JSONEncoder(allow_nan=False, default=lambda _: None).encode
# JSON numbers have no size limit and Monetate's NUMBER is "an integer or decimal number", so
# an integer beyond 64 bits is sent exactly; msgspec releases before 0.19 refuse one, and the
# standard library's encoder (same compact output) writes it instead.
_exact_json = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode

#: Why a row cannot be encoded, by the kind of error; never the value.
_LONE_SURROGATE = ("with a lone surrogate (U+D800..U+DFFF) is not valid Unicode and cannot be sent as UTF-8; "
                   "fix the encoding of the source")
_NOT_FINITE = "NaN or infinity cannot be sent as JSON"

OnBatch = Callable[[list[tuple[int, Any]]], None]
Reject = Callable[[list[Rejection]], None]


def encode_row(row: Any) -> bytes:
    """Encode a row (or a list of rows) as compact UTF-8 JSON.

    :param row: a JSON-serialisable value, normally a dict of the scalars the record rules
        produce; integers of any size are written exactly.
    :raises TypeError: a value is not JSON-serialisable.
    :raises ValueError: a float is NaN or infinite, or text holds a lone surrogate
        (``UnicodeEncodeError``).
    """
    try:
        data = _msgspec_encode(row)
    except OverflowError:
        return _exact_json(row).encode()
    if b"null" in data:
        _refuse_non_finite(row)
    return data


def encode_lines(rows: list[Any], prefix: bytes = b"") -> list[bytes]:
    """Each row encoded as :func:`encode_row` does, with one call for the whole list when it can.

    A row that cannot be encoded (NaN, a lone surrogate, a value JSON cannot hold) becomes ``b""``,
    which no encodable row is; sending it is refused later, where batches are cut.

    :param prefix: put before each row's JSON (it must hold no newline), for one more pass over the whole.
    """
    try:
        data = _msgspec_encoder.encode_lines(rows)  # JSON escapes newlines in text: one line a row
        if b"null" in data:
            _refuse_non_finite(rows)
    except (TypeError, ValueError, OverflowError):
        return [prefix + _encoded_or_empty(row) for row in rows]
    if prefix:
        data = (prefix + data).replace(b"\n", b"\n" + prefix)
    lines = data.split(b"\n")
    lines.pop()
    return lines


def _encoded_or_empty(row: Any) -> bytes:
    try:
        return encode_row(row)
    except (TypeError, ValueError):
        return b""


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
    reject: Reject | None = None,
    on_batch: OnBatch | None = None,
) -> Iterator[Batch]:
    """Group ``(row_number, row)`` pairs into batches of encoded rows.

    Rows are taken ``max_rows`` at a time; a group whose encoding fits in ``max_bytes`` is
    one batch, a larger group is cut row by row into batches that fit.

    :param numbered_rows: ``(row_number, row)`` pairs, e.g. from ``RecordSource.iter``.
    :param max_rows: most rows per batch.
    :param max_bytes: most bytes per request body, envelope included.
    :param envelope_overhead: bytes reserved for the envelope and extra fields.
    :param reject: takes the rejections of a row that can never be sent (it cannot be encoded
        as JSON, or is larger than a request on its own), which is then left out. Without it,
        such a row raises.
    :param on_batch: called with the ``(row_number, row)`` pairs of each batch, in order, just
        before the batch is yielded.
    :raises ValueError: the limits are invalid, or (while iterating, without ``reject``) a row
        cannot be encoded as JSON.
    :raises RowTooLargeError: (while iterating, without ``reject``) one row alone exceeds ``max_bytes``.
    """
    if max_rows < 1:
        raise ConfigurationError(f"max_rows must be at least 1, got {max_rows}")
    if max_bytes <= envelope_overhead:
        raise ConfigurationError(f"max_bytes ({max_bytes}) must be larger than envelope_overhead ({envelope_overhead})")
    cut = _Cutter(max_bytes, envelope_overhead, reject)
    return _batches(iter(numbered_rows), max_rows, cut, on_batch)


def _batches(numbered_rows: Iterator[tuple[int, Any]], max_rows: int, cut: _Cutter,
             on_batch: OnBatch | None) -> Iterator[Batch]:
    index = 0
    while group := list(islice(numbered_rows, max_rows)):
        try:
            whole = encode_row([row for _, row in group])[1:-1]
        except (TypeError, ValueError):
            whole = None  # the row-by-row path names the culprit
        fits = whole is not None and len(whole) <= cut.room
        for pairs, payload in [(group, whole)] if fits else cut(group):
            if on_batch is not None:
                on_batch(pairs)
            yield Batch(index, pairs[0][0], pairs[-1][0], len(pairs), payload)
            index += 1


class _Cutter:
    """Encodes rows one by one and cuts them greedily into pieces of at most ``room`` bytes."""

    def __init__(self, max_bytes: int, envelope_overhead: int, reject: Reject | None) -> None:
        self.room = max_bytes - envelope_overhead
        self.max_bytes = max_bytes
        self.overhead = envelope_overhead
        self.reject = reject

    def __call__(self, group: list[tuple[int, Any]]) -> Iterator[tuple[list[tuple[int, Any]], bytes]]:
        pairs: list[tuple[int, Any]] = []
        encoded: list[bytes] = []
        size = 0
        for row_number, row in group:
            data = self._encoded(row_number, row)
            if data is None:
                continue
            if encoded and size + 1 + len(data) > self.room:
                yield pairs, b",".join(encoded)
                pairs, encoded, size = [], [], 0
            size += len(data) + 1 if encoded else len(data)
            pairs.append((row_number, row))
            encoded.append(data)
        if encoded:
            yield pairs, b",".join(encoded)

    def _encoded(self, row_number: int, row: Any) -> bytes | None:
        """The row's JSON, or ``None`` once a row that can never be sent is handed to ``reject``."""
        try:
            data = encode_row(row)
        except (TypeError, ValueError):
            rejections = encoding_rejections(row_number, row)
            if self.reject is None:
                problems = "; ".join((f"field {r.field!r}: " if r.field else "") + r.reason for r in rejections)
                raise InputError(f"row {row_number} cannot be encoded as JSON: {problems}") from None
            self.reject(rejections)
            return None
        if len(data) <= self.room:
            return data
        if self.reject is None:
            raise RowTooLargeError(row_number, len(data) + self.overhead, self.max_bytes)
        self.reject([Rejection(row_number, None, (
            f"the row is {len(data) + self.overhead} bytes encoded (with the request envelope), more than the "
            f"{self.max_bytes}-byte request limit (max_batch_bytes); no request can carry it"))])
        return None


def encoding_rejections(row_number: int, row: Any) -> list[Rejection]:
    """Why a row cannot be encoded as JSON: one rejection per field at fault, never the value."""
    found = []
    if isinstance(row, Mapping):
        for name, value in row.items():
            try:
                encode_row(name)
            except (TypeError, ValueError):
                found.append(Rejection(row_number, None, _why_not_encodable(name, "a field name")))
                continue
            try:
                encode_row(value)
            except (TypeError, ValueError):
                found.append(Rejection(row_number, str(name), _why_not_encodable(value, "text")))
    return found or [Rejection(row_number, None, _why_not_encodable(row, "a value"))]


def _why_not_encodable(value: Any, what: str) -> str:
    try:
        encode_row(value)
    except UnicodeEncodeError:
        return f"{what} {_LONE_SURROGATE}"
    except TypeError as exc:
        return f"cannot be encoded as JSON ({exc})"  # msgspec names the type, never the value
    except ValueError:
        return _NOT_FINITE
    return "cannot be encoded as JSON"
