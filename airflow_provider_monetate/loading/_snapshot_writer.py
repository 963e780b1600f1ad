"""Writing a sync's next snapshot (the format is ``_snapshots``'): new entries sorted, old ones spliced in.

A run that changed 1% of the keys writes the old file's unchanged runs of entries as they are (memory
copies from the old mapping) with the changed and new ones merged in, so writing costs little more
than copying a file; a full run sorts its entries in chunks, spilled to disk and cut into ranges of
hash values, so memory stays flat however many keys there are. No Airflow imports.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from operator import itemgetter
from pathlib import Path

from airflow_provider_monetate.exceptions import StateFileError
from airflow_provider_monetate.loading._snapshots import CHUNK, HEADER_SIZE, REGIONS, Header, Record, Snapshot

__all__ = ["sort_records", "write_snapshot"]

_TOP = (1 << 64) - 1  # the sentinel after the last row hash: every search ends on a real entry
_row_high = itemgetter(0)
_RECORD_SIZE = 32  # four unsigned 64-bit numbers


def sort_records(records: Iterable[Record], count: int) -> Iterator[list[Record]]:
    """``count`` records in order of their row hash, a list at a time.

    Up to :data:`CHUNK` records are sorted in memory. More are sorted a chunk at a time into runs
    spilled to a temporary file; the row hashes being uniform, the runs are then cut at the same
    hash values into ranges of about a chunk each, and each range (a few sorted pieces) is sorted
    again: memory stays flat, and no record passes through a Python-level merge.
    """
    records = iter(records)
    if count <= CHUNK:
        yield sorted(records, key=_row_high)  # the high half decides: comparing whole tuples costs 3x
        return
    with tempfile.TemporaryFile(prefix="monetate-sync-") as runs:
        spans = []  # (first record, records) of each run
        while chunk := sorted(islice(records, CHUNK), key=_row_high):
            spans.append((runs.tell() // _RECORD_SIZE, len(chunk)))
            runs.write(array("Q", chain.from_iterable(chunk)).tobytes())
            del chunk
        runs.flush()
        edges = [(r << 64) // len(spans) for r in range(len(spans))]
        with mmap.mmap(runs.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            with memoryview(mapped) as data, data.cast("Q") as numbers, numbers[0::4] as highs:
                cuts = [[bisect_left(highs, edge, first, first + size) for edge in edges] + [first + size]
                        for first, size in spans]
            for r in range(len(edges)):
                piece = b"".join(mapped[cut[r] * _RECORD_SIZE:cut[r + 1] * _RECORD_SIZE] for cut in cuts)
                yield sorted(_unpack(piece), key=_row_high)


def write_snapshot(path: Path, header: Header, old: Snapshot | None, left_out: list[int],
                   new_records: Iterable[list[Record]]) -> None:
    """Write a snapshot: ``old``'s entries except those at the (sorted) indices ``left_out``, and the new
    records (lists, in order of row hash: :func:`sort_records`), merged in order; ``header.keys`` must be
    their number.

    Unchanged runs of the old file are copied as they are, so a run that changed 1% of the keys costs
    little more than a file copy.

    :raises StateFileError: the records do not add up to ``header.keys`` (nothing is published).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        writer = _ColumnWriter(fd, header.keys)
        os.pwrite(fd, header.encode(), 0)
        if old is None:  # a full run: only new records
            for chunk in new_records:
                writer.add_many(chunk)
        else:
            cursor, skip = 0, 0  # the next old entry to copy; the next index of left_out
            for record in chain.from_iterable(new_records):
                if old.row_a[cursor] <= record[0]:
                    end = bisect_left(old.row_a, record[0], cursor, old.keys)
                    skip = _copy_old(writer, old, cursor, end, left_out, skip)
                    cursor = end
                writer.add(record)
            _copy_old(writer, old, cursor, old.keys, left_out, skip)
        writer.finish()
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_old(writer: _ColumnWriter, old: Snapshot, start: int, end: int, left_out: list[int], skip: int) -> int:
    """Copy old entries ``start`` to ``end - 1`` except those in ``left_out``; return the next ``skip``."""
    while skip < len(left_out) and left_out[skip] < end:
        writer.copy(old, start, left_out[skip])
        start, skip = left_out[skip] + 1, skip + 1
    writer.copy(old, start, end)
    return skip


class _ColumnWriter:
    """Writes the two regions of a snapshot of ``keys`` entries side by side: each region gathers its
    pieces (old entries copied from the old mapping, new records) in a buffer written at the region's
    offset every few megabytes, so a run that changed scattered keys makes few system calls."""

    _FLUSH = 1 << 22  # bytes a region buffers

    def __init__(self, fd: int, keys: int) -> None:
        self.fd, self.keys, self.written, self.flushed = fd, keys, 0, 0
        self.pending: list[Record] = []
        self.buffers = [bytearray() for _ in range(REGIONS)]

    def offset(self, region: int, index: int) -> int:
        return HEADER_SIZE + (region * (self.keys + 1) + index) * 16

    def add(self, record: Record) -> None:
        self.pending.append(record)
        if len(self.pending) >= 65536:
            self._take_pending()

    def add_many(self, records: list[Record]) -> None:
        self._take_pending()
        self.pending = records
        self._take_pending()

    def copy(self, old: Snapshot, start: int, end: int) -> None:
        if end <= start:
            return
        self._take_pending()
        self._take([region[2 * start:2 * end] for region in old.regions], end - start)

    def _take_pending(self) -> None:
        if self.pending:
            flat = array("Q", chain.from_iterable(self.pending))  # row high, row low, key high, key low, ...
            regions = [array("Q", bytes(16 * len(self.pending))) for _ in range(REGIONS)]
            for region, first in zip(regions, (0, 2), strict=True):
                region[0::2], region[1::2] = flat[first::4], flat[first + 1::4]
            self._take(regions, len(self.pending))
            self.pending = []

    def _take(self, regions: list, count: int) -> None:
        if self.written + count > self.keys:
            raise StateFileError(f"a new snapshot got more than the {self.keys} keys counted; nothing was published")
        for buffer, values in zip(self.buffers, regions, strict=True):
            buffer += values
        self.written += count
        if len(self.buffers[0]) >= self._FLUSH:
            self._flush()

    def _flush(self) -> None:
        for number, buffer in enumerate(self.buffers):
            os.pwrite(self.fd, buffer, self.offset(number, self.flushed))
            buffer.clear()
        self.flushed = self.written

    def finish(self) -> None:
        self._take_pending()
        if self.written != self.keys:
            raise StateFileError(f"a new snapshot got {self.written} keys, not the {self.keys} counted; "
                                 "nothing was published")
        self._take([array("Q", [_TOP, 0]), array("Q", [0, 0])], 0)  # the sentinel entry
        self._flush()


def _unpack(data: bytes) -> Iterator[Record]:
    numbers = array("Q")
    numbers.frombytes(data)
    return zip(numbers[0::4], numbers[1::4], numbers[2::4], numbers[3::4], strict=True)
