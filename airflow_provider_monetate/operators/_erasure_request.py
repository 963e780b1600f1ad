"""What every deletion and erasure operator shares: the erasure request it serves, and the mass-deletion guard.

:class:`ErasureRequestMixin` sits before the operator's Airflow base class. It adds the request's
``request_id``, ``received_at``, ``regime`` and ``request_manner`` (the request is opened in the
register beside the ledger, before anything is sent, and each system asked is recorded there),
and ``confirm_mass_deletion``, ``mass_deletion_threshold`` and ``last_load_customers`` (see
``monetate.privacy._mass_deletion``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.monetate.privacy._mass_deletion import (
    DEFAULT_THRESHOLD,
    check_mass_deletion,
    customer_base,
    mass_deletion_limit,
)
from airflow_provider_monetate.monetate.privacy._register import ErasureRegister, checked_time
from airflow_provider_monetate.monetate.privacy._requests import ErasureRequest, regime_of

__all__ = ["ERASURE_REQUEST_FIELDS", "ErasureRequestMixin"]

#: The mixin's template fields; each operator adds them to its own.
ERASURE_REQUEST_FIELDS = ("request_id", "received_at", "regime", "request_manner", "last_load_customers")


class ErasureRequestMixin:
    """The erasure request a task serves, and the guard against mass deletion.

    :param request_id: the erasure request (your ticket number, say). With it, the request is
        opened in the register beside the ledger (or found there: every task of one request passes
        the same ``received_at`` and ``regime``), the system is recorded as asked, and each ledger
        record carries the id. Without it, nothing is registered.
    :param received_at: when the request arrived (datetime or ISO text; naive = UTC): its legal
        deadline runs from it. Required with ``request_id`` (a task's own time default would move
        the deadline); the submit operator takes its ``delete_request_time`` when given.
    :param regime: ``"gdpr"`` (one month, default), ``"ccpa"`` (45 days) or a number of days.
    :param request_manner: how the request was made (``web form``, ``email``, ...), for the CCPA
        record keeping.
    :param confirm_mass_deletion: send even when the run names more customers than the guard
        allows (checked once every ID is read, before anything is sent).
    :param mass_deletion_threshold: the most customers one run may name unconfirmed (default 10,000).
    :param last_load_customers: how many customers the last full load sent (e.g. its task's
        ``rows_sent`` from XCom): when given, a run above 5% of it needs confirming too.
    """

    def __init__(self, *, request_id: str | None = None, received_at: Any = None, regime: Any = "gdpr",
                 request_manner: str | None = None, confirm_mass_deletion: bool = False,
                 mass_deletion_threshold: int = DEFAULT_THRESHOLD, last_load_customers: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        mass_deletion_limit(mass_deletion_threshold)  # a bad threshold fails the DAG's parse
        self.request_id = request_id
        self.received_at = received_at
        self.regime = regime
        self.request_manner = request_manner
        self.confirm_mass_deletion = confirm_mass_deletion
        self.mass_deletion_threshold = mass_deletion_threshold
        self.last_load_customers = last_load_customers

    @property
    def _request_id(self) -> str | None:
        value = str(self.request_id).strip() if self.request_id is not None else ""
        return value or None

    def open_erasure_request(self, location: Any, hash_ids: bool, context: Mapping[str, Any], *,
                             received_default: Any = None, dry_run: bool = False) -> ErasureRequest | None:
        """Open (or find) the request in the register at ``location``, before anything is sent.

        A dry run checks the arguments and writes nothing. ``None`` without a ``request_id``.

        :raises ConfigurationError: no ``received_at``, a bad regime or time, or a request already
            registered with other facts; nothing was sent.
        """
        task_id = getattr(self, "task_id", "task")
        customer_base(self.last_load_customers)  # a bad count fails before anything is sent
        if self._request_id is None:
            return None
        if location is None:
            raise ConfigurationError(f"{task_id}: request_id={self._request_id!r} needs the ledger's location "
                                     "(ledger_path=): the request register is kept beside it. Nothing was sent.")
        received = self.received_at if self.received_at not in (None, "") else received_default
        if received in (None, ""):
            raise ConfigurationError(
                f"{task_id}: request_id={self._request_id!r} needs received_at=, when the request arrived: its legal "
                "deadline runs from it. Nothing was sent."
            )
        try:
            regime_of(self.regime)
            checked_time(received, "received_at")
            if dry_run:
                return None
            ti = context["ti"]
            return ErasureRegister(location, hash_ids=hash_ids).open(
                self._request_id, received_at=received, regime=self.regime, manner=self.request_manner,
                dag_id=ti.dag_id, run_id=ti.run_id)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{task_id}: {exc} Nothing was sent.") from None

    def ask_erasure(self, request: ErasureRequest | None, location: Any, hash_ids: bool, system: str,
                    customer_ids: Iterable[str], context: Mapping[str, Any]) -> None:
        """Record in the register that ``system`` is asked about these customers (nothing without a request)."""
        if request is None:
            return
        ti = context["ti"]
        ErasureRegister(location, hash_ids=hash_ids).ask(request.request_id, system, customer_ids,
                                                         dag_id=ti.dag_id, run_id=ti.run_id)

    def guard_mass_deletion(self, count: int, what: str, dry_run: bool = False) -> None:
        """Refuse a run of ``count`` customers above the guard's limit unless confirmed (a dry run warns).

        :raises MassDeletionError: nothing was sent.
        """
        warning = check_mass_deletion(
            count, what=f"{getattr(self, 'task_id', 'task')}: {what}", threshold=self.mass_deletion_threshold,
            last_load_customers=self.last_load_customers, confirmed=self.confirm_mass_deletion, dry_run=dry_run)
        if warning:
            self.log.warning("%s", warning)  # type: ignore[attr-defined]
