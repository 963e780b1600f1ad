"""Acquia CDP environments and how many bearer tokens each allows per cycle (the seed: CS 5, UAT 3, PROD 3).

The one place these limits live: the hook validates the connection's ``environment`` extra
here, the token rotation counts against :func:`token_limit`, and the connection form shows
them. No Airflow imports.
"""

from __future__ import annotations

from airflow_provider_monetate.exceptions import ConfigurationError

__all__ = ["DEFAULT_ENVIRONMENT", "ENVIRONMENTS", "TOKEN_LIMITS", "environment_name", "token_limit"]

TOKEN_LIMITS = {"CS": 5, "UAT": 3, "PROD": 3}
ENVIRONMENTS = tuple(TOKEN_LIMITS)
DEFAULT_ENVIRONMENT = "PROD"


def environment_name(value: object) -> str:
    """The environment named by a connection extra or argument, upper-cased (default ``PROD``).

    :raises ConfigurationError: any other environment.
    """
    name = str(value or DEFAULT_ENVIRONMENT).strip().upper()
    if name not in TOKEN_LIMITS:
        raise ConfigurationError(
            f"Unknown Acquia CDP environment {value!r}; expected one of {', '.join(ENVIRONMENTS)}."
        )
    return name


def token_limit(environment: str) -> int:
    """The number of tokens an environment allows per cycle.

    :param environment: ``CS``, ``UAT`` or ``PROD`` (any case).
    :raises ConfigurationError: for any other environment.
    """
    return TOKEN_LIMITS[environment_name(environment)]
