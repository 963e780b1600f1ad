"""Token stores: in memory, in an Airflow Variable (with Variable.get/set faked), and load_store."""

from __future__ import annotations

import time

import pytest

from airflow_provider_monetate import _compat as compat
from airflow_provider_monetate.acquia_cdp.tokens import EXTENDED, RotationAction, TokenState, run_rotation
from airflow_provider_monetate.acquia_cdp.tokens._store import TokenStore, VariableTokenStore, load_store
from airflow_provider_monetate.testing import InMemoryTokenStore
from tests.support.token_cdp import RUN_AT, START, FakeCdp

STATE = TokenState(token="secret-token", created_at=1.0e9, expires_at=1.1e9, tokens_created_in_cycle=2, slot=1)


@pytest.fixture
def variables(monkeypatch):
    """Airflow Variables as a dict, and the values handed to the secrets masker."""
    values: dict[str, str] = {}
    masked: list[str] = []

    class FakeVariable:
        @staticmethod
        def get(key, default):
            return values.get(key, default)

        @staticmethod
        def set(key, value):
            assert isinstance(value, str)
            values[key] = value

    monkeypatch.setattr(compat, "Variable", FakeVariable)
    monkeypatch.setattr(compat, "mask_secret", masked.append)
    return values, masked


def test_in_memory_store_round_trips_through_json():
    store = InMemoryTokenStore()
    assert store.read() is None
    store.write(STATE)
    assert store.read() == STATE
    assert InMemoryTokenStore(STATE).read() == STATE
    assert "secret-token" not in repr(store)


def test_variable_store_reads_nothing_when_unset_or_blank(variables):
    values, _ = variables
    store = VariableTokenStore("cdp_token")
    assert store.read() is None
    values["cdp_token"] = "  \n"
    assert store.read() is None


def test_variable_store_writes_json_and_masks_the_token(variables):
    values, masked = variables
    store = VariableTokenStore("cdp_token")
    store.write(STATE)
    assert TokenState.from_json(values["cdp_token"]) == STATE
    assert masked == ["secret-token"]
    assert store.read() == STATE
    assert masked == ["secret-token", "secret-token"]


@pytest.mark.parametrize("raw", ["0f6c2a1e-5b7d-4c3e-9a0b-2d4e6f8a1c3b", " 12345\n"])
def test_variable_store_adopts_a_bare_token(variables, raw):
    values, masked = variables
    values["cdp_token"] = raw
    before = time.time()
    state = VariableTokenStore("cdp_token").read()
    assert state.token == raw.strip() and state.tokens_created_in_cycle == 1
    assert before <= state.created_at == state.cycle_started_at <= time.time()
    assert masked == [raw.strip()]


@pytest.mark.usefixtures("variables")
def test_variable_store_repr_names_the_variable_only():
    store = VariableTokenStore("cdp_token")
    store.write(STATE)
    assert repr(store) == "VariableTokenStore('cdp_token')"


def test_a_rotation_run_keeps_its_state_in_the_variable(variables):
    values, masked = variables
    cdp = FakeCdp("PROD")
    cdp.now = START + RUN_AT
    decision, state = run_rotation(EXTENDED, "PROD", VariableTokenStore("cdp_token"), cdp, cdp.now)
    assert decision.action is RotationAction.RECOVER
    assert TokenState.from_json(values["cdp_token"]) == state
    assert cdp.valid(state.token) and state.token in masked


def test_load_store_resolves_names_classes_and_stores():
    assert isinstance(load_store("cdp_token"), VariableTokenStore)
    assert load_store(" cdp_token ").variable_name == "cdp_token"
    store = InMemoryTokenStore()
    assert load_store(store) is store
    loaded = load_store(
        {"class": "airflow_provider_monetate.testing.InMemoryTokenStore", "kwargs": {"state": STATE}}
    )
    assert isinstance(loaded, InMemoryTokenStore) and loaded.read() == STATE
    in_memory = "airflow_provider_monetate.testing.InMemoryTokenStore"
    assert isinstance(load_store({"class": in_memory}), TokenStore)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("  ", "name is empty"),
        ({"class": "no_such_module.Store"}, "Cannot import token store class 'no_such_module.Store'"),
        ({"class": "Store"}, "Cannot import"),
        ({"class": "airflow_provider_monetate.acquia_cdp.tokens._store.Missing"}, "Cannot import"),
        ({"class": "airflow_provider_monetate.acquia_cdp.tokens._rotation.TokenState"}, "not a TokenStore subclass"),
        ({"class": "airflow_provider_monetate.acquia_cdp.tokens._store.load_store"}, "not a TokenStore subclass"),
        ({"klass": "x.Y", "kwargs": {"password": "hunter2"}}, r"keys \['klass', 'kwargs'\]"),
        (["x"], "got list"),
    ],
)
def test_load_store_rejects_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message) as raised:
        load_store(spec)
    assert "hunter2" not in str(raised.value)
