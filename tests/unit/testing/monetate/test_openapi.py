"""The emulator's Monetate rules and responses agree with Monetate's published OpenAPI specs.

Where the spec contradicts itself or the seed documents, the test says which side the
emulator takes (seed documents win; prose wins over the auth spec's ``minimum: 600``).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from airflow_provider_monetate.testing.monetate import schema as monetate_schema
from airflow_provider_monetate.testing.monetate.auth import ALGORITHMS

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"  # tests/fixtures
EXAMPLE_FIELDS = {
    "example_field1": {"data_type": "STRING", "identifier": True},
    "example_field2": {"data_type": "DATETIME"},
    "example_field3": {"data_type": "BOOLEAN"},
    "example_field4": {"data_type": "NUMBER"},
    "example_field5": {"data_type": "MULTI_STRING"},
}


class _JsonLoader(yaml.SafeLoader):
    """Keeps ISO timestamps as strings, as they are on the wire."""


_JsonLoader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@pytest.fixture(scope="module")
def data_spec() -> dict:
    return yaml.load((FIXTURES / "data-api.yml").read_text(), Loader=_JsonLoader)


@pytest.fixture(scope="module")
def auth_spec() -> dict:
    return yaml.load((FIXTURES / "auth-api.yml").read_text(), Loader=_JsonLoader)


def _inline(node, spec: dict):
    """Resolve local ``$ref``s (the specs have no recursive references)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return _inline(target, spec)
        return {k: _inline(v, spec) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, spec) for v in node]
    return node


def _validate(instance, spec: dict, component: str, overrides: dict | None = None) -> None:
    schema = _inline(copy.deepcopy(spec["components"]["schemas"][component]), spec)
    for path, value in (overrides or {}).items():
        target = schema
        *parents, last = path.split(".")
        for part in parents:
            target = target[part]
        target[last] = value
    jsonschema.Draft4Validator(schema).validate(instance)


def test_spec_example_schema_is_accepted(api, data_spec):
    example = data_spec["components"]["schemas"]["Schema"]["example"]
    response = api.post("schema/", example)
    assert response.status_code == 201, response.text
    _validate(response.json(), data_spec, "SchemaResponse")
    assert response.json()["data"]["fields"] == example["fields"]


def test_data_type_enum_matches(api, data_spec):
    enum = data_spec["components"]["schemas"]["Field"]["properties"]["data_type"]["enum"]
    assert set(enum) == set(monetate_schema.DATA_TYPES)
    fields = {"id": {"data_type": "STRING", "identifier": True}}
    fields.update({f"f_{t.lower()}": {"data_type": t} for t in enum})
    assert api.post("schema/", {"name": "all_types", "type": "attribute", "fields": fields}).status_code == 201
    bad = {**fields, "f_other": {"data_type": "INTEGER"}}
    assert api.post("schema/", {"name": "bad_types", "type": "attribute", "fields": bad}).status_code == 400


def test_schema_type_enum_matches(api, data_spec):
    enum = data_spec["components"]["schemas"]["Schema"]["properties"]["type"]["enum"]
    assert set(enum) == set(monetate_schema.SCHEMA_TYPES)
    listed = api.get("schematype/").json()
    _validate(listed, data_spec, "SchemaTypeListResponse")
    assert {t["name"] for t in listed["data"]} == set(enum)
    _validate(api.get("schematype/customer_data_privacy/").json(), data_spec, "SchemaTypeResponse")


def test_name_rules_match(api, data_spec):
    name_schema = data_spec["components"]["schemas"]["Schema"]["properties"]["name"]
    assert name_schema["pattern"] == monetate_schema.NAME_PATTERN
    assert name_schema["maxLength"] == monetate_schema.NAME_MAX_LENGTH
    for name in ["ok_name", "A1", "x" * 64, "x" * 65, "9lives", "with-hyphen", "sp ace", "_x"]:
        spec_ok = bool(re.match(name_schema["pattern"], name)) and len(name) <= name_schema["maxLength"]
        body = {"name": name, "type": "attribute", "fields": {"id": {"data_type": "STRING", "identifier": True}}}
        assert (api.post("schema/", body).status_code == 201) == spec_ok, name


def test_field_limit_matches_spec_prose(data_spec):
    prose = data_spec["paths"]["/schema/"]["post"]["description"]
    assert f"up to {monetate_schema.MAX_FIELDS} fields" in prose


def test_privacy_statuses_match(data_spec):
    model = data_spec["components"]["schemas"]["CustomerDataPrivacy"]
    listed = re.findall(r"[A-Z_]{4,}", model["properties"]["status"]["description"])
    assert set(listed) == set(monetate_schema.PRIVACY_STATUSES)
    assert model["example"]["status"] in monetate_schema.PRIVACY_STATUSES


def test_privacy_response_validates(api, data_spec):
    api.create_schema("gdpr", {}, "customer_data_privacy")
    body = api.get("customer-data-privacy/gdpr/", params={"id": "C1"}).json()
    # The spec declares status as integer but its own example (and the seed) use strings.
    _validate(body, data_spec, "CustomerDataPrivacyListResponse", {"properties.data.properties.status.type": "string"})


def test_schema_get_list_patch_and_upload_responses_validate(api, data_spec):
    example = data_spec["components"]["schemas"]["Schema"]["example"]
    api.post("schema/", example)
    _validate(api.get(f"schema/{example['name']}/").json(), data_spec, "SchemaResponse")
    listed = api.get("schema/", params={"row_count": "true", "latest_upload": "true"}).json()
    _validate(listed, data_spec, "SchemaListResponse")
    patched = api.patch(f"schema/{example['name']}/", {"fields": {"new_field": {"data_type": "STRING"}}}).json()
    _validate(patched, data_spec, "SchemaPatchResponse")
    row = {"purchase_id": "p1", "customer_id": "c1", "purchase_time": "2016-09-30T12:10:45.000145Z"}
    assert api.post_rows(example["name"], [row]).status_code == 201
    _validate(api.get(f"upload/{example['name']}/").json(), data_spec, "FileUploadListResponse")


def test_spec_example_rows_are_accepted_and_response_validates(emulator, api, data_spec):
    api.create_schema("example_schema", EXAMPLE_FIELDS)
    request_example = data_spec["components"]["schemas"]["example_schemaData"]["example"]
    response = api.post("data/example_schema/", {**request_example, "_sent_time": "2016-09-30T12:10:45.000145Z"})
    assert response.status_code == 201, response.text
    _validate(response.json(), data_spec, "example_schemaDataResponse")
    record = api.get("data/example_schema/", params={"id": "example string"}).json()
    _validate(record, data_spec, "example_schemaDataResponse")


def test_refresh_response_validates(mint, auth_spec):
    _validate(mint().json(), auth_spec, "TokenRefreshResponse")


def test_ttl_bounds_follow_the_schema_or_the_prose_as_the_reading_says(emulator, mint, auth_spec):
    parameter = auth_spec["paths"]["/refresh/"]["get"]["parameters"][0]
    assert parameter["schema"]["maximum"] == 43200
    assert parameter["schema"]["default"] == 3600
    # The schema says minimum 600, the prose "15 minutes to 12 hours": a reading (monetate.ttl_range).
    assert parameter["schema"]["minimum"] == 600
    assert "15 minutes to 12 hours" in auth_spec["paths"]["/refresh/"]["get"]["description"]
    assert mint(ttl=600).status_code == 200
    emulator.set_reading("monetate.ttl_range", "prose")
    assert mint(ttl=600).status_code == 400
    assert mint(ttl=900).status_code == 200


def test_auth_algorithms_match_spec(auth_spec):
    listed = re.findall(r"`(RS\d{3})`", auth_spec["paths"]["/refresh/"]["get"]["description"])
    assert set(listed) == set(ALGORITHMS)
