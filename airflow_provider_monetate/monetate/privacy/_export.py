"""The register as an auditor asks for it: CSV or JSON Lines with the CCPA record-keeping fields.

California's regulations (11 CCR 7101) ask a business to keep, for 24 months, per consumer
request: the date of the request, its nature, the manner in which it was made, the date of
the response, the nature of the response and the basis for any denial. One row per request,
system and customer carries them, with the legal regime, the due dates, the extension's reason
and each customer's latest status in the system (JSON Lines adds the whole status timeline).
Requests are chosen by the date they were received. Customer IDs are as the ledger stores them:
SHA-256 hashes (``id_hash: sha256``) when it hashes them. No Airflow imports.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.monetate.privacy._requests import ErasureRequest, SystemProgress
from airflow_provider_monetate.storage import open_for_writing

__all__ = ["EXPORT_FIELDS", "EXPORT_FORMATS", "export_rows", "write_export"]

EXPORT_FORMATS = ("csv", "jsonl")
EXPORT_FIELDS = (
    "request_id", "regime", "request_date", "nature_of_request", "manner_of_request", "due_date",
    "extended_due_date", "extension_reason", "response_date", "response_days", "nature_of_response",
    "basis_for_denial", "system", "customer_id", "id_hash", "status", "status_at",
)
NATURE_OF_REQUEST = "deletion"


def export_rows(requests: Iterable[ErasureRequest], *, since: str | None = None,
                until: str | None = None, timeline: bool = False) -> Iterator[dict[str, Any]]:
    """One row per request, system and customer (one row with no system for a request not yet sent
    anywhere), for requests received in ``[since, until)`` (UTC ISO-8601), oldest first.

    :param timeline: add ``timeline``: the customer's ``[status, at]`` events in the system.
    """
    for request in sorted(requests, key=lambda r: (r.received_at, r.request_id)):
        if (since and request.received_at < since) or (until and request.received_at >= until):
            continue
        base = _request_fields(request)
        if not request.systems:
            yield {**base, **dict.fromkeys(EXPORT_FIELDS[12:])}
            continue
        for name in sorted(request.systems):
            progress = request.systems[name]
            for customer in progress.customers or [None]:
                yield {**base, **_customer_fields(progress, customer, timeline)}


def _request_fields(request: ErasureRequest) -> dict[str, Any]:
    denial = request.denial["basis"] if request.denial else "; ".join(
        f"{p.system}: {p.denied}" for p in request.systems.values() if p.denied is not None) or None
    return {
        "request_id": request.request_id,
        "regime": request.regime,
        "request_date": request.received_at,
        "nature_of_request": NATURE_OF_REQUEST,
        "manner_of_request": request.manner,
        "due_date": request.first_due_at,
        "extended_due_date": request.due_at if request.extensions else None,
        "extension_reason": "; ".join(e["reason"] for e in request.extensions) or None,
        "response_date": request.response_at,
        "response_days": request.response_days,
        "nature_of_response": request.nature_of_response(),
        "basis_for_denial": denial,
    }


def _customer_fields(progress: SystemProgress, customer: str | None, timeline: bool) -> dict[str, Any]:
    events = progress.timeline.get(customer or "", [])
    fields: dict[str, Any] = {
        "system": progress.system,
        "customer_id": customer,
        "id_hash": "sha256" if customer in progress.hashed else None,
        "status": progress.status(customer) if customer else None,
        "status_at": events[-1][1] if events else None,
    }
    if timeline:
        fields["timeline"] = [list(event) for event in events]
    return fields


def write_export(requests: Iterable[ErasureRequest], target: Any, *, format: str = "csv",
                 since: str | None = None, until: str | None = None) -> int:
    """Write :func:`export_rows` to ``target`` (a local path or storage path; ``0600`` locally) as
    ``csv`` (header row, one line per row) or ``jsonl`` (with each customer's timeline); return the
    number of rows."""
    if format not in EXPORT_FORMATS:
        raise ConfigurationError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
    rows = export_rows(requests, since=since, until=until, timeline=format == "jsonl")
    count = 0
    with open_for_writing(target) as binary:
        if format == "jsonl":
            for row in rows:
                binary.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
                count += 1
            return count
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        writer = csv.DictWriter(text, fieldnames=EXPORT_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
        text.flush()
        text.detach()
    return count
