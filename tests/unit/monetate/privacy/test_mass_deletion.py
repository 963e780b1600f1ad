"""The guard against mass deletion: 10,000 IDs, or 5% of the last load's customers when known."""

from __future__ import annotations

import pytest

from airflow_provider_monetate.exceptions import ConfigurationError, MassDeletionError
from airflow_provider_monetate.monetate.privacy._mass_deletion import check_mass_deletion, mass_deletion_limit


def test_the_limit_is_the_threshold_or_five_percent_of_the_customer_base_whichever_is_smaller():
    assert mass_deletion_limit() == (10_000, "mass_deletion_threshold=10000")
    assert mass_deletion_limit(10_000, 50_000) == (2_500, "5% of the 50000 customers of the last load "
                                                          "(last_load_customers)")
    assert mass_deletion_limit(10_000, 1_000_000)[0] == 10_000


def test_a_run_above_the_limit_is_refused_naming_where_the_limit_comes_from():
    with pytest.raises(MassDeletionError, match=r"erase: Monetate deletion names 501 customers, more than 500 "
                                                r"\(5% of the 10000 customers.*nothing was sent.*confirm_mass"):
        check_mass_deletion(501, what="erase: Monetate deletion", last_load_customers="10000")
    assert check_mass_deletion(500, what="x", last_load_customers=10_000) is None  # 5% exactly is not more


def test_confirmation_or_a_dry_run_turns_the_refusal_into_a_warning():
    assert "going ahead" in check_mass_deletion(10_001, what="x", confirmed=True)
    assert "would be refused" in check_mass_deletion(10_001, what="x", dry_run=True)


@pytest.mark.parametrize("value", [None, "", "None"])
def test_an_unknown_customer_base_leaves_the_threshold(value):
    assert check_mass_deletion(10_000, what="x", last_load_customers=value) is None


@pytest.mark.parametrize(("value", "threshold"), [("many", 10), (-1, 10), (True, 10), (None, 0)])
def test_bad_settings_are_refused(value, threshold):
    with pytest.raises(ConfigurationError):
        check_mass_deletion(1, what="x", last_load_customers=value, threshold=threshold)
