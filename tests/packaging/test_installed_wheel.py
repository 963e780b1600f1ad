"""The package people install: the wheel built from this tree, installed (not editable) into a new
virtualenv with the pinned Airflow, imports every example DAG, registers the provider with
Airflow, and starts the emulator.

Slow (a virtualenv and a wheel build), so it runs in its own lane: ``make test-dist``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.packaging

CHECK = r"""
import json, subprocess, sys
from pathlib import Path
import airflow_provider_monetate as provider
from airflow.models import DagBag
from airflow_provider_monetate.testing import Emulator, generate_key_pair

bag = DagBag(dag_folder=sys.argv[1])
with Emulator() as emulator:
    url = emulator.url
listed = subprocess.run([str(Path(sys.executable).parent / "monetate-emulator"), "--list-readings"],
                        capture_output=True, text=True, check=True).stdout
from airflow.providers_manager import ProvidersManager
errors = {name: str(error) for name, error in bag.import_errors.items()}
print(json.dumps({"file": provider.__file__, "dags": sorted(bag.dags), "errors": errors,
                  "emulator": url, "readings": listed.count("\n"),
                  "provider": "airflow-provider-monetate" in ProvidersManager().providers}))
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The sdist and the wheel, built from this tree and passed by ``twine check --strict``."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--sdist", "--outdir", str(out), str(ROOT)],
                   check=True, capture_output=True, text=True)
    subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, out.iterdir())],
                   check=True, capture_output=True, text=True)
    return out


@pytest.fixture(scope="module")
def wheel(built) -> Path:
    [path] = built.glob("*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A new virtualenv with the pinned Airflow 3 and the wheel (no editable install, no source tree)."""
    env = tmp_path_factory.mktemp("venv") / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements" / "airflow3.txt")],
                   check=True, capture_output=True, text=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, capture_output=True,
                   text=True)
    return python


def test_the_wheel_ships_the_package_its_type_marker_and_no_tests(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "airflow_provider_monetate/py.typed" in names
    assert "airflow_provider_monetate/lineage/run_summary_facet.json" in names  # the run facet's schema
    assert "airflow_provider_monetate/testing/__main__.py" in names
    assert not [n for n in names if n.startswith(("tests/", "example_dags/", "bench/"))]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "apache_airflow_provider" in text and "pytest11" in text and "monetate-emulator" in text


def test_the_sdist_ships_docs_license_and_example_dags_but_not_the_test_suite(built):
    [sdist] = built.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"README.md", "CHANGELOG.md", "LICENSE", "pyproject.toml"} <= names
    assert {f"example_dags/{p.name}" for p in (ROOT / "example_dags").glob("example_*.py")} <= names
    assert not [name for name in names if name.startswith(("tests/", "bench/"))]


def test_the_installed_wheel_imports_every_example_dag_and_runs_the_emulator(installed, tmp_path):
    home = tmp_path / "airflow"
    env = {"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PATH": str(installed.parent)}
    done = subprocess.run([installed, "-c", CHECK, str(ROOT / "example_dags")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(result["file"]).is_relative_to(installed.parent.parent)  # the wheel, not this source tree
    assert result["errors"] == {}
    assert result["dags"] == sorted(p.stem for p in (ROOT / "example_dags").glob("example_*.py"))
    assert result["emulator"].startswith("http://127.0.0.1:") and result["readings"] > 20
    assert result["provider"]
