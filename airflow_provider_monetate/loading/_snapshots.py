"""Incremental sync state: per sync, a hash of each key and of its row as last sent, in one file.

A *snapshot* belongs to one sync (a connection and a Monetate dataset or CDP entity). It holds, for
every key the last successful run delivered, a 128-bit hash of the key and a 128-bit hash of the
row as it was sent (after normalisation), never a key or a value; plus a header: the format, a
*generation* number (1 for the first snapshot, +1 for each run that replaces it), the *fingerprint*
of what the rows' normalisation depended on, the number of keys, and the salt of the hashes.

**Why sorted columns read through mmap, and not SQLite.** A run looks up every input row once and
rewrites the state once, and must keep memory flat (ten million keys are not ten million Python
objects). Measured on 1,000,000 keys: looking a row up with SQLite (``WHERE h IN (...)``, 500 a
query) cost 2.3 s and writing the next state 2.5 s (inserts, then the index); a binary search in a
sorted column of the memory-mapped file costs about 0.6 s, and the next state is the old file with
the changed keys spliced in (unchanged runs of entries copied as they are). So, behind a 4096-byte
JSON header, the file holds two regions of ``keys + 1`` pairs of unsigned 64-bit numbers, sorted by
row hash: the row hashes (high, low), then the key hashes (high, low); the last pair is a sentinel.
The two halves of a hash sit side by side, so a comparison touches one cache line. The kernel pages
the mapped file in and out; a run's own memory holds a directory of one number per sixteen keys for
the search, and one byte per key to mark the entries an input row matched.

The hashes are BLAKE2b with a random salt kept in the header (a new one with every full rebuild):
the file reveals neither keys nor values, and hashes do not match across snapshots. A key that can
be guessed (a sequential customer number) can still be confirmed by someone holding the file and
the salt, so local files are created 0600. With 128-bit hashes, two keys or two rows sharing a
hash is beyond any practical chance (below 10^-24 for ten million keys).

**Where it lives.** In a :class:`~airflow_provider_monetate.storage.Folder`: on local disk the file
is mapped where it is; from object storage it is first copied to a private local file, and a new
one is written locally, then uploaded whole. A new snapshot is published only if the generation
still is the one the run read (under a lock on local disk; on object storage the check comes just
before the upload): of two runs at once, the second to finish fails with
:class:`~airflow_provider_monetate.exceptions.SnapshotConflictError` and the file stays valid.
``_snapshot_writer`` writes the next one.

No Airflow imports.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import re
import sys
import tempfile
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from itertools import compress, count, repeat
from operator import eq, lshift, methodcaller, rshift
from pathlib import Path
from typing import Any

from airflow_provider_monetate.exceptions import SnapshotConflictError, StateFileError
from airflow_provider_monetate.loading._batches import encode_lines
from airflow_provider_monetate.storage import Folder

__all__ = ["Header", "Record", "Snapshot", "SnapshotStore", "key_hashes", "row_hashes", "snapshot_name"]

FORMAT_VERSION = 1
HEADER_SIZE = 4096
REGIONS = 2  # row hashes, then key hashes: each (high, low) side by side, one cache line for a comparison
CHUNK = 1 << 17  # records sorted in memory at once (~26 MB of tuples)
UNREADABLE = -1  # the generation of a file that exists but is not a snapshot this version can read
_MAGIC = "airflow-provider-monetate sync snapshot"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

_digest = methodcaller("digest")

#: One entry: row hash high and low halves, key hash high and low halves.
Record = tuple[int, int, int, int]


def snapshot_name(conn_id: str, target: str, map_index: int = -1) -> str:
    """The file name of one sync's snapshot: readable, ending with a hash of the exact names.

    :param conn_id: the connection.
    :param target: the dataset or entity.
    :param map_index: a mapped task's index (each mapped instance keeps its own state), -1 if not mapped.
    """
    parts = [conn_id, target] + ([str(map_index)] if map_index >= 0 else [])
    readable = "__".join(_UNSAFE.sub("_", part) for part in parts)[:150]
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]
    return f"{readable}.{digest}.snapshot"


def row_hashes(rows: list[dict], salt: bytes) -> tuple[array, array]:
    """Each row's 128-bit hash, as its high and low halves: the first 16 bytes of BLAKE2b of the salt (as
    hex text) followed by the row's JSON as sent. (Hashing with BLAKE2b's own salt and digest size
    parameters costs half as much again per row: the arguments are parsed at every call.)"""
    hashes = array("Q")
    hashes.frombytes(b"".join(map(_digest, map(hashlib.blake2b, encode_lines(rows, prefix=salt.hex().encode())))))
    return hashes[0::8], hashes[1::8]


def key_hashes(keys: list[Any], salt: bytes) -> array:
    """Each key's 128-bit hash as two numbers; keys compare as text (``5`` and ``"5"`` are one key).
    A missing key (``None``) hashes to ``0, 0``, which no key is."""
    hasher = partial(hashlib.blake2b, digest_size=16, salt=salt, person=b"key")
    hashes = array("Q")
    hashes.frombytes(b"".join(map(_digest, map(hasher, map(str.encode, map(str, keys))))))
    if None in keys:
        for position in compress(count(), map(eq, keys, [None] * len(keys))):
            hashes[2 * position] = hashes[2 * position + 1] = 0
    return hashes


@dataclass(frozen=True)
class Header:
    """What a snapshot file says about itself.

    :param generation: 1 for the first snapshot of a sync, one more for each that replaced it.
    :param fingerprint: what the rows' normalisation depended on, as the run that wrote it saw it.
    :param keys: the number of keys (rows) it holds.
    :param salt: the 16-byte salt of its hashes.
    """

    generation: int
    fingerprint: str
    keys: int
    salt: bytes

    def encode(self) -> bytes:
        doc = {"magic": _MAGIC, "format": FORMAT_VERSION, "byteorder": sys.byteorder, "generation": self.generation,
               "fingerprint": self.fingerprint, "keys": self.keys, "salt": self.salt.hex()}
        return json.dumps(doc).encode().ljust(HEADER_SIZE)

    @classmethod
    def decode(cls, data: bytes) -> Header:
        """Read a header.

        :raises StateFileError: (or another ``ValueError``) ``data`` does not start with one.
        """
        doc = json.loads(data[:HEADER_SIZE])
        if doc.get("magic") != _MAGIC or doc.get("format") != FORMAT_VERSION:
            raise StateFileError(f"not a snapshot of format {FORMAT_VERSION}")
        if doc.get("byteorder") != sys.byteorder:
            raise StateFileError(f"written on a {doc.get('byteorder')}-endian machine")
        salt = bytes.fromhex(doc["salt"])
        if len(salt) != 16 or int(doc["keys"]) < 0 or int(doc["generation"]) < 1:
            raise StateFileError("a header field is out of range")
        return cls(int(doc["generation"]), str(doc["fingerprint"]), int(doc["keys"]), salt)


def file_size(keys: int) -> int:
    """The size of a snapshot of ``keys`` keys: the header, then two regions of ``keys + 1`` pairs of numbers."""
    return HEADER_SIZE + REGIONS * (keys + 1) * 16


class Snapshot:
    """A snapshot file mapped read-only: its header, and its entries as four ``memoryview`` columns of
    unsigned 64-bit numbers (``row_a``, ``row_b``, ``key_a``, ``key_b``: high and low halves of the row
    and key hashes), each with ``keys + 1`` entries, the last a sentinel.

    :param path: a local snapshot file; the caller keeps it until :meth:`close`.
    :param header: its header, already read.
    :raises StateFileError: the file's size does not match the header.
    """

    def __init__(self, path: Path, header: Header) -> None:
        self.header = header
        with path.open("rb") as file:
            if os.fstat(file.fileno()).st_size != file_size(header.keys):
                raise StateFileError("the file's size does not match its header (a partial copy?)")
            self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        numbers = memoryview(self._map).cast("Q")
        first, width = HEADER_SIZE // 8, 2 * (header.keys + 1)
        self.regions = (numbers[first:first + width], numbers[first + width:first + 2 * width])
        self.row_a, self.row_b = self.regions[0][0::2], self.regions[0][1::2]
        self.key_a, self.key_b = self.regions[1][0::2], self.regions[1][1::2]
        self._views = [numbers, *self.regions, self.row_a, self.row_b, self.key_a, self.key_b]
        # Where each range of row hashes starts (about sixteen rows a range), so a search looks at four or
        # five rows instead of twenty, for the cost of one search per range when the file is opened.
        bits = max(0, (header.keys // 16).bit_length())
        self._shift = 64 - bits
        self._starts = array("Q", map(bisect_left, repeat(self.row_a), map(lshift, range(1 << bits),
                                                                             repeat(self._shift))))
        self._ends = self._starts[1:]
        self._ends.append(header.keys)

    @property
    def keys(self) -> int:
        return self.header.keys

    def locate(self, hashes: array) -> list[int]:
        """For each row hash (high half), the index of the first entry not below it (``keys`` when none)."""
        buckets = list(map(rshift, hashes, repeat(self._shift)))
        return list(map(bisect_left, repeat(self.row_a), hashes, map(self._starts.__getitem__, buckets),
                        map(self._ends.__getitem__, buckets)))

    def close(self) -> None:
        for view in reversed(self._views):
            view.release()
        self._map.close()


class SnapshotStore:
    """The snapshots of every sync in one folder (local or object storage).

    :param location: a local directory or an object storage path.
    """

    def __init__(self, location: Any) -> None:
        self.folder = Folder(location)

    @property
    def location(self) -> str:
        return self.folder.location

    def generation(self, name: str) -> int:
        """The generation of the snapshot ``name``: 0 when there is none, ``UNREADABLE`` when it cannot be read."""
        data = self.folder.read(name, size=HEADER_SIZE)
        if data is None:
            return 0
        try:
            return Header.decode(data).generation
        except (AttributeError, KeyError, TypeError, ValueError):
            return UNREADABLE

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[tuple[Snapshot | None, int, str | None]]:
        """The snapshot ``name`` for the ``with`` block: ``(snapshot or None, generation, why it is None)``.

        ``why`` is ``None`` when there is no snapshot yet, else says why the file cannot be used.
        """
        with self.folder.fetch(name) as path:
            if path is None:
                yield None, 0, None
                return
            try:
                with path.open("rb") as file:
                    header = Header.decode(file.read(HEADER_SIZE))
                snapshot = Snapshot(path, header)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                yield None, UNREADABLE, f"the snapshot {name} in {self.location} cannot be read ({exc})"
                return
            try:
                yield snapshot, header.generation, None
            finally:
                snapshot.close()

    @contextlib.contextmanager
    def new_file(self, name: str) -> Iterator[Path]:
        """A private temporary file to write the next snapshot into: in the folder itself on local disk
        (published by a rename), else on local disk (then uploaded). Removed afterwards if still there."""
        directory = self.folder.local
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        os.close(handle)
        try:
            yield Path(temporary)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temporary)

    def publish(self, name: str, path: Path, *, read_generation: int, what: str) -> None:
        """Make ``path`` the snapshot ``name``, only if its generation is still ``read_generation``.

        :param what: names the sync in the error.
        :raises SnapshotConflictError: another run replaced (or removed) the snapshot since it was read.
        """
        def still_the_one_read() -> None:
            current = self.generation(name)
            if current != read_generation:
                raise SnapshotConflictError(
                    f"{what}: another run of this sync wrote its snapshot ({_describe(current)}) after this run read "
                    f"{_describe(read_generation)}. This run's rows were all sent, but its snapshot was not written "
                    f"(the other run's stays, valid): the next run sends whatever still differs from it. Do not run "
                    f"two incremental syncs of the same dataset at once (max_active_runs=1, or one pool slot)."
                )

        self.folder.put(name, path, check=still_the_one_read)


def _describe(generation: int) -> str:
    if generation == 0:
        return "no snapshot"
    return "an unreadable file" if generation == UNREADABLE else f"generation {generation}"
