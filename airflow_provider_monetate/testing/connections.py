"""Airflow connection JSON for an emulator (the formats the provider's hooks read)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

__all__ = ["cdp_connection", "monetate_connection", "to_json"]


def monetate_connection(
    url: str,
    username: str,
    shortname: str,
    private_key_pem: str | None = None,
    private_key_path: str | None = None,
) -> dict:
    """A ``monetate`` connection: the key as ``password`` (PEM) and/or ``extra.private_key_path``."""
    conn: dict = {"conn_type": "monetate", "host": url, **_port(url), "login": username,
                  "extra": {"shortname": shortname}}
    if private_key_pem is not None:
        conn["password"] = private_key_pem
    if private_key_path is not None:
        conn["extra"]["private_key_path"] = private_key_path
    return conn


def cdp_connection(
    url: str,
    login: str,
    password: str,
    tenant_id: str,
    environment: str,
    token: str | None = None,
    source_system_id: str = "demo",
    token_variable: str | None = None,
) -> dict:
    """An ``acquia_cdp`` connection whose API host and auth host are both the emulator.

    With ``token_variable`` the hooks read the token from that Airflow Variable (written by
    the rotation DAG), and fall back to ``token`` while the Variable is empty.
    """
    extra = {"auth_host": url, "tenant_id": str(tenant_id), "environment": environment}
    if token is not None:
        extra["token"] = token
    if token_variable is not None:
        extra["token_variable"] = token_variable
    extra["source_system_id"] = source_system_id
    return {"conn_type": "acquia_cdp", "host": url, **_port(url), "login": login, "password": password, "extra": extra}


def _port(url: str) -> dict:
    # The port again in its own field: Airflow 3.3.1-3.3.2's Test button refuses a stored
    # connection without one (apache/airflow#73298); the hooks read it from the host either way.
    port = urlsplit(url).port
    return {"port": port} if port else {}


def to_json(conn: dict) -> str:
    """Serialise for an ``AIRFLOW_CONN_*`` environment variable."""
    return json.dumps(conn)
