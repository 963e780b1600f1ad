"""The provider info Airflow reads: every module it names imports, both connection types are complete."""

from __future__ import annotations

import importlib

import pytest

from airflow_provider_monetate import get_provider_info

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
