"""AcquiaCdpEraseCustomersOperator's arguments, checked before anything is sent (no HTTP)."""

from __future__ import annotations

import pytest

from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.operators.acquia_cdp_erasure import AcquiaCdpEraseCustomersOperator


def task(**kwargs):
    kwargs.setdefault("customer_ids", ["C-1"])
    return AcquiaCdpEraseCustomersOperator(task_id="erase", **kwargs)


@pytest.mark.parametrize(("regime", "reason"), [("gdpr", "GDPR"), ("CCPA", "CCPA")])
def test_the_reason_follows_the_regime_unless_given(regime, reason):
    assert task(regime=regime).erasure_reason() == reason
    assert task(regime=30, reason=" customer request ").erasure_reason() == "customer request"


def test_the_ids_come_from_exactly_one_input():
    with pytest.raises(ConfigurationError, match="exactly one of"):
        task(records=[{"customer_id": "C-2"}]).record_source()
    with pytest.raises(ConfigurationError, match="list of IDs"):
        task(customer_ids="C-1").record_source()
    rows = [row for _, row in task(customer_ids=["C-1", "C-2"], id_field="cdp_id").record_source().iter()]
    assert rows == [{"cdp_id": "C-1"}, {"cdp_id": "C-2"}]


def test_ids_are_checked_like_every_deletion():
    normalize = task()._normalize
    assert normalize(1, {"customer_id": 12345.0}) == ({"customer_id": "12345"}, [])
    row, rejections = normalize(2, {"customer_id": "  "})
    assert row is None and rejections[0].field == "customer_id"


def test_the_rendered_ids_are_a_count():
    assert task(customer_ids=["C-1", "C-2"]).describe_data("customer_ids", ["C-1", "C-2"]) == "2 customer IDs"
