"""The provider info Airflow reads: every module it names imports, both connection types are complete."""

from __future__ import annotations

import importlib

import pytest

from airflow_provider_monetate import get_provider_info
from airflow_provider_monetate._provider_info import field_type, is_required
from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook
from airflow_provider_monetate.hooks.monetate import MonetateHook
from tests.conftest import set_connection

INFO = get_provider_info()
MODULES = [m for kind in ("hooks", "operators", "sensors", "triggers") for entry in INFO[kind]
           for m in entry["python-modules"]]


@pytest.mark.parametrize("module", MODULES)
def test_every_listed_module_imports(module):
    importlib.import_module(module)


@pytest.mark.parametrize("conn", INFO["connection-types"], ids=lambda c: c["connection-type"])
def test_connection_types_have_labelled_fields_and_a_hook(conn):
    module, _, name = conn["hook-class-name"].rpartition(".")
    hook = getattr(importlib.import_module(module), name)
    assert hook.conn_type == conn["connection-type"]
    assert all(field["label"] and field["schema"]["type"] for field in conn["conn-fields"].values())
    assert hook.get_ui_field_behaviour()["relabeling"] == conn["ui-field-behaviour"]["relabeling"]


def test_the_airflow_3_form_requires_exactly_the_extras_the_hooks_cannot_do_without(monkeypatch, keypair):
    """Airflow >= 3.2 will not save a connection while a field whose type does not admit null is
    empty. Every field was such, so the form demanded a key file *and* a passphrase beside the key
    in the password, a token beside a token Variable: no connection could be saved."""
    required = {conn["connection-type"]: {name for name, field in conn["conn-fields"].items() if is_required(field)}
                for conn in INFO["connection-types"]}
    assert required == {"monetate": {"shortname"}, "acquia_cdp": {"tenant_id"}}
    optional = [field for conn in INFO["connection-types"] for field in conn["conn-fields"].values()
                if not is_required(field)]
    assert all(field["schema"]["type"] == [field_type(field), "null"] for field in optional)

    monetate = {"conn_type": "monetate", "host": "https://m.test", "login": "u", "password": keypair.pkcs8}
    cdp = {"conn_type": "acquia_cdp", "host": "https://c.test"}
    set_connection(monkeypatch, "m", **monetate, extra={"shortname": "shop"})
    set_connection(monkeypatch, "c", **cdp, extra={"tenant_id": "1234"})
    assert (MonetateHook("m").settings.shortname, AcquiaCdpHook("c").settings.tenant_id) == ("shop", "1234")
    set_connection(monkeypatch, "m", **monetate, extra={})
    set_connection(monkeypatch, "c", **cdp, extra={})
    with pytest.raises(ConfigurationError, match="shortname"):
        MonetateHook("m").settings  # noqa: B018
    with pytest.raises(ConfigurationError, match="tenant_id"):
        AcquiaCdpHook("c").settings  # noqa: B018


def test_both_forms_show_the_port_and_both_hooks_use_it_when_the_host_has_none(monkeypatch, keypair):
    """Airflow 3.3.1-3.3.2's Test button refuses a connection without a port (the UI sends 0 for
    none: apache/airflow#73298), so the port is not hidden; a user who fills it gets it used."""
    assert all("port" not in conn["ui-field-behaviour"]["hidden-fields"] for conn in INFO["connection-types"])
    set_connection(monkeypatch, "m", conn_type="monetate", host="https://m.test", port=443, login="u",
                   password=keypair.pkcs8, extra={"shortname": "shop"})
    set_connection(monkeypatch, "c", conn_type="acquia_cdp", host="http://127.0.0.1", port=8765,
                   extra={"tenant_id": "1234"})
    set_connection(monkeypatch, "c2", conn_type="acquia_cdp", host="http://127.0.0.1:8765", port=8765,
                   extra={"tenant_id": "1234", "auth_host": "https://auth.test"})
    assert MonetateHook("m").host == "https://m.test:443"
    assert (AcquiaCdpHook("c").settings.host, AcquiaCdpHook("c").settings.auth_host) == (
        "http://127.0.0.1:8765", "http://127.0.0.1:8765")
    assert (AcquiaCdpHook("c2").settings.host, AcquiaCdpHook("c2").settings.auth_host) == (
        "http://127.0.0.1:8765", "https://auth.test")


def _hidden_by_airflow(name: str) -> bool:
    for module in ("airflow._shared.secrets_masker", "airflow.sdk.execution_time.secrets_masker",
                   "airflow.utils.log.secrets_masker"):
        try:
            return importlib.import_module(module).should_hide_value_for_key(name)
        except ImportError:
            continue
    raise AssertionError("no secrets masker found in this Airflow")


def test_no_field_airflow_masks_by_name_offers_a_default():
    """Airflow sends the default of a field whose name looks secret ("token_ttl") to the form as
    "***"; left alone, the form saved "***" and the hook refused the connection."""
    masked = [(conn["connection-type"], name) for conn in INFO["connection-types"]
              for name, field in conn["conn-fields"].items()
              if _hidden_by_airflow(name) and "default" in field["schema"]]
    assert masked == []
    assert _hidden_by_airflow("token_ttl")  # the reason token_ttl has no default in the form
