"""Which erasure requests are close to, or past, their legal deadline: the deadline guard's decision.

A request's *time* runs from its receipt to its due date (after any extension). An open request
is *overdue* once its due date has passed; otherwise it is reported at the highest warning
threshold it has reached (default: 50% and 80% of its time). Closed requests are never
reported. Pure: the time is given, so tests inject it. No Airflow imports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.monetate.privacy._requests import ErasureRequest

__all__ = ["WARN_AT", "DeadlineCheck", "check_deadlines"]

#: Shares of a request's time at which the guard warns.
WARN_AT = (0.5, 0.8)


@dataclass(frozen=True)
class DeadlineCheck:
    """The open requests at ``now``, and which of them need attention.

    :param overdue: open past their due date, oldest due first.
    :param warnings: ``{threshold: requests}``: each open request not overdue, under the highest
        threshold it has reached (none below the lowest).
    """

    now: datetime
    open: list[ErasureRequest] = field(default_factory=list)
    overdue: list[ErasureRequest] = field(default_factory=list)
    warnings: dict[float, list[ErasureRequest]] = field(default_factory=dict)

    def overdue_message(self) -> str:
        """Why the guard fails: each overdue request with the systems (and statuses) still open."""
        lines = "\n".join(f"- {r.describe(self.now)}" for r in self.overdue)
        return (f"{len(self.overdue)} erasure request(s) are past their legal due date and still open:\n{lines}\n"
                "Finish them (re-run the failed or stopped tasks, wait for the confirmations), extend them with a "
                "reason where the law allows (ErasureRegister.extend), or record a denial with its basis "
                "(ErasureRegister.deny).")

    def warning_messages(self) -> list[str]:
        """One line per threshold reached: the requests, their due dates and what is still open."""
        return [
            f"{len(found)} erasure request(s) have used {threshold:.0%} or more of their time: "
            + "; ".join(r.describe(self.now) for r in found)
            for threshold, found in sorted(self.warnings.items(), reverse=True) if found
        ]

    def summary(self) -> dict:
        """Request ids only (never a customer): ``open``, ``overdue``, ``warned`` (threshold -> ids)."""
        return {
            "checked_at": self.now.isoformat(),
            "open": [r.request_id for r in self.open],
            "overdue": [r.request_id for r in self.overdue],
            "warned": {f"{t:.0%}": [r.request_id for r in found] for t, found in sorted(self.warnings.items())},
        }


def check_deadlines(requests: Iterable[ErasureRequest], now: datetime, *, warn_at: Sequence[float] = WARN_AT,
                    request_ids: Iterable[str] | None = None) -> DeadlineCheck:
    """Sort the open requests by how much of their time has passed at ``now`` (see the module).

    :param request_ids: only these requests (an unknown one is an error); default every request.
    :raises ConfigurationError: a threshold outside (0, 1), or an unknown request id.
    """
    thresholds = sorted(float(t) for t in warn_at)
    if any(not 0 < t < 1 for t in thresholds):
        raise ConfigurationError(f"warn_at must hold shares of a request's time between 0 and 1, got {list(warn_at)}")
    chosen = list(requests)
    if request_ids is not None:
        wanted = list(dict.fromkeys(request_ids))
        by_id = {r.request_id: r for r in chosen}
        unknown = [rid for rid in wanted if rid not in by_id]
        if unknown:
            raise ConfigurationError(f"No erasure request {', '.join(map(repr, unknown))} in the register.")
        chosen = [by_id[rid] for rid in wanted]
    still_open = sorted((r for r in chosen if not r.closed), key=lambda r: r.due_at)
    check = DeadlineCheck(now, still_open, [], {t: [] for t in thresholds})
    for request in still_open:
        share = request.elapsed(now)
        if share >= 1:
            check.overdue.append(request)
            continue
        reached = [t for t in thresholds if share >= t]
        if reached:
            check.warnings[reached[-1]].append(request)
    return check
