"""ErasureDeadlineSensor: one check per run, or a wait until closed; an injected clock (no Airflow runner)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_monetate.exceptions import ConfigurationError, ErasureOverdueError
from airflow_provider_monetate.monetate.privacy._ledger import DeletionLedger, LedgerEntry
from airflow_provider_monetate.monetate.privacy._register import ErasureRegister
from airflow_provider_monetate.sensors.erasure import ErasureDeadlineSensor


@pytest.fixture
def ledger(tmp_path):
    register = ErasureRegister(tmp_path)
    register.open("R-1", received_at="2025-01-01", regime=30)  # due 31 January
    register.ask("R-1", "monetate", ["C1"])
    register.open("R-2", received_at="2025-01-01", regime="ccpa")  # due 15 February
    register.ask("R-2", "monetate", ["C2"])
    return tmp_path


def guard(ledger, now, **kwargs):
    return ErasureDeadlineSensor(task_id="deadlines", ledger=str(ledger), now=lambda: now, **kwargs)


def test_a_check_succeeds_while_nothing_is_overdue(ledger):
    sensor = guard(ledger, datetime(2025, 1, 20, tzinfo=timezone.utc))
    assert sensor.poke({}) is True
    assert sensor._summary["warned"] == {"50%": ["R-1"], "80%": []}  # 19 of 30 days; R-2: 19 of 45
    assert sensor._summary["open"] == ["R-1", "R-2"]


def test_an_overdue_request_fails_the_check_naming_it(ledger):
    with pytest.raises(ErasureOverdueError, match=r"R-1 \(30, received 2025-01-01, due 2025-01-31"):
        guard(ledger, datetime(2025, 2, 1, tzinfo=timezone.utc)).poke({})


def test_waiting_until_closed_and_watching_some_requests(ledger):
    sensor = guard(ledger, datetime(2025, 1, 2, tzinfo=timezone.utc), request_ids=["R-2"], wait_until_closed=True)
    assert sensor.poke({}) is False
    DeletionLedger(ledger).append([LedgerEntry("C2", "monetate", "confirmed", None, "2025-01-02T00:00:00Z",
                                               "2025-01-02T00:00:00Z", request_id="R-2")])
    assert sensor.poke({}) is True


def test_the_clock_must_be_aware_and_the_thresholds_shares(ledger):
    with pytest.raises(ConfigurationError, match="aware"):
        guard(ledger, datetime(2025, 1, 2)).poke({})
    with pytest.raises(ConfigurationError, match="between 0 and 1"):
        guard(ledger, datetime(2025, 1, 2, tzinfo=timezone.utc), warn_at=(50,))
