"""Re-verification: which erased customers to ask about again (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.monetate.privacy._ledger import DeletionLedger, LedgerEntry
from airflow_provider_monetate.monetate.privacy._reverify import choose, find_candidates

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
OLD, RECENT = "2025-04-01T00:00:00.000000Z", "2025-05-25T00:00:00.000000Z"


def settled(cid, status, at, **kwargs):
    return LedgerEntry(cid, "monetate", status, None, at, at, "gdpr", request_id="R-1", **kwargs)


@pytest.fixture
def ledger(tmp_path):
    ledger = DeletionLedger(tmp_path)
    ledger.append([
        LedgerEntry("C0", "monetate", "submitted", None, OLD),  # never settled: nothing to re-verify
        settled("C1", "confirmed", OLD), settled("C2", "not_held", OLD), settled("C3", "gone_unverified", OLD),
        settled("C4", "confirmed", RECENT),  # too recent
        settled("C5", "confirmed", OLD), settled("C5", "reappeared", RECENT),  # already flagged
        LedgerEntry("C6", "acquia_cdp", "confirmed", None, OLD, OLD),  # another system
    ])
    DeletionLedger(ledger.location, hash_ids=True).append([settled("H1", "confirmed", OLD)])
    return DeletionLedger(tmp_path)


def test_settled_customers_older_than_n_days_are_candidates(ledger):
    found = find_candidates(ledger, older_than=timedelta(days=30), now=NOW)
    assert [c.customer_id for c in found.found] == ["C1", "C2", "C3"]
    assert found.hashed_without_id == 1 and found.found[0].request_id == "R-1"
    assert [c.customer_id for c in find_candidates(ledger, older_than=timedelta(0), now=NOW).found] == [
        "C1", "C2", "C3", "C4"]


def test_hashed_customers_need_their_raw_ids(ledger):
    found = find_candidates(ledger, older_than=timedelta(days=30), now=NOW, customer_ids=["H1", "C2", "NEW"])
    assert [(c.customer_id, c.hashed) for c in found.found] == [("C2", False), ("H1", True)]
    assert found.hashed_without_id == 0


def test_a_sample_is_a_number_or_a_share_drawn_reproducibly(ledger):
    candidates = find_candidates(ledger, older_than=timedelta(days=30), now=NOW).found
    assert len(choose(candidates, None, "run")) == 3 and len(choose(candidates, 10, "run")) == 3
    assert len(choose(candidates, 2, "run")) == 2 and choose(candidates, 2, "run") == choose(candidates, 2, "run")
    assert len(choose(candidates, 0.34, "run")) == 1
    with pytest.raises(ConfigurationError, match="sample"):
        choose(candidates, -1, "run")
