"""Loading records: read, check every row, batch, deliver retry-safely, report what happened.

The machinery behind every operator that posts records (Monetate rows, privacy deletions,
Acquia CDP entities), with no Airflow imports. A record travels through the modules in
this order:

* ``_sources``: :class:`RecordSource` streams ``(row_number, record)`` pairs from a file
  (NDJSON, CSV, JSON array; gzip; local or object storage) or an iterable, and fingerprints
  the input on the way (``_json_array`` walks a JSON array one element at a time);
* ``_values``: parsing shared by both services' row rules (ISO datetimes, booleans);
* ``_rejects``: :class:`RejectsReport` counts refused rows and streams them to JSON Lines;
* ``_batches``: rows encoded once into byte- and row-bounded batches (a row that can never be
  sent is rejected);
* ``_duplicates``: rows whose unique key a later row repeats, found after the check pass from
  hashed keys and left out (only the last row of a key is sent);
* ``_checkpoints``: which batches a try started and the API acknowledged, for retries;
* ``_delivery``: sends batches with a bounded number in flight, recording progress;
* ``_pipeline``: :func:`load_parts` checks every part first, then delivers each, and
  returns a :class:`LoadSummary` per part; ``_refusals`` stops it before the first request
  (too many rejected rows, repeated keys with ``on_duplicate_key="fail"``, no rows with
  ``allow_empty=False``, an incremental sync's input far smaller than its snapshot);
* ``_incremental`` (a part with ``sync``): rows the sync's snapshot holds unchanged are
  counted in the check pass, never spooled; new, changed and removed keys are counted, and
  the next snapshot is written once every batch is acknowledged; ``_snapshots`` keeps the
  snapshot (hashes of keys and rows only, sorted columns read through mmap, a generation).
"""

from __future__ import annotations

from airflow_provider_monetate.loading._pipeline import LoadOptions, LoadPart, LoadSummary, load_parts
from airflow_provider_monetate.loading._rejects import Rejection, RejectsReport
from airflow_provider_monetate.loading._sources import FORMATS, RecordSource

__all__ = [
    "FORMATS",
    "LoadOptions",
    "LoadPart",
    "LoadSummary",
    "RecordSource",
    "Rejection",
    "RejectsReport",
    "load_parts",
]
