"""Acquia CDP environments and their token limits: the seed's CS 5, UAT 3, PROD 3, in one place."""

from __future__ import annotations

import pytest

from airflow_provider_monetate._provider_info import ACQUIA_CDP_FIELDS
from airflow_provider_monetate.acquia_cdp import ENVIRONMENTS, TOKEN_LIMITS, token_limit
from airflow_provider_monetate.acquia_cdp._environments import environment_name
from airflow_provider_monetate.exceptions import ConfigurationError


def test_the_seeds_limits_and_the_default():
    assert TOKEN_LIMITS == {"CS": 5, "UAT": 3, "PROD": 3}
    assert [token_limit(env) for env in ("cs", "Uat", "PROD")] == [5, 3, 3]
    assert environment_name(None) == environment_name("") == "PROD"


def test_an_unknown_environment_names_the_choices():
    with pytest.raises(ConfigurationError, match="expected one of CS, UAT, PROD"):
        token_limit("DEV")


def test_the_connection_form_offers_exactly_these_environments():
    field = ACQUIA_CDP_FIELDS["environment"]
    assert field["schema"]["enum"] == list(ENVIRONMENTS) and "CS 5, UAT 3, PROD 3" in field["description"]
