"""Tamper evidence for the ledger folder: each part a hash chain, each part linked to the ones before it.

The ledger (and the request register beside it, in the same folder) is written as append-only
*parts*, one per write, by many writers at once: the threads of one task, mapped tasks, a
triggerer. A single chain through every entry would need one writer at a time, that is a lock,
and object stores offer no atomic "create if absent" to build one on. So the chain is a graph,
as in git, and concurrent writers make forks that the next write joins:

* **Within a part**, the first line is a *link* (``{"link": {"part": <its name>, "parents":
  {<part name>: <sha256 of that part's bytes>, ...}}}``) and every line carries ``prev`` (the
  ``hash`` of the line before it; ``null`` on the link) and ``hash``: the SHA-256 of the line's
  canonical JSON (sorted keys, without ``hash``). Editing a line breaks its own hash; editing
  it *and* recomputing its hash breaks the next line's ``prev``.
* **Between parts**, a new part's link names every *head* its writer knows of: the parts no
  later part links yet, each with the SHA-256 of its bytes. So changing any byte of a linked
  part, or removing it, is seen from the part that links it. Once a part is written, its writer
  creates an empty marker ``<parent>.linked`` for each parent: heads are the parts without a
  marker, found by listing the folder, never by reading every part.
* **Concurrent writers**: two writers that list the folder at the same time both link the same
  heads and both become heads; the next write links both, so the graph joins again. Nothing is
  ever rewritten and no write waits for another. A writer keeps the heads it found in memory
  (its own parts replace the parents they link), so it lists the folder once, not per write.
* **Markers are hints, not proof**: a lost marker only makes a part a head again (it is linked
  twice); a marker whose part no existing part links means the part that linked it was removed,
  which :func:`verify` reports. Parts written before this chain existed (no link line) are
  vouched for by the first chained part, which links every one of them.

What it cannot show: removing the newest parts *with* their parents' markers (truncation), as
with any hash chain. Keep :attr:`ChainCheck.heads` (and their digests) somewhere else, an
audit export say, to show that nothing was cut off later.

No Airflow imports; locations are ``storage.Folder`` objects.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_monetate.storage import Folder

__all__ = ["LINK", "LINKED_SUFFIX", "PART_NAME", "ChainCheck", "ChainedParts", "entry_hash"]

#: A chained part: ``[<kind>-]<UTC stamp>-<12 hex>.jsonl`` (ledger parts have no kind; ``register-`` ...).
PART_NAME = re.compile(r"(?:[a-z]+-)?\d{8}T\d{6}(?:\.\d+)?Z-[0-9a-f]{12}\.jsonl")
LINKED_SUFFIX = ".linked"
#: The key of a part's first line.
LINK = "link"


def _canonical(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def entry_hash(record: Mapping[str, Any]) -> str:
    """The SHA-256 of a line: its canonical JSON without its own ``hash``."""
    return hashlib.sha256(_canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


@dataclass(frozen=True)
class ChainCheck:
    """What :meth:`ChainedParts.verify` found.

    :param ok: every part and every line fits.
    :param parts: chained parts read (parts written before the chain count too).
    :param entries: lines read, link lines excluded.
    :param heads: ``{part: sha256}`` of the parts no later part links yet; keep them elsewhere to
        show later that nothing was cut off.
    :param problem: the first thing that does not fit, in part and line order (``None`` when ok).
    :param part: the part it is in.
    :param line: its line number (1-based; ``None`` when it concerns the whole part).
    """

    ok: bool
    parts: int
    entries: int
    heads: dict[str, str] = field(default_factory=dict)
    problem: str | None = None
    part: str | None = None
    line: int | None = None

    def __bool__(self) -> bool:
        return self.ok

    def describe(self) -> str:
        """One sentence: what was checked and the first problem, if any."""
        if self.ok:
            return f"{self.parts} part(s), {self.entries} entry(ies): every entry fits its chain"
        where = f"part {self.part}" + (f", line {self.line}" if self.line else "")
        return f"{where}: {self.problem}"


class ChainedParts:
    """Writes and checks the chained parts of one folder (see the module). Thread-safe.

    :param folder: the ledger folder.
    """

    def __init__(self, folder: Folder) -> None:
        self._folder = folder
        self._lock = threading.Lock()
        self._heads: dict[str, str] | None = None  # part -> sha256 of its bytes

    def write(self, name: str, records: Iterable[Mapping[str, Any]]) -> int:
        """Write the records as the part ``name``, linked to the heads; return how many (none: no part)."""
        iterator = iter(records)
        first = next(iterator, None)
        if first is None:
            return 0
        parents = self._current_heads()
        digest, count, prev = hashlib.sha256(), 0, None
        with self._folder.create(name) as file:
            for record in itertools.chain(({LINK: {"part": name, "parents": parents}},), (first,), iterator):
                line = {**record, "prev": prev}
                line["hash"] = prev = entry_hash(line)
                data = json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                file.write(data)
                digest.update(data)
                count += 1
        with self._lock:
            heads = self._heads if self._heads is not None else {}
            for parent in parents:
                heads.pop(parent, None)
            heads[name] = digest.hexdigest()
        for parent in parents:
            # A marker that fails to appear only leaves the parent a head, to be linked again.
            with contextlib.suppress(OSError):
                self._folder.write(parent + LINKED_SUFFIX, b"", durable=False)
        return count - 1

    def _current_heads(self) -> dict[str, str]:
        """The heads to link: listed and read once per instance, then kept up to date by its writes."""
        with self._lock:
            if self._heads is None:
                names = self._folder.names()
                marked = {n[: -len(LINKED_SUFFIX)] for n in names if n.endswith(LINKED_SUFFIX)}
                self._heads = {}
                for name in names:
                    if PART_NAME.fullmatch(name) and name not in marked:
                        data = self._folder.read(name)
                        if data is not None:
                            self._heads[name] = hashlib.sha256(data).hexdigest()
            return dict(self._heads)

    @staticmethod
    def lines(data: bytes) -> Iterator[dict[str, Any]]:
        """The entries of a part's bytes (its link line left out)."""
        for raw in data.splitlines():
            if raw.strip():
                record = json.loads(raw)
                if LINK not in record:
                    yield record

    def verify(self) -> ChainCheck:
        """Check every part's lines and every link between parts; name the first thing that does not fit.

        Reads every part once. Parts written before the chain existed must be linked (with their
        digest) by a chained part.
        """
        names = self._folder.names()
        parts = sorted(n for n in names if PART_NAME.fullmatch(n))
        marked = sorted(n[: -len(LINKED_SUFFIX)] for n in names if n.endswith(LINKED_SUFFIX))
        problems: list[_Problem] = []
        digests: dict[str, str] = {}
        links: dict[str, dict[str, str]] = {}
        entries = 0
        for name in parts:
            data = self._folder.read(name)
            if data is None:
                continue
            digests[name] = hashlib.sha256(data).hexdigest()
            parents, count, problem = _check_part(name, data)
            entries += count
            if parents is not None:
                links[name] = parents
            if problem:
                problems.append(_Problem(0, name, *problem))
        linked = self._check_links(links, digests, problems)
        for name in parts:
            if name in digests and name not in links and name not in linked:
                problems.append(_Problem(0, name, 1, "written without a hash chain (by hand, or before the ledger "
                                                     "had one) and linked by no later part, so nothing shows it is "
                                                     "unchanged"))
        for name in marked:
            if name not in linked:
                message = ("is marked as linked by a later part, but no part links it: the part that did was removed"
                           if name in digests else "is missing: its marker says a later part linked it")
                problems.append(_Problem(1, name, 0, message))  # a removal the other checks name better
        heads = {name: digests[name] for name in parts if name in digests and name not in linked}
        if not problems:
            return ChainCheck(True, len(digests), entries, heads)
        first = min(problems)
        return ChainCheck(False, len(digests), entries, heads, first.message, first.part, first.line or None)

    @staticmethod
    def _check_links(links: Mapping[str, Mapping[str, str]], digests: Mapping[str, str],
                     problems: list[_Problem]) -> set[str]:
        """Every parent a part links must exist with the digest it had; returns the parts linked."""
        linked: set[str] = set()
        for child, parents in links.items():
            for parent, digest in parents.items():
                linked.add(parent)
                if parent not in digests:
                    problems.append(_Problem(0, parent, 0, f"is missing (removed or renamed): part {child} links it"))
                elif digests[parent] != digest:
                    problems.append(_Problem(0, parent, 0, f"changed after part {child} linked it: its bytes no "
                                                           "longer match the digest recorded then"))
        return linked


@dataclass(frozen=True)
class _Problem:
    """A finding of :meth:`ChainedParts.verify`; the first by (priority, part, line) is reported, a line's
    own finding before one about its whole part (``line`` 0)."""

    priority: int
    part: str
    line: int
    message: str

    def __lt__(self, other: _Problem) -> bool:
        return self._key() < other._key()

    def _key(self) -> tuple[int, str, float]:
        return self.priority, self.part, self.line or float("inf")


def _check_part(name: str, data: bytes) -> tuple[dict[str, str] | None, int, tuple[int, str] | None]:
    """``(parents, entries, (line, problem) or None)`` of one part; ``parents`` is ``None`` for a part
    without a link line (written before the chain existed)."""
    prev: str | None = None
    parents: dict[str, str] | None = None
    count = 0
    for number, raw in enumerate(data.splitlines(), 1):
        try:
            record = json.loads(raw)
        except ValueError:
            return parents, count, (number, "is not a JSON object: the part was edited or cut")
        if not isinstance(record, dict):
            return parents, count, (number, "is not a JSON object: the part was edited or cut")
        if number == 1:
            link = record.get(LINK)
            if not isinstance(link, dict):
                return None, sum(1 for line in data.splitlines() if line.strip()), None
            if link.get("part") != name:
                return {}, count, (1, f"names itself {link.get('part')!r}: the part was renamed or copied")
            parents = dict(link.get("parents") or {})
        else:
            count += 1
        if record.get("hash") != entry_hash(record):
            return parents, count, (number, "does not match its hash: the entry was edited after it was written")
        if record.get("prev") != prev:
            return parents, count, (number, "does not follow the entry before it (prev differs): an entry was "
                                            "edited, inserted or removed")
        prev = record["hash"]
    return parents, count, None
