"""Rows of one input that share a unique key: found by the check pass, only the last one sent.

A destination that upserts by a key (a Monetate dataset's ``unique_key``, a CDP entity's
``Source{Entity}Number``) keeps whichever row with that key reaches it last; with several
batches in flight and retries, that could be any of them. So the check pass decides before
anything is sent: the **last row by input order** wins; every earlier row with its key is left
out, counted (``rows_duplicate``) and reported (row, field, "duplicate of row N's <field>",
never the value), or, with ``on_duplicate_key="fail"``, the load is refused.

How, and why this way. The check pass streams (each row is read, checked and encoded once,
and spooled as a batch at once) and must stay flat in memory; keys are customer data, so
they are kept only hashed:

1. While batches are spooled, :meth:`KeyIndex.add` keeps each spooled row's key as a 64-bit
   hash (Python's ``hash()``, keyed at random per process unless ``PYTHONHASHSEED`` fixes it,
   so a stored hash does not reveal a short key) and its row number, 16 bytes a row, appended
   a batch at a time by C loops and spilled to unnamed temporary files every 131,072 rows.
   A dict of key -> row number would cost ~115 bytes a row (115 MB per million rows) and more
   time; reading the input twice would be impossible for one-shot sources and would double
   the check.
2. After the pass, :meth:`KeyIndex.duplicates` finds the hashes seen more than once, one
   chunk of 131,072 at a time (a set of the chunk, probed by every later row), so the memory
   it needs is bounded (~15 MB) and an input without a repeated key (the usual case) costs
   little. Probing every earlier chunk grows with the square of the input's size, so beyond
   20 chunks each chunk is sorted once instead and the sorted runs are compared one range of
   values at a time (the same bound on memory, a cost that grows with the input's size).
   Only the spooled batches holding a repeated hash are decoded again, and there the keys
   themselves are compared: a hash collision never drops a row.
3. :func:`drop_duplicates` re-encodes each such batch without its earlier rows and appends
   it to the spool; the index points at the new copy. A batch only shrinks, so it still fits
   the limits, and one left empty is dropped. The batches depend only on the input and the
   limits, so a retry cuts the same ones.

No Airflow imports.
"""

from __future__ import annotations

import tempfile
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import accumulate, compress
from operator import itemgetter
from typing import IO, Any

import msgspec

from airflow_provider_monetate.loading._batches import encode_row
from airflow_provider_monetate.loading._rejects import Rejection, RejectsReport

__all__ = [
    "DUPLICATE_KEY_POLICIES", "DUPLICATE_OF", "Duplicate", "KeyIndex", "drop_duplicates", "leave_out_duplicates",
]

#: ``on_duplicate_key`` values: send only the last row of each key, or refuse the input.
DUPLICATE_KEY_POLICIES = ("keep_last", "fail")
#: How the rejects report's reason for a row left out for its repeated key starts.
DUPLICATE_OF = "duplicate of row"

_CHUNK = 1 << 17  # rows per spilled chunk and per set: ~15 MB at most while looking for repeats
_MAX_SET_CHUNKS = 20  # beyond ~2.6 M rows, sorting each chunk once costs less than probing every earlier set
_HASH, _ROW = "q", "Q"
_row_number, _record = itemgetter(0), itemgetter(1)
_decode_rows = msgspec.json.Decoder().decode

# (offset, length, first_row, last_row, rows): the spool index of CheckedInput
IndexEntry = tuple[int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A row left out because a later row has the same key.

    :param row: the row left out.
    :param kept: the last row with that key, the one sent.
    """

    row: int
    kept: int


class KeyIndex:
    """The keys of the rows a check pass spooled, hashed, in spool order (see the module docstring).

    :param key: the key's field name, or a function ``row -> key``. Keys are compared as text
        (``5`` and ``"5"`` are one key, as they are to an API that stores keys as text); a row
        whose key is missing or ``None`` is never a duplicate.
    """

    def __init__(self, key: str | Callable[[dict], Any]) -> None:
        self.field = key if isinstance(key, str) else None
        self._key: Callable[[dict], Any] = itemgetter(key) if isinstance(key, str) else key
        self._hashes, self._rows = array(_HASH), array(_ROW)  # rows not spilled yet
        self._spilled: tuple[IO[bytes], IO[bytes]] | None = None
        self._chunks = 0  # chunks of _CHUNK rows in the spill files
        self.count = 0

    def key_of(self, row: dict) -> Any:
        """The row's key, ``None`` when it has none."""
        try:
            return self._key(row)
        except (KeyError, TypeError):
            return None

    def add(self, pairs: list[tuple[int, dict]]) -> None:
        """Note the ``(row_number, row)`` pairs of one spooled batch (``iter_batches``' ``on_batch``)."""
        # C loops only (no Python code per row): the check pass's cost per row barely moves.
        try:
            hashes = list(map(hash, map(str, map(self._key, map(_record, pairs)))))
        except (KeyError, TypeError):  # a row without the key: hashed as None, never dropped
            hashes = list(map(hash, map(str, map(self.key_of, map(_record, pairs)))))
        self._hashes.fromlist(hashes)
        self._rows.extend(map(_row_number, pairs))
        self.count += len(pairs)
        if len(self._hashes) >= _CHUNK:
            self._spill()

    def _spill(self) -> None:
        if self._spilled is None:
            self._spilled = (tempfile.TemporaryFile(prefix="monetate-keys-"),  # noqa: SIM115 - closed by close()
                             tempfile.TemporaryFile(prefix="monetate-keys-"))  # noqa: SIM115
        hashes, rows = self._spilled
        hashes.seek(0, 2)
        rows.seek(0, 2)
        self._hashes[:_CHUNK].tofile(hashes)
        self._rows[:_CHUNK].tofile(rows)
        del self._hashes[:_CHUNK], self._rows[:_CHUNK]
        self._chunks += 1

    def close(self) -> None:
        """Delete the spill files. Safe to call twice."""
        for file in self._spilled or ():
            file.close()
        self._spilled = None

    def _chunk(self, number: int, kind: str = _HASH) -> array:
        """One chunk of hashes (or row numbers), from the spill files or the rows not spilled yet."""
        if number == self._chunks:
            return self._hashes if kind == _HASH else self._rows
        file = self._spilled[0 if kind == _HASH else 1]  # type: ignore[index]
        values = array(kind)
        file.seek(number * _CHUNK * values.itemsize)
        values.fromfile(file, _CHUNK)
        return values

    def _rows_between(self, start: int, stop: int) -> array:
        """Row numbers of the spooled rows ``start`` to ``stop - 1``."""
        numbers = array(_ROW)
        for chunk in range(start // _CHUNK, (stop - 1) // _CHUNK + 1):
            base = chunk * _CHUNK
            numbers.extend(self._chunk(chunk, _ROW)[max(start - base, 0):stop - base])
        return numbers

    def _repeated_hashes(self) -> set[int]:
        """The hashes seen more than once: by sets of chunks up to a few million rows, by sorted runs beyond."""
        chunks = self._chunks + 1
        if chunks > _MAX_SET_CHUNKS:
            return self._repeated_by_sorting(chunks)
        found: set[int] = set()
        for number in range(chunks):
            chunk = self._chunk(number)
            seen = set(chunk)
            if len(seen) < len(chunk):
                found |= _repeated_within(chunk)
            for later in range(number + 1, chunks):
                found |= seen.intersection(self._chunk(later))
            del chunk, seen  # before the next chunk's set is built: one set at a time
        return found

    def _repeated_by_sorting(self, chunks: int) -> set[int]:
        # Each chunk sorted once (into a temporary file) and cut at the same value bounds; the
        # hashes are uniform, so each range of values holds about one chunk's worth: one set each.
        bounds = [-(1 << 63) + (k << 64) // chunks for k in range(chunks)] + [1 << 63]
        cuts, found = [], set()
        with tempfile.TemporaryFile(prefix="monetate-keys-") as runs:
            for number in range(chunks):
                run = array(_HASH, sorted(self._chunk(number)))
                cuts.append(array("Q", (bisect_left(run, bound) + number * _CHUNK for bound in bounds)))
                run.tofile(runs)
                del run
            for value_range in range(chunks):
                values = array(_HASH)
                for run_cuts in cuts:
                    runs.seek(run_cuts[value_range] * values.itemsize)
                    values.fromfile(runs, run_cuts[value_range + 1] - run_cuts[value_range])
                if len(set(values)) < len(values):
                    found |= _repeated_within(values)
        return found

    def _positions(self, repeated: set[int]) -> Iterator[int]:
        """Spool positions (0-based, in order) of the rows whose hash is repeated."""
        for number in range(self._chunks + 1):
            chunk = self._chunk(number)
            yield from compress(range(number * _CHUNK, number * _CHUNK + len(chunk)), map(repeated.__contains__, chunk))

    def duplicates(self, spool: IO[bytes], index: list[IndexEntry]) -> dict[int, list[Duplicate]]:
        """The rows to leave out, by batch number (the batches whose rows repeat a later key).

        Decodes only the batches holding a repeated hash, and compares their keys themselves.
        """
        repeated = self._repeated_hashes()
        if not repeated:
            return {}
        starts = list(accumulate((entry[4] for entry in index), initial=0))
        by_key: dict[str, list[tuple[int, int]]] = {}  # key text -> [(batch, row number)], in order
        batch, decoded, numbers = -1, [], array(_ROW)
        for position in self._positions(repeated):
            if position >= starts[batch + 1]:
                batch = bisect_right(starts, position) - 1
                decoded = _batch_rows(spool, index[batch])
                numbers = self._rows_between(starts[batch], starts[batch + 1])
            key = self.key_of(decoded[position - starts[batch]])
            if key is not None:
                by_key.setdefault(str(key), []).append((batch, numbers[position - starts[batch]]))
        found: dict[int, list[Duplicate]] = {}
        for rows in by_key.values():
            kept = rows[-1][1]
            for batch, row in rows[:-1]:
                found.setdefault(batch, []).append(Duplicate(row, kept))
        return found

    def row_numbers(self, index: list[IndexEntry], batch: int) -> array:
        """Row numbers of one spooled batch's rows, in order."""
        start = sum(entry[4] for entry in index[:batch])
        return self._rows_between(start, start + index[batch][4])


def leave_out_duplicates(checked: Any, keys: KeyIndex, rejects: RejectsReport, policy: str,
                         more: Callable[[dict[int, list[Duplicate]], list[IndexEntry]], list[Duplicate]] | None = None,
                         ) -> None:
    """After the check pass: report every row a later row's key repeats, count it, and (``keep_last``) drop it.

    :param checked: the check pass's ``CheckedInput``: its ``spool`` and ``index`` are rewritten,
        ``rows_accepted`` and ``rows_duplicate`` updated.
    :param policy: ``on_duplicate_key``.
    :param more: finds the repeats among rows that were not all spooled (an incremental sync's
        ``SyncDiff.resolve``): given the spooled rows to leave out by batch, and the spool index, it adds
        spooled rows to them and returns the rows never spooled that a later row repeats (only reported).
    """
    found = keys.duplicates(checked.spool, checked.index)
    unsent = more(found, checked.index) if more is not None else []
    spooled = [d for batch in found.values() for d in batch]
    duplicates = sorted(spooled + unsent, key=lambda d: d.row)
    name = keys.field or "key"
    outcome = f"only the last row with the same {name} is sent" if policy == "keep_last" else "on_duplicate_key='fail'"
    for duplicate in duplicates:
        rejects.add(Rejection(duplicate.row, keys.field, f"{DUPLICATE_OF} {duplicate.kept}'s {name}: {outcome}"))
    checked.rows_duplicate = len(duplicates)
    checked.rows_accepted -= len(spooled)
    if policy == "keep_last" and found:
        drop_duplicates(checked.spool, checked.index, keys, found)


def _repeated_within(values: array) -> set[int]:
    seen: set[int] = set()
    return {h for h in values if h in seen or seen.add(h)}  # type: ignore[func-returns-value]


def drop_duplicates(spool: IO[bytes], index: list[IndexEntry], keys: KeyIndex,
                    duplicates: dict[int, list[Duplicate]]) -> None:
    """Rewrite the batches holding duplicates without them (appended to the spool), in ``index``."""
    numbers_of = {batch: keys.row_numbers(index, batch) for batch in duplicates}
    for batch, found in duplicates.items():
        left_out = {d.row for d in found}
        numbers = numbers_of[batch]
        kept = [(number, row) for number, row in zip(numbers, _batch_rows(spool, index[batch]), strict=True)
                if number not in left_out]
        if not kept:
            index[batch] = None  # type: ignore[call-overload]
            continue
        payload = encode_row([row for _, row in kept])[1:-1]
        spool.seek(0, 2)
        index[batch] = (spool.tell(), len(payload), kept[0][0], kept[-1][0], len(kept))
        spool.write(payload)
    index[:] = [entry for entry in index if entry is not None]


def _batch_rows(spool: IO[bytes], entry: IndexEntry) -> list[dict]:
    offset, length = entry[0], entry[1]
    spool.seek(offset)
    return _decode_rows(b"[" + spool.read(length) + b"]")
