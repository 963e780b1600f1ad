"""Provider metadata and the connection form, defined once.

Airflow >= 3.2 reads ``conn-fields`` and ``ui-field-behaviour`` from here without importing
the hooks; older Airflow asks the hooks, which build their answers from the same data.
No Airflow imports: ``airflow providers list`` loads this module on every CLI call.
"""

from __future__ import annotations

from airflow_provider_monetate.acquia_cdp._environments import DEFAULT_ENVIRONMENT, ENVIRONMENTS, TOKEN_LIMITS
from airflow_provider_monetate.monetate._auth import ALGORITHMS, TTL_DEFAULT, TTL_MAX, TTL_MIN

__all__ = ["ACQUIA_CDP_FIELDS", "ACQUIA_CDP_UI", "MONETATE_FIELDS", "MONETATE_UI", "form_widgets", "provider_info",
           "ui_field_behaviour"]

MONETATE_CONN_TYPE = "monetate"
ACQUIA_CDP_CONN_TYPE = "acquia_cdp"


def _text(label: str, description: str, **schema) -> dict:
    return {"label": label, "description": description, "schema": {"type": "string", **schema}}


MONETATE_FIELDS: dict[str, dict] = {
    "shortname": _text("Retailer shortname", "Account shortname in /api/data/v1/{shortname}/... (ask support)."),
    "environment": _text(
        "Data API environment", "Path segment after the shortname. Only 'production' is documented.",
        default="production",
    ),
    "algorithm": _text(
        "JWT algorithm", "Signing algorithm for the JWT.", default=ALGORITHMS[0], enum=list(ALGORITHMS)
    ),
    "token_ttl": {
        "label": "Token TTL (s)",
        "description": f"Lifetime of minted API tokens, {TTL_MIN}..{TTL_MAX} s; other values are refused.",
        "schema": {"type": "integer", "default": TTL_DEFAULT, "minimum": TTL_MIN, "maximum": TTL_MAX},
    },
    "private_key_path": _text("Private key file", "Path to the PEM private key (instead of the password)."),
    "private_key_passphrase": _text(
        "Private key passphrase", "Only for an encrypted PEM key.", format="password"
    ),
}

ACQUIA_CDP_FIELDS: dict[str, dict] = {
    "auth_host": _text("Auth host", "Token-management host, e.g. https://cs-auth.agilone.com.", format="url"),
    "tenant_id": _text("Tenant ID", "CDP tenant id supplied by Acquia."),
    "environment": _text(
        "Environment",
        "Tokens allowed per cycle: " + ", ".join(f"{env} {limit}" for env, limit in TOKEN_LIMITS.items()) + ".",
        default=DEFAULT_ENVIRONMENT, enum=list(ENVIRONMENTS),
    ),
    "scheme": _text(
        "Scheme", "Account scheme on /token and the tracker: a1user (integration user) or a1webtag (webtag "
        "service user: tracker calls carry a daily access key, no token).",
        default="a1user", enum=["a1user", "a1webtag"],
    ),
    "token": _text("Bearer token", "Static bearer token (or use a token Variable).", format="password"),
    "token_variable": _text(
        "Token Variable", "Airflow Variable that holds the current token (written by the rotation DAG)."
    ),
    "source_system_id": _text("SourceSystemID", "Default SourceSystemID put on every record."),
    "timestamp_unit": _text(
        "Timestamp unit", "Epoch unit for timestamps (the seed documents seconds).", default="s", enum=["s", "ms"]
    ),
}

MONETATE_UI = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {"host": "API base URL", "login": "API username", "password": "RSA private key (PEM)"},
    "placeholders": {
        "host": "https://api.monetate.net",
        "login": "api-123-etl",
        "password": "-----BEGIN PRIVATE KEY----- ...",
    },
}

ACQUIA_CDP_UI = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {
        "host": "API host (tracker)",
        "login": "Integration user",
        "password": "Integration user password",
    },
    "placeholders": {"host": "https://api7-green.agilone.com", "login": "integration-user"},
}

CONNECTION_TYPES = [
    {
        "connection-type": MONETATE_CONN_TYPE,
        "hook-class-name": "airflow_provider_monetate.hooks.monetate.MonetateHook",
        "hook-name": "Monetate",
        "ui-field-behaviour": MONETATE_UI,
        "conn-fields": MONETATE_FIELDS,
    },
    {
        "connection-type": ACQUIA_CDP_CONN_TYPE,
        "hook-class-name": "airflow_provider_monetate.hooks.acquia_cdp.AcquiaCdpHook",
        "hook-name": "Acquia CDP",
        "ui-field-behaviour": ACQUIA_CDP_UI,
        "conn-fields": ACQUIA_CDP_FIELDS,
    },
]


def provider_info(version: str) -> dict:
    """Return the dictionary Airflow expects from the ``apache_airflow_provider`` entry point."""
    module = "airflow_provider_monetate"
    return {
        "package-name": "airflow-provider-monetate",
        "name": "Monetate and Acquia CDP",
        "description": "Load Monetate datasets and Acquia CDP entities, erase customers, rotate CDP tokens.",
        "versions": [version],
        "integrations": [
            {"integration-name": "Monetate", "external-doc-url": "https://developer.monetate.com/"},
            {"integration-name": "Acquia CDP", "external-doc-url": "https://docs.acquia.com/customer-data-platform"},
        ],
        "hooks": [
            {"integration-name": "Monetate", "python-modules": [f"{module}.hooks.monetate"]},
            {"integration-name": "Acquia CDP", "python-modules": [f"{module}.hooks.acquia_cdp"]},
        ],
        "operators": [
            {"integration-name": "Monetate",
             "python-modules": [f"{module}.operators.monetate", f"{module}.operators.monetate_privacy"]},
            {"integration-name": "Acquia CDP",
             "python-modules": [f"{module}.operators.acquia_cdp", f"{module}.operators.acquia_cdp_tokens"]},
        ],
        "sensors": [
            {"integration-name": "Monetate", "python-modules": [f"{module}.sensors.monetate"]},
            {"integration-name": "Acquia CDP", "python-modules": [f"{module}.sensors.acquia_cdp_tokens"]},
        ],
        "triggers": [
            {"integration-name": "Monetate", "python-modules": [f"{module}.triggers.monetate"]},
        ],
        "connection-types": CONNECTION_TYPES,
    }


def ui_field_behaviour(ui: dict) -> dict:
    """Translate the kebab-case provider-info form into what ``get_ui_field_behaviour`` returns."""
    return {"hidden_fields": ui["hidden-fields"], "relabeling": ui["relabeling"], "placeholders": ui["placeholders"]}


def form_widgets(fields: dict[str, dict]) -> dict:
    """Build the Flask-AppBuilder widgets Airflow 2 shows, from the same field definitions."""
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, PasswordField, StringField

    widgets = {}
    for name, spec in fields.items():
        schema = spec["schema"]
        if schema.get("format") == "password":
            field = PasswordField(lazy_gettext(spec["label"]), widget=BS3PasswordFieldWidget())
        elif schema["type"] == "integer":
            field = IntegerField(lazy_gettext(spec["label"]), widget=BS3TextFieldWidget(),
                                 default=schema.get("default"))
        else:
            field = StringField(lazy_gettext(spec["label"]), widget=BS3TextFieldWidget(),
                                default=schema.get("default"))
        widgets[name] = field
    return widgets
