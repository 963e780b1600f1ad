"""The deployment lane (make test-deploy): tests against the stack scripts/deploy/up.sh started.

Every test here is marked ``deploy``; the other lanes leave this folder out. Run without a
deployment, the fixtures fail saying how to start one: nothing is skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_monetate.testing import EmulatorClient
from tests.deploy.stack import DEPLOY, ROOT, AirflowApi, Stack

HERE = Path(__file__).parent
EXAMPLE_DAGS = sorted(path.stem for path in (ROOT / "example_dags").glob("example_*.py"))
TEST_DAGS = sorted(path.stem for path in (HERE / "dags").glob("*.py"))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.deploy)


@pytest.fixture(scope="session")
def stack() -> Stack:
    assert (DEPLOY / "airflow.env").exists(), f"no deployment in {DEPLOY}: run `make test-deploy`"
    assert (DEPLOY / "dags" / "deploy_tests").exists(), "the deployment lacks the test DAGs: run `make test-deploy`"
    return Stack.load()


@pytest.fixture(scope="session")
def airflow_api(stack) -> AirflowApi:
    """The REST API, once the dag-processor has parsed every example and test DAG."""
    api = AirflowApi(stack)
    api.wait_for_dags(EXAMPLE_DAGS + TEST_DAGS)
    return api


@pytest.fixture(scope="session")
def deployed_emulator(stack) -> EmulatorClient:
    """The deployment's emulator (another process), through its admin API."""
    client = EmulatorClient(stack.emulator_url)
    client.wait_ready()
    return client
