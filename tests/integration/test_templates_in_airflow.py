"""In a real Airflow run, data is never rendered as Jinja and never lands in the rendered fields.

A row whose text looks like a template (a connection's password reference, a ``{{SAVE10}}``
coupon code, ``{{ ds }}``) is sent exactly as written, and the UI's Rendered Template view
(the ``rendered_task_instance_fields`` table) shows how many records a task took, not them.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from airflow_provider_monetate.monetate.privacy import hash_id
from tests.dags.template_probe import ERASE, TRAPS

pytestmark = [pytest.mark.integration, pytest.mark.airflow]


def rendered_fields(home, dag_id: str) -> dict[str, dict]:
    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute("SELECT task_id, rendered_fields FROM rendered_task_instance_fields WHERE dag_id = ?",
                          (dag_id,)).fetchall()
    return {task_id: json.loads(value) if isinstance(value, str) else value for task_id, value in rows}


def test_rows_that_look_like_templates_are_sent_as_written_and_not_shown(emulator, airflow_runner):
    result = airflow_runner.dags_test("template_probe", emulator.conn_env())
    assert result.succeeded, result.output[-3000:]

    notes = [row["note"] for row in emulator.monetate_rows("testshop", "profiles")]
    assert sorted(notes) == sorted(TRAPS * 2)  # the literal rows and the XCom rows, unrendered

    fields = rendered_fields(result.home, "template_probe")
    assert fields["load_literal"]["records"] == "4 records"
    assert fields["load_xcom"]["records"] == "4 records"
    erased = [row["customer_id"] for row in emulator.monetate_rows("testshop", "gdpr")]
    assert sorted(erased) == sorted(ERASE)  # "{{ ds }}" is an ID like any other
    assert fields["erase"]["customer_ids"].startswith("3 customer IDs, first sha256: " + hash_id(ERASE[0])[:12])
    assert "secret-erase-" not in json.dumps(fields)
    shown = json.dumps(fields) + result.task_logs() + result.output
    assert "secret-customer-" not in json.dumps(fields) and "xcom-customer-" not in json.dumps(fields)
    assert "secret-customer-" not in result.task_logs()
    assert emulator.cdp_password not in shown  # {{ conn... }} was never evaluated
