"""Streaming readers for the records a load sends.

Reads NDJSON, CSV and JSON-array files, optionally gzip-compressed, from a local path or
object storage, as well as in-memory iterables of dicts. Memory use does not grow with the
input size.

Row numbers are 1-based and count records, not lines: a CSV header and blank lines
(NDJSON or CSV) are not rows. The same data therefore numbers its rows the same way in
every format, and "row 42" always means the 42nd record. Error messages about NDJSON also
give the line number, so the record can be found in an editor.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from functools import partial
from typing import Any

import msgspec

from airflow_provider_monetate.exceptions import ConfigurationError, LocationError, RecordSourceError

__all__ = ["FORMATS", "RecordSource"]

#: Formats accepted by ``format=`` (``"jsonl"`` is accepted as an alias of ``"ndjson"``).
FORMATS = ("ndjson", "csv", "json")

_FORMAT_NAMES = {"ndjson": "ndjson", "jsonl": "ndjson", "csv": "csv", "json": "json"}
_SUFFIXES = {".ndjson": "ndjson", ".jsonl": "ndjson", ".csv": "csv", ".json": "json"}
_GZIP_MAGIC = b"\x1f\x8b"
_READ_SIZE = 1 << 20
_TEXT_CHUNK = 1 << 16
# A JSON-array element is buffered whole; past this size it is refused rather than letting a
# malformed file (an unclosed string, say) pull the rest of the input into memory.
_MAX_ELEMENT_CHARS = 64 << 20
# Running out of buffered text shows up as a decode error within the last few characters
# (e.g. a number or "\uXXXX" escape cut in half); errors further back are real.
_TRUNCATION_TAIL = 16
_WHITESPACE = re.compile(r"[ \t\n\r]*")
# What the fingerprint of in-memory records hashes: MessagePack, several times faster than
# json.dumps, self-delimiting, with keys sorted; unlike msgspec's JSON it keeps NaN apart from
# None. Values it cannot encode are hashed as their str().
_canonical = msgspec.msgpack.Encoder(order="sorted", enc_hook=str).encode


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
        # Storage paths carry a protocol; on Airflow 2 they are also PathLike, with a URL as
        # their fspath, so they must be read through their own open().
        if isinstance(source, (str, os.PathLike)) and not hasattr(source, "protocol"):
            path = os.fspath(source)
            self._name = str(path)
            self._opener = partial(open, path, "rb")
            self.format: str | None = _detect_format(self._name, self._name, format)
            self.rereadable = True
        elif callable(getattr(source, "open", None)):
            self._name = str(source)
            self._opener = partial(source.open, "rb")
            self.format = _detect_format(getattr(source, "name", None) or self._name, self._name, format)
            self.rereadable = True
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

    def iter(self, *, hash_into: Any = None) -> Iterator[tuple[int, dict]]:
        """Iterate ``(row_number, record)`` pairs from the start.

        :param hash_into: a hashlib object (e.g. ``hashlib.sha256()``) updated with the input
            as it is read; once the iterator is exhausted its ``hexdigest()`` equals
            :meth:`fingerprint`. Lets the single validation pass compute the fingerprint too.
        :raises RecordSourceError: a one-shot source is iterated a second time.
        :raises RecordSourceError: (while iterating) a record is malformed or not an object.
        """
        if not self.rereadable:
            if self._consumed:
                raise RecordSourceError("was already read; it can be read only once", source=self.describe())
            self._consumed = True
        if self._records is not None:
            return _iter_objects(self._records, self.describe(), hash_into)
        return self._iter_file(hash_into)

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

    def _iter_file(self, hash_into: Any) -> Iterator[tuple[int, dict]]:
        source = self.describe()
        row_number = 0
        with self._opener() as file:
            raw = _HashingReader(file, hash_into)
            stream: Any = io.BufferedReader(raw, _READ_SIZE)
            # Sniff rather than trust the suffix: a mislabelled file still reads.
            if stream.peek(2)[:2] == _GZIP_MAGIC:
                stream = gzip.GzipFile(fileobj=stream, mode="rb")
            try:
                for row_number, record in _READERS[self.format](stream, source):
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


def _json_type(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


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


def _read_csv(stream: Any, source: str) -> Iterator[tuple[int, dict]]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    row_number = 0
    try:
        header = next(reader, None)
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
        raise RecordSourceError(f"malformed CSV ({exc})", source=source, row_number=row_number + 1) from None


def _read_json_array(stream: Any, source: str) -> Iterator[tuple[int, dict]]:
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
                        f"is a JSON {_json_type(record)}, expected an object",
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


_READERS = {"ndjson": _read_ndjson, "csv": _read_csv, "json": _read_json_array}
