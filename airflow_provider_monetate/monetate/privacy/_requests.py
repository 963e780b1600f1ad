"""Erasure requests as an auditor reads them: legal deadlines, and each system's progress per customer.

* :func:`regime_of` reads a task's ``regime``: ``"gdpr"`` (one month from receipt, extendable by
  two further months: GDPR Art. 12(3)), ``"ccpa"`` (45 days, extendable once by 45 more: Cal.
  Civ. Code 1798.130(a)(2)), or a number of days (a custom policy, extendable without limit).
* :class:`ErasureRequest` is one request folded from the register's events (opened, asked,
  extended, denied: ``_register``) and the ledger's records that carry its ``request_id``: the
  due date (after extensions), the systems asked and, per system and customer, the timeline of
  statuses. A system is *settled* when every customer asked there has a settled status
  (``confirmed``, ``not_held``, ``gone_unverified``) or the request was denied there; the request
  is *closed* when every system asked is; its response time runs from receipt to then.

Customer IDs are kept as the ledger stores them (SHA-256 with ``hash_ids``). No Airflow imports.
"""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.monetate._rows import to_utc_iso
from airflow_provider_monetate.monetate.privacy._ledger import SETTLED, SUBMITTED

__all__ = ["CCPA", "GDPR", "NOT_SENT", "ErasureRequest", "Regime", "SystemProgress", "parse_time", "regime_of"]

GDPR = "gdpr"
CCPA = "ccpa"
#: The status of a customer asked in a system for whom the ledger holds nothing yet.
NOT_SENT = "not_sent"


def parse_time(value: str) -> datetime:
    """A ledger timestamp (UTC ISO-8601, ``Z``) as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def _add_months(when: datetime, months: int) -> datetime:
    """The same day ``months`` later; the month's last day when it has no such day (31 Jan -> 28/29 Feb)."""
    month = when.month - 1 + months
    year, month = when.year + month // 12, month % 12 + 1
    return when.replace(year=year, month=month, day=min(when.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Regime:
    """How long a request may take, and how far it may be extended.

    :param name: ``gdpr``, ``ccpa`` or a number of days, as stored in the register.
    :param months: the time allowed, in calendar months (GDPR) ...
    :param days: ... or in days.
    :param extension_months: the furthest extension, in months after the first due date.
    :param extension_days: or in days; ``None`` with no month limit either: no legal limit known.
    :param extensions: how many extensions the law allows (``None``: any number).
    """

    name: str | int
    months: int = 0
    days: int = 0
    extension_months: int = 0
    extension_days: int | None = None
    extensions: int | None = None

    def due(self, received: datetime) -> datetime:
        """The first due date of a request received at ``received``."""
        return _add_months(received, self.months) + timedelta(days=self.days)

    def latest_due(self, first_due: datetime) -> datetime | None:
        """How far the due date may be extended (``None``: no legal limit)."""
        if self.extension_months:
            return _add_months(first_due, self.extension_months)
        return None if self.extension_days is None else first_due + timedelta(days=self.extension_days)


_REGIMES = {
    GDPR: Regime(GDPR, months=1, extension_months=2),
    CCPA: Regime(CCPA, days=45, extension_days=45, extensions=1),
}


def regime_of(value: Any) -> Regime:
    """``"gdpr"``, ``"ccpa"``, or a positive number of days (an int, or its text from a template).

    :raises ConfigurationError: anything else, naming the choices.
    """
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text in _REGIMES:
        return _REGIMES[text]
    days = int(text) if text and text.isdigit() else value
    if isinstance(days, int) and not isinstance(days, bool) and days > 0:
        return Regime(days, days=days)
    raise ConfigurationError(f"regime must be 'gdpr' (one month), 'ccpa' (45 days) or a positive number of days, "
                             f"got {value!r}")


@dataclass
class SystemProgress:
    """One system's part of a request: the customers asked and each one's status timeline.

    :param system: ``monetate``, ``acquia_cdp``, ...
    :param asked: the customers the register says were asked (stored form).
    :param timeline: ``{customer: [(status, at), ...]}`` from the ledger, oldest first.
    :param denied: the basis for denying the request in this system, if it was.
    :param hashed: the customers stored as SHA-256 hashes.
    """

    system: str
    asked: set[str] = field(default_factory=set)
    timeline: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    denied: str | None = None
    denied_at: str | None = None
    hashed: set[str] = field(default_factory=set)

    def status(self, customer: str) -> str:
        """The customer's latest status here (``not_sent`` when asked and not yet in the ledger)."""
        events = self.timeline.get(customer)
        return events[-1][0] if events else NOT_SENT

    @property
    def customers(self) -> list[str]:
        return sorted(self.asked | set(self.timeline))

    def counts(self) -> Counter[str]:
        """How many customers are in each latest status."""
        return Counter(self.status(c) for c in self.customers)

    @property
    def settled(self) -> bool:
        """Denied here, or every customer asked is in a settled status."""
        if self.denied is not None:
            return True
        return bool(self.customers) and all(self.status(c) in SETTLED for c in self.customers)

    @property
    def settled_at(self) -> str | None:
        """When the last customer settled (or when it was denied); ``None`` while open."""
        if not self.settled:
            return None
        if self.denied is not None:
            return self.denied_at
        return max(self.timeline[c][-1][1] for c in self.customers)

    def describe(self) -> str:
        """``acquia_cdp (3 submitted, 2 confirmed)``."""
        if self.denied is not None:
            return f"{self.system} (denied: {self.denied})"
        counts = self.counts()
        return f"{self.system} (" + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) + ")"


@dataclass
class ErasureRequest:
    """One erasure request, as the register and the ledger tell it (see the module)."""

    request_id: str
    received_at: str
    regime: str | int
    first_due_at: str
    due_at: str
    opened_at: str
    manner: str | None = None
    extensions: list[dict[str, Any]] = field(default_factory=list)
    systems: dict[str, SystemProgress] = field(default_factory=dict)
    denial: dict[str, Any] | None = None  # a denial of the whole request: basis, at
    conflicts: list[str] = field(default_factory=list)

    def system(self, name: str) -> SystemProgress:
        return self.systems.setdefault(name, SystemProgress(name))

    @property
    def closed(self) -> bool:
        """Denied, or every system asked has settled."""
        if self.denial is not None:
            return True
        return bool(self.systems) and all(s.settled for s in self.systems.values())

    @property
    def response_at(self) -> str | None:
        """When the request was answered: the last system settled (or the denial); ``None`` while open."""
        if self.denial is not None:
            return self.denial["at"]
        if not self.closed:
            return None
        return max(s.settled_at for s in self.systems.values())  # type: ignore[type-var]

    @property
    def response_days(self) -> float | None:
        """Days from receipt to the response."""
        answered = self.response_at
        if answered is None:
            return None
        return round((parse_time(answered) - parse_time(self.received_at)).total_seconds() / 86400, 2)

    def open_systems(self) -> list[SystemProgress]:
        """The systems still open (all of them while none was asked)."""
        if self.denial is not None:
            return []
        return [s for s in self.systems.values() if not s.settled]

    def elapsed(self, now: datetime) -> float:
        """How much of the time allowed has passed at ``now`` (1.0 at the due date)."""
        start, due = parse_time(self.received_at), parse_time(self.due_at)
        return (now - start).total_seconds() / max((due - start).total_seconds(), 1.0)

    def nature_of_response(self) -> str:
        """What the business answered: ``deleted``, ``no data held``, ``denied: <basis>``, ``open``, or a mix."""
        if self.denial is not None:
            return f"denied: {self.denial['basis']}"
        if not self.closed:
            return "open"
        counts: Counter[str] = Counter()
        for progress in self.systems.values():
            if progress.denied is not None:
                counts[f"denied in {progress.system}: {progress.denied}"] += 1
                continue
            for customer in progress.customers:
                counts["no data held" if progress.status(customer) == "not_held" else "deleted"] += 1
        return "; ".join(sorted(counts)) if counts else "open"

    def describe(self, now: datetime | None = None) -> str:
        """``R-17 (gdpr, received 2024-05-01, due 2024-06-01, 83% of its time): open in acquia_cdp (...)``."""
        share = f", {self.elapsed(now):.0%} of its time" if now is not None else ""
        text = (f"{self.request_id} ({self.regime}, received {self.received_at[:10]}, due {self.due_at[:10]}"
                f"{share})")
        still = self.open_systems()
        if not self.systems:
            return text + ": no system asked yet"
        return text + (": open in " + ", ".join(s.describe() for s in still) if still else ": closed")


def opened_request(event: dict[str, Any]) -> ErasureRequest:
    """The request an ``opened`` register event starts."""
    return ErasureRequest(
        request_id=event["request_id"], received_at=event["received_at"], regime=event["regime"],
        first_due_at=event["due_at"], due_at=event["due_at"], opened_at=event["recorded_at"],
        manner=event.get("manner"),
    )


def status_time(record: dict[str, Any]) -> str:
    """When a ledger record's status became true: its submission for ``submitted``, else its confirmation."""
    if record.get("status") == SUBMITTED:
        return record.get("submitted_at") or record["recorded_at"]
    return record.get("confirmed_at") or record.get("recorded_at")


def checked_due_extension(request: ErasureRequest, new_due: Any, reason: str) -> str:
    """The new due date as UTC ISO-8601, once it is shown to be a lawful extension with a reason.

    :raises ConfigurationError: no reason, not later than the current due date, past the legal
        limit, or more extensions than the law allows.
    """
    if not str(reason or "").strip():
        raise ConfigurationError(f"Extending request {request.request_id} needs a reason (the law asks that the "
                                 "person be told why).")
    due = to_utc_iso(new_due)
    if due <= request.due_at:
        raise ConfigurationError(f"Request {request.request_id}: the new due date {due} is not after the current "
                                 f"one, {request.due_at}.")
    regime = regime_of(request.regime)
    if regime.extensions is not None and len(request.extensions) >= regime.extensions:
        raise ConfigurationError(f"Request {request.request_id} ({regime.name}) was already extended; the law "
                                 "allows it once.")
    latest = regime.latest_due(parse_time(request.first_due_at))
    if latest is not None and parse_time(due) > latest:
        raise ConfigurationError(f"Request {request.request_id} ({regime.name}) may be extended to "
                                 f"{to_utc_iso(latest)} at most, not {due}.")
    return due
