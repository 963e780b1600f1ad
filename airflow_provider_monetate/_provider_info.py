"""Provider metadata and the connection form, defined once.

Airflow >= 3.2 reads ``conn-fields`` and ``ui-field-behaviour`` from here without importing
the hooks; older Airflow asks the hooks, which build their answers from the same data.
No Airflow imports: ``airflow providers list`` loads this module on every CLI call.
"""

from __future__ import annotations

from airflow_provider_monetate.acquia_cdp._environments import DEFAULT_ENVIRONMENT, ENVIRONMENTS, TOKEN_LIMITS
from airflow_provider_monetate.monetate._auth import ALGORITHMS, TTL_DEFAULT, TTL_MAX, TTL_MIN

__all__ = ["ACQUIA_CDP_FIELDS", "ACQUIA_CDP_UI", "MONETATE_FIELDS", "MONETATE_UI", "field_type", "form_widgets",
           "is_required", "provider_info", "ui_field_behaviour"]

MONETATE_CONN_TYPE = "monetate"
ACQUIA_CDP_CONN_TYPE = "acquia_cdp"


def _field(kind: str, label: str, description: str, required: bool, schema: dict) -> dict:
    # Airflow >= 3.2 draws the form from this JSON schema and marks a field required, refusing to
    # save without it, unless its type admits "null": every field the hooks can do without does.
    return {"label": label, "description": description,
            "schema": {"type": kind if required else [kind, "null"], **schema}}


def _text(label: str, description: str, required: bool = False, **schema) -> dict:
    return _field("string", label, description, required, schema)


def field_type(field: dict) -> str:
    """The JSON type of a conn-field, without the ``"null"`` an optional field admits."""
    kind = field["schema"]["type"]
    return kind if isinstance(kind, str) else next(k for k in kind if k != "null")


def is_required(field: dict) -> bool:
    """Whether the Airflow 3 form refuses to save the connection without this field."""
    return isinstance(field["schema"]["type"], str)


MONETATE_FIELDS: dict[str, dict] = {
    "shortname": _text(
        "Retailer shortname", "Account shortname in /api/data/v1/{shortname}/... (ask support).", required=True
    ),
    "environment": _text(
        "Data API environment", "Path segment after the shortname. Only 'production' is documented.",
        default="production",
    ),
    "algorithm": _text(
        "JWT algorithm", "Signing algorithm for the JWT.", default=ALGORITHMS[0], enum=list(ALGORITHMS)
    ),
    # No default here: Airflow's form shows the default of a field whose name holds "token" as
    # "***" and, left alone, saves "***" as the value. Empty means TTL_DEFAULT to the hook.
    "token_ttl": _field(
        "integer", "Token TTL (s)", f"Lifetime of minted API tokens, {TTL_MIN}..{TTL_MAX} s (empty: "
        f"{TTL_DEFAULT}); other values are refused.", False, {"minimum": TTL_MIN, "maximum": TTL_MAX},
    ),
    "private_key_path": _text("Private key file", "Path to the PEM private key (instead of the password)."),
    "private_key_passphrase": _text(
        "Private key passphrase", "Only for an encrypted PEM key.", format="password"
    ),
}

ACQUIA_CDP_FIELDS: dict[str, dict] = {
    "auth_host": _text("Auth host", "Token-management host, e.g. https://cs-auth.agilone.com.", format="url"),
    "tenant_id": _text("Tenant ID", "CDP tenant id supplied by Acquia.", required=True),
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

# The port stays visible: Airflow 3.3.1 and 3.3.2 refuse the Test button for a connection without
# one ("Bad Request": the UI sends port 0 for none, apache/airflow#73298); 443 makes Test work.
MONETATE_UI = {
    "hidden-fields": ["schema"],
    "relabeling": {"host": "API base URL", "login": "API username", "password": "RSA private key (PEM)"},
    "placeholders": {
        "host": "https://api.monetate.net",
        "login": "api-123-etl",
        "password": "-----BEGIN PRIVATE KEY----- ...",
        "port": "443",
    },
}

ACQUIA_CDP_UI = {
    "hidden-fields": ["schema"],
    "relabeling": {
        "host": "API host (tracker)",
        "login": "Integration user",
        "password": "Integration user password",
    },
    "placeholders": {"host": "https://api7-green.agilone.com", "login": "integration-user", "port": "443"},
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
             "python-modules": [f"{module}.operators.monetate", f"{module}.operators.monetate_privacy",
                                f"{module}.operators.monetate_reverify"]},
            {"integration-name": "Acquia CDP",
             "python-modules": [f"{module}.operators.acquia_cdp", f"{module}.operators.acquia_cdp_tokens",
                                f"{module}.operators.acquia_cdp_erasure"]},
        ],
        "sensors": [
            {"integration-name": "Monetate",
             "python-modules": [f"{module}.sensors.monetate", f"{module}.sensors.erasure"]},
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
        elif field_type(spec) == "integer":
            field = IntegerField(lazy_gettext(spec["label"]), widget=BS3TextFieldWidget(),
                                 default=schema.get("default"))
        else:
            field = StringField(lazy_gettext(spec["label"]), widget=BS3TextFieldWidget(),
                                default=schema.get("default"))
        widgets[name] = field
    return widgets
