"""The privacy example DAG through real Airflow: submit, defer to the trigger, report, against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_monetate.monetate.privacy._ledger import DeletionLedger

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

EXAMPLES = Path(__file__).parent.parent.parent / "example_dags"
ERASED = ["C1001", "C1002", "C1003"]  # the DAG's default param


def test_example_dag_erases_waits_in_the_triggerer_and_proves_it(emulator, airflow_runner):
    env = {**emulator.conn_env(), "MONETATE_EMULATOR_URL": emulator.url}
    result = airflow_runner.dags_test("example_monetate_privacy", env, dags_folder=EXAMPLES)
    assert result.succeeded, result.output[-3000:]

    assert "[DAG TEST] running trigger in line" in result.output  # the sensor deferred; the trigger ran
    assert "Monetate confirmed 3 of 3 customer ID(s) gone" in result.output
    assert {emulator.privacy_status("testshop", cid) for cid in ERASED} == {"NOT_FOUND"}

    xcoms = [json.loads(value) for value in result.xcom_values() if value.startswith("{")]
    (receipt,) = [x for x in xcoms if "ids_path" in x]
    (report,) = [x for x in xcoms if "report_path" in x]
    (audit,) = [x for x in xcoms if "customers" in x and "report_path" not in x]
    assert receipt["count"] == 3 and receipt["dataset"] == "gdpr_deletions" and len(receipt["ids_sha256"]) == 64
    assert report["total"] == report["confirmed"] == 3
    # Retention: the raw IDs file is gone once the ledger proves every deletion; the report stays, private.
    assert not Path(receipt["ids_path"]).exists()
    assert Path(report["report_path"]).stat().st_mode & 0o777 == 0o600
    assert not list(Path(receipt["work_dir"]).glob("*.state.json"))
    assert set(audit["customers"]) == set(ERASED) and all(v["gone"] for v in audit["customers"].values())

    ledger = DeletionLedger(receipt["ledger"])
    for cid in ERASED:
        statuses = [r["status"] for r in ledger.records(cid) if r["dag_id"] == "example_monetate_privacy"]
        assert statuses == ["submitted", "confirmed"]
        assert ledger.confirmed_at(cid) == report["customers"][cid]

    tokens = set(emulator.monetate.auth.tokens)
    assert tokens  # the submit task and the trigger minted tokens...
    for where, text in {"output": result.output, "logs": result.task_logs(),
                        "xcom": "\n".join(result.xcom_values())}.items():
        assert not any(token in text for token in tokens), f"a Monetate token leaked into the {where}"
