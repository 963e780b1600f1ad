"""Check a request against Monetate's published OpenAPI specs (copied into tests/fixtures).

Path, method, the ``Authorization`` scheme word and the JSON body are compared with what the
spec describes. Paths the spec does not describe (the privacy status endpoint comes from the
seed document) are reported as such so a test can decide.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import yaml

FIXTURES = Path(__file__).parent.parent / "fixtures"
AUTH_PREFIX = "/api/auth/v0"
DATA_PREFIX = re.compile(r"^/api/data/v1/[^/]+/production")

# Where the seed documents (which win over the spec) allow what the spec forbids.
SEED_OVERRIDES = {
    # seeds/monetate-consumer-data-privacy-api.txt: a customer_data_privacy schema with "fields": {}
    ("POST", "/schema/"): lambda body: body.get("type") == "customer_data_privacy" and body.get("fields") == {},
}

# Bodies the spec describes in prose and a component, but not in the operation's requestBody.
ALTERNATIVE_BODIES = {
    # "Must only supply either fields or named_identifier (but not both)"
    ("PATCH", "/schema/{schema-name}/"): "SchemaNamedIdentifierPatch",
}


@cache
def spec(name: str) -> dict:
    return yaml.safe_load((FIXTURES / name).read_text())


def _resolve(node, root):
    """Inline ``$ref``s so jsonschema can validate an OpenAPI 3.0 schema."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = root
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return _resolve(target, root)
        return {k: _resolve(v, root) for k, v in node.items() if k not in ("example", "readOnly", "xml")}
    if isinstance(node, list):
        return [_resolve(v, root) for v in node]
    return node


def _template(path: str, paths: dict) -> str | None:
    for template in paths:
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template).replace("example_schema", "[^/]+")
        if re.fullmatch(pattern, path):
            return template
    return None


class NotInSpec(Exception):
    """The spec does not describe this path."""


def check_request(method: str, url: str, headers: dict, body: bytes | str | None) -> str:
    """Raise ``AssertionError`` when the request disagrees with the spec; return the template."""
    path = urlsplit(url).path
    if path.startswith(AUTH_PREFIX):
        doc, rel, scheme = spec("auth-api.yml"), path[len(AUTH_PREFIX):], "JWT"
    elif DATA_PREFIX.match(path):
        doc, rel, scheme = spec("data-api.yml"), DATA_PREFIX.sub("", path), "Token"
    else:
        raise NotInSpec(path)
    template = _template(rel, doc["paths"])
    if template is None:
        raise NotInSpec(rel)
    operation = doc["paths"][template].get(method.lower())
    assert operation is not None, f"{method} {template} is not in the spec"
    auth = headers.get("Authorization", "")
    assert auth.startswith(scheme + " "), f"{method} {rel}: Authorization scheme must be {scheme!r}"
    if body:
        payload = json.loads(body)
        override = SEED_OVERRIDES.get((method, template))
        if override and override(payload):
            return template
        schema = _resolve(operation["requestBody"]["content"]["application/json"]["schema"], doc)
        if "example_schema" in template:
            # The spec's rows are those of its example dataset; real rows follow the dataset's own
            # fields (checked by the emulator), so only the envelope is checked here.
            schema["allOf"][0]["properties"]["schema_rows"]["items"] = {"type": "object"}
        alternative = ALTERNATIVE_BODIES.get((method, template))
        if alternative and not (set(payload) & set(schema.get("properties", {}))):
            schema = _resolve(doc["components"]["schemas"][alternative], doc)
        try:
            jsonschema.validate(payload, schema)
        except jsonschema.ValidationError as exc:
            raise AssertionError(f"{method} {template}: {exc.message}") from None
    else:
        assert "requestBody" not in operation or not operation["requestBody"].get("required"), rel
    return template
