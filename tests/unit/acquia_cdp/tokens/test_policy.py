"""Rotation policies: the seed's three scenarios, custom policies, and what cannot work."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest

from airflow_provider_monetate.acquia_cdp._environments import TOKEN_LIMITS, token_limit
from airflow_provider_monetate.acquia_cdp.tokens import (
    ACCELERATED,
    BUILT_IN_POLICIES,
    COMBINED,
    EXTENDED,
    RotationAction,
    RotationPolicy,
    custom_policy,
    get_policy,
)

A = RotationAction
TODAY = date(2025, 6, 1)
NOW = datetime(2025, 6, 1, 2, tzinfo=timezone.utc).timestamp()


# -- policies --------------------------------------------------------------------------------


def test_built_in_policies_match_the_seed_scenarios():
    assert set(BUILT_IN_POLICIES) == {"extended", "accelerated", "combined"}
    assert (EXTENDED.rotate_after_days, EXTENDED.cycle_days) == ((360, 360, 360), 1080)
    assert (ACCELERATED.rotate_after_days, ACCELERATED.cycle_days) == ((90, 90, 185), 365)
    assert (COMBINED.rotate_after_days, COMBINED.cycle_days) == ((90, 180, 270), 540)
    for policy in BUILT_IN_POLICIES.values():
        assert policy.tokens_per_cycle == 3
        for environment in TOKEN_LIMITS:
            policy.check(environment)


def test_custom_policy_repeats_one_slot():
    policy = custom_policy(rotate_after_days=90, extend_when_days_left=20, tokens_per_cycle=5)
    assert policy == RotationPolicy("custom", (90,) * 5, 20)
    assert policy.tokens_per_cycle == 5 and policy.cycle_days == 450


@pytest.mark.parametrize("environment, limit", [("CS", 5), ("cs", 5), ("UAT", 3), ("PROD", 3)])
def test_check_enforces_the_environment_limit(environment, limit):
    custom_policy(90, 30, limit).check(environment)
    with pytest.raises(ValueError, match=f"allows {limit}"):
        custom_policy(90, 30, limit + 1).check(environment)


def test_unknown_environment_is_rejected():
    with pytest.raises(ValueError, match="Unknown Acquia CDP environment 'DEV'"):
        token_limit("DEV")
    with pytest.raises(ValueError, match="Unknown"):
        EXTENDED.check("DEV")


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: custom_policy(0, 30, 3), "rotate_after_days of token 1"),
        (lambda: custom_policy(90, 0, 3), "extend_when_days_left"),
        (lambda: custom_policy(90, 180, 3), "below the 180-day"),
        (lambda: custom_policy(90, 30, 0), "tokens_per_cycle"),
        (lambda: custom_policy(90, True, 3), "extend_when_days_left"),
        (lambda: RotationPolicy("x", (), 30), "at least one slot"),
        (lambda: RotationPolicy("x", (90, -1), 30), "token 2"),
        (lambda: RotationPolicy("x", (90, 1.5), 30), "token 2"),
        (lambda: RotationPolicy("x", 90, 30), "must be a list"),
    ],
)
def test_nonsense_thresholds_are_rejected(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_get_policy_resolves_names_dicts_and_policies():
    assert get_policy("extended") is EXTENDED
    assert get_policy(" Accelerated ") is ACCELERATED
    assert get_policy(COMBINED) is COMBINED
    for policy in [*BUILT_IN_POLICIES.values(), custom_policy(60, 10, 4, name="quarterly")]:
        assert get_policy(json.loads(json.dumps(policy.to_dict()))) == policy
    assert get_policy({"rotate_after_days": 120, "extend_when_days_left": 20, "tokens_per_cycle": 3}) == (
        RotationPolicy("custom", (120, 120, 120), 20)
    )
    assert get_policy({"rotate_after_days": [30, 60], "extend_when_days_left": 5, "tokens_per_cycle": 2}) == (
        RotationPolicy("custom", (30, 60), 5)
    )


@pytest.mark.parametrize(
    "spec, message",
    [
        ("weekly", "Unknown rotation policy 'weekly'"),
        (42, "a name or a dict"),
        ({"rotate_after_days": 90, "extend_when_days_left": 30}, "needs tokens_per_cycle"),
        ({"rotate_after_days": 90, "tokens_per_cycle": 3}, r"missing keys \['extend_when_days_left'\]"),
        ({"rotate_after_day": 90, "extend_when_days_left": 3}, r"unknown keys \['rotate_after_day'\]"),
        ({"rotate_after_days": [90, 90], "extend_when_days_left": 3, "tokens_per_cycle": 3}, "must equal"),
    ],
)
def test_get_policy_rejects_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        get_policy(spec)
