"""Data fields: an XCom or a top-level template is resolved, nothing inside the data is rendered,
and Airflow keeps only a description (rendered here by Airflow's own machinery, no DAG run)."""

from __future__ import annotations

import pytest

from airflow_provider_monetate._data_fields import describe_customer_ids, describe_data
from airflow_provider_monetate.monetate.privacy import hash_id
from airflow_provider_monetate.operators.monetate import MonetatePostRecordsOperator
from airflow_provider_monetate.sensors.monetate import MonetateDeletionSensor

ROWS = [{"id": "1", "note": "{{ conn.acquia_cdp_default.password }}"}, {"id": "2", "note": "{{SAVE10}}"}]


def render(task, **context):
    task.render_template_fields({"ds": "2026-01-01", **context})
    return task


def test_rows_are_kept_as_written_and_only_their_count_is_shown():
    task = MonetatePostRecordsOperator(task_id="load", dataset="d", records=ROWS, rejects_path="r/{{ ds }}.jsonl")
    render(task)
    assert task.data_value("records") == ROWS  # no "{{" inside a row was evaluated
    assert task.records == "2 records"
    assert task.rejects_path == "r/2026-01-01.jsonl"  # other fields are rendered as usual


def test_a_top_level_template_still_resolves():
    task = render(MonetatePostRecordsOperator(task_id="load", dataset="d", records="{{ rows }}"), rows="[1, 2]")
    assert task.data_value("records") == "[1, 2]" and task.records == "[1, 2]"  # a string: shown as given


def test_a_task_that_was_not_rendered_reads_its_argument():
    assert MonetatePostRecordsOperator(task_id="load", dataset="d", records=ROWS).data_value("records") is ROWS


def test_customer_ids_are_shown_as_a_count_and_hashed_when_the_task_hashes():
    ids = ["{{ ds }}", "C2", "C3", "C4"]
    plain = render(MonetateDeletionSensor(task_id="wait", customer_ids=ids, privacy_dataset="gdpr"))
    hashed = render(MonetateDeletionSensor(task_id="wait", customer_ids=ids, privacy_dataset="gdpr", hash_ids=True))
    assert plain.customer_ids == "4 customer IDs" and plain.data_value("customer_ids") == ids
    assert hashed.customer_ids == "4 customer IDs, first sha256: " + ", ".join(hash_id(i)[:12] + "..." for i in ids[:3])


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, None), ("s3://bucket/x.ndjson", "s3://bucket/x.ndjson"), ([{}], "1 records"),
     (iter([{}]), "records from a one-shot iterable"), ({"a": 1}, "records (dict)")],
)
def test_descriptions_never_hold_values(value, shown):
    assert describe_data(value) == shown
    assert describe_customer_ids([{"customer_id": "C1"}], hashed=True) == "1 customer IDs"


def test_cdp_entities_render_paths_but_not_records():
    from airflow_provider_monetate.operators.acquia_cdp import AcquiaCdpDeleteCustomersOperator, AcquiaCdpIngestOperator

    events = [{"SourceEventNumber": "E1", "Type": "{{ ds }}"}]
    task = render(AcquiaCdpIngestOperator(task_id="ingest", entities={"customers": "/in/{{ ds }}.ndjson",
                                                                      "events": events}))
    assert task.data_value("entities") == {"customers": "/in/2026-01-01.ndjson", "events": events}
    assert task.entities == {"customers": "/in/2026-01-01.ndjson", "events": "1 records"}
    delete = render(AcquiaCdpDeleteCustomersOperator(task_id="delete", customer_numbers=["{{ ds }}", "C2"],
                                                     custom_entities={"PetInfo": ["P1"]}))
    assert delete.data_value("customer_numbers") == ["{{ ds }}", "C2"]
    assert (delete.customer_numbers, delete.custom_entities) == ("2 customer numbers", {"PetInfo": "1 entity numbers"})
