"""Monetate schema rules and row validation (pure functions, no HTTP).

Rules come from the Data API spec (``components.schemas.Schema`` / ``Field``) and the
Consumer Data Privacy seed document, which overrides the spec's ``minProperties: 1`` for
``customer_data_privacy`` schemas (``fields: {}`` is allowed; the type supplies the columns).

Written apart from the provider's dataset and row rules, though some constants read alike:
the emulator stands for Monetate and checks the client, so it must not share the client's
reading of the documents (a mistake there would then pass its own test).
"""

from __future__ import annotations

import csv
import math
import re
from datetime import date
from typing import Any

from airflow_provider_monetate.testing.readings import Readings, declare

__all__ = [
    "CHECKERS", "DATA_TYPES", "FIELD_FLAGS", "MAX_FIELDS", "MAX_ROW_ERRORS", "MULTI_STRING_COMMAS", "NAME_MAX_LENGTH",
    "NAME_PATTERN", "PRIVACY_STATUSES", "PRIVACY_TYPE", "SCHEMA_TYPES", "TYPE_FIELDS", "MultiString", "RowValidator",
    "SchemaError", "is_iso8601", "multi_string_values", "split_multi_string", "validate_new_schema", "validate_patch",
]

# Written apart from the provider's: the emulator checks the documents, not our reading of them.
SCHEMA_TYPES = (
    "agil_one",
    "attribute",
    "behavioral_trigger",
    "custom_list",
    "customer_data_privacy",
    "email_metadata",
    "event",
    "inventory",
    "product",
    "product_recommendation",
    "purchase",
)
# Written apart from the provider's, for the same reason (the Data API spec's Field enum).
DATA_TYPES = ("STRING", "MULTI_STRING", "BOOLEAN", "DATETIME", "NUMBER", "GOOGLE_PRODUCT_CATEGORY")
FIELD_FLAGS = ("identifier", "unique_key", "event_time", "required")
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
NAME_MAX_LENGTH = 64
MAX_FIELDS = 40  # the spec's prose; the provider checks the same limit on its own
PRIVACY_TYPE = "customer_data_privacy"  # named apart from the provider's constant on purpose
PRIVACY_STATUSES = ("PENDING", "FOUND", "NOT_FOUND")

_NAME_RE = re.compile(NAME_PATTERN)
_NAMED_IDENTIFIER_RE = re.compile(r"^\w+$")


def _f(data_type: str, **flags: bool) -> dict:
    return {"data_type": data_type, **flags}


# Columns a schema type defines by itself (GET schematype/{type}/). Only the privacy type's
# columns are merged into created schemas: the seed says "the schema type does this by
# default". The product list is abridged to the spec example's required columns.
TYPE_FIELDS: dict[str, dict[str, dict]] = {
    PRIVACY_TYPE: {
        "customer_id": _f("STRING", identifier=True, required=True),
        "delete_request_time": _f("DATETIME", required=True),
    },
    "product": {
        "id": _f("STRING", identifier=True, unique_key=True, required=True),
        "title": _f("STRING", required=True),
        "description": _f("STRING", required=True),
        "link": _f("STRING", required=True),
        "image_link": _f("STRING", required=True),
        "price": _f("NUMBER", required=True),
        "product_type": _f("STRING", required=True),
    },
}


class SchemaError(Exception):
    """Invalid schema definition or patch.

    :param errors: ``[{"field": <request path>, "message": ...}, ...]``.
    """

    def __init__(self, errors: list[dict]) -> None:
        super().__init__("; ".join(e["message"] for e in errors))
        self.errors = errors


def _err(field: str, message: str) -> dict:
    return {"field": field, "message": message}


def validate_new_schema(body: Any, existing_names: set[str]) -> dict:
    """Validate a ``POST schema/`` body.

    :param body: decoded JSON body.
    :param existing_names: schema names already used in the account.
    :return: the schema to store (``name``, ``type``, ``fields``, ``named_identifier``).
    :raises SchemaError: listing every problem found.
    """
    if not isinstance(body, dict):
        raise SchemaError([_err("body", "The request body must be a JSON object.")])
    errors: list[dict] = []
    name = body.get("name")
    if not isinstance(name, str) or not name:
        errors.append(_err("name", "name is required."))
    elif len(name) > NAME_MAX_LENGTH:
        errors.append(_err("name", f"name must be at most {NAME_MAX_LENGTH} characters."))
    elif not _NAME_RE.match(name):
        errors.append(_err("name", "name must start with a letter and contain only letters, digits and _."))
    elif name in existing_names:
        errors.append(_err("name", f"A schema named {name!r} already exists in this account."))
    schema_type = body.get("type")
    if schema_type is not None and schema_type not in SCHEMA_TYPES:
        errors.append(_err("type", f"type must be one of {', '.join(SCHEMA_TYPES)}."))
    named_identifier = body.get("named_identifier")
    if named_identifier is not None and (
        not isinstance(named_identifier, str) or not _NAMED_IDENTIFIER_RE.match(named_identifier)
    ):
        errors.append(_err("named_identifier", "named_identifier must match ^\\w+$."))
    is_privacy = schema_type == PRIVACY_TYPE
    fields = body.get("fields", {} if is_privacy else None)
    if not isinstance(fields, dict):
        errors.append(_err("fields", "fields is required and must be an object."))
        raise SchemaError(errors)
    if not fields and not is_privacy:
        errors.append(_err("fields", "fields must define at least one field."))
    errors.extend(_field_definition_errors(fields))
    merged: dict = {}
    if not errors:
        merged = {**fields, **TYPE_FIELDS[PRIVACY_TYPE]} if is_privacy else dict(fields)
        errors.extend(_combination_errors(merged, schema_type))
    if errors:
        raise SchemaError(errors)
    schema = {"name": name, "fields": merged}
    if schema_type is not None:
        schema["type"] = schema_type
    if named_identifier is not None:
        schema["named_identifier"] = named_identifier
    return schema


def validate_patch(schema: dict, body: Any) -> tuple[str, Any]:
    """Validate a ``PATCH schema/{name}/`` body: new fields OR a named_identifier.

    :param schema: the stored schema.
    :param body: decoded JSON body.
    :return: ``("fields", merged_fields)`` or ``("named_identifier", value)``.
    :raises SchemaError: on any problem.
    """
    if not isinstance(body, dict):
        raise SchemaError([_err("body", "The request body must be a JSON object.")])
    has_fields, has_named = "fields" in body, "named_identifier" in body
    if has_fields == has_named:
        raise SchemaError([_err("body", "Supply either fields or named_identifier, not both (nor neither).")])
    if has_named:
        value = body["named_identifier"]
        if not isinstance(value, str) or not _NAMED_IDENTIFIER_RE.match(value):
            raise SchemaError([_err("named_identifier", "named_identifier must match ^\\w+$.")])
        return "named_identifier", value
    fields = body["fields"]
    if not isinstance(fields, dict) or not fields:
        raise SchemaError([_err("fields", "fields must be an object with at least one new field.")])
    errors = [
        _err(f"fields.{name}", f"Field {name!r} already exists; fields can only be added.")
        for name in fields
        if name in schema["fields"]
    ]
    errors.extend(_field_definition_errors(fields))
    merged = {**schema["fields"], **fields}
    if not errors:
        errors.extend(_combination_errors(merged, schema.get("type")))
    if errors:
        raise SchemaError(errors)
    return "fields", merged


def _field_definition_errors(fields: dict) -> list[dict]:
    errors = []
    for name, definition in fields.items():
        path = f"fields.{name}"
        if not name:
            errors.append(_err("fields", "Field names must be non-empty."))
            continue
        if not isinstance(definition, dict):
            errors.append(_err(path, "A field definition must be an object."))
            continue
        if definition.get("data_type") not in DATA_TYPES:
            errors.append(_err(f"{path}.data_type", f"data_type must be one of {', '.join(DATA_TYPES)}."))
        for attr, value in definition.items():
            if attr == "data_type":
                continue
            if attr not in FIELD_FLAGS:
                errors.append(_err(f"{path}.{attr}", f"Unknown field attribute {attr!r}."))
            elif not isinstance(value, bool):
                errors.append(_err(f"{path}.{attr}", f"{attr} must be true or false."))
    return errors


def _combination_errors(fields: dict, schema_type: str | None) -> list[dict]:
    errors = []
    if len(fields) > MAX_FIELDS:
        errors.append(_err("fields", f"A schema can have at most {MAX_FIELDS} fields ({len(fields)} given)."))
    identifiers = [n for n, d in fields.items() if d.get("identifier")]
    unique_keys = [n for n, d in fields.items() if d.get("unique_key")]
    event_times = [n for n, d in fields.items() if d.get("event_time")]
    if len(identifiers) != 1:
        errors.append(_err("fields", f"Exactly one field must be the identifier ({len(identifiers)} given)."))
    if len(unique_keys) > 1:
        errors.append(_err("fields", "At most one field may be the unique_key."))
    for flag, names, data_type in (
        ("identifier", identifiers, "STRING"),
        ("unique_key", unique_keys, "STRING"),
        ("event_time", event_times, "DATETIME"),
    ):
        errors.extend(
            _err(f"fields.{n}.data_type", f"The {flag} field must have data_type {data_type}.")
            for n in names
            if fields[n]["data_type"] != data_type
        )
    if schema_type == "event" and len(event_times) != 1:
        errors.append(_err("fields", "An event schema needs exactly one event_time field."))
    elif len(event_times) > 1:
        errors.append(_err("fields", "At most one field may be the event_time."))
    return errors


# --- row validation: the POST data/ hot path -------------------------------------------

# The time part's ranges are in the pattern; the calendar date is checked by date.fromisoformat
# (C code): this runs for every DATETIME value of every posted row.
_ISO_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)


def is_iso8601(value: Any) -> bool:
    """True for an ISO-8601 date or date-time string with valid calendar values."""
    if type(value) is not str:
        return False
    match = _ISO_RE.fullmatch(value)
    if match is None:
        return False
    try:
        date.fromisoformat(match.group(1))
    except ValueError:
        return False
    return True


def _check_string(value: Any) -> str | None:
    if type(value) is not str:
        return "must be a string."
    if not value:
        return "must not be empty."
    if value[0].isspace() or value[-1].isspace():
        return "must not have leading or trailing whitespace."
    return None


def _check_number(value: Any) -> str | None:
    kind = type(value)
    if kind is int or (kind is float and math.isfinite(value)):
        return None
    return "must be a number."


def _check_datetime(value: Any) -> str | None:
    return None if is_iso8601(value) else "must be an ISO-8601 date-time string."


def _check_boolean(value: Any) -> str | None:
    return None if type(value) is bool else "must be true or false."


def _check_category(value: Any) -> str | None:
    # A Google product category is either its numeric ID or its "A > B > C" path.
    return None if type(value) is int else _check_string(value)


# MULTI_STRING follows the spec: "As STRING, but allows multiple values separated by commas"
# (how the server splits one is an open point: MULTI_STRING_COMMAS).
CHECKERS = {
    "STRING": _check_string,
    "MULTI_STRING": _check_string,
    "NUMBER": _check_number,
    "DATETIME": _check_datetime,
    "BOOLEAN": _check_boolean,
    "GOOGLE_PRODUCT_CATEGORY": _check_category,
}
MAX_ROW_ERRORS = 500

MULTI_STRING_COMMAS = declare(
    "monetate.multi_string_commas",
    ("quoted", "backslash", "every_comma"),
    "The Data API spec: MULTI_STRING is a 'comma-separated string ... See Product Catalog Specification: Comma "
    "Escaping regarding the necessary escaping rules'; that page is not among the documents, and the catalog quotes "
    "a value holding commas. 'quoted': CSV-style, a value in double quotes keeps its commas, \"\" is a quote; "
    "'backslash': a comma after a backslash belongs to the value; 'every_comma': every comma separates. Stored "
    "values: multi_string_values(). The provider is configurable: by default it rejects (naming row and field) any "
    "item a reading would split or join (a comma, a leading quote, a trailing backslash); "
    "multi_string_commas='quote' or 'backslash' sends that reading's encoding.",
)
_ESCAPED_COMMA, _SEPARATOR = "\\,", re.compile(r"(?<!\\),")
# The characters (and the empty text) on which the readings can split a MULTI_STRING differently.
_READING_MATTERS = re.compile(r'\A\Z|["\\\r\n]')


class MultiString(str):
    """A stored MULTI_STRING: the text as posted, which the record GET answers (the spec's examples
    show a string), and :attr:`values`, what the server split it into under the reading in force."""

    def __new__(cls, text: str, values: list[str]) -> MultiString:
        stored = super().__new__(cls, text)
        stored.values = tuple(values)
        return stored


def multi_string_values(value: str) -> tuple[str, ...]:
    """The values the server split a stored MULTI_STRING into (under the reading in force when stored)."""
    return value.values if isinstance(value, MultiString) else tuple(value.split(","))


def split_multi_string(value: str, reading: str) -> list[str]:
    """The values a MULTI_STRING holds under a reading of :data:`MULTI_STRING_COMMAS`."""
    if reading == "quoted":
        try:
            return next(csv.reader([value]))
        except csv.Error:  # no quoting rule can read it: every comma separates
            return value.split(",")
    if reading == "backslash":
        return [part.replace(_ESCAPED_COMMA, ",") for part in _SEPARATOR.split(value)]
    return value.split(",")


class RowValidator:
    """Validates ``schema_rows`` against one schema's fields (compiled once per schema).

    :param fields: the schema's field definitions.
    """

    def __init__(self, fields: dict[str, dict]) -> None:
        self.checks = {name: CHECKERS[d["data_type"]] for name, d in fields.items()}
        self.multi_strings = tuple(name for name, d in fields.items() if d["data_type"] == "MULTI_STRING")
        self.identifier = next((n for n, d in fields.items() if d.get("identifier")), None)
        self.unique_key = next((n for n, d in fields.items() if d.get("unique_key")), None)
        self.required = tuple(
            n for n, d in fields.items() if d.get("identifier") or d.get("unique_key") or d.get("required")
        )

    def errors(self, rows: list) -> list[dict]:
        """Every problem, as ``{"row": i, "field": name, "message": ...}`` (capped).

        :param rows: the ``schema_rows`` list.
        """
        errors: list[dict] = []
        checks, required = self.checks, self.required
        for index, row in enumerate(rows):
            if type(row) is not dict:
                errors.append({"row": index, "field": None, "message": "Each row must be a JSON object."})
                continue
            for name in required:
                if row.get(name) is None:
                    errors.append({"row": index, "field": name, "message": f"{name} is required."})
            for name, value in row.items():
                check = checks.get(name)
                if check is None:
                    errors.append({"row": index, "field": name, "message": f"Unknown field {name!r}."})
                elif value is not None:
                    problem = check(value)
                    if problem is not None:
                        errors.append({"row": index, "field": name, "message": f"{name} {problem}"})
            if len(errors) >= MAX_ROW_ERRORS:
                break
        return errors[:MAX_ROW_ERRORS]

    def stored(self, rows: list[dict], readings: Readings) -> list[dict]:
        """Valid rows as the server keeps them: a MULTI_STRING that the :data:`MULTI_STRING_COMMAS`
        readings would split differently becomes a :class:`MultiString`, split the way the reading in
        force says; any other stays the posted text, which every reading splits at each comma
        (:func:`multi_string_values` reads both). A MultiString for every value cut the emulator's
        ceiling (bench/bench_emulator.py) from about 200,000 to 80,000-100,000 rows/s."""
        if not self.multi_strings:
            return rows
        reading, matters = readings.get(MULTI_STRING_COMMAS.name), _READING_MATTERS.search
        kept = []
        for row in rows:
            split = {name: MultiString(row[name], split_multi_string(row[name], reading))
                     for name in self.multi_strings if row.get(name) is not None and matters(row[name])}
            kept.append({**row, **split} if split else row)
        return kept
