"""Monetate dataset definitions and the Data API's enums, checked against the published spec.

The spec is the project's copy in tests/fixtures (the same file the emulator's conformance
tests read); with ../shared beside the checkout, the shared reference is compared too.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from airflow_provider_monetate.monetate import DATA_TYPES, PRIVACY_TYPE, SCHEMA_TYPES, RowRules
from airflow_provider_monetate.monetate._auth import ALGORITHMS, TTL_MAX, TTL_MIN
from airflow_provider_monetate.monetate._datasets import (
    CUSTOMER_DATASET_ADVICE,
    CUSTOMER_DATASET_TYPE,
    MAX_FIELDS,
    NAME,
    check_definition,
    customer_dataset_refusal,
    field_conflicts,
)
from tests.support.openapi_check import spec

SHARED = Path(__file__).resolve().parents[4] / "shared" / "reference" / "monetate-openapi"


def test_the_shared_reference_matches_the_project_copy_when_it_is_there():
    if not SHARED.is_dir():
        warnings.warn(f"../shared is absent ({SHARED}): only the project's copy in tests/fixtures was checked",
                      stacklevel=1)
        return
    for name in ("data-api.yml", "auth-api.yml"):
        assert (SHARED / name).read_text() == (Path(__file__).resolve().parents[2] / "fixtures" / name).read_text()


def test_data_types_are_the_specs():
    enum = spec("data-api.yml")["components"]["schemas"]["Field"]["properties"]["data_type"]["enum"]
    assert sorted(DATA_TYPES) == sorted(enum)
    RowRules({f"f_{t.lower()}": {"data_type": t} for t in enum})  # every type has a converter


def test_schema_types_are_the_specs_and_include_privacy():
    enum = spec("data-api.yml")["components"]["schemas"]["Schema"]["properties"]["type"]["enum"]
    assert sorted(SCHEMA_TYPES) == sorted(enum) and PRIVACY_TYPE in enum


def test_field_limit_and_algorithms_follow_the_specs_prose():
    data, auth = spec("data-api.yml"), spec("auth-api.yml")
    assert f"up to {MAX_FIELDS} fields" in data["paths"]["/schema/"]["post"]["description"]
    assert set(re.findall(r"`(RS\d{3})`", auth["paths"]["/refresh/"]["get"]["description"])) == set(ALGORITHMS)
    ttl = next(p for p in auth["paths"]["/refresh/"]["get"]["parameters"] if p["name"] == "ttl")
    assert ttl["schema"]["maximum"] == TTL_MAX and ttl["schema"]["minimum"] <= TTL_MIN


@pytest.mark.parametrize(
    ("name", "schema_type", "fields", "problem"),
    [
        ("1bad", "attribute", {"id": {"data_type": "STRING", "identifier": True}}, "must start with a letter"),
        ("shop", "nope", {"id": {"data_type": "STRING", "identifier": True}}, "is not one of"),
        ("shop", "attribute", {}, "at least one field"),
        ("shop", "attribute", {"id": {"data_type": "TEXT", "identifier": True}}, "data_type 'TEXT'"),
        ("shop", "attribute", {"id": {"data_type": "NUMBER", "identifier": True}}, "identifier must be STRING"),
        ("shop", "event", {"id": {"data_type": "STRING", "identifier": True}}, "exactly one event_time"),
    ],
)
def test_definitions_are_checked_naming_the_problem(name, schema_type, fields, problem):
    assert any(problem in p for p in check_definition(name, schema_type, fields))


def test_a_privacy_dataset_needs_no_fields_and_conflicts_name_the_field():
    assert check_definition("gdpr", PRIVACY_TYPE, {}) == []
    assert NAME.fullmatch("a" * 64) and not NAME.fullmatch("a" * 65)
    conflicts = field_conflicts({"id": {"data_type": "NUMBER"}}, {"id": {"data_type": "STRING", "identifier": True}})
    assert conflicts == ["id: exists as STRING (identifier), wanted NUMBER"]


# -- customer datasets: the seed advises against creating them through the API (issue 12, item 8) ------


def test_the_customer_dataset_advice_is_the_seeds_and_its_type_is_the_specs_entity():
    seed = SHARED.parent / "seeds" / "monetate-data-api.txt"  # seeds live only in the shared reference
    if seed.is_file():
        assert CUSTOMER_DATASET_ADVICE in seed.read_text()
    else:
        warnings.warn(f"../shared is absent ({seed}): the quoted advice was not compared", stacklevel=1)
    post = spec("data-api.yml")["paths"]["/schema/"]["post"]["description"]
    assert "**Entity**: Any non-time series data\n    * **type**: `attribute`" in post
    assert "customer" not in SCHEMA_TYPES and CUSTOMER_DATASET_TYPE in SCHEMA_TYPES


def test_creating_a_customer_dataset_is_refused_unless_allowed_and_says_why():
    refusal = customer_dataset_refusal("profiles", CUSTOMER_DATASET_TYPE, allowed=False)
    assert f'"{CUSTOMER_DATASET_ADVICE}"' in refusal and "allow_customer_dataset=True" in refusal
    assert "'profiles'" in refusal and "nothing was created" in refusal
    assert customer_dataset_refusal("profiles", CUSTOMER_DATASET_TYPE, allowed=True) is None
    assert all(customer_dataset_refusal("x", t, allowed=False) is None for t in SCHEMA_TYPES if t != "attribute")


def test_a_customer_type_is_not_a_schema_type_and_the_problem_names_the_one_that_is():
    (problem,) = check_definition("profiles", "customer", {"id": {"data_type": "STRING", "identifier": True}})
    assert problem.endswith("(a customer dataset is type 'attribute')")
