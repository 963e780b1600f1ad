"""The erasure request register: each request, its legal deadline, and who was asked, beside the ledger.

A request (one or many customers) is *opened* once, with its id, when it was received and its
regime (``gdpr``, ``ccpa`` or a number of days: ``_requests``), which set its due date. Each
task that erases its customers somewhere records that it *asked* that system about them, before
it sends anything; the ledger records that carry the request's ``request_id`` then give, per
system and customer, the status timeline (``submitted``, ``pending``, ``confirmed``, ...). A
request may be *extended* (a new due date and a reason, within the law's limit) or *denied*
(with the basis, in every system or some). Acquia CDP erasure calls are counted here too
(``erasure_call``), for the API's weekly limit.

Storage: register events are JSON Lines parts named ``register-<UTC time>-<12 hex>.jsonl`` in
the ledger's own folder (local or object storage), written like the ledger's parts: one new
part per write, never changed, chained and linked (``_chain``), so that mapped tasks may write
at once and :meth:`DeletionLedger.verify` checks both. Customer IDs are stored as the ledger
stores them: SHA-256 hashes with ``hash_ids=True``.

Reading folds every event and every ledger record of a request into an
:class:`~._requests.ErasureRequest`; it reads the whole register and ledger once per call.
No Airflow imports.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from airflow_provider_monetate.exceptions import ConfigurationError, InvalidValueError
from airflow_provider_monetate.monetate._rows import to_utc_iso
from airflow_provider_monetate.monetate.privacy._chain import ChainedParts
from airflow_provider_monetate.monetate.privacy._export import write_export
from airflow_provider_monetate.monetate.privacy._ledger import DeletionLedger, new_part_name, utc_now_iso
from airflow_provider_monetate.monetate.privacy._requests import (
    ErasureRequest,
    checked_due_extension,
    opened_request,
    parse_time,
    regime_of,
    status_time,
)
from airflow_provider_monetate.storage import Folder

__all__ = ["ErasureRegister", "checked_time"]

_KIND = "register"
_ASK_CHUNK = 1000  # customers per "asked" line: a request of a million IDs is a thousand lines, not one


def checked_time(value: Any, what: str) -> str:
    """``value`` (datetime, ISO date or date-time; naive = UTC) as UTC ISO-8601, or a ConfigurationError naming it."""
    try:
        return to_utc_iso(value)
    except (InvalidValueError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"{what}: {exc}") from None


class ErasureRegister:
    """The erasure requests kept beside the ledger at ``location`` (see the module).

    :param location: the ledger folder (local path or ``ObjectStoragePath``).
    :param hash_ids: store customer IDs as SHA-256 hashes, as the ledger does with it.
    """

    def __init__(self, location: Any, *, hash_ids: bool = False) -> None:
        self.ledger = DeletionLedger(location, hash_ids=hash_ids)
        self._folder = Folder(location)
        self._chain = ChainedParts(self._folder)
        self.location = self._folder.location

    # -- writing ---------------------------------------------------------------------------------

    def _write(self, events: Iterable[dict[str, Any]]) -> int:
        recorded_at = utc_now_iso()
        return self._chain.write(new_part_name(recorded_at, _KIND), ({**e, "recorded_at": recorded_at} for e in events))

    def open(self, request_id: str, *, received_at: Any, regime: Any, manner: str | None = None,
             dag_id: str | None = None, run_id: str | None = None) -> ErasureRequest:
        """Open a request, or find it open with the same receipt time and regime; returns it without its
        systems' timelines (use :meth:`request` for those).

        :param received_at: when the request arrived: the deadline runs from it.
        :param regime: ``gdpr``, ``ccpa`` or a number of days.
        :param manner: how it was made (``web form``, ``email``, ...), for the record keeping.
        :raises ConfigurationError: no id, a time in the future, or a request of that id opened with
            another receipt time or regime.
        """
        request_id = str(request_id or "").strip()
        if not request_id:
            raise ConfigurationError("request_id is empty: name the erasure request (e.g. your ticket number).")
        received = checked_time(received_at, f"request {request_id}: received_at")
        if received > utc_now_iso():
            raise ConfigurationError(f"request {request_id}: received_at {received} is in the future.")
        rule = regime_of(regime)
        known = self._requests(only=request_id, timelines=False).get(request_id)
        if known is not None:
            if (known.received_at, str(known.regime)) != (received, str(rule.name)):
                raise ConfigurationError(
                    f"Erasure request {request_id} is registered as received {known.received_at} under "
                    f"{known.regime}, not {received} under {rule.name}: pass the same received_at and regime "
                    "to every task of one request, or use another request_id."
                )
            return known
        due = to_utc_iso(rule.due(parse_time(received)))
        self._write([{"event": "opened", "request_id": request_id, "received_at": received, "regime": rule.name,
                      "due_at": due, "manner": manner, "dag_id": dag_id, "run_id": run_id}])
        return self._requests(only=request_id, timelines=False)[request_id]

    def ask(self, request_id: str, system: str, customer_ids: Iterable[str], *, dag_id: str | None = None,
            run_id: str | None = None) -> int:
        """Record that ``system`` is being asked to erase these customers for the request; return how many.

        Written before anything is sent, so a customer asked and never sent shows as ``not_sent``.
        """
        stored = sorted({self.ledger.stored_id(c) for c in customer_ids})
        chunks = [stored[i:i + _ASK_CHUNK] for i in range(0, len(stored), _ASK_CHUNK)]
        id_hash = "sha256" if self.ledger.hash_ids else None
        self._write({"event": "asked", "request_id": request_id, "system": system, "customers": chunk,
                     "id_hash": id_hash, "dag_id": dag_id, "run_id": run_id} for chunk in chunks)
        return len(stored)

    def extend(self, request_id: str, *, due_at: Any, reason: str) -> ErasureRequest:
        """Extend a request's due date, for a reason, within the law's limit (``_requests``).

        :raises ConfigurationError: an unknown request, no reason, or an extension the law does not allow.
        """
        request = self.request(request_id)
        due = checked_due_extension(request, due_at, reason)
        self._write([{"event": "extended", "request_id": request_id, "due_at": due, "reason": str(reason).strip()}])
        return self.request(request_id)

    def deny(self, request_id: str, *, basis: str, systems: Iterable[str] | None = None) -> ErasureRequest:
        """Record that the request is denied (in ``systems``, or entirely), and why: the record keeping's
        "basis for the denial". A denied system counts as answered."""
        if not str(basis or "").strip():
            raise ConfigurationError(f"Denying request {request_id} needs the basis for the denial.")
        self.request(request_id)
        self._write([{"event": "denied", "request_id": request_id, "basis": str(basis).strip(),
                      "systems": sorted(systems) if systems is not None else None}])
        return self.request(request_id)

    def record_erasure_call(self, system: str, count: int, *, request_id: str | None = None) -> None:
        """Count ``count`` customers sent to ``system``'s erasure API now (before the call: a call whose
        answer is lost still counts), for its weekly limit."""
        self._write([{"event": "erasure_call", "system": system, "count": int(count), "request_id": request_id}])

    # -- reading ---------------------------------------------------------------------------------

    def events(self) -> Iterator[dict[str, Any]]:
        """Every register event, in part order."""
        for name in self._folder.names():
            if name.startswith(_KIND + "-") and name.endswith(".jsonl"):
                data = self._folder.read(name)
                yield from ChainedParts.lines(data or b"")

    def erasure_calls(self, system: str, since: datetime) -> list[tuple[datetime, int]]:
        """``(when, customers)`` of the erasure calls to ``system`` since ``since``, oldest first."""
        calls = [(parse_time(e["recorded_at"]), int(e["count"])) for e in self.events()
                 if e.get("event") == "erasure_call" and e.get("system") == system]
        return sorted(c for c in calls if c[0] >= since)

    def request(self, request_id: str) -> ErasureRequest:
        """One request.

        :raises ConfigurationError: no request of that id was opened here.
        """
        found = self._requests(only=request_id).get(request_id)
        if found is None:
            raise ConfigurationError(f"No erasure request {request_id!r} in the register at {self.location}: "
                                     "open it first (request_id= on a submit or erase task).")
        return found

    def requests(self) -> dict[str, ErasureRequest]:
        """Every request, by id, with its systems' timelines from the ledger."""
        return self._requests()

    def export(self, target: Any, *, format: str = "csv", since: Any = None, until: Any = None) -> int:
        """Write the record-keeping export (``_export``) of the requests received in ``[since, until)``
        to ``target`` (local path or storage path) as ``csv`` or ``jsonl``; return the number of rows."""
        start = checked_time(since, "since") if since is not None else None
        end = checked_time(until, "until") if until is not None else None
        return write_export(self.requests().values(), target, format=format, since=start, until=end)

    def _requests(self, only: str | None = None, timelines: bool = True) -> dict[str, ErasureRequest]:
        """The requests (or one) from the register's events; with ``timelines``, each system's customers'
        statuses from the ledger too (which reads the whole ledger)."""
        requests: dict[str, ErasureRequest] = {}
        pending: list[dict[str, Any]] = []
        for event in self.events():
            if only is not None and event.get("request_id") != only:
                continue
            if event.get("event") == "opened":
                _take_opening(requests, event)
            else:
                pending.append(event)
        for event in pending:
            request = requests.get(event.get("request_id") or "")
            if request is not None:
                _apply(request, event)
        if requests and timelines:
            for record in self.ledger.records():
                request = requests.get(record.get("request_id") or "")
                if request is not None:
                    progress = request.system(record["system"])
                    progress.timeline.setdefault(record["customer_id"], []).append(
                        (record["status"], status_time(record)))
                    if record.get("id_hash"):
                        progress.hashed.add(record["customer_id"])
        return requests


def _take_opening(requests: dict[str, ErasureRequest], event: dict[str, Any]) -> None:
    """The first ``opened`` event of an id wins; a later one that disagrees (two tasks opening at once
    with different facts) is kept as a conflict, shown in the request's description."""
    known = requests.get(event["request_id"])
    if known is None:
        requests[event["request_id"]] = opened_request(event)
    elif (known.received_at, str(known.regime)) != (event["received_at"], str(event["regime"])):
        known.conflicts.append(f"also opened as received {event['received_at']} under {event['regime']} by "
                               f"{event.get('dag_id')}/{event.get('run_id')}")


def _apply(request: ErasureRequest, event: dict[str, Any]) -> None:
    kind = event.get("event")
    if kind == "asked":
        progress = request.system(event["system"])
        progress.asked.update(event.get("customers") or ())
        if event.get("id_hash"):
            progress.hashed.update(event.get("customers") or ())
    elif kind == "extended":
        request.extensions.append({"due_at": event["due_at"], "reason": event["reason"], "at": event["recorded_at"]})
        request.due_at = max(request.due_at, event["due_at"])
    elif kind == "denied":
        if event.get("systems") is None:
            request.denial = {"basis": event["basis"], "at": event["recorded_at"]}
        else:
            for system in event["systems"]:
                progress = request.system(system)
                progress.denied, progress.denied_at = event["basis"], event["recorded_at"]

