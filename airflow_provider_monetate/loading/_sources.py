"""Streaming readers for the records a load sends.

Reads NDJSON, CSV and JSON-array files, optionally gzip-compressed, from a local path or
object storage, as well as in-memory iterables of dicts. Memory use does not grow with the
input size.

Row numbers are 1-based and count records, not lines: a CSV header and blank lines
(NDJSON or CSV) are not rows. The same data therefore numbers its rows the same way in
every format, and "row 42" always means the 42nd record. Error messages about NDJSON also
give the line number, so the record can be found in an editor. JSON arrays are walked by
``_json_array``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import zlib
from collections.abc import Iterable, Iterator, Mapping
from functools import partial
from typing import Any

import msgspec

from airflow_provider_monetate.exceptions import ConfigurationError, LocationError, RecordSourceError
from airflow_provider_monetate.loading._json_array import json_type as _json_type
from airflow_provider_monetate.loading._json_array import read_json_array as _read_json_array

__all__ = ["DEFAULT_MAX_CELL_CHARS", "FORMATS", "RecordSource"]

#: Formats accepted by ``format=`` (``"jsonl"`` is accepted as an alias of ``"ndjson"``).
FORMATS = ("ndjson", "csv", "json")
#: The largest CSV cell read by default: the default request size limit (``max_batch_bytes``).
DEFAULT_MAX_CELL_CHARS = 5_000_000

_FORMAT_NAMES = {"ndjson": "ndjson", "jsonl": "ndjson", "csv": "csv", "json": "json"}
_SUFFIXES = {".ndjson": "ndjson", ".jsonl": "ndjson", ".csv": "csv", ".json": "json"}
_GZIP_MAGIC = b"\x1f\x8b"
_READ_SIZE = 1 << 20
# What the fingerprint of in-memory records hashes: MessagePack, several times faster than
# json.dumps, self-delimiting, with keys sorted; unlike msgspec's JSON it keeps NaN apart from
# None. Values it cannot encode are hashed as their str().
_canonical_fast = msgspec.msgpack.Encoder(order="sorted", enc_hook=str).encode
# MessagePack has no integer beyond 64 bits and no text that is not valid UTF-8 (a lone
# surrogate): such values are hashed as extension values of their own, apart from any string.
_BIG_INT, _SURROGATES = 1, 2


class RecordSource:
    """Where a load's records come from.

    :param source: a local path (``str`` or ``os.PathLike``); an object with an
        ``open(mode)`` method returning a binary file, such as Airflow's
        ``ObjectStoragePath``; or an iterable of dicts.
    :param format: ``"ndjson"`` (or ``"jsonl"``), ``"csv"`` or ``"json"``; overrides the
        file suffix. Ignored for iterables.
    :raises ValueError: the format is unknown or cannot be told from the file name.
    :raises TypeError: the source is none of the above.
    """

    def __init__(self, source: Any, format: str | None = None) -> None:
        self._records: Iterable[Any] | None = None
        self._consumed = False
        self.location: Any = None  # the file or object storage path read, for lineage
        # Storage paths carry a protocol; on Airflow 2 they are also PathLike, with a URL as
        # their fspath, so they must be read through their own open().
        if isinstance(source, (str, os.PathLike)) and not hasattr(source, "protocol"):
            path = os.fspath(source)
            self._name = str(path)
            self._opener = partial(open, path, "rb")
            self.format: str | None = _detect_format(self._name, self._name, format)
            self.rereadable = True
            self.location = path
        elif callable(getattr(source, "open", None)):
            self._name = str(source)
            self._opener = partial(source.open, "rb")
            self.format = _detect_format(getattr(source, "name", None) or self._name, self._name, format)
            self.rereadable = True
            self.location = source
        elif isinstance(source, Iterable) and not isinstance(source, (bytes, bytearray, Mapping)):
            self._name = type(source).__name__
            self._records = source
            self.format = None
            # An object that is its own iterator (generator, file, cursor) can be walked once.
            self.rereadable = not isinstance(source, Iterator)
        else:
            raise LocationError(
                f"cannot read records from a {type(source).__name__}: pass a path, "
                "an object storage path or an iterable of dicts"
            )

    def describe(self) -> str:
        """Describe the source for logs and error messages, e.g. ``ndjson file /data/x.ndjson``."""
        if self._records is None:
            return f"{self.format} file {self._name}"
        if not self.rereadable:
            return f"one-shot iterable ({self._name})"
        try:
            return f"{self._name} of {len(self._records)} records"  # type: ignore[arg-type]
        except TypeError:
            return f"iterable ({self._name})"

    def iter(self, *, hash_into: Any = None,
             max_cell_chars: int = DEFAULT_MAX_CELL_CHARS) -> Iterator[tuple[int, dict]]:
        """Iterate ``(row_number, record)`` pairs from the start.

        An empty input (no bytes, or only whitespace) has no rows, whatever its format; so has
        a CSV file with only a header, or a JSON file holding ``[]``.

        :param hash_into: a hashlib object (e.g. ``hashlib.sha256()``) updated with the input
            as it is read; once the iterator is exhausted its ``hexdigest()`` equals
            :meth:`fingerprint`. Lets the single validation pass compute the fingerprint too.
        :param max_cell_chars: the largest CSV cell read; pass the request size limit, since a
            row with a larger cell could never be sent.
        :raises RecordSourceError: a one-shot source is iterated a second time.
        :raises RecordSourceError: (while iterating) a record is malformed or not an object.
        """
        if not self.rereadable:
            if self._consumed:
                raise RecordSourceError("was already read; it can be read only once", source=self.describe())
            self._consumed = True
        if self._records is not None:
            return _iter_objects(self._records, self.describe(), hash_into)
        return self._iter_file(hash_into, max_cell_chars)

    def fingerprint(self) -> str:
        """SHA-256 hex digest of the input, to tell whether a retry reads the same data.

        Files hash their stored bytes (compressed, if they are); iterables hash a canonical
        JSON form of their records.

        :raises ValueError: the source is one-shot; use ``iter(hash_into=...)`` instead.
        """
        if not self.rereadable:
            raise ConfigurationError(
                f"{self.describe()} can be read only once; pass hash_into= to iter() to fingerprint it during that read"
            )
        digest = hashlib.sha256()
        if self._records is not None:
            for _ in self.iter(hash_into=digest):
                pass
        else:
            with self._opener() as file:
                while chunk := file.read(_READ_SIZE):
                    digest.update(chunk)
        return digest.hexdigest()

    def _iter_file(self, hash_into: Any, max_cell_chars: int) -> Iterator[tuple[int, dict]]:
        source = self.describe()
        row_number = 0
        with self._opener() as file:
            raw = _HashingReader(file, hash_into)
            stream: Any = io.BufferedReader(raw, _READ_SIZE)
            # Sniff rather than trust the suffix: a mislabelled file still reads.
            if stream.peek(2)[:2] == _GZIP_MAGIC:
                stream = gzip.GzipFile(fileobj=stream, mode="rb")
            try:
                reader = partial(_read_csv, max_cell_chars=max_cell_chars) if self.format == "csv" else \
                    _READERS[self.format]
                for row_number, record in reader(stream, source):
                    yield row_number, record
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                raise RecordSourceError(
                    f"corrupt or truncated gzip data ({exc})", source=source, row_number=row_number + 1
                ) from None
            except UnicodeDecodeError as exc:
                # CSV and JSON text is decoded a few KiB ahead of the parser, so the bad
                # bytes may sit a little past this row.
                raise RecordSourceError(
                    f"not valid UTF-8 ({exc.reason}) in or shortly after this row",
                    source=source,
                    row_number=row_number + 1,
                ) from None
            raw.drain()


def _detect_format(name: str, shown: str, format: str | None) -> str:
    if format is not None:
        try:
            return _FORMAT_NAMES[format.lower()]
        except KeyError:
            raise ConfigurationError(f"unknown record format {format!r}; use one of {', '.join(FORMATS)}") from None
    lowered = name.lower().removesuffix(".gz")
    for suffix, detected in _SUFFIXES.items():
        if lowered.endswith(suffix):
            return detected
    raise ConfigurationError(
        f"cannot tell the record format of {shown!r} from its name: expected a "
        ".ndjson, .jsonl, .csv or .json suffix (optionally followed by .gz), or pass "
        f"format= as one of {', '.join(FORMATS)}"
    )


class _HashingReader(io.RawIOBase):
    """Raw stream over any binary file object that feeds every byte read into a hash."""

    def __init__(self, file: Any, digest: Any) -> None:
        self._file = file
        self._digest = digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._file.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        if self._digest is not None:
            self._digest.update(data)
        return size

    def drain(self) -> None:
        """Read what the parser left unread, so the hash covers the whole input."""
        if self._digest is not None:
            while self.readinto(bytearray(_READ_SIZE)):
                pass


def _canonical(record: dict) -> bytes:
    """The bytes the fingerprint of an in-memory record hashes (see ``_canonical_fast``)."""
    try:
        return _canonical_fast(record)
    except (OverflowError, UnicodeEncodeError):
        # Rare, so the slower walk is paid only here; the row's own checks judge the value.
        return _canonical_fast(_hashable(record))


def _hashable(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return msgspec.msgpack.Ext(_BIG_INT, str(value).encode())
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return msgspec.msgpack.Ext(_SURROGATES, value.encode("utf-8", "surrogatepass"))
        return value
    if isinstance(value, Mapping):
        # Keys may hold surrogates too; sorted by their encoded form, as the fast path sorts.
        return [(_hashable(k), _hashable(v)) for k, v in sorted(value.items(), key=lambda kv: _sort_key(kv[0]))]
    if isinstance(value, list | tuple):
        return [_hashable(item) for item in value]
    return value


def _sort_key(key: Any) -> bytes:
    return str(key).encode("utf-8", "surrogatepass")


def _iter_objects(records: Iterable[Any], source: str, hash_into: Any) -> Iterator[tuple[int, dict]]:
    for row_number, record in enumerate(records, 1):
        if type(record) is not dict:
            if not isinstance(record, Mapping):
                raise RecordSourceError(
                    f"is a {type(record).__name__}, expected a dict", source=source, row_number=row_number
                )
            record = dict(record)
        if hash_into is not None:
            hash_into.update(_canonical(record))
        yield row_number, record


def _read_ndjson(stream: Any, source: str) -> Iterator[tuple[int, dict]]:
    decode = msgspec.json.Decoder().decode
    row_number = 0
    for line_number, line in enumerate(stream, 1):
        if line.isspace():
            continue
        row_number += 1
        try:
            # Fast path, about three times as fast as json.loads; json.loads below takes what
            # it refuses (a BOM, NaN, lone surrogates) and words the error for bad lines.
            record = decode(line)
        except ValueError:
            try:
                record = json.loads(line)
            except ValueError as exc:  # JSONDecodeError, or UnicodeDecodeError for bad UTF-8
                problem = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else str(exc)
                raise RecordSourceError(
                    f"line {line_number} is not valid JSON ({problem})", source=source, row_number=row_number
                ) from None
        if type(record) is not dict:
            raise RecordSourceError(
                f"line {line_number} is a JSON {_json_type(record)}, expected an object",
                source=source,
                row_number=row_number,
            )
        yield row_number, record


def _read_csv(stream: Any, source: str, max_cell_chars: int = DEFAULT_MAX_CELL_CHARS) -> Iterator[tuple[int, dict]]:
    # The csv module's limit (128 KiB by default) is process-wide: it is only ever raised, to
    # the request size limit, so a load never lowers it under another one reading at once.
    if csv.field_size_limit() < max_cell_chars:
        csv.field_size_limit(max_cell_chars)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    row_number = 0
    try:
        # Lines of whitespace before the header are not a header: a blank file has no rows.
        header = next((cells for cells in reader if any(cell.strip() for cell in cells)), None)
        if header is None:
            return
        if len(set(header)) != len(header) or "" in header:
            raise RecordSourceError("the CSV header has empty or duplicate column names", source=source)
        width = len(header)
        for cells in reader:
            if not cells:
                continue
            row_number += 1
            if len(cells) != width:
                raise RecordSourceError(
                    f"has {len(cells)} cells but the header has {width} columns",
                    source=source,
                    row_number=row_number,
                )
            # CSV cannot tell an empty string from a missing value; treat it as missing.
            yield row_number, {name: cell or None for name, cell in zip(header, cells, strict=True)}
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise RecordSourceError(
                f"a cell is larger than {max_cell_chars} characters, the request size limit (max_batch_bytes): "
                "no request could carry this row",
                source=source,
                row_number=row_number + 1,
            ) from None
        raise RecordSourceError(f"malformed CSV ({exc})", source=source, row_number=row_number + 1) from None


_READERS = {"ndjson": _read_ndjson, "csv": _read_csv, "json": _read_json_array}
