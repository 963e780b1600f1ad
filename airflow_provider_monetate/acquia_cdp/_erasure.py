"""Acquia CDP hard erasure through the GDPR/CCPA data erasure API: the call, its answer, the weekly limit.

What the documents say (notes acquia-cdp-api 5.2, Acquia's pages A9-A12): ``POST
/v2/{tenantId}/dw/dataerasure[?failOnNotFound=]`` with a *session* token from
``/authentication?action=login`` (a ``/token`` bearer token is refused), logged out after; at most
200 ``customerIds`` per call with ``requestedDate`` (``"2022-10-18 00:00:00 UTC"``), ``reason``
(required: GDPR, CCPA, ...), ``requestOrigin`` (``"Data Erasure"``) and ``tenantId`` (an integer);
the answer lists ``readyForDataErasure``, ``notFound``, ``pendingForDataErasure`` and
``failedToAccept``; 9,990 erasure requests a week; a 30-day SLA; status only in Acquia's UI.

How the provider reads the answer, safely under every reading the emulator offers:

* ``readyForDataErasure``: ``submitted`` (CDP holds the customer and accepted the erasure);
* ``pendingForDataErasure``: ``pending`` (an erasure is already under way);
* ``failedToAccept``: ``failed`` (ask again; under one reading, the weekly limit's excess);
* ``notFound``: ``confirmed`` when CDP accepted this customer's erasure before (it held the
  customer, and now no longer does: the erasure was carried out), else ``not_held``. No status
  call is documented, so *asking again* (a later run with the same customers) is how an erasure
  is confirmed; each ask counts against the weekly limit.

A 404 whose message speaks of customer ids ("no valid customer id") is the answer to a call in
which no ID is known: every ID is read as ``notFound``, unless ``failOnNotFound`` was sent, in
which case the call was refused whole. The weekly limit is counted here the strictest way: every
ID sent, over the last 7 days (at least what CDP counts under any reading of "per week").
No Airflow imports.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_monetate.exceptions import (
    ApiError,
    ConfigurationError,
    ErasureLimitError,
    UnexpectedResponseError,
)
from airflow_provider_monetate.monetate.privacy._ledger import CONFIRMED, FAILED, NOT_HELD, PENDING, SUBMITTED

__all__ = [
    "ERASED_COLLECTION",
    "ERASURE_DATASET",
    "MAX_IDS_PER_CALL",
    "REQUEST_ORIGIN",
    "WEEKLY_LIMIT",
    "ErasureReply",
    "SessionToken",
    "WeeklyLimit",
    "erasure_body",
    "is_limit_refusal",
    "is_no_valid_customer",
    "none_found",
    "read_reply",
    "requested_date",
    "tenant_number",
]

MAX_IDS_PER_CALL = 200
WEEKLY_LIMIT = 9_990
REQUEST_ORIGIN = "Data Erasure"
#: The ledger's ``dataset`` for records of the erasure API (soft deletes say ``customers``).
ERASURE_DATASET = "dataerasure"
#: What an erasure removes: the customer profiles (the collection lineage names as its output).
ERASED_COLLECTION = "customers"
_LISTS = {"readyForDataErasure": SUBMITTED, "pendingForDataErasure": PENDING, "failedToAccept": FAILED}


def tenant_number(tenant_id: str) -> int:
    """The connection's ``tenant_id`` as the integer the erasure body's ``tenantId`` is.

    :raises ConfigurationError: it is not a whole number.
    """
    text = str(tenant_id).strip()
    if not text.isdigit():
        raise ConfigurationError(f"The erasure API takes tenantId as an integer; the connection's tenant_id "
                                 f"{text!r} is not one. Nothing was sent.")
    return int(text)


def requested_date(iso: str) -> str:
    """``2024-05-01T09:30:00.000000Z`` as the API writes it: ``2024-05-01 09:30:00 UTC``."""
    return f"{iso[:10]} {iso[11:19]} UTC"


def erasure_body(customer_ids: Sequence[str], *, requested: str, reason: str, tenant_id: int,
                 request_origin: str = REQUEST_ORIGIN) -> dict[str, Any]:
    """The body of one erasure call (at most :data:`MAX_IDS_PER_CALL` IDs)."""
    if not customer_ids or len(customer_ids) > MAX_IDS_PER_CALL:
        raise ConfigurationError(f"An erasure call takes 1 to {MAX_IDS_PER_CALL} customer IDs, not {len(customer_ids)}")
    return {"customerIds": list(customer_ids), "requestedDate": requested, "reason": reason,
            "requestOrigin": request_origin, "tenantId": tenant_id}


@dataclass
class ErasureReply:
    """One call's answer read as ledger statuses.

    :param statuses: ``{customer ID: status}`` for every ID sent and listed.
    :param unanswered: IDs sent but in no list (they stay open: asked, with no status).
    :param unexpected: how many listed IDs were not sent (ignored).
    """

    event_id: str | None
    statuses: dict[str, str] = field(default_factory=dict)
    unanswered: list[str] = field(default_factory=list)
    unexpected: int = 0


def read_reply(body: Any, sent: Sequence[str], accepted_before: Callable[[str], bool]) -> ErasureReply:
    """Map the answer's lists to ledger statuses (see the module).

    :param accepted_before: whether CDP accepted an erasure of this ID in an earlier call.
    :raises UnexpectedResponseError: the answer is not an object of lists.
    """
    if not isinstance(body, dict) or not any(isinstance(body.get(name), list) for name in (*_LISTS, "notFound")):
        raise UnexpectedResponseError("Acquia CDP's data erasure answer holds none of readyForDataErasure, notFound, "
                                      "pendingForDataErasure, failedToAccept.")
    wanted = set(sent)
    reply = ErasureReply(str(body["eventId"]) if body.get("eventId") is not None else None)
    for name, status in (*_LISTS.items(), ("notFound", None)):
        for cid in body.get(name) or ():
            cid = str(cid)
            if cid not in wanted:
                reply.unexpected += 1
            elif status is None:
                reply.statuses[cid] = CONFIRMED if accepted_before(cid) else NOT_HELD
            else:
                reply.statuses[cid] = status
    reply.unanswered = [cid for cid in sent if cid not in reply.statuses]
    return reply


def none_found(sent: Sequence[str], accepted_before: Callable[[str], bool]) -> ErasureReply:
    """The reading of a 404 "no valid customer id" to a call without ``failOnNotFound``: all ``notFound``."""
    return read_reply({"notFound": list(sent)}, sent, accepted_before)


def _text(error: ApiError) -> str:
    return " ".join([*error.messages, str(error)]).lower()


def is_no_valid_customer(error: ApiError) -> bool:
    """A 404 that says no customer id of the call is valid (not a wrong tenant or path)."""
    return error.status == 404 and "customer" in " ".join(error.messages).lower()


def is_limit_refusal(error: ApiError) -> bool:
    """A 4xx (other than 401/404) that speaks of a limit: CDP refused the call for its weekly limit."""
    status = error.status or 0
    return 400 <= status < 500 and status not in (401, 404) and any(
        word in _text(error) for word in ("limit", "quota", "per week", "weekly", "exceed"))


class WeeklyLimit:
    """The erasure API's 9,990 a week, counted from the register's erasure calls: every ID sent, over the
    last 7 days (the strictest reading, so a run under it is under what CDP counts)."""

    def __init__(self, limit: int = WEEKLY_LIMIT, window: timedelta = timedelta(days=7)) -> None:
        self.limit, self.window = limit, window

    def used(self, calls: Iterable[tuple[datetime, int]], now: datetime) -> int:
        return sum(n for when, n in calls if when > now - self.window)

    def check(self, calls: Sequence[tuple[datetime, int]], now: datetime, wanted: int, what: str) -> None:
        """Refuse a run of ``wanted`` IDs that would pass the limit, saying when room frees up.

        :raises ErasureLimitError: nothing was sent.
        """
        recent = sorted(c for c in calls if c[0] > now - self.window)
        used = sum(n for _, n in recent)
        if used + wanted <= self.limit:
            return
        head = (f"{what}: {wanted} customer ID(s) would pass Acquia CDP's limit of {self.limit} erasure requests a "
                f"week ({used} sent in the last 7 days, by the register); nothing was sent.")
        if wanted > self.limit:
            raise ErasureLimitError(f"{head} Split the IDs into runs of at most {self.limit}, a week apart.")
        room, frees = max(self.limit - used, 0), now
        for when, n in recent:  # room grows as the oldest calls leave the window
            used, frees = used - n, when + self.window
            if used + wanted <= self.limit:
                break
        raise ErasureLimitError(f"{head} {room} fit now; room for all of them frees up at {frees.isoformat()} (UTC).")


class SessionToken:
    """The erasure API's credential: a session token from ``/authentication?action=login``.

    Logs in at the first call (so a run that stops before sending never logs in), again after a
    401; :meth:`close` logs out the current session (Acquia asks for it after erasing). Thread-safe.

    :param login: returns a new session token.
    :param logout: ends one.
    """

    def __init__(self, login: Callable[[], str], logout: Callable[[str], None]) -> None:
        self._login, self._logout = login, logout
        self._lock = threading.Lock()
        self._token: str | None = None

    def header(self) -> str:
        with self._lock:
            if self._token is None:
                self._token = self._login()
            return "Bearer " + self._token

    def renew(self, rejected: str) -> None:
        with self._lock:
            if self._token is None or "Bearer " + self._token == rejected:
                self._token = self._login()

    @property
    def logged_in(self) -> bool:
        return self._token is not None

    def close(self) -> None:
        """Log out, if logged in (errors propagate; the caller decides whether they matter)."""
        with self._lock:
            token, self._token = self._token, None
        if token is not None:
            self._logout(token)
