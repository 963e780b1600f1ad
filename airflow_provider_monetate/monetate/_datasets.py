"""Monetate dataset (schema) definitions: checked before sending, compared with what exists.

Rules from the Data API spec; the ``customer_data_privacy`` type supplies its own two fields
(the privacy seed document), so its ``fields`` may be empty. No Airflow imports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "CUSTOMER_DATASET_ADVICE", "CUSTOMER_DATASET_TYPE", "DATA_TYPES", "PRIVACY_TYPE", "SCHEMA_TYPES",
    "check_definition", "customer_dataset_refusal", "field_conflicts",
]

#: Monetate schema types (the Data API's ``SchemaType`` enum; checked against the spec in the tests).
SCHEMA_TYPES = (
    "agil_one", "attribute", "behavioral_trigger", "custom_list", "customer_data_privacy", "email_metadata",
    "event", "inventory", "product", "product_recommendation", "purchase",
)
#: Monetate field data types (the Data API's ``DataType`` enum; checked against the spec in the tests).
DATA_TYPES = ("STRING", "MULTI_STRING", "NUMBER", "DATETIME", "BOOLEAN", "GOOGLE_PRODUCT_CATEGORY")
#: The schema type of a Consumer Data Privacy dataset: its type supplies the two fields.
PRIVACY_TYPE = "customer_data_privacy"
#: The schema type of what the Data API seed calls a "customer dataset": the spec has no type
#: ``customer``; its "Entity: any non-time series data" keyed by a customer ``identifier`` is
#: ``attribute``, the dataset Monetate's "Upload a Customer Dataset" wizard makes (one row per
#: customer, "Customer Attributes" in the platform).
CUSTOMER_DATASET_TYPE = "attribute"
#: The seed's advice (monetate-data-api, "Configuring the Schema, Identifiers, and Collectors").
CUSTOMER_DATASET_ADVICE = "Creating a customer dataset schema via the API is not recommended at this time."
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
MAX_FIELDS = 40
FLAGS = ("identifier", "unique_key", "event_time", "required")


def check_definition(name: str, schema_type: str, fields: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every problem with a dataset definition, as sentences naming the field; empty when valid."""
    problems = []
    if not isinstance(name, str) or not NAME.fullmatch(name):
        problems.append(f"name {name!r} must start with a letter, hold only letters, digits and '_', "
                        "and be at most 64 characters")
    if schema_type not in SCHEMA_TYPES:
        hint = f" (a customer dataset is type {CUSTOMER_DATASET_TYPE!r})" if schema_type == "customer" else ""
        problems.append(f"type {schema_type!r} is not one of {', '.join(SCHEMA_TYPES)}{hint}")
    if schema_type == PRIVACY_TYPE:
        return problems  # the type defines customer_id and delete_request_time; extra fields are ignored
    if not fields:
        problems.append("a dataset needs at least one field")
    if len(fields) > MAX_FIELDS:
        problems.append(f"{len(fields)} fields; a dataset holds at most {MAX_FIELDS}")
    for field_name, spec in fields.items():
        data_type = str(spec.get("data_type", "")).upper()
        if data_type not in DATA_TYPES:
            problems.append(f"field {field_name!r}: data_type {spec.get('data_type')!r} is not one of "
                            f"{', '.join(DATA_TYPES)}")
        for flag, wanted in (("identifier", "STRING"), ("unique_key", "STRING"), ("event_time", "DATETIME")):
            if spec.get(flag) and data_type != wanted:
                problems.append(f"field {field_name!r}: a {flag} must be {wanted}")
    identifiers = [f for f, spec in fields.items() if spec.get("identifier")]
    if len(identifiers) != 1:
        problems.append(f"exactly one field must be the identifier, found {len(identifiers)}")
    if sum(bool(spec.get("unique_key")) for spec in fields.values()) > 1:
        problems.append("at most one field may be the unique_key")
    if schema_type == "event" and sum(bool(spec.get("event_time")) for spec in fields.values()) != 1:
        problems.append("an event dataset needs exactly one event_time field")
    return problems


def customer_dataset_refusal(name: str, schema_type: str, allowed: bool) -> str | None:
    """Why creating dataset ``name`` through the API is refused, or ``None`` when it is not.

    Only creating: the seed goes on "You can, however, add attributes to an existing dataset
    schema through the Data API", so an existing customer dataset may gain fields.
    """
    if schema_type != CUSTOMER_DATASET_TYPE or allowed:
        return None
    return (
        f"Dataset {name!r} does not exist and would be created as a customer dataset (type "
        f"{CUSTOMER_DATASET_TYPE!r}); Monetate's Data API guide says: \"{CUSTOMER_DATASET_ADVICE}\" Create it "
        "with the platform's Upload a Customer Dataset wizard (this task then adds the missing fields), or pass "
        "allow_customer_dataset=True to create it through the API anyway; nothing was created."
    )


def _comparable(spec: Mapping[str, Any]) -> tuple:
    return (str(spec.get("data_type", "")).upper(), *(bool(spec.get(flag)) for flag in FLAGS))


def field_conflicts(wanted: Mapping[str, Mapping[str, Any]], existing: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Fields defined both ways but differently, described as ``name: existing -> wanted``."""
    return [
        f"{name}: exists as {_describe(existing[name])}, wanted {_describe(spec)}"
        for name, spec in wanted.items()
        if name in existing and _comparable(spec) != _comparable(existing[name])
    ]


def _describe(spec: Mapping[str, Any]) -> str:
    flags = [flag for flag in FLAGS if spec.get(flag)]
    return str(spec.get("data_type", "?")).upper() + (f" ({', '.join(flags)})" if flags else "")
