"""Hook calls inside real Airflow tasks leave no secret in the task output, logs or XCom."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.airflow]


def test_no_secret_in_task_output_logs_or_xcom(emulator, airflow_runner, tmp_path):
    secrets_file = tmp_path / "secrets.json"
    env = {**emulator.conn_env(token=emulator.issue_cdp_token()), "PROBE_SECRETS_FILE": str(secrets_file)}
    result = airflow_runner.dags_test("secret_probe", env)
    assert result.succeeded, result.output[-3000:]

    secrets = json.loads(secrets_file.read_text())
    assert set(secrets) == {"monetate_token", "monetate_jwt", "monetate_key", "cdp_created", "cdp_password"}
    key_body = secrets.pop("monetate_key").split("-----")[2].strip().splitlines()
    haystacks = {"task output": result.output, "log files": result.task_logs(),
                 "xcom": "\n".join(result.xcom_values())}
    assert "expected failure" in result.output  # the error paths really ran
    assert any("Authenticated as" in value for value in result.xcom_values())
    for where, text in haystacks.items():
        for name, secret in secrets.items():
            assert secret not in text, f"{name} leaked into {where}"
        assert not any(line in text for line in key_body if len(line) > 20), f"private key leaked into {where}"
