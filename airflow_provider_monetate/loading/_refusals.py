"""Before the first request: refuse a checked load, or say what it will leave out.

Once every part of a load is checked, :func:`refuse_bad_input` stops it, before anything is
sent, when a part has more rejected rows than ``max_rejected_rows`` allows, rows sharing a
unique key with ``on_duplicate_key="fail"``, no rows with ``allow_empty=False``, or (an incremental
sync) fewer than half the keys of its snapshot without ``allow_shrink``; otherwise
it logs a warning for each part that has rejected rows, rows left out for a repeated key, or
no rows. Messages name rows and fields, never values. No Airflow imports.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from airflow_provider_monetate.exceptions import (
    DuplicateKeyError,
    EmptyInputError,
    InputShrankError,
    TooManyRejectedRowsError,
)
from airflow_provider_monetate.loading._duplicates import DUPLICATE_OF
from airflow_provider_monetate.loading._incremental import SHRINK_LIMIT

if TYPE_CHECKING:
    from airflow_provider_monetate.loading._pipeline import LoadOptions, LoadSummary

__all__ = ["refuse_bad_input"]

log = logging.getLogger("airflow_provider_monetate.loading._pipeline")  # where the load's other lines go


def refuse_bad_input(summaries: dict[str, LoadSummary], options: LoadOptions, what: str) -> None:
    """Raise when the checked parts must not be sent; warn about what is left out otherwise.

    :raises TooManyRejectedRowsError: a part has more rejected rows than ``max_rejected_rows``.
    :raises DuplicateKeyError: a part has rows sharing a key and ``on_duplicate_key="fail"``.
    :raises EmptyInputError: a part has no rows and ``allow_empty=False``.
    :raises InputShrankError: an incremental sync's input holds fewer than half its snapshot's keys.
    """
    over = {name: s for name, s in summaries.items() if s.rows_rejected > options.max_rejected_rows}
    if over:
        details = " ".join(_rejected_detail(name, summary) for name, summary in over.items())
        scope = "every part is checked before any is sent; " if len(summaries) > 1 else ""
        raise TooManyRejectedRowsError(
            f"Nothing was sent to {what} ({scope}max_rejected_rows={options.max_rejected_rows}). {details}"
        )
    _refuse_duplicates(summaries, options, what)
    _refuse_empty(summaries, options, what)
    _refuse_shrunken(summaries, options, what)
    for name, summary in summaries.items():
        if summary.rows_rejected:
            log.warning("%s: %d row(s) rejected (at most %d allowed); the rest are sent. Report: %s",
                        f"{what} {name}".strip(), summary.rows_rejected, options.max_rejected_rows,
                        summary.rejects["path"])


def _refuse_duplicates(summaries: dict[str, LoadSummary], options: LoadOptions, what: str) -> None:
    repeated = {name: s for name, s in summaries.items() if s.rows_duplicate}
    if repeated and options.on_duplicate_key == "fail":
        details = " ".join(_rejected_detail(name, summary, duplicates=True) for name, summary in repeated.items())
        raise DuplicateKeyError(
            f"Nothing was sent to {what} (on_duplicate_key='fail'). {details} Remove the earlier rows, or pass "
            "on_duplicate_key='keep_last' to send only the last row of each key."
        )
    for name, summary in repeated.items():
        log.warning("%s: %d row(s) have the unique key of a later row; only the last row of each key is sent "
                    "(on_duplicate_key='keep_last'). Report: %s", f"{what} {name}".strip(), summary.rows_duplicate,
                    summary.rejects["path"])


def _refuse_empty(summaries: dict[str, LoadSummary], options: LoadOptions, what: str) -> None:
    empty = [(name, summary.source) for name, summary in summaries.items() if summary.input_empty]
    if empty and not options.allow_empty:
        sources = "; ".join(f"{name + ': ' if name else ''}{source}" for name, source in empty)
        raise EmptyInputError(f"Nothing was sent to {what}: the input holds no rows (allow_empty=False): {sources}. "
                              "Check what writes it, or pass allow_empty=True to let an empty input succeed.")
    for name, source in empty:
        log.warning("%s: the input holds no rows (%s); nothing to send", f"{what} {name}".strip(), source)


def _refuse_shrunken(summaries: dict[str, LoadSummary], options: LoadOptions, what: str) -> None:
    for name, summary in summaries.items():
        if summary.sync != "incremental" or not summary.snapshot_keys or options.allow_shrink:
            continue
        keys = summary.rows_new + summary.rows_changed + summary.rows_unchanged
        if keys < SHRINK_LIMIT * summary.snapshot_keys:
            raise InputShrankError(
                f"Nothing was sent to {f'{what} {name}'.strip()}: the input holds {keys} keys, fewer than half of the "
                f"{summary.snapshot_keys} the last sync delivered (snapshot {summary.snapshot}). A broken upstream "
                "query is the usual cause: check it. If the data really shrank, run again with allow_shrink=True: "
                "the missing keys are then reported as removed (never deleted) and the snapshot keeps only these."
            )


def _rejected_detail(name: str, summary: LoadSummary, *, duplicates: bool = False) -> str:
    """The rejected rows of a part (or its rows left out for a repeated key), with the first few."""
    examples = "; ".join(
        f"row {e['row']}" + (f" field {e['field']!r}" if e["field"] else "") + f": {e['reason']}"
        for e in [e for e in summary.rejects["examples"] if e["reason"].startswith(DUPLICATE_OF) == duplicates][:5]
    )
    where = f" Full report: {summary.rejects['path']}." if summary.rejects.get("path") else ""
    count, happened = ((summary.rows_duplicate, "have the unique key of a later row") if duplicates
                       else (summary.rows_rejected, "were rejected"))
    return (f"{name + ': ' if name else ''}{count} of {summary.rows_read} rows in {summary.source} {happened}. "
            f"First: {examples}.{where}")
