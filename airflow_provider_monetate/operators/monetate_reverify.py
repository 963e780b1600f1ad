"""MonetateReverifyErasuresOperator: ask Monetate again about customers erased long ago; flag any that came back."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_monetate._compat import BaseOperator
from airflow_provider_monetate._data_fields import DataFieldsMixin, describe_customer_ids
from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.hooks.monetate import MonetateHook
from airflow_provider_monetate.monetate.privacy._ledger import (
    MONETATE,
    REAPPEARED,
    DeletionLedger,
    LedgerEntry,
    utc_now_iso,
)
from airflow_provider_monetate.monetate.privacy._polling import ask_statuses
from airflow_provider_monetate.monetate.privacy._reverify import Candidate, choose, find_candidates
from airflow_provider_monetate.monetate.privacy._status import DeletionStatus
from airflow_provider_monetate.monetate.privacy._submission import customer_id_text
from airflow_provider_monetate.storage import as_location, default_ledger

__all__ = ["MonetateReverifyErasuresOperator"]


class MonetateReverifyErasuresOperator(DataFieldsMixin, BaseOperator):
    """Re-ask Monetate about customers whose erasure settled more than ``older_than_days`` ago.

    Monetate's documents disagree on whether an erasure stops future collection, so a customer
    confirmed gone can come back when something sends it again. This task reads the ledger for
    Monetate customers whose latest status is ``confirmed``, ``not_held`` or ``gone_unverified``
    since before ``older_than_days``, asks Monetate's Customer ID Status endpoint about all of them
    (or a ``sample``), and records ``reappeared`` in the ledger (with the request's id) for each one
    Monetate holds again (``FOUND``, or ``PENDING``: found and queued for purging again). The
    register then shows that request open again; ``exclude_erased`` keeps every such customer out
    of later loads (a reappeared record is an erased record); submit them again to erase them.

    :param privacy_dataset: the ``customer_data_privacy`` dataset to ask.
    :param ledger: the ledger (local path or object storage URI); default
        ``$AIRFLOW_HOME/monetate/deletion_ledger``.
    :param older_than_days: only customers settled at least this many days ago (default 30).
    :param sample: ``None`` (all), a number of customers, or a share in (0, 1]; drawn from the DAG
        run id, so a rerun of the same run asks the same customers.
    :param customer_ids: the raw IDs to consider: required for a ledger that hashes IDs (a hash
        cannot be asked about), optional otherwise (narrows the candidates).
    :param max_concurrency: status calls in flight.
    :param monetate_conn_id: the Monetate connection.
    :return: counts only: ``candidates``, ``checked``, ``reappeared``, ``still_gone``, ``unknown``,
        ``unanswered``, ``hashed_without_id``, and the ``ledger``.
    """

    data_fields = ("customer_ids",)
    template_fields: Sequence[str] = ("privacy_dataset", "ledger", "customer_ids", "monetate_conn_id")

    def __init__(self, *, privacy_dataset: str, ledger: Any = None, older_than_days: float = 30,
                 sample: int | float | None = None, customer_ids: Any = None, max_concurrency: int = 8,
                 monetate_conn_id: str = MonetateHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if older_than_days < 0 or max_concurrency < 1:
            raise ConfigurationError(f"{kwargs.get('task_id')}: older_than_days must be >= 0 and max_concurrency >= 1")
        choose([], sample, "")  # a bad sample fails the DAG's parse
        self.privacy_dataset = privacy_dataset
        self.ledger = ledger
        self.older_than_days = older_than_days
        self.sample = sample
        self.customer_ids = customer_ids
        self.max_concurrency = max_concurrency
        self.monetate_conn_id = monetate_conn_id

    def describe_data(self, name: str, value: Any) -> Any:
        return describe_customer_ids(value, True)

    def execute(self, context: Any) -> dict[str, Any]:
        location = as_location(self.ledger) or default_ledger()
        ledger = DeletionLedger(location)
        if not ledger.has_parts():
            raise ConfigurationError(f"{self.task_id}: {ledger.location} holds no ledger part: nothing to re-verify. "
                                     "Point ledger= at the ledger of your deletion tasks.")
        now = datetime.now(timezone.utc)
        candidates = find_candidates(ledger, older_than=timedelta(days=self.older_than_days), now=now,
                                     customer_ids=self._raw_ids())
        if candidates.hashed_without_id:
            self.log.warning("%d customer(s) are stored hashed and were not asked about: pass their raw IDs as "
                             "customer_ids= to re-verify them.", candidates.hashed_without_id)
        chosen = choose(candidates.found, self.sample, context["ti"].run_id)
        hook = MonetateHook(self.monetate_conn_id, pool_size=self.max_concurrency)
        statuses = ask_statuses([c.customer_id for c in chosen],
                                lambda cid: hook.deletion_status(self.privacy_dataset, cid)[0],
                                self.max_concurrency, self.log)
        held = {s.value for s in DeletionStatus.held_states()}
        back = [c for c in chosen if statuses.get(c.customer_id) in held]
        self._record(location, back, context)
        counts = Counter(statuses.values())
        result = {
            "candidates": len(candidates.found), "checked": len(statuses), "reappeared": len(back),
            "still_gone": counts[DeletionStatus.NOT_FOUND.value], "unknown": counts[DeletionStatus.UNKNOWN.value],
            "unanswered": len(chosen) - len(statuses), "hashed_without_id": candidates.hashed_without_id,
            "ledger": ledger.location,
        }
        if back:
            self.log.warning(
                "%d of %d re-checked customer(s) are in Monetate again after their erasure settled; recorded as "
                "'reappeared' in %s (the register shows their requests open). exclude_erased keeps them out of "
                "loads; find what sent them, and submit them for deletion again.", len(back), len(statuses),
                ledger.location)
        else:
            self.log.info("Re-verified %d customer(s) erased %g+ days ago: none is back in Monetate.", len(statuses),
                          self.older_than_days)
        return result

    def _raw_ids(self) -> list[str] | None:
        ids = self.data_value("customer_ids")
        if ids is None:
            return None
        if isinstance(ids, str | bytes | dict) or not isinstance(ids, Sequence):
            raise ConfigurationError(f"{self.task_id}: customer_ids must be a list of IDs.")
        return [text for text, _ in map(customer_id_text, ids) if text]

    def _record(self, location: Any, back: list[Candidate], context: Any) -> None:
        """One ``reappeared`` record per customer, hashed as its earlier records are."""
        ti, at = context["ti"], utc_now_iso()
        for hashed in (False, True):
            DeletionLedger(location, hash_ids=hashed).append(
                LedgerEntry(c.customer_id, MONETATE, REAPPEARED, c.delete_request_time, None, at, self.privacy_dataset,
                            ti.dag_id, ti.run_id, c.request_id)
                for c in back if c.hashed is hashed)
