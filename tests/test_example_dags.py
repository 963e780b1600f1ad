"""Every example DAG imports cleanly through Airflow's own DagBag (run on Airflow 3 and 2.11)."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "example_dags"
DAG_FILES = sorted(EXAMPLES.glob("example_*.py"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.models import DagBag

    return DagBag(dag_folder=str(EXAMPLES))  # examples are off: AIRFLOW__CORE__LOAD_EXAMPLES in conftest


def test_there_are_example_dags():
    assert DAG_FILES, "example_dags/ holds no example_*.py"


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.stem)
def test_each_file_defines_its_dag(dagbag, path):
    dag = dagbag.dags.get(path.stem)
    assert dag is not None, f"{path.name} must define a DAG with dag_id {path.stem!r}"
    assert "example" in dag.tags
    assert dag.catchup is False
