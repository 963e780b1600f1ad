"""ErasureDeadlineSensor: the deadline guard of the erasure request register."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_monetate._compat import BaseSensorOperator
from airflow_provider_monetate.exceptions import ConfigurationError, ErasureOverdueError
from airflow_provider_monetate.monetate.privacy._deadlines import WARN_AT, check_deadlines
from airflow_provider_monetate.monetate.privacy._register import ErasureRegister
from airflow_provider_monetate.storage import as_location, default_ledger

__all__ = ["ErasureDeadlineSensor"]


class ErasureDeadlineSensor(BaseSensorOperator):
    """Guard the legal deadlines of erasure requests: warn at 50% and 80% of a request's time, fail
    when one is overdue, naming the requests and the systems (with their customers' statuses)
    still open.

    A request's time runs from its ``received_at`` to its due date (``gdpr``: one month,
    ``ccpa``: 45 days, or the custom number of days; later when extended). A request is open
    until every system asked has settled each of its customers (``confirmed``, ``not_held``,
    ``gone_unverified``) or the request was denied there. By default each run checks once and
    succeeds unless a request is overdue: schedule it daily (see ``example_privacy_audit``).
    With ``wait_until_closed=True`` it keeps poking until every request it watches is closed,
    warning and failing the same way at each poke.

    :param ledger: the ledger the register is kept beside (local path or object storage URI);
        default ``$AIRFLOW_HOME/monetate/deletion_ledger``.
    :param request_ids: only these requests (an unknown one fails the task); default every request.
    :param warn_at: the shares of a request's time at which to warn (default 50% and 80%).
    :param wait_until_closed: keep poking until every watched request is closed.
    :param now: the clock, a callable returning an aware ``datetime`` (tests and emulators inject one);
        default the real UTC time.
    :param poke_interval: seconds between pokes when waiting (default 6 h).
    :return: request ids only (never a customer): ``open``, ``overdue``, ``warned``, ``checked_at``.
    """

    template_fields: Sequence[str] = ("ledger", "request_ids")

    def __init__(self, *, ledger: Any = None, request_ids: Sequence[str] | None = None,
                 warn_at: Sequence[float] = WARN_AT, wait_until_closed: bool = False,
                 now: Callable[[], datetime] | None = None, poke_interval: timedelta | float = timedelta(hours=6),
                 **kwargs: Any) -> None:
        kwargs.setdefault("mode", "reschedule")
        seconds = poke_interval.total_seconds() if isinstance(poke_interval, timedelta) else float(poke_interval)
        super().__init__(poke_interval=seconds, **kwargs)
        check_deadlines([], datetime.now(timezone.utc), warn_at=warn_at)  # bad thresholds fail the DAG's parse
        self.ledger = ledger
        self.request_ids = request_ids
        self.warn_at = tuple(warn_at)
        self.wait_until_closed = wait_until_closed
        self.now = now
        self._summary: dict[str, Any] = {}

    def _now(self) -> datetime:
        now = self.now() if self.now is not None else datetime.now(timezone.utc)
        if now.tzinfo is None:
            raise ConfigurationError(f"{self.task_id}: now() must return an aware datetime (UTC), got a naive one.")
        return now

    def poke(self, context: Any) -> bool:
        register = ErasureRegister(as_location(self.ledger) or default_ledger())
        ids = [self.request_ids] if isinstance(self.request_ids, str) else self.request_ids
        check = check_deadlines(register.requests().values(), self._now(), warn_at=self.warn_at, request_ids=ids)
        for message in check.warning_messages():
            self.log.warning("%s", message)
        if check.overdue:
            raise ErasureOverdueError(f"{self.task_id}: {check.overdue_message()}")
        self._summary = check.summary()
        self.log.info("%d erasure request(s) open in %s, none overdue.", len(check.open), register.location)
        return not self.wait_until_closed or not check.open

    def execute(self, context: Any) -> dict[str, Any]:
        super().execute(context)
        return self._summary
