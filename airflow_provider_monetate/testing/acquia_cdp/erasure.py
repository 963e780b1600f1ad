"""Acquia CDP's GDPR/CCPA data erasure API: ``POST /v2/{tenant}/dw/dataerasure[?failOnNotFound=]``.

What the notes (acquia-cdp-api 5.2, Acquia's pages A9-A12) state, and the emulator enforces:
a session token from ``/authentication?action=login`` as Bearer (a ``/token`` bearer token is
refused), ``Content-Type: application/json``, a body of ``customerIds`` (at most 200, else 400),
``requestedDate``, ``reason`` (required), ``requestOrigin`` and ``tenantId`` (an integer), the
200 body ``eventId``, ``readyForDataErasure``, ``notFound``, ``pendingForDataErasure``,
``failedToAccept``, errors in the CDP envelope, 9,990 erasure requests a week, and a 30-day SLA.

What they leave open, each a reading (the first is the default, the most literal):

* ``cdp.erasure_weekly_unit``: what counts against the 9,990: every ``customer_ids`` sent in a
  processed call (an "erasure request" is one person's), only the ``accepted_ids``
  (``readyForDataErasure``), or ``calls``.
* ``cdp.erasure_week``: ``rolling_7_days`` or the ``calendar_week`` (from Monday 00:00 UTC).
* ``cdp.erasure_over_limit``: a call that would pass the limit is refused whole with 400
  (``refuse_400``, the documented "bad request") or 429 (``refuse_429``), or accepted up to the
  limit with the rest in ``failedToAccept`` (``fail_excess``).
* ``cdp.erasure_duration``: how long an accepted erasure takes: the whole 30-day SLA
  (``sla_30_days``), a day (``next_day``), or none (``immediate``). Once done, the customer's
  records are gone and the ID is ``notFound``.
* ``cdp.erasure_none_found``: a call in which no ID is known answers the documented ``404`` ("no
  valid customer id") or ``200`` with every ID in ``notFound``.
* ``cdp.erasure_fail_on_not_found``: with ``failOnNotFound=true`` and an unknown ID, the call fails
  whole (nothing processed, nothing counted) with ``404`` or ``400``.
* ``cdp.erasure_repeat``: an ID whose erasure is already pending answers ``pending``
  (``pendingForDataErasure``) or ``ready`` (``readyForDataErasure`` again).

A customer is known when the tracker stored a customer record with that ``SourceCustomerNumber``
(or ``UUID``). ``failedToAccept`` has no documented cause: :meth:`ErasureDesk.refuse` makes CDP
fail to accept chosen IDs. Not thread-safe: ``CdpService`` holds its lock around every call.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_monetate.testing.acquia_cdp.envelope import fail
from airflow_provider_monetate.testing.acquia_cdp.tracker import RecordStore
from airflow_provider_monetate.testing.clock import Clock
from airflow_provider_monetate.testing.readings import Readings, declare
from airflow_provider_monetate.testing.wire import Response

__all__ = ["MAX_IDS", "WEEKLY_LIMIT", "ErasureDesk"]

MAX_IDS = 200
WEEKLY_LIMIT = 9_990
SLA_DAYS = 30
_DAY = 86_400.0

WEEKLY_UNIT = declare(
    "cdp.erasure_weekly_unit", ("customer_ids", "accepted_ids", "calls"),
    "Notes 5.2 (A12): '9,990 erasure requests per week', next to 'at most 200 ids per call'. What one erasure "
    "request is stays open: customer_ids (default: each customer ID in a processed call, as one person's request), "
    "accepted_ids (only the IDs listed readyForDataErasure), or calls (each call, whatever its IDs).",
)
WEEK = declare(
    "cdp.erasure_week", ("rolling_7_days", "calendar_week"),
    "'per week' (A12) without saying which: the last 7 days (rolling_7_days, default) or the calendar week from "
    "Monday 00:00 UTC (calendar_week).",
)
OVER_LIMIT = declare(
    "cdp.erasure_over_limit", ("refuse_400", "refuse_429", "fail_excess"),
    "Nothing says what a call past the weekly limit gets. refuse_400 (default: the documented errors are 400, 404 "
    "and 500; 400 'bad request'): refused whole, nothing processed; refuse_429: the same as 429; fail_excess: "
    "accepted up to the limit, the other IDs listed in failedToAccept.",
)
DURATION = declare(
    "cdp.erasure_duration", ("sla_30_days", "next_day", "immediate"),
    "A '30-day SLA, oldest expiry processed first' (A11, A12) is all that is said about how long an erasure takes: "
    "sla_30_days (default: done when the SLA runs out), next_day, or immediate. Status shows only in the UI (A11).",
)
NONE_FOUND = declare(
    "cdp.erasure_none_found", ("404", "200"),
    "The documented errors include '404 no valid customer id' (A11) without saying when: 404 (default) for a call "
    "in which no ID is known, failOnNotFound or not; 200: such a call answers with every ID in notFound.",
)
FAIL_ON_NOT_FOUND = declare(
    "cdp.erasure_fail_on_not_found", ("404", "400"),
    "failOnNotFound=true (A10; default false) says the call fails on an unknown ID, not how: the call is refused "
    "whole, nothing processed or counted, with 404 (default: 'no valid customer id') or 400.",
)
REPEAT = declare(
    "cdp.erasure_repeat", ("pending", "ready"),
    "The answer lists readyForDataErasure and pendingForDataErasure (A11) are not defined. pending (default, the "
    "names' plain reading): an ID whose erasure is already pending is listed pendingForDataErasure; ready: it is "
    "listed readyForDataErasure again, like a first request.",
)


class ErasureDesk:
    """Erasure requests per tenant: pending erasures, erased customers, the weekly count.

    :param clock: the emulator clock (durations, weeks).
    :param readings: the readings in force.
    :param records: the tracker's records, where known customers are found and erased.
    """

    def __init__(self, clock: Clock, readings: Readings, records: RecordStore) -> None:
        self.clock = clock
        self.readings = readings
        self.records = records
        self.reset()

    def reset(self) -> None:
        self.pending: dict[tuple[str, str], float] = {}  # (tenant, id) -> when the erasure is done
        self.erased: set[tuple[str, str]] = set()
        self.refused: set[tuple[str, str]] = set()
        self.counted: list[tuple[str, float, int]] = []  # (tenant, when, units) against the weekly limit
        self.calls: list[dict[str, Any]] = []

    # --- setup and inspection --------------------------------------------------------

    def refuse(self, tenant: str, customer_ids: list[str]) -> None:
        """Make CDP list these IDs in ``failedToAccept`` (no document says when it does)."""
        self.refused.update((str(tenant), cid) for cid in customer_ids)

    def used(self, tenant: str) -> int:
        """Units counted against the weekly limit in the current week (``cdp.erasure_week``)."""
        start = self._week_start()
        return sum(n for t, when, n in self.counted if t == tenant and when >= start)

    def stats(self) -> dict[str, Any]:
        """``calls`` (each: eventId, tenant, ids, failOnNotFound, body keys), ``pending``, ``erased``, ``used``."""
        return {"calls": [dict(c) for c in self.calls], "pending": len(self.pending), "erased": len(self.erased),
                "used": {t: self.used(t) for t in {t for t, _, _ in self.counted}}}

    # --- the call --------------------------------------------------------------------

    def apply_due(self) -> None:
        """Carry out every erasure whose time has come: the customer's records are removed."""
        now = self.clock.now()
        for key in [k for k, done in self.pending.items() if done <= now]:
            del self.pending[key]
            self.erased.add(key)
            self.records.remove_customer(*key)

    def erase(self, tenant: str, body: Any, fail_on_not_found: bool) -> Response:
        """Answer one erasure call (after auth and Content-Type checks)."""
        ids = _checked_body(body, tenant)
        self.apply_due()
        lists = self._classify(tenant, ids)
        if lists["notFound"] and fail_on_not_found:
            status = int(self.readings.get(FAIL_ON_NOT_FOUND.name))
            raise fail(status, "CUSTOMER_NOT_FOUND", "No valid customer id: failOnNotFound=true and "
                       f"{len(lists['notFound'])} of the {len(ids)} customer ids are not found; nothing was processed.")
        if len(lists["notFound"]) == len(ids) and self.readings.get(NONE_FOUND.name) == "404":
            raise fail(404, "NOT_FOUND", "No valid customer id in the request.")
        self._within_limit(tenant, ids, lists)
        now = self.clock.now()
        for cid in lists["readyForDataErasure"]:
            self.pending.setdefault((tenant, cid), now + self._duration())
        self.apply_due()  # an immediate erasure is done before the answer
        event = f"e-{uuid.uuid4().hex[:12]}"
        self.calls.append({"eventId": event, "tenant": tenant, "ids": len(ids), "failOnNotFound": fail_on_not_found,
                           "keys": sorted(body)})
        return Response(200, {"eventId": event, **lists})

    def _classify(self, tenant: str, ids: list[str]) -> dict[str, list[str]]:
        lists: dict[str, list[str]] = {"readyForDataErasure": [], "notFound": [], "pendingForDataErasure": [],
                                       "failedToAccept": []}
        for cid in ids:
            if (tenant, cid) in self.refused:
                lists["failedToAccept"].append(cid)
            elif (tenant, cid) in self.pending:
                repeat = self.readings.get(REPEAT.name) == "ready"
                lists["readyForDataErasure" if repeat else "pendingForDataErasure"].append(cid)
            elif self.records.has_customer(tenant, cid):
                lists["readyForDataErasure"].append(cid)
            else:
                lists["notFound"].append(cid)
        return lists

    def _within_limit(self, tenant: str, ids: list[str], lists: dict[str, list[str]]) -> None:
        """Count the call against the weekly limit, as the readings say; refuse it or fail the excess."""
        unit = self.readings.get(WEEKLY_UNIT.name)
        room = WEEKLY_LIMIT - self.used(tenant)
        wanted = {"customer_ids": len(ids), "accepted_ids": len(lists["readyForDataErasure"]), "calls": 1}[unit]
        if wanted > room:
            reading = self.readings.get(OVER_LIMIT.name)
            if reading != "fail_excess":
                raise fail(int(reading.removeprefix("refuse_")), "ERASURE_LIMIT_EXCEEDED",
                           f"Weekly data erasure limit of {WEEKLY_LIMIT} requests reached: {max(room, 0)} left this "
                           "week.")
            keep = max(room, 0) if unit != "calls" else 0
            ready = lists["readyForDataErasure"]
            lists["failedToAccept"] += ready[keep:]
            del ready[keep:]
            wanted = {"customer_ids": keep, "accepted_ids": keep, "calls": 0}[unit]
        if wanted:
            self.counted.append((tenant, self.clock.now(), wanted))

    def _duration(self) -> float:
        return {"sla_30_days": SLA_DAYS * _DAY, "next_day": _DAY, "immediate": 0.0}[self.readings.get(DURATION.name)]

    def _week_start(self) -> float:
        now = self.clock.now()
        if self.readings.get(WEEK.name) == "rolling_7_days":
            return now - 7 * _DAY
        today = datetime.fromtimestamp(now, timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        return (today - timedelta(days=today.weekday())).timestamp()


def _checked_body(body: Any, tenant: str) -> list[str]:
    """The customer IDs of a well-formed body; 400 (nothing processed) for anything else."""
    if not isinstance(body, dict):
        raise fail(400, "BAD_REQUEST", "The body must be a JSON object.")
    ids = body.get("customerIds")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i.strip() for i in ids):
        raise fail(400, "BAD_REQUEST", "customerIds must be a non-empty array of customer ids.")
    if len(ids) > MAX_IDS:
        raise fail(400, "BAD_REQUEST", f"At most {MAX_IDS} customer ids per request, got {len(ids)}.")
    if not isinstance(body.get("reason"), str) or not body["reason"].strip():
        raise fail(400, "BAD_REQUEST", "reason is required (e.g. GDPR or CCPA).")
    for name in ("requestedDate", "requestOrigin"):
        if name in body and not isinstance(body[name], str):
            raise fail(400, "BAD_REQUEST", f"{name} must be a string.")
    tenant_id = body.get("tenantId")
    if tenant_id is not None and (isinstance(tenant_id, bool) or not isinstance(tenant_id, int)):
        raise fail(400, "BAD_REQUEST", "tenantId must be an integer.")
    if tenant_id is not None and str(tenant_id) != tenant:
        raise fail(400, "BAD_REQUEST", f"tenantId {tenant_id} is not the tenant of the path ({tenant}).")
    return list(dict.fromkeys(ids))
