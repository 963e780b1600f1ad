"""The report of rows a load refused to send, and why.

Rejections are streamed to a JSON Lines file as they arrive; only counts and the first
examples stay in memory, so a run that rejects millions of rows does not grow. A rejection
names a row, a field and a short reason, never the row's content (customer data).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from airflow_provider_monetate.exceptions import MonetateProviderError
from airflow_provider_monetate.storage import open_for_writing, remove_file

__all__ = ["Rejection", "RejectsReport"]

_MAX_REASON_CHARS = 200
# Reasons are short and low-cardinality by design; the cap only bounds memory if a
# caller's reasons turn out to vary per row.
_MAX_DISTINCT_REASONS = 100
_OTHER_REASONS = "(other reasons)"
_WHOLE_ROW = "(whole row)"  # summary key for rejections without a field: keys must be strings


@dataclass(frozen=True, slots=True)
class Rejection:
    """One field of one row that cannot be sent.

    :param row_number: the input row number.
    :param field: the field at fault, or None for a problem with the whole row.
    :param reason: short explanation without the value itself.
    """

    row_number: int
    field: str | None
    reason: str


class RejectsReport:
    """Counts rejections and writes them as JSON Lines ``{"row": n, "field": f, "reason": r}``.

    Thread-safe. Use as a context manager, or call :meth:`close`.

    The file is created with the first rejection (readable by its owner only, on local disk),
    so a run without rejections leaves no report, and removes the report an earlier try of the
    same task left. An existing report is replaced: a retry's does not mix with an earlier try's.

    :param target: where to write: a local path, an object with ``open("wb")`` (such as
        ``ObjectStoragePath``), or None to only count.
    :param max_examples: how many rejections to keep for :meth:`summary`.
    """

    def __init__(self, target: Any = None, *, max_examples: int = 100) -> None:
        self.count = 0
        self.by_field: Counter[str | None] = Counter()
        self.by_reason: Counter[str] = Counter()
        self.examples: list[dict[str, Any]] = []
        self._max_examples = max_examples
        self._lock = threading.Lock()
        self._closed = False
        self._target = target
        self._file: Any = None

    def add(self, rejection: Rejection) -> None:
        """Record one rejection.

        :param rejection: the rejection; its reason is cut to 200 characters.
        :raises MonetateProviderError: the report is closed (a bug in the caller).
        """
        entry = {"row": rejection.row_number, "field": rejection.field, "reason": rejection.reason[:_MAX_REASON_CHARS]}
        line = json.dumps(entry, ensure_ascii=False).encode() + b"\n"
        with self._lock:
            if self._closed:
                raise MonetateProviderError("the rejects report is closed")
            self.count += 1
            self.by_field[rejection.field] += 1
            reason = entry["reason"]
            if reason not in self.by_reason and len(self.by_reason) >= _MAX_DISTINCT_REASONS:
                reason = _OTHER_REASONS
            self.by_reason[reason] += 1
            if len(self.examples) < self._max_examples:
                self.examples.append(entry)
            if self._target is not None:
                if self._file is None:
                    self._file = open_for_writing(self._target)
                self._file.write(line)

    def close(self) -> None:
        """Flush and close the file; with no rejection, remove an earlier try's report. Safe twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._file is not None:
                self._file.close()
                self._file = None
            elif self._target is not None:
                remove_file(self._target)

    def summary(self) -> dict[str, Any]:
        """Counts and examples, small enough for a log line or XCom.

        :return: ``{"count", "by_field", "by_reason", "examples", "path"}``; ``path`` is the
            report file, or None when nothing was written (no target, or no rejection).
            Rejections without a field are counted under ``"(whole row)"``.
        """
        with self._lock:
            return {
                "count": self.count,
                "by_field": {field or _WHOLE_ROW: n for field, n in self.by_field.most_common()},
                "by_reason": dict(self.by_reason.most_common()),
                "examples": list(self.examples),
                "path": str(self._target) if self._target is not None and self.count else None,
            }

    def __enter__(self) -> RejectsReport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
