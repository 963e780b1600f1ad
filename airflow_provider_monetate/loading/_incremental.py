"""Incremental sync in the check pass: rows unchanged since the last successful run are never spooled.

A keyed load with a :class:`SyncTarget` compares every accepted row with the sync's snapshot
(``_snapshots``): a row whose hash (its normalised JSON, as it would be sent) the snapshot holds is
*unchanged*, counted and left out before batching; the others are spooled as usual, and each is
*new* or *changed* depending on whether the snapshot holds its key. Keys the snapshot holds that no
input row has are *removed*: only counted (Monetate has no row delete; a CDP deletion is a separate,
explicit task). A dry run reports the same counts and writes nothing.

The last row of a key wins, as everywhere else (``_duplicates``): rows that share a key with a later
row are left out and reported, whether they are spooled or not. ``KeyIndex`` finds repeats among the
spooled rows; :meth:`SyncDiff.resolve` finds the rest, where an unchanged row and a spooled one, or
two unchanged (hence identical) rows, share a key, using the key hashes the snapshot holds.

The next snapshot is written by :meth:`SyncDiff.commit` only once every batch is acknowledged: the
old one's entries for the unchanged rows, and a new entry for each spooled row. A failed run writes
nothing, so the next run sends again whatever this one could not confirm (safe: keyed destinations
upsert). The snapshot is not used, and the run sends every row and rebuilds it, when there is none,
it cannot be read, ``full_resync=True``, or its fingerprint (the destination, the dataset's fields,
the normalisation settings and rules version, as the operator computes it) is not the run's.

Memory stays flat: per input row only a group of 1,024 is in Python at a time; the snapshot is
mapped; the spooled rows' hashes and the log of which row matched which snapshot entry are spilled
to temporary files; what stays in memory is one byte per snapshot entry (whether a row matched it).
No Airflow imports.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import accumulate, compress, count, islice, repeat
from operator import and_, eq, itemgetter, not_
from typing import IO, Any

from airflow_provider_monetate.loading._duplicates import Duplicate
from airflow_provider_monetate.loading._snapshot_writer import sort_records, write_snapshot
from airflow_provider_monetate.loading._snapshots import CHUNK, Header, Snapshot, SnapshotStore, key_hashes, row_hashes

__all__ = ["RULES_VERSION", "SHRINK_LIMIT", "SyncDiff", "SyncTarget", "sync_fingerprint"]

log = logging.getLogger(__name__)

#: An input with fewer keys than this share of the snapshot's is refused unless ``allow_shrink``.
SHRINK_LIMIT = 0.5
#: Part of every sync fingerprint: raise it with any change to the row rules (``monetate/_rows.py``,
#: ``acquia_cdp/_payload.py``) that changes how an accepted row is written, so every sync's next run
#: is a full one instead of comparing rows normalised two ways.
RULES_VERSION = 1
GROUP = 1024  # rows hashed and looked up together
_FIELDS = 5  # a spooled row's record: row hash high, low, key hash high, low, row number
_number, _row = itemgetter(0), itemgetter(1)


def sync_fingerprint(settings: dict[str, Any]) -> str:
    """The fingerprint of what a sync's rows depend on (the destination, the dataset's fields, the
    normalisation settings) and of :data:`RULES_VERSION`; sets are sorted, so it is the same in every process."""
    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in sorted(value.items(), key=lambda item: str(item[0]))}
        if isinstance(value, set | frozenset):
            return sorted(map(str, value))
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value if value is None or isinstance(value, str | int | float | bool) else str(value)

    text = json.dumps({"rules_version": RULES_VERSION, **plain(settings)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class SyncTarget:
    """One part's incremental sync, as the operator sets it up.

    :param store: where the sync's snapshot is kept.
    :param name: the snapshot's file name (``_snapshots.snapshot_name``).
    :param fingerprint: what the rows' normalisation depends on; a snapshot with another makes a full run.
    :param what: names the sync in log lines and errors, e.g. ``Monetate dataset events``.
    :param full_resync: send every row and rebuild the snapshot.
    """

    store: SnapshotStore
    name: str
    fingerprint: str
    what: str
    full_resync: bool = False

    @property
    def location(self) -> str:
        return f"{self.store.location.rstrip('/')}/{self.name}"

    @contextlib.contextmanager
    def begin(self, key: str | Callable[[dict], Any]) -> Iterator[SyncDiff]:
        """Open the snapshot for one run: a :class:`SyncDiff` for the ``with`` block (the load's)."""
        with self.store.open(self.name) as (snapshot, generation, problem):
            reason = self._full_because(snapshot, problem)
            previous = snapshot.keys if snapshot is not None else 0
            diff = SyncDiff(self, key, None if reason else snapshot, generation, previous, reason)
            try:
                yield diff
            finally:
                diff.close()

    def _full_because(self, snapshot: Snapshot | None, problem: str | None) -> str | None:
        """Why this run sends every row (logged), or ``None`` for an incremental run."""
        if problem:
            reason = f"{problem}; sending every row and writing a new one"
            log.warning("%s: %s", self.what, reason)
            return reason
        if snapshot is None:
            reason = "no snapshot yet: the first incremental run sends every row"
        elif self.full_resync:
            reason = "full_resync=True: sending every row and rebuilding the snapshot"
        elif snapshot.header.fingerprint != self.fingerprint:
            reason = ("the destination, the dataset's fields or the normalisation rules changed since the snapshot "
                      "was written: sending every row and rebuilding it")
            log.warning("%s: full run: %s (%s)", self.what, reason, self.location)
            return reason
        else:
            log.info("%s: comparing with snapshot generation %d (%d keys) at %s", self.what,
                     snapshot.header.generation, snapshot.keys, self.location)
            return None
        log.info("%s: full run: %s (%s)", self.what, reason, self.location)
        return reason


class SyncDiff:
    """One run of an incremental sync: filters the check pass, then counts, then writes the next snapshot.

    :param target: the sync.
    :param key: the rows' key: a field name or a function ``row -> key``.
    :param old: the snapshot to compare with, ``None`` for a full run.
    :param generation: the snapshot's generation as read (0: none), compared again before writing.
    :param previous_keys: how many keys the snapshot holds (for the shrink guard, even in a full run).
    :param full_reason: why the run is full, ``None`` for an incremental run.
    """

    def __init__(self, target: SyncTarget, key: str | Callable[[dict], Any], old: Snapshot | None,
                 generation: int, previous_keys: int, full_reason: str | None) -> None:
        self.target, self.old, self.generation = target, old, generation
        self.previous_keys, self.full_reason = previous_keys, full_reason
        self._key = itemgetter(key) if isinstance(key, str) else key
        self.salt = old.header.salt if old is not None else os.urandom(16)
        self.unchanged = self.new = self.changed = self.removed = 0
        self._files: list[IO[bytes]] = []
        # Per snapshot entry, whether an unchanged row matched it: one byte each, written in C. Which rows
        # matched which entry goes to a log on disk, read only for the rare keys that repeat.
        self._seen = bytearray(old.keys + 1) if old is not None else bytearray()
        self._hit_log = (self._temporary(), self._temporary()) if old is not None else ()  # old indices, rows
        self._staged, self._spilled, self._staged_count = array("Q"), 0, 0  # spooled rows' records
        self._spill_file: IO[bytes] | None = None
        self._dropped: set[int] = set()  # spooled rows left out as duplicates
        self._left_out: list[int] = []  # old entries not carried over

    @property
    def checkpoint_tag(self) -> str:
        """What the run's batches depend on besides the input (see ``check_records``)."""
        return f"|sync {self.target.name} generation {self.generation} {'full' if self.full_reason else 'diff'}"

    # -- the check pass -------------------------------------------------------------------------

    def unchanged_rows(self, accepted: Iterator[tuple[int, dict]], checked: Any) -> Iterator[tuple[int, dict]]:
        """Pass on the accepted rows the snapshot does not hold; count the others (``checked.rows_accepted``
        goes down by them) and note where they are in the snapshot."""
        if self.old is None:
            yield from accepted
            return
        old, seen = self.old, self._seen
        while group := list(islice(accepted, GROUP)):
            high, low = row_hashes(list(map(_row, group)), self.salt)
            at = old.locate(high)
            same = list(map(and_, map(eq, map(old.row_a.__getitem__, at), high),
                            map(eq, map(old.row_b.__getitem__, at), low)))
            hits = same.count(True)
            if hits:
                where, rows = array("Q", compress(at, same)), array("Q", compress(map(_number, group), same))
                deque(map(seen.__setitem__, where, repeat(1)), 0)
                where.tofile(self._hit_log[0])
                rows.tofile(self._hit_log[1])
                self.unchanged += hits
                checked.rows_accepted -= hits
                yield from compress(group, map(not_, same))
            else:
                yield from group

    def _log_chunks(self) -> Iterator[tuple[array, array]]:
        """The log of unchanged rows: ``(old indices, row numbers)``, a chunk at a time, in input order."""
        where_log, rows_log = self._hit_log
        where_log.seek(0)
        rows_log.seek(0)
        for start in range(0, self.unchanged, CHUNK):
            where, rows = array("Q"), array("Q")
            where.fromfile(where_log, min(CHUNK, self.unchanged - start))
            rows.fromfile(rows_log, len(where))
            yield where, rows

    def _repeated_entries(self) -> set[int]:
        """The snapshot entries more than one unchanged row matched (identical rows of one key): the log is
        read only when fewer entries were seen than rows matched."""
        if self._seen.count(1) == self.unchanged:
            return set()
        marks, repeated = bytearray(len(self._seen)), set()
        for where, _ in self._log_chunks():
            for index in where:
                if marks[index]:
                    repeated.add(index)
                marks[index] = 1
        return repeated

    def _unchanged_rows_of(self, entries: set[int]) -> dict[int, list[int]]:
        """The unchanged rows that matched each of ``entries``, in input order (one pass over the log)."""
        found: dict[int, list[int]] = {}
        for where, rows in self._log_chunks():
            for index, row in compress(zip(where, rows, strict=True), map(entries.__contains__, where)):
                found.setdefault(index, []).append(row)
        return found

    def spooled(self, pairs: list[tuple[int, dict]]) -> None:
        """Note the ``(row_number, row)`` pairs of one spooled batch (``iter_batches``' ``on_batch``)."""
        rows = list(map(_row, pairs))
        high, low = row_hashes(rows, self.salt)
        keys = key_hashes(list(map(self._key_of, rows)), self.salt)
        numbers = array("Q", map(_number, pairs))
        staged = self._staged
        start = len(staged)
        staged.frombytes(bytes(8 * _FIELDS * len(rows)))
        staged[start::_FIELDS], staged[start + 1::_FIELDS] = high, low
        staged[start + 2::_FIELDS], staged[start + 3::_FIELDS] = keys[0::2], keys[1::2]
        staged[start + 4::_FIELDS] = numbers
        self._staged_count += len(rows)
        if len(staged) >= _FIELDS * CHUNK:
            self._spill()

    def _key_of(self, row: dict) -> Any:
        try:
            return self._key(row)
        except (KeyError, TypeError):
            return None

    def _spill(self) -> None:
        if self._spill_file is None:
            self._spill_file = self._temporary()
        self._spill_file.seek(0, 2)
        self._staged.tofile(self._spill_file)
        self._spilled += len(self._staged) // _FIELDS
        self._staged = array("Q")

    def _staged_chunks(self) -> Iterator[array]:
        """The spooled rows' records, in spool order, a chunk at a time."""
        if self._spill_file is not None:
            self._spill_file.seek(0)
            for start in range(0, self._spilled, CHUNK):
                chunk = array("Q")
                chunk.fromfile(self._spill_file, min(CHUNK, self._spilled - start) * _FIELDS)
                yield chunk
        yield self._staged

    # -- after the check pass -------------------------------------------------------------------

    def resolve(self, found: dict[int, list[Duplicate]], index: list[tuple[int, int, int, int, int]]
                ) -> list[Duplicate]:
        """Settle the rows sharing a key once every row is checked, and count new, changed and removed.

        :param found: the spooled rows ``KeyIndex`` left out, by spool batch; rows this adds (spooled rows
            a later unchanged row repeats) are added to it.
        :param index: the spool index, to tell a spooled row's batch.
        :return: the unchanged rows left out for a later row's key (not spooled, so only reported).
        """
        self._dropped = {d.row for batch in found.values() for d in batch}
        unsent: list[Duplicate] = []
        if self.old is not None:
            repeated, crossing = self._repeated_entries(), []
            for old_index, row, position in self._matches():
                if self._seen[old_index]:  # an unchanged row has this key too (rare): settled below
                    crossing.append((old_index, row, position))
                else:
                    self.changed += 1
            unchanged = self._unchanged_rows_of(repeated | {c[0] for c in crossing}) if repeated or crossing else {}
            replaced: dict[int, int] = {}  # old index -> the later spooled row that replaces its unchanged rows
            starts = list(accumulate((entry[4] for entry in index), initial=0))
            for old_index, row, position in crossing:
                batch = bisect_right(starts, position) - 1
                self._settle(old_index, row, batch, unchanged[old_index][-1], found, unsent, replaced)
            for old_index in repeated:
                rows = unchanged[old_index]
                unsent.extend(Duplicate(row, replaced.get(old_index, rows[-1])) for row in rows[:-1])
                self.unchanged -= len(rows) - 1
            self._left_out = list(compress(range(self.old.keys), map(not_, self._seen[:self.old.keys])))
            self.removed = len(self._left_out) - self.changed
        self.new = self._staged_count - len(self._dropped) - self.changed
        return unsent

    def _settle(self, old_index: int, row: int, batch: int, unchanged_row: int, found: dict[int, list[Duplicate]],
                unsent: list[Duplicate], replaced: dict[int, int]) -> None:
        """A kept spooled row whose key the snapshot holds at ``old_index``, as does the unchanged row
        ``unchanged_row`` (the last of them)."""
        if unchanged_row > row:  # a later row has the key and is unchanged: it wins, this one is left out
            for duplicates in found.values():
                duplicates[:] = [Duplicate(d.row, unchanged_row) if d.kept == row else d for d in duplicates]
            found.setdefault(batch, []).append(Duplicate(row, unchanged_row))
            self._dropped.add(row)
            return
        unsent.append(Duplicate(unchanged_row, row))  # an earlier unchanged row has the key: this one replaces it
        self._seen[old_index] = 0
        replaced[old_index] = row
        self.unchanged -= 1
        self.changed += 1

    def _matches(self) -> Iterator[tuple[int, int, int]]:
        """``(old index, row, spool position)`` of each kept spooled row whose key the snapshot holds."""
        old, position = self.old, 0
        for chunk in self._staged_chunks():
            by_key: dict[int, list[tuple[int, int, int]]] = {}
            for offset in range(0, len(chunk), _FIELDS):
                key_high, key_low, row = chunk[offset + 2], chunk[offset + 3], chunk[offset + 4]
                if (key_high or key_low) and row not in self._dropped:
                    by_key.setdefault(key_high, []).append((key_low, row, position + offset // _FIELDS))
            position += len(chunk) // _FIELDS
            hits = compress(count(), map(by_key.__contains__, old.key_a))
            for old_index in hits:
                if old_index < old.keys:
                    for key_low, row, spooled_at in by_key[old.key_a[old_index]]:
                        if old.key_b[old_index] == key_low:
                            yield old_index, row, spooled_at

    def counts(self) -> dict[str, Any]:
        """The run's sync counts, for the summary."""
        return {"sync": "incremental", "rows_new": self.new, "rows_changed": self.changed,
                "rows_unchanged": self.unchanged, "keys_removed": self.removed, "full_sync_reason": self.full_reason,
                "snapshot": self.target.location, "snapshot_generation": self.generation,
                "snapshot_keys": self.previous_keys}

    # -- after delivery ------------------------------------------------------------------------

    def commit(self) -> int:
        """Write the next snapshot (every batch was acknowledged); return its generation.

        :raises SnapshotConflictError: another run wrote the snapshot since this one read it.
        """
        new_count = self._staged_count - len(self._dropped)
        kept = self.old.keys - len(self._left_out) if self.old is not None else 0
        if self.old is not None and not new_count and not self._left_out:
            log.info("%s: nothing changed; snapshot generation %d kept", self.target.what, self.generation)
            return self.generation
        header = Header(max(self.generation, 0) + 1, self.target.fingerprint, kept + new_count, self.salt)
        store = self.target.store
        with store.new_file(self.target.name) as path:
            write_snapshot(path, header, self.old, self._left_out, sort_records(self._new_records(), new_count))
            store.publish(self.target.name, path, read_generation=self.generation, what=self.target.what)
        log.info("%s: snapshot generation %d written (%d keys) at %s", self.target.what, header.generation,
                 header.keys, self.target.location)
        return header.generation

    def _new_records(self) -> Iterator[tuple[int, int, int, int]]:
        for chunk in self._staged_chunks():
            records = zip(*(chunk[field::_FIELDS] for field in range(4)), strict=True)
            if self._dropped:
                records = compress(records, map(not_, map(self._dropped.__contains__, chunk[4::_FIELDS])))
            yield from records

    def _temporary(self) -> IO[bytes]:
        file = tempfile.TemporaryFile(prefix="monetate-sync-")  # noqa: SIM115 - closed by close()
        self._files.append(file)
        return file

    def close(self) -> None:
        """Release the temporary files. Safe to call twice."""
        for file in self._files:
            file.close()
        self._files = []
