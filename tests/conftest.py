"""Shared test setup: an isolated AIRFLOW_HOME, RSA keys, and connection helpers."""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from pathlib import Path

# Airflow reads its home at import time: isolate it before anything imports airflow.
_HOME = Path(os.environ.get("MONETATE_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="monetate-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).parent.parent / "example_dags"))

import pytest  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from airflow_provider_monetate.monetate import _auth as monetate_auth  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
pytest_plugins = ["tests.support.cdp_token_mock"]


class KeyPair:
    """An RSA key pair in every PEM form the hook must accept."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pkcs8 = self._private(serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        self.pkcs1 = self._private(serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
        self.encrypted = self._private(
            serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"s3cret-passphrase")
        )
        self.public_pem = (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def _private(self, fmt, encryption) -> str:
        return self.key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()


@pytest.fixture(scope="session")
def keypair() -> KeyPair:
    return KeyPair()


# Where each Airflow keeps its secrets masker: 3.1+, 3.0, 2.11.
_MASKER_MODULES = ("airflow.sdk._shared.secrets_masker", "airflow.sdk.execution_time.secrets_masker",
                   "airflow.utils.log.secrets_masker")


def _forget_masked_secrets() -> None:
    """Empty Airflow's secrets masker. A task process starts with a fresh one; in one test
    session thousands of tokens pile up, and every new one recompiles a regex of all of them,
    which made late tests many times slower than the same tests alone."""
    for module in _MASKER_MODULES:
        try:
            masker = importlib.import_module(module)._secrets_masker()
            break
        except ImportError:
            continue
    else:
        raise RuntimeError(f"none of {_MASKER_MODULES} is in this Airflow; add where it keeps the masker")
    masker.patterns = set()
    masker.replacer = None


@pytest.fixture(autouse=True)
def _fresh_secrets_masker():
    _forget_masked_secrets()
    yield


@pytest.fixture(autouse=True)
def _variables_outside_tasks(monkeypatch):
    """Airflow 3.0 asks the task supervisor for a Variable no secrets backend holds, and there is
    none outside a task (3.1+ read the metadata DB there). Answer as a supervisor would: not found."""
    try:
        from airflow.sdk.execution_time import context, task_runner
    except ImportError:  # Airflow 2.11
        yield
        return
    if not hasattr(task_runner, "SUPERVISOR_COMMS"):
        from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
        from airflow.sdk.execution_time.comms import ErrorResponse

        original = context._get_variable

        def get_variable(key, deserialize_json):
            try:
                return original(key, deserialize_json)
            except ImportError:  # the supervisor's channel
                raise AirflowRuntimeError(ErrorResponse(error=ErrorType.VARIABLE_NOT_FOUND)) from None

        monkeypatch.setattr(context, "_get_variable", get_variable)
    yield


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    """Tokens are cached per process; each test starts without one."""
    monetate_auth.TOKEN_CACHE.clear()
    yield
    monetate_auth.TOKEN_CACHE.clear()


def set_connection(monkeypatch, conn_id: str, **fields) -> None:
    """Define an Airflow connection through its ``AIRFLOW_CONN_*`` environment variable."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))
