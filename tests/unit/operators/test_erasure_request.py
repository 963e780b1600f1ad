"""What the deletion and erasure operators share: the request they serve, the mass-deletion guard."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_provider_monetate.exceptions import ConfigurationError, MassDeletionError
from airflow_provider_monetate.monetate.privacy._register import ErasureRegister
from airflow_provider_monetate.operators.monetate_privacy import MonetateSubmitDeletionsOperator

CONTEXT = {"ti": SimpleNamespace(dag_id="erase", run_id="run-1", task_id="submit", map_index=-1)}


def task(**kwargs):
    return MonetateSubmitDeletionsOperator(task_id="submit", privacy_dataset="gdpr", customer_ids=["C1"], **kwargs)


def test_no_request_id_registers_nothing(tmp_path):
    assert task().open_erasure_request(tmp_path, False, CONTEXT) is None
    assert list(tmp_path.iterdir()) == []


def test_a_request_is_opened_beside_the_ledger(tmp_path):
    request = task(request_id=" R-1 ", received_at="2025-01-01", regime="ccpa", request_manner="email") \
        .open_erasure_request(tmp_path, False, CONTEXT)
    assert (request.request_id, request.due_at, request.manner) == ("R-1", "2025-02-15T00:00:00.000000Z", "email")
    assert ErasureRegister(tmp_path).request("R-1").regime == "ccpa"


def test_a_dry_run_checks_and_writes_nothing(tmp_path):
    assert task(request_id="R-1", received_at="2025-01-01").open_erasure_request(
        tmp_path, False, CONTEXT, dry_run=True) is None
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigurationError, match="regime"):
        task(request_id="R-1", received_at="2025-01-01", regime="hipaa").open_erasure_request(
            tmp_path, False, CONTEXT, dry_run=True)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({}, "needs received_at="),
    ({"received_at": "soon"}, "received_at"),
    ({"received_at": "2025-01-01", "last_load_customers": "lots"}, "last_load_customers"),
])
def test_a_request_without_its_facts_is_refused_before_sending(tmp_path, kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        task(request_id="R-1", **kwargs).open_erasure_request(tmp_path, False, CONTEXT)
    with pytest.raises(ConfigurationError, match="ledger's location"):
        task(request_id="R-1", received_at="2025-01-01").open_erasure_request(None, False, CONTEXT)


def test_the_received_time_defaults_to_the_delete_request_time(tmp_path):
    request = task(request_id="R-1", delete_request_time="2025-01-02").open_erasure_request(
        tmp_path, False, CONTEXT, received_default="2025-01-02")
    assert request.received_at == "2025-01-02T00:00:00.000000Z"


def test_the_mass_deletion_guard_and_its_settings():
    with pytest.raises(MassDeletionError, match="submit: Monetate deletions names 11 customers, more than 10"):
        task(mass_deletion_threshold=10).guard_mass_deletion(11, "Monetate deletions")
    task(mass_deletion_threshold=10, confirm_mass_deletion=True).guard_mass_deletion(11, "Monetate deletions")
    with pytest.raises(ConfigurationError, match="mass_deletion_threshold"):
        task(mass_deletion_threshold=0)
