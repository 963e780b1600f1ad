"""MonetateReverifyErasuresOperator's arguments and the ledgers it refuses, before any status call."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.operators.monetate_reverify import MonetateReverifyErasuresOperator

CONTEXT = {"ti": SimpleNamespace(dag_id="audit", run_id="run-1", task_id="reverify", map_index=-1)}


def test_a_location_without_a_ledger_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="holds no ledger part"):
        MonetateReverifyErasuresOperator(task_id="reverify", privacy_dataset="gdpr",
                                         ledger=str(tmp_path)).execute(CONTEXT)


@pytest.mark.parametrize("kwargs", [{"sample": 0}, {"sample": "all"}, {"older_than_days": -1},
                                    {"max_concurrency": 0}])
def test_bad_settings_fail_the_dags_parse(kwargs):
    with pytest.raises(ConfigurationError):
        MonetateReverifyErasuresOperator(task_id="reverify", privacy_dataset="gdpr", **kwargs)


def test_the_rendered_ids_are_hashed():
    task = MonetateReverifyErasuresOperator(task_id="reverify", privacy_dataset="gdpr", customer_ids=["C42"])
    assert "C42" not in task.describe_data("customer_ids", ["C42"])
