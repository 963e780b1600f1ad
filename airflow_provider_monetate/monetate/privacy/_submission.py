"""How deletions are posted: the body shape and request-time format Monetate takes, and IDs as text.

The documents disagree on the body of a post to a ``customer_data_privacy`` dataset: the
privacy seed's example is one flat object ``{"customer_id", "delete_request_time"}``, the Data
API spec's Send Data contract ``{"schema_rows": [...]}``. They also disagree on
``delete_request_time``: the seed's prose says ISO 8601 "(YYYY-MM-DD)", its example is a full
date-time. A server that takes one form answers the other with a 400, and a 400 processes
nothing, so trying the other form after one is safe. :class:`BodyShapeChooser` does that: it
tries the :class:`BodyShape` candidates in order on the run's first post, keeps the first
Monetate accepts for the rest of the run, and gives up (naming every refusal) when Monetate
refuses them all.

:class:`Precheck` asks each ID's status once before the first deletion is posted, so that the
ledger can tell a deletion Monetate was seen to carry out (``confirmed``) from an ID it never
held (``not_held``), whatever ``PENDING`` means after a submission.

:func:`customer_id_text` is how an input value becomes the ID that is sent: a whole number
written as an integer (``12345.0`` is ``"12345"``), never a float's text. No Airflow imports.
"""

from __future__ import annotations

import decimal
import json
import logging
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_monetate.exceptions import ApiValidationError, ConfigurationError, StateFileError
from airflow_provider_monetate.loading._batches import encode_row, envelope
from airflow_provider_monetate.monetate.privacy._ledger import utc_now_iso
from airflow_provider_monetate.monetate.privacy._polling import ask_statuses
from airflow_provider_monetate.monetate.privacy._status import DeletionStatus
from airflow_provider_monetate.storage import Folder

__all__ = [
    "BODIES",
    "TIME_FORMATS",
    "BodyShape",
    "BodyShapeChooser",
    "Precheck",
    "customer_id_text",
    "shapes_to_try",
]

log = logging.getLogger(__name__)

BODIES = ("auto", "schema_rows", "flat")
TIME_FORMATS = ("auto", "datetime", "date")
# A refusal of the request as a whole that processed nothing: the next shape may be the one.
_SWITCH_STATUSES = frozenset({400, 422})


@dataclass(frozen=True)
class BodyShape:
    """One way of posting deletions.

    :param body: ``schema_rows`` (all the rows in one ``{"schema_rows": [...]}``) or ``flat``
        (one request per row, the row itself the body).
    :param time_format: ``datetime`` (``YYYY-MM-DDTHH:MM:SS.ffffffZ``) or ``date`` (``YYYY-MM-DD``).
    """

    body: str
    time_format: str

    def describe(self) -> str:
        """``schema_rows bodies with date-times``: how logs and errors name it."""
        body = "schema_rows bodies" if self.body == "schema_rows" else "flat objects"
        return f"{body} with {'dates' if self.time_format == 'date' else 'date-times'}"

    def requests(self, rows: Sequence[dict[str, Any]]) -> list[tuple[list[dict[str, Any]], bytes]]:
        """The request bodies for ``rows`` (checked rows, times as UTC date-times), each with the
        rows it carries (as given: a date-only body still carries the full time, for the ledger)."""
        sent = rows
        if self.time_format == "date":
            sent = [{**row, "delete_request_time": row["delete_request_time"][:10]} for row in rows]
        if self.body == "flat":
            return [([row], encode_row(body)) for row, body in zip(rows, sent, strict=True)]
        return [(list(rows), envelope(b",".join(encode_row(row) for row in sent)))]


def shapes_to_try(body: str, time_format: str) -> tuple[BodyShape, ...]:
    """The candidates, in order: ``auto`` tries ``schema_rows`` (many IDs per call) before ``flat``,
    and a date-time (the seed's example, the DATETIME column) before a date.

    :raises ConfigurationError: an unknown choice.
    """
    if body not in BODIES:
        raise ConfigurationError(f"body must be one of {', '.join(BODIES)}, got {body!r}")
    if time_format not in TIME_FORMATS:
        raise ConfigurationError(
            f"delete_request_time_format must be one of {', '.join(TIME_FORMATS)}, got {time_format!r}"
        )
    bodies = ("schema_rows", "flat") if body == "auto" else (body,)
    times = ("datetime", "date") if time_format == "auto" else (time_format,)
    return tuple(BodyShape(b, t) for t in times for b in bodies)


class BodyShapeChooser:
    """The body shape of one run: the first candidate Monetate accepts, kept for the run.

    Thread-safe: while no shape is settled, one post at a time tries the candidates (the others
    wait for its answer); after that, posts run in parallel in the settled shape. A later 400 is
    an error like any other: the shape is not changed mid-run.

    :param shapes: the candidates, in order (:func:`shapes_to_try`).
    """

    def __init__(self, shapes: Sequence[BodyShape]) -> None:
        if not shapes:
            raise ConfigurationError("at least one body shape is needed")
        self._shapes = tuple(shapes)
        self.settled: BodyShape | None = shapes[0] if len(shapes) == 1 else None
        self.refused: list[BodyShape] = []  # the candidates Monetate answered 400 before one was settled
        self._lock = threading.Lock()

    def post(self, rows: Sequence[dict[str, Any]], send: Callable[[bytes], object],
             acknowledged: list[dict[str, Any]]) -> None:
        """Send ``rows``; each row Monetate acknowledged is appended to ``acknowledged`` as it is.

        :param send: posts one body; raises the API's error.
        :raises ApiValidationError: every candidate was refused (the messages name each refusal).
        """
        if self.settled is None:
            with self._lock:
                if self.settled is None:
                    self._try_shapes(rows, send, acknowledged)
                    return
        _send_all(self.settled.requests(rows), send, acknowledged)

    def _try_shapes(self, rows: Sequence[dict[str, Any]], send: Callable[[bytes], object],
                    acknowledged: list[dict[str, Any]]) -> None:
        refusals: list[tuple[BodyShape, ApiValidationError]] = []
        for shape in self._shapes:
            (first_rows, first_body), *rest = shape.requests(rows)
            try:
                send(first_body)
            except ApiValidationError as error:
                if error.status not in _SWITCH_STATUSES:
                    raise
                refusals.append((shape, error))
                continue
            self.settled, self.refused = shape, [refused for refused, _ in refusals]
            if refusals:
                log.warning("Monetate refused deletions as %s (a 400 processes nothing); it took them as %s, "
                            "used for the rest of this run.", ", then as ".join(s.describe() for s in self.refused),
                            shape.describe())
            acknowledged.extend(first_rows)
            _send_all(rest, send, acknowledged)
            return
        raise _refused_every_shape(refusals)


def _send_all(requests: Sequence[tuple[list[dict[str, Any]], bytes]], send: Callable[[bytes], object],
              acknowledged: list[dict[str, Any]]) -> None:
    for carried, body in requests:
        send(body)
        acknowledged.extend(carried)


def _refused_every_shape(refusals: list[tuple[BodyShape, ApiValidationError]]) -> ApiValidationError:
    last = refusals[-1][1]
    messages = [f"as {shape.describe()}: {'; '.join(error.messages) or error.status}" for shape, error in refusals]
    hint = (
        "Monetate refused the deletions in every body shape tried; a 400 processes nothing, so these requests "
        "erased nobody. If the IDs and times are right, ask Monetate which form the account takes and set "
        "body='schema_rows' or 'flat' and delete_request_time_format='datetime' or 'date'"
    )
    return ApiValidationError(last.service, last.method, last.path, last.status, messages, hint)


class Precheck:
    """Each ID's status, asked once before the first deletion of a task is posted, kept across its tries.

    The answers are saved in ``<work_dir>/<task key>.precheck.json`` (raw IDs, ``0600`` locally)
    before anything is posted: a retry must not ask again, because its own earlier try's
    submission may have made an ID ``PENDING`` that Monetate never held (a reading of the
    documents, see ``_status``). The submit task deletes the file when it succeeds; the IDs
    file then carries the answers (``held``).

    :param folder: the submit task's ``work_dir``.
    :param key: the submit task instance's key.
    :param status_of: asks Monetate about one ID.
    :param max_concurrency: status calls in flight at once.
    :param log: where a round's warnings go.
    """

    def __init__(self, folder: Any, key: str, status_of: Callable[[str], DeletionStatus], max_concurrency: int,
                 log: logging.Logger | logging.LoggerAdapter) -> None:
        self._folder = Folder(folder)
        self._name = f"{key}.precheck.json"
        self._status_of = status_of
        self._max_concurrency = max_concurrency
        self._log = log
        self._lock = threading.Lock()
        self._asked = False
        self.held: dict[str, bool] = {}
        self.unanswered: set[str] = set()  # asked, no readable answer: a retry must not ask after submitting
        self.checked_at: str | None = None

    def load(self) -> dict[str, bool]:
        """The answers an earlier try saved (none asked): ``{customer_id: held?}``."""
        raw = self._folder.read(self._name)
        if raw and not self.held:
            try:
                saved = json.loads(raw)
                self.held, self.checked_at = dict(saved["held"]), saved["checked_at"]
                self.unanswered = set(saved.get("unanswered") or ())
            except (ValueError, KeyError, TypeError):
                raise StateFileError(f"{self._folder.path(self._name)} is not a pre-check file; delete it and "
                                     "clear the task: its IDs are then asked again.") from None
        return self.held

    def ask(self, customer_ids: Iterable[str]) -> dict[str, bool]:
        """Ask about every ID no earlier try asked about (once per task run), save, and return all answers.

        ``FOUND`` and ``PENDING`` are held, ``NOT_FOUND`` is not; an ``UNKNOWN`` answer, or none
        (Monetate unavailable past the retry budget), leaves the ID out: it is then watched as
        if not pre-checked, and never asked again by a retry (its first try may have submitted it).
        """
        with self._lock:
            if self._asked:
                return self.held
            self.load()
            missing = [cid for cid in customer_ids if cid not in self.held and cid not in self.unanswered]
            self.checked_at = self.checked_at or utc_now_iso()
            statuses = ask_statuses(missing, self._status_of, self._max_concurrency, self._log)
            held_states = {s.value for s in DeletionStatus.held_states()}
            for cid in missing:
                status = statuses.get(cid)
                if status in held_states or status == DeletionStatus.NOT_FOUND.value:
                    self.held[cid] = status in held_states
                else:
                    self.unanswered.add(cid)
            with self._folder.create(self._name) as file:
                file.write(json.dumps({"checked_at": self.checked_at, "held": self.held,
                                       "unanswered": sorted(self.unanswered)}).encode())
            self._asked = True
            return self.held

    def discard(self) -> None:
        """Delete the saved answers (the IDs file holds them once the submission succeeded)."""
        self._folder.delete(self._name)


def customer_id_text(value: Any) -> tuple[str | None, str | None]:
    """``(the ID as sent, None)``, or ``(None, why it is no ID)``; the reason never holds the value.

    Text is trimmed; a whole number is written as an integer, whatever its type (``12345.0``
    and ``Decimal("12345.00")`` are ``"12345"``, as the source meant it); a number with a
    fraction, NaN or infinity is no ID (its text, ``"12345.5"``, would name nobody Monetate knows).
    """
    if isinstance(value, str):
        text = value.strip()
        return (text, None) if text else (None, "missing or empty customer ID")
    if value is None:
        return None, "missing or empty customer ID"
    if isinstance(value, bool):
        return None, "true/false is not a customer ID"
    if isinstance(value, int):
        return str(value), None
    if isinstance(value, (float, decimal.Decimal)):
        if not _is_whole(value):
            return None, ("a number with a fraction, or not finite: a customer ID is text or a whole number "
                          "(write it as text in the source)")
        return str(int(value)), None
    return None, f"a {type(value).__name__} is not a customer ID: give text or a whole number"


def _is_whole(value: float | decimal.Decimal) -> bool:
    if isinstance(value, decimal.Decimal):
        return value.is_finite() and value == value.to_integral_value()
    return math.isfinite(value) and value.is_integer()
