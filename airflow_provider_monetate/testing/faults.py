"""Fault injection: latency, error statuses, dropped connections and slow answers.

``latency`` is persistent (every call to the route until cleared). ``status``, ``drop``
and ``slow`` are one-shot: each call to the route consumes one unit from the oldest
queued fault, so ``inject(route, "status", count=2)`` then ``inject(route, "drop")``
answers two errors and then drops the third call.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass

from airflow_provider_monetate.testing.routes import ALL_ROUTES, ROUTES

__all__ = ["FAULT_KINDS", "Fault", "FaultInjector", "FaultPlan"]

FAULT_KINDS = ("latency", "status", "drop", "slow")


@dataclass
class Fault:
    """One queued (or persistent, for latency) fault."""

    route: str
    kind: str
    count: int = 1
    status: int | None = None
    seconds: float | None = None
    retry_after: int | None = None


@dataclass
class FaultPlan:
    """What to do to one call: everything the server needs, decided up front."""

    latency: float = 0.0
    status: int | None = None
    retry_after: int | None = None
    drop: bool = False
    slow: float = 0.0

    @property
    def label(self) -> str | None:
        """Short name of the one-shot fault applied, for the request log."""
        if self.drop:
            return "drop"
        if self.status is not None:
            return f"status:{self.status}"
        if self.slow:
            return "slow"
        return "latency" if self.latency else None


class FaultInjector:
    """Thread-safe store of faults per route."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latency: dict[str, Fault] = {}
        self._queue: dict[str, deque[Fault]] = {}

    def inject(
        self,
        route: str,
        kind: str,
        count: int = 1,
        status: int | None = None,
        seconds: float | None = None,
        retry_after: int | None = None,
    ) -> Fault:
        """Queue a fault.

        :param route: a route name (see ``routes.ROUTES``) or ``"*"`` for every route.
        :param kind: ``latency``, ``status``, ``drop`` or ``slow``.
        :param count: how many calls the fault affects (ignored for ``latency``).
        :param status: HTTP status for ``status`` faults (400..599, default 503).
        :param seconds: delay for ``latency`` and ``slow`` faults.
        :param retry_after: ``Retry-After`` header value (seconds) for ``status`` faults.
        :raises ValueError: on an unknown route or kind, or a missing/invalid value.
        """
        if route != ALL_ROUTES and route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; expected one of {', '.join(ROUTES)} or '*'")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError("count must be a positive integer")
        if kind in ("latency", "slow"):
            if seconds is None or isinstance(seconds, bool) or float(seconds) < 0:
                raise ValueError(f"{kind} faults need seconds >= 0")
            seconds = float(seconds)
        if kind == "status":
            status = 503 if status is None else int(status)
            if not 400 <= status <= 599:
                raise ValueError("status must be between 400 and 599")
        elif status is not None:
            raise ValueError("status only applies to 'status' faults")
        if retry_after is not None:
            if kind != "status":
                raise ValueError("retry_after only applies to 'status' faults")
            retry_after = int(retry_after)
        fault = Fault(route, kind, count, status, seconds, retry_after)
        with self._lock:
            if kind == "latency":
                self._latency[route] = fault
            else:
                self._queue.setdefault(route, deque()).append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._latency.clear()
            self._queue.clear()

    def take(self, route: str) -> FaultPlan | None:
        """Decide the faults for one call to ``route``, consuming one-shot units.

        :param route: the route being called.
        :return: a plan, or ``None`` when nothing applies (the common, fast case).
        """
        if not self._latency and not self._queue:
            return None
        with self._lock:
            plan = FaultPlan()
            latency = self._latency.get(route) or self._latency.get(ALL_ROUTES)
            if latency is not None:
                plan.latency = latency.seconds or 0.0
            queue = self._queue.get(route) or self._queue.get(ALL_ROUTES)
            if queue:
                fault = queue[0]
                fault.count -= 1
                if fault.count <= 0:
                    queue.popleft()
                if fault.kind == "drop":
                    plan.drop = True
                elif fault.kind == "slow":
                    plan.slow = fault.seconds or 0.0
                else:
                    plan.status, plan.retry_after = fault.status, fault.retry_after
            return plan if plan.label else None

    def snapshot(self) -> list[dict]:
        """Active faults as JSON-friendly dicts (remaining ``count`` for one-shot faults)."""
        with self._lock:
            faults = list(self._latency.values())
            for queue in self._queue.values():
                faults.extend(queue)
            return [asdict(f) for f in faults]
