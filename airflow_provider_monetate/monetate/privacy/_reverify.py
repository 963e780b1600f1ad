"""Re-verification: which erased customers to ask Monetate about again, and what its answer means.

Monetate's documents disagree on whether an erasure stops future collection (the privacy API page:
Monetate "continues to purge that ID ... if it is recognized in any future sessions"; the
Compliance Tools page: it does not, stop sending the data yourself). So a customer confirmed gone
may come back when something sends it again. Re-verification asks Monetate again about customers
whose erasure settled (``confirmed``, ``not_held``, ``gone_unverified``: a customer Monetate never
held must not appear later either) more than N days ago, all of them or a sample, and records
``reappeared`` for each one Monetate holds again (``FOUND``, or ``PENDING``: found and queued
for purging again; under either reading the ID was sent to Monetate after its erasure).

Asking needs the raw ID. A plain ledger holds it; a hashed one does not: the caller gives the raw
IDs (``customer_ids``), which are matched to the hashed records, and hashed records whose ID was
not given are counted, not asked. No Airflow imports.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.monetate.privacy._ledger import MONETATE, SETTLED, DeletionLedger, hash_id
from airflow_provider_monetate.monetate.privacy._requests import parse_time, status_time

__all__ = ["Candidate", "Candidates", "choose", "find_candidates"]


@dataclass(frozen=True)
class Candidate:
    """A customer whose Monetate erasure settled long enough ago to ask again.

    :param customer_id: the raw ID (to ask Monetate).
    :param hashed: whether the ledger stores it hashed (the ``reappeared`` record is written alike).
    :param since: when it settled.
    """

    customer_id: str
    hashed: bool
    status: str
    since: str
    request_id: str | None
    delete_request_time: str | None
    dataset: str | None


@dataclass
class Candidates:
    """The customers to ask about, and the hashed ones that could not be (no raw ID given)."""

    found: list[Candidate]
    hashed_without_id: int = 0


def find_candidates(ledger: DeletionLedger, *, older_than: timedelta, now: datetime,
                    customer_ids: Iterable[str] | None = None) -> Candidates:
    """The Monetate customers whose latest status is settled and older than ``older_than``, in ledger order.

    :param customer_ids: the raw IDs to consider (required for hashed records; with a plain ledger,
        it narrows the candidates). ``None``: every plain record.
    """
    raw = None if customer_ids is None else list(dict.fromkeys(customer_ids))
    by_hash = {hash_id(cid): cid for cid in raw or ()}
    wanted = None if raw is None else set(raw)
    latest: dict[tuple[str, bool], dict] = {}
    for record in ledger.records(system=MONETATE):
        latest[(record["customer_id"], bool(record.get("id_hash")))] = record
    cutoff = now - older_than
    found, hashed_without_id = [], 0
    for (stored, hashed), record in latest.items():
        if record.get("status") not in SETTLED or parse_time(status_time(record)) > cutoff:
            continue
        customer_id = by_hash.get(stored) if hashed else (stored if wanted is None or stored in wanted else None)
        if customer_id is None:
            hashed_without_id += hashed
            continue
        found.append(Candidate(customer_id, hashed, record["status"], status_time(record), record.get("request_id"),
                               record.get("delete_request_time"), record.get("dataset")))
    return Candidates(found, hashed_without_id)


def choose(candidates: Sequence[Candidate], sample: int | float | None, seed: str) -> list[Candidate]:
    """All candidates (``sample=None``), a number of them, or a share (``0 < sample <= 1``), drawn
    reproducibly from ``seed`` (the DAG run, say).

    :raises ConfigurationError: a sample that is neither.
    """
    if sample is None:
        return list(candidates)
    if isinstance(sample, bool) or not isinstance(sample, int | float) or sample <= 0:
        raise ConfigurationError(f"sample must be a number of customers or a share in (0, 1], got {sample!r}")
    size = round(sample * len(candidates)) if isinstance(sample, float) and sample <= 1 else int(sample)
    if size >= len(candidates):
        return list(candidates)
    chosen = set(random.Random(seed).sample(range(len(candidates)), max(size, 1)))
    return [c for i, c in enumerate(candidates) if i in chosen]
