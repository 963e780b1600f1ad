"""Dynamic task mapping over three files in one real Airflow run."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.airflow]


def test_mapped_load_over_three_files(emulator, airflow_runner, tmp_path):
    files = []
    for part in range(3):
        path = tmp_path / f"part-{part}.ndjson"
        path.write_text("".join(
            json.dumps({"event_id": f"p{part}-{i}", "customer_id": f"C{i}", "occurred_at": "2024-05-01T00:00:00Z"})
            + "\n" for i in range(120)))
        files.append(str(path))
    env = {**emulator.conn_env(), "MAPPED_FILES": json.dumps(files)}
    result = airflow_runner.dags_test("monetate_mapped_load", env)
    assert result.succeeded, result.output[-3000:]
    stored = emulator.monetate_rows("testshop", "mapped_events")
    assert len(stored) == 360
    assert {row["event_id"].split("-")[0] for row in stored} == {"p0", "p1", "p2"}
    summaries = [json.loads(v) for v in result.xcom_values() if "rows_sent" in v]
    assert sorted(s["rows_sent"] for s in summaries) == [120, 120, 120]
